"""The access guard: every use case asks it, once, whether the caller's scopes allow what
it is about to do. It is the one place SMART scopes are interpreted (docs/security.md).

    guard = runtime.services.guard
    guard.require(ctx, "Observation", "r")         # 403 naming the missing scope, or an Access
    guard.check(ctx, uow, "r", stored)              # + patient compartment, query constraints
    kept = guard.admit(ctx, uow, "r", stored_list)  # filter what a search brought along
    params, compartment = guard.search(ctx, "Observation", params, None)  # narrow a search

A context with `enforce` False (auth off, or a trusted door: CLI, worker) passes everything;
the audit trail is never writable, whatever the context.
Letters are SMART's: c create, r read (read, vread, instance history), u update, d delete,
s search (type and system search and history). Deleted versions need `d` as well as `r`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..outcomes import OperationOutcomeError, error
from ..search.criteria import LimitedCompartment
from ..search.extract import extract
from .scopes import Grants

AUDIT_TYPE = "AuditEvent"
NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
# Records that name resources of several patients at once: the server's Provenance of a
# transaction names every entry it wrote, whoever's. A patient-limited caller sees one only
# when every local reference under these parameters is in its patient's compartment (else the
# ids of other patients and of their resources would reach it); the others see it as R4 says.
OWN_TARGETS = {"Provenance": ("target",)}


@dataclass(frozen=True)
class Limit:
    """One way a scope restricts what it grants: the patient's compartment, a query."""
    patient: str | None
    query: tuple[tuple[str, str], ...]
    scope: str


@dataclass(frozen=True)
class Access:
    """What the caller may do for (type, letter): everything (`limits` None) or what at least
    one of `limits` admits."""
    rtype: str
    letter: str
    limits: tuple[Limit, ...] | None = None

    @property
    def unrestricted(self) -> bool:
        return self.limits is None


def forbidden(message: str, *expression: str) -> OperationOutcomeError:
    return OperationOutcomeError(error("forbidden", message, *expression), 403)


def audit_is_read_only() -> OperationOutcomeError:
    return OperationOutcomeError(error(
        "not-supported", "AuditEvent is the audit trail: the server writes it, nobody else "
        "can create, change or delete it"), 405)


class Guard:
    def __init__(self, search_registry, engine=None):
        self.registry = search_registry
        self.engine = engine

    # -- type level ------------------------------------------------------------------------
    def require(self, ctx, rtype: str, letter: str, where: str | None = None) -> Access:
        """The caller's access to `letter` on `rtype` ("*": every type), or 403 naming the
        scope that is missing."""
        if rtype == AUDIT_TYPE and letter in "cud":
            raise audit_is_read_only()
        if not ctx.enforce:
            return Access(rtype, letter)
        matching = Grants.of(ctx.scopes).allowing(rtype, letter)
        limits: list[Limit] = []
        user_grants = None
        for s in matching:
            if s.context == "user" and ctx.user_scopes is not None:
                # a user/ scope is bounded by what the user may do: the token's scope and one
                # of the user's own grants must both allow it (their queries both apply)
                if user_grants is None:
                    user_grants = [u for u in Grants.of(ctx.user_scopes).allowing(rtype, letter)
                                   if u.context != "patient"]
                for u in user_grants:
                    if not s.query and not u.query:
                        return Access(rtype, letter)
                    limits.append(Limit(None, s.query + u.query, s.text))
                continue
            if s.context == "patient":
                if not ctx.patient or not self._in_patient_compartment_type(rtype):
                    continue
                limits.append(Limit(ctx.patient, s.query, s.text))
            elif not s.query:
                return Access(rtype, letter)
            else:
                limits.append(Limit(None, s.query, s.text))
        if not limits:
            raise forbidden(self._missing(ctx, rtype, letter), *(w for w in (where,) if w))
        return Access(rtype, letter, tuple(limits))

    def require_whole(self, ctx, rtypes, letter: str, what: str) -> None:
        """Access to every resource of `rtypes` ("*": all): doors that hand whole types out or
        in at once (Bulk Data and registry exports) cannot apply a patient or query limit per
        resource, so a limited scope is refused with a message that says so."""
        for rtype in (rtypes or ("*",)):
            try:
                access = self.require(ctx, rtype, letter)
            except OperationOutcomeError as exc:
                if exc.status != 403 or not any(s.startswith("patient/") for s in ctx.scopes):
                    raise
                access = None          # a patient/ scope: say why it cannot serve here
            if access is None or not access.unrestricted:
                raise forbidden(f"{what} hands out every {rtype if rtype != '*' else 'resource'}"
                                f": it needs an unrestricted system/{rtype}.{letter} scope, not "
                                "a patient- or query-limited one")

    @staticmethod
    def require_administrator(ctx, what: str) -> None:
        """Operations of the service itself (feeds, logs holding raw messages)."""
        from .scopes import ADMIN_SCOPE
        if ctx.enforce and ADMIN_SCOPE not in ctx.scopes:
            raise forbidden(f"Insufficient scope: {what} needs the scope {ADMIN_SCOPE}")

    @staticmethod
    def require_requester(ctx, requested_by, what: str) -> None:
        """A job's status and files belong to the client that started it."""
        if ctx.enforce and requested_by is not None and ctx.caller != requested_by:
            raise forbidden(f"{what} was started by another client")

    def require_any(self, ctx, rtype: str, letters: str, where: str | None = None) -> Access:
        """Access for the first of `letters` the caller holds ($validate: c, u or r)."""
        for letter in letters:
            try:
                return self.require(ctx, rtype, letter, where)
            except OperationOutcomeError as exc:
                if exc.status == 405:
                    raise
        raise forbidden(self._missing(ctx, rtype, letters, any_of=True))

    def _in_patient_compartment_type(self, rtype: str) -> bool:
        return rtype == "Patient" or bool(self.registry.patient_compartment(rtype))

    @staticmethod
    def _missing(ctx, rtype: str, letters: str, any_of: bool = False) -> str:
        held = sorted(ctx.scopes)
        contexts = [s.split("/", 1)[0] for s in held if "/" in s]
        kind = "patient" if ctx.patient and "patient" in contexts else \
            ("user" if "user" in contexts and "system" not in contexts else "system")
        what = " or ".join(NAMES[ch] for ch in letters) if any_of else NAMES[letters]
        scope = f"{kind}/{rtype}.{letters if not any_of else letters[0]}"
        why = ""
        if kind == "patient" and rtype not in ("*", "Patient") and \
                any(s.startswith("patient/") for s in held):
            why = f" ({rtype} is outside the patient compartment, or no patient/ scope " \
                  f"names it)"
        return (f"Insufficient scope: {what} of {'every resource type' if rtype == '*' else rtype}"
                f" needs the scope {scope}{why}; this token has "
                f"{' '.join(held) or 'no scopes'}")

    # -- instance level ----------------------------------------------------------------------
    def check(self, ctx, uow, letter: str, stored, where: str | None = None) -> None:
        """403 unless the caller may `letter` this stored version (type, patient, query)."""
        if not ctx.enforce:
            if stored.resource_type == AUDIT_TYPE and letter in "cud":
                raise audit_is_read_only()
            return
        access = self.require(ctx, stored.resource_type, letter, where)
        if stored.deleted:
            self.require(ctx, stored.resource_type, "d", where)
        if not self._admits(uow, access, stored):
            raise forbidden(self._outside(ctx, access, stored.resource_type,
                                          stored.resource_id), *(w for w in (where,) if w))

    def check_resource(self, ctx, access: Access, rtype: str, resource: dict | None,
                       rid: str | None, where: str | None = None) -> None:
        """A resource about to be written (or its current version) must be one the caller's
        patient/ limits admit. Query-constrained scopes do not grant writes."""
        if access.unrestricted or resource is None:
            return
        for limit in access.limits:
            if not limit.query and limit.patient and \
                    self.in_compartment(rtype, resource, limit.patient):
                return
        raise forbidden(self._outside(ctx, access, rtype, rid), *(w for w in (where,) if w))

    def admit(self, ctx, uow, letter: str, stored: Iterable) -> list:
        """The stored versions the caller may `letter`, in order (the others left out)."""
        items = list(stored)
        if not ctx.enforce:
            return items
        out = []
        access_by_type: dict[str, Access | None] = {}
        for s in items:
            rt = s.resource_type
            if rt not in access_by_type:
                try:
                    access_by_type[rt] = self.require(ctx, rt, letter)
                except OperationOutcomeError:
                    access_by_type[rt] = None
            access = access_by_type[rt]
            if access is None:
                continue
            if s.deleted and not self.permits(ctx, rt, "d"):
                continue
            if self._admits(uow, access, s):
                out.append(s)
        return out

    def permits(self, ctx, rtype: str, letter: str) -> bool:
        try:
            self.require(ctx, rtype, letter)
            return True
        except OperationOutcomeError:
            return False

    def _admits(self, uow, access: Access, stored) -> bool:
        if access.unrestricted:
            return True
        resource = stored.resource() if stored.content is not None else None
        for limit in access.limits:
            if limit.patient and (resource is None or not self.in_compartment(
                    stored.resource_type, resource, limit.patient)):
                continue
            if limit.patient and stored.resource_type in OWN_TARGETS and \
                    not self._names_only_own(uow, stored.resource_type, resource, limit.patient):
                continue
            if limit.query and not self._matches(uow, stored, limit.query):
                continue
            return True
        return False

    def _names_only_own(self, uow, rtype: str, resource: dict, patient_id: str) -> bool:
        """Every local reference of `resource` under OWN_TARGETS[rtype] is to the patient or
        to a current resource in its compartment (what search's OwnTargetsClause says)."""
        params = OWN_TARGETS[rtype]
        for row in extract(self.registry, rtype, resource).get("reference", ()):
            if row.param not in params or row.target_type is None:
                continue
            if row.target_type == "Patient" and row.target_id == patient_id:
                continue
            target = uow.resources.read(row.target_type, row.target_id) \
                if uow is not None else None
            if target is None or target.deleted or target.content is None or \
                    not self.in_compartment(row.target_type, target.resource(), patient_id):
                return False
        return True

    def _matches(self, uow, stored, query) -> bool:
        if self.engine is None or uow is None or stored.deleted:
            return False
        return bool(self.engine.match(uow, stored.resource_type,
                                      [("_id", stored.resource_id)] + list(query)))

    def in_compartment(self, rtype: str, resource: dict, patient_id: str) -> bool:
        """Is `resource` in the compartment of Patient/patient_id? (R4 CompartmentDefinition,
        evaluated on the resource itself with the search index extraction.)"""
        if rtype == "Patient" and resource.get("id") == patient_id:
            return True
        codes = set(self.registry.patient_compartment(rtype)) | (
            {"link"} if rtype == "Patient" else set())
        if not codes:
            return False
        for row in extract(self.registry, rtype, resource).get("reference", ()):
            if row.param in codes and row.target_type == "Patient" \
                    and row.target_id == patient_id:
                return True
        return False

    @staticmethod
    def _outside(ctx, access: Access, rtype: str, rid: str | None) -> str:
        what = f"{rtype}/{rid}" if rid else f"this {rtype}"
        patients = {l.patient for l in access.limits if l.patient}
        queries = [l.scope for l in access.limits if l.query]
        parts = []
        if patients:
            parts.append(f"it is not in the compartment of Patient/{', '.join(sorted(patients))}")
        if queries:
            parts.append(f"it does not match the query of {', '.join(queries)}"
                         if access.letter in "rs" else
                         f"query-constrained scopes ({', '.join(queries)}) do not grant "
                         f"{NAMES[access.letter]}")
        return (f"Insufficient scope for {NAMES[access.letter]} of {what}: "
                + "; ".join(parts or ["no scope admits it"]))

    # -- searches ----------------------------------------------------------------------------
    def search(self, ctx, rtype: str | None, params: list, compartment=None,
               letter: str = "s") -> tuple[list, tuple[str, str] | None]:
        """The search narrowed to what the caller may see: a patient/ scope becomes the
        patient's compartment (a LimitedCompartment: records of OWN_TARGETS must name only
        what is in it), a query-constrained scope its parameters (ANDed)."""
        if not ctx.enforce:
            return params, compartment
        params = self.reach(ctx, rtype, params)
        if rtype is None:
            types = [t for k, v in params if k == "_type" for t in v.split(",") if t]
            for t in types or ["*"]:
                access = self.require(ctx, t, letter)
                if not access.unrestricted:
                    raise forbidden(f"Insufficient scope for a system-wide search: "
                                    f"{access.limits[0].scope} allows searching one type "
                                    f"only (Patient/{ctx.patient}/{t} or "
                                    f"{t}?...)")
            return params, compartment
        access = self.require(ctx, rtype, letter)
        if access.unrestricted:
            return params, compartment
        have = set(params)
        chosen = None
        for limit in access.limits:  # the request already keeps inside one of them
            if (not limit.patient or compartment == ("Patient", limit.patient)) \
                    and set(limit.query) <= have:
                chosen = limit
                break
        if chosen is None:
            plain = [l for l in access.limits if not l.query]
            if len(access.limits) == 1 or len(plain) == 1:
                chosen = access.limits[0] if len(access.limits) == 1 else plain[0]
            else:
                raise forbidden(f"Narrow the search of {rtype} to one of the scopes "
                                f"{', '.join(l.scope for l in access.limits)} (add its "
                                "parameters or search the patient's compartment)")
        if chosen.patient:
            if compartment is not None and compartment != ("Patient", chosen.patient):
                raise forbidden(f"Insufficient scope: {chosen.scope} allows the compartment of "
                                f"Patient/{chosen.patient} only, not {compartment[0]}/"
                                f"{compartment[1]}")
            compartment = LimitedCompartment("Patient", chosen.patient,
                                             OWN_TARGETS.get(rtype, ()))
        extra = [q for q in chosen.query if q not in have]
        return list(params) + extra, compartment

    # -- $convert-hl7v2: a dry run ----------------------------------------------------------------
    def convert(self, ctx, bundle: dict, stores: bool = False) -> None:
        """A conversion stores nothing but answers what `$process-hl7v2` would store: the
        caller needs, per entry, the letter its request would need (POST c, PUT u, DELETE d),
        and for a conditional entry (`Patient?identifier=...`: the stored resource's values are
        merged into the answer, and a match tells the resource exists) `r` and `s` on that
        type as well. Every refusal at once, located at its entry. ConceptMaps need no scope
        (docs/security.md). `stores`: the message is to be stored ($process-hl7v2, MLLP):
        only the write letters, checked before the message log is consulted."""
        if not ctx.enforce:
            return
        issues, seen = [], set()
        for i, entry in enumerate((bundle or {}).get("entry") or ()):
            req = entry.get("request") or {}
            url = req.get("url") or ""
            rtype = url.split("?", 1)[0].split("/", 1)[0] or \
                (entry.get("resource") or {}).get("resourceType") or "*"
            letters = {"POST": "c", "PUT": "u", "PATCH": "u", "DELETE": "d"}.get(
                req.get("method", "POST"), "r") + ("rs" if "?" in url and not stores else "")
            for letter in letters:
                if (rtype, letter) in seen:
                    continue
                seen.add((rtype, letter))
                try:
                    self.require(ctx, rtype, letter, f"Bundle.entry[{i}]")
                except OperationOutcomeError as exc:
                    if exc.status != 403:
                        raise
                    issues.extend(exc.issues)
        if issues:
            raise OperationOutcomeError(issues, 403)

    # -- what a search joins -----------------------------------------------------------------
    def reach(self, ctx, rtype: str | None, params: list, where: str | None = None,
              rewrite: bool = True) -> list:
        """Chains (`subject:Patient.name`), `_has` (nested too) and `_filter` join resources of
        other types: each joined type needs an unrestricted `s` scope, or the search is a 403
        naming it (whether a joined resource exists must not leak through the match). An
        untyped chain (`subject.name`) whose targets the caller may search only one of is
        narrowed to it (`subject:Patient.name`) when `rewrite`; with several it is a 403
        asking for the type modifier. Returns the parameters (rewritten or not)."""
        if not ctx.enforce or self.engine is None:
            return params
        if rtype is None:  # `[base]?_type=Observation&subject.name=x` searches one type
            single = [v for k, v in params if k == "_type" and v and "," not in v]
            rtype = single[0] if len(single) == 1 and self.registry.is_type(single[0]) else None
        out = []
        for name, value in params:
            code = name.split(":", 1)[0].split(".", 1)[0]
            if code not in ("_has", "_filter") and "." not in name:
                out.append((name, value))
                continue
            clauses = self._clauses(rtype, [(name, value)])
            paths = [p for cl in clauses for p in joined_paths(cl)]
            if not paths:
                out.append((name, value))
                continue
            allowed = [p for p in paths if all(self._may_join(ctx, t) for t in p)]
            if len(allowed) == len(paths):
                out.append((name, value))
                continue
            label = where or name
            untyped = ":" not in name.rsplit(".", 1)[0]
            if rewrite and code not in ("_has", "_filter") and untyped and len(allowed) == 1:
                out.append((typed_chain(name, allowed[0]), value))
                continue
            refused = next(p for p in paths if p not in allowed)
            t = next(t for t in refused if not self._may_join(ctx, t))
            if len(allowed) > 1 and rewrite and code not in ("_has", "_filter") and untyped:
                hint = (f"; name the type of the chain (e.g. {typed_chain(name, allowed[0])})"
                        f" to search through the types this token may search")
            else:
                hint = ""
            raise forbidden(self._join_refused(ctx, t, name) + hint, label)
        return out

    def criteria(self, ctx, rtype: str, criteria, where: str | None = None) -> None:
        """The search criteria of a conditional create / update / patch / delete: what they
        join is checked like a search's, never rewritten (narrowing the match of a write
        would turn an update into a create)."""
        if ctx.enforce and criteria:
            self.reach(ctx, rtype, list(criteria), where, rewrite=False)

    def conditional_reference(self, ctx, reference: str, where: str | None = None) -> None:
        """A conditional reference (`Patient?identifier=...`) in a resource written: resolving
        it tells whether a match exists, so it needs an unrestricted search scope on the type
        (and on what its criteria join), checked before anything is looked up."""
        if not ctx.enforce:
            return
        rtype, _, query = reference.partition("?")
        from urllib.parse import parse_qsl
        if not self.registry.is_type(rtype):
            return  # not a reference to a type: the resolver says what is wrong with it
        if not self._may_join(ctx, rtype):
            raise forbidden(self._join_refused(ctx, rtype, None, reference), *(
                w for w in (where,) if w))
        self.reach(ctx, rtype, parse_qsl(query, keep_blank_values=True), where, rewrite=False)

    def typefilter(self, ctx, criteria, what: str = "_typeFilter") -> None:
        """A Bulk Data `_typeFilter` (Criteria of one type): every type it joins must be one
        the caller may search whole (an export cannot apply a per-resource limit)."""
        if not ctx.enforce:
            return
        for cl in criteria.clauses:
            for path in joined_paths(cl):
                for t in path:
                    if not self._may_join(ctx, t):
                        raise forbidden(self._join_refused(ctx, t, what), what)

    def _clauses(self, rtype, params) -> tuple:
        query = self.engine.parser.parse(rtype, params, base_url="", strict=False)
        return query.criteria.clauses

    def _may_join(self, ctx, rtype: str) -> bool:
        try:
            return self.require(ctx, rtype, "s").unrestricted
        except OperationOutcomeError:
            return False

    def _join_refused(self, ctx, rtype: str, name: str | None, ref: str | None = None) -> str:
        how = (f"the conditional reference {ref} searches {rtype}" if ref else
               f"{name} joins {rtype}")
        try:
            access = self.require(ctx, rtype, "s")
        except OperationOutcomeError:
            access = None
        if access is not None:  # held, but limited to a patient or a query
            return (f"Insufficient scope: {how}, which needs an unrestricted scope "
                    f"system/{rtype}.s (or user/{rtype}.s); "
                    f"{', '.join(l.scope for l in access.limits)} limits {rtype} to a patient "
                    f"or a query, and a join would tell about {rtype} resources outside it")
        return f"Insufficient scope: {how}: " + self._missing(ctx, rtype, "s")[
            len("Insufficient scope: "):]

    def patient_context(self, ctx, patient_id: str, letter: str = "r") -> Access:
        """A patient-level operation ($everything, $ssc-classification): the caller needs
        `letter` on Patient, and patient/ scopes only reach their own patient."""
        access = self.require(ctx, "Patient", letter)
        if not access.unrestricted and not any(
                l.patient == patient_id and not l.query for l in access.limits):
            raise forbidden(f"Insufficient scope: the token's scopes reach Patient/"
                            f"{ctx.patient or '(none)'}, not Patient/{patient_id}")
        return access


def joined_paths(clause, prefix: tuple = ()) -> list[tuple[str, ...]]:
    """The other resource types a parsed clause joins, as paths from the searched type:
    `subject:Patient.organization.name` -> [("Patient", "Organization")]; `_has:Observation:
    patient:code` -> [("Observation",)]; `_filter` groups walked through."""
    from ..search import criteria as c
    if isinstance(clause, c.ChainClause):
        out = []
        for t, inner in clause.targets:
            sub = joined_paths(inner, prefix + (t,))
            out.extend(sub or [prefix + (t,)])
        return out
    if isinstance(clause, c.HasClause):
        return joined_paths(clause.clause, prefix + (clause.source,)) or [prefix +
                                                                          (clause.source,)]
    if isinstance(clause, (c.AnyClause, c.AllClause)):
        return [p for cl in clause.clauses for p in joined_paths(cl, prefix)]
    if isinstance(clause, c.NotClause):
        return joined_paths(clause.clause, prefix)
    return []


def typed_chain(name: str, path: tuple[str, ...]) -> str:
    """`subject.organization.name` + (Patient, Organization) ->
    `subject:Patient.organization:Organization.name`."""
    hops = name.split(".")
    return ".".join([f"{h}:{t}" for h, t in zip(hops, path)] + hops[len(path):])


__all__ = ["Access", "Guard", "Limit", "audit_is_read_only", "forbidden"]
