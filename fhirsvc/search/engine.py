"""SearchEngine: parse a search request, run it, and build the searchset Bundle.

    engine.search(uow, "Observation", [("code", "http://loinc.org|8302-2")],
                  base_url="https://x/fhir") -> Bundle dict
    engine.match(uow, "Patient", [("identifier", "sys|1")]) -> [Stored]   (conditional ops)
    engine.everything(uow, "123", params, base_url) -> Bundle dict         (Patient/$everything)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

import orjson
from sqlalchemy import and_, case, false, func, intersect, or_, select

from ..outcomes import fail, operation_outcome, warning
from ..storage.tables import resources as R
from ..summary import select_elements, summarise
from .query import (Cond, Ctx, TABLES, bad, date_and_condition, fixed, param_cond,
                    param_condition, rows_cond, split_values)
from .registry import SearchRegistry
from .tables import idx_reference

DEFAULT_COUNT = 20
MAX_COUNT = 1000
MAX_INCLUDE_ROUNDS = 4
# a chained driver with at least this many rows is intersected with the next condition as a
# set when that one has fewer than PARTNER_FACTOR times as many (PostgreSQL, see _intersect_pair)
FANOUT_LARGE = 1000
PARTNER_FACTOR = 8
SILENT = {"_format", "_pretty"}
CONTROL = {"_count", "_offset", "_sort", "_include", "_revinclude", "_total", "_summary",
           "_elements", "_type"} | SILENT
SUMMARY_VALUES = {"true", "false", "text", "data", "count"}


@dataclass
class Plan:
    rtype: str | None
    types: list[str] | None = None
    conds: list = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (code, descending)
    count: int = DEFAULT_COUNT
    offset: int = 0
    includes: list[tuple[str, str, str | None, bool]] = field(default_factory=list)
    revincludes: list[tuple[str, str, str | None, bool]] = field(default_factory=list)
    total: str = "accurate"
    summary: str | None = None
    elements: list[str] | None = None
    issues: list = field(default_factory=list)
    link_params: list[tuple[str, str]] = field(default_factory=list)


def _capped_count(rows, cap: int):
    """How many rows `rows` yields, counting no further than `cap` (scalar subquery)."""
    return select(func.count()).select_from(rows.limit(cap).subquery()).scalar_subquery()


class SearchEngine:
    def __init__(self, registry: SearchRegistry):
        self.registry = registry

    # -- parsing -------------------------------------------------------------------------------
    def plan(self, rtype: str | None, params: list[tuple[str, str]], *, base_url: str,
             strict: bool, compartment: tuple[str, str] | None = None, r=None) -> Plan:
        reg = self.registry
        if rtype is not None and not reg.is_type(rtype):
            raise fail(404, "not-found", f"Unknown resource type '{rtype}'")
        ctx = Ctx(reg, base_url)
        if rtype is None:
            # `GET [base]?_type=Patient&name=x` is a search of that one type
            single = [v for k, v in params if k == "_type" and v and "," not in v]
            if len(single) == 1 and reg.is_type(single[0]):
                rtype = single[0]
        plan = Plan(rtype)
        r = r if r is not None else R
        unknown: list[str] = []
        date_groups: dict[str, list[tuple[str, str]]] = {}
        for name, value in params:
            code = name.split(":", 1)[0].split(".", 1)[0]
            if code in CONTROL:
                self._control(plan, name, value, code)
                if code not in SILENT:
                    plan.link_params.append((name, value))
                continue
            if code == "_has":
                if rtype is None:
                    raise fail(400, "not-supported", "_has needs a resource type", name)
                plan.conds.append(fixed(3, self._has(ctx, rtype, r, name, value, strict)))
                plan.link_params.append((name, value))
                continue
            if "." in name:
                cond = self._chain(ctx, rtype, r, name, value, strict)
                if cond is None:
                    unknown.append(name)
                    continue
                plan.conds.append(cond)
                plan.link_params.append((name, value))
                continue
            modifier = name.split(":", 1)[1] if ":" in name else None
            param = self._param(rtype, code)
            if param is None and code not in ("_id", "_lastUpdated"):
                unknown.append(name)
                continue
            plan.link_params.append((name, value))
            if (param is not None and param.type == "date" and rtype is not None
                    and modifier is None and "," not in value):
                date_groups.setdefault(code, []).append((name, value))
                continue
            plan.conds.append(param_cond(ctx, rtype, r, name, value, param, modifier))
        for code, items in date_groups.items():
            if len(items) == 1:
                name, value = items[0]
                plan.conds.append(param_cond(ctx, rtype, r, name, value,
                                             self._param(rtype, code), None))
            else:
                plan.conds.append(date_and_condition(rtype, r, code, items))
        if plan.types:
            plan.conds.append(fixed(0, r.c.resource_type.in_(plan.types)))
        if compartment is not None:
            plan.conds.append(self._compartment_cond(rtype, r, compartment))
        if unknown:
            if strict:
                raise fail(400, "invalid", "Unknown or unsupported search parameter(s): "
                           + ", ".join(unknown), *unknown)
            plan.issues.extend(warning("not-supported", f"Search parameter '{n}' is not "
                                       "known or not supported and was ignored", n)
                               for n in unknown)
        return plan

    def _param(self, rtype: str | None, code: str):
        if code in ("_id", "_lastUpdated"):
            return None
        p = self.registry.get(rtype or "Resource", code)
        if p is None:
            return None
        if self.registry.compiled_param(rtype or "Basic", code) is None:
            return None  # known but not indexable (_text, _content, special)
        return p

    def _control(self, plan: Plan, name: str, value: str, code: str) -> None:
        mod = name.split(":", 1)[1] if ":" in name else None
        if code == "_count":
            if not value.isdigit():
                raise bad(name, f"_count must be a non-negative integer, got '{value}'")
            plan.count = min(int(value), MAX_COUNT)
        elif code == "_offset":
            if not value.isdigit():
                raise bad(name, f"_offset must be a non-negative integer, got '{value}'")
            plan.offset = int(value)
        elif code == "_total":
            if value not in ("none", "accurate", "estimate"):
                raise bad(name, f"_total must be none, estimate or accurate, got '{value}'")
            plan.total = value
        elif code == "_summary":
            if value not in SUMMARY_VALUES:
                raise bad(name, f"Invalid _summary '{value}'")
            plan.summary = None if value == "false" else value
        elif code == "_elements":
            plan.elements = [e.strip() for e in value.split(",") if e.strip()]
        elif code == "_type":
            types = [t for t in value.split(",") if t]
            for t in types:
                if not self.registry.is_type(t):
                    raise bad(name, f"Unknown resource type '{t}' in _type")
            plan.types = types
        elif code == "_sort":
            for key in value.split(","):
                desc = key.startswith("-")
                key = key[1:] if desc else key
                if key not in ("_id", "_lastUpdated") and self._param(plan.rtype, key) is None:
                    raise bad(name, f"Unknown sort parameter '{key}'")
                plan.sort.append((key, desc))
        elif code in ("_include", "_revinclude"):
            iterate = mod == "iterate" or mod == "recurse"
            if mod and not iterate:
                raise bad(name, f"Invalid modifier on {code}: '{mod}'")
            for v in split_values(value):
                if v == "*":
                    spec = ("*", "*", None, iterate)
                else:
                    parts = v.split(":")
                    if len(parts) not in (2, 3) or not self.registry.is_type(parts[0]):
                        raise bad(name, f"Invalid {code} value '{v}' (Type:param[:Target])")
                    if parts[1] != "*":
                        p = self.registry.get(parts[0], parts[1])
                        if p is None or p.type != "reference":
                            raise bad(name, f"{parts[0]} has no reference parameter "
                                      f"'{parts[1]}'")
                    spec = (parts[0], parts[1], parts[2] if len(parts) == 3 else None, iterate)
                (plan.includes if code == "_include" else plan.revincludes).append(spec)

    def _chain(self, ctx: Ctx, rtype: str | None, r, name: str, value: str, strict: bool):
        head, tail = name.split(".", 1)
        if "." in tail:
            raise fail(400, "not-supported", "Only one level of chaining is supported", name)
        code, _, mod = head.partition(":")
        if rtype is None:
            raise fail(400, "not-supported", "Chained parameters need a resource type", name)
        param = self.registry.get(rtype, code)
        if param is None or param.type != "reference":
            return None
        targets = [mod] if mod else (param.target or self.registry.resource_types)
        tcode, _, tmod = tail.partition(":")
        r2 = R.alias()
        inner = []
        for t in targets:
            if tcode in ("_id", "_lastUpdated"):
                p2 = None
            else:
                p2 = self._param(t, tcode)
                if p2 is None:
                    continue
            inner.append(and_(r2.c.resource_type == t,
                              param_condition(ctx, t, r2, tail, value, p2, tmod or None)))
        if not inner:
            return None
        ref = idx_reference.alias()
        joined = ref.join(r2, and_(r2.c.resource_type == ref.c.target_type,
                                   r2.c.resource_id == ref.c.target_id))
        where = [ref.c.resource_type == rtype, ref.c.param == code, r2.c.deleted == false(),
                 or_(*inner) if len(inner) > 1 else inner[0]]

        def rows():
            return select(ref.c.res_pk).select_from(joined).where(*where).correlate(None)

        def as_in(r):
            return r.c.pk.in_(rows())

        def as_exists(r):
            return (select(ref.c.res_pk).select_from(joined)
                    .where(ref.c.res_pk == r.c.pk, *where).correlate(r).exists())
        return Cond(2, as_in, as_exists, rows, fanout=True)

    def _has(self, ctx: Ctx, rtype: str, r, name: str, value: str, strict: bool):
        parts = name.split(":")
        if len(parts) < 4 or parts[3] == "_has":
            raise fail(400, "not-supported" if len(parts) >= 4 else "invalid",
                       "_has takes _has:Type:reference:parameter (one level)", name)
        t2, refcode, code2 = parts[1], parts[2], parts[3]
        mod2 = parts[4] if len(parts) > 4 else None
        if not self.registry.is_type(t2):
            raise bad(name, f"Unknown resource type '{t2}' in _has")
        pref = self.registry.get(t2, refcode)
        if pref is None or pref.type != "reference":
            raise bad(name, f"{t2} has no reference parameter '{refcode}'")
        p2 = None if code2 in ("_id", "_lastUpdated") else self._param(t2, code2)
        if p2 is None and code2 not in ("_id", "_lastUpdated"):
            raise bad(name, f"{t2} has no search parameter '{code2}'")
        r2 = R.alias()
        ref = idx_reference.alias()
        sub = (select(ref.c.target_id)
               .select_from(ref.join(r2, r2.c.pk == ref.c.res_pk))
               .where(ref.c.resource_type == t2, ref.c.param == refcode,
                      ref.c.target_type == rtype, r2.c.deleted == false(),
                      param_condition(ctx, t2, r2, ":".join(parts[3:]), value, p2, mod2))
               .correlate(None))
        return r.c.resource_id.in_(sub)

    def _compartment_cond(self, rtype: str | None, r, compartment: tuple[str, str]):
        ctype, cid = compartment
        if ctype != "Patient":
            raise fail(400, "not-supported", f"Compartment {ctype} is not supported")
        if rtype is None:
            raise fail(400, "not-supported", "Compartment search needs a resource type")
        codes = self.registry.patient_compartment(rtype)
        if rtype == "Patient":
            # the patient itself, and patients linked to it
            ref = idx_reference
            sub = select(ref.c.res_pk).where(
                ref.c.target_id == cid, ref.c.target_type == "Patient",
                ref.c.resource_type == rtype, ref.c.param.in_(codes or ["link"])).correlate(None)
            return fixed(0, or_(r.c.resource_id == cid, r.c.pk.in_(sub)))
        if not codes:
            raise fail(400, "invalid", f"{rtype} is not in the Patient compartment")
        ref = idx_reference.alias()
        return rows_cond(1, ref, [ref.c.target_id == cid, ref.c.target_type == "Patient",
                                  ref.c.resource_type == rtype, ref.c.param.in_(codes)])

    # -- running -------------------------------------------------------------------------------
    def _order(self, plan: Plan, r) -> list:
        out = []
        for code, desc in plan.sort:
            if code == "_id":
                col = r.c.resource_id
            elif code == "_lastUpdated":
                col = r.c.last_updated
            else:
                p = self._param(plan.rtype, code)
                t = TABLES[p.type].alias()
                col_name = {"token": "code", "string": "value", "uri": "value",
                            "number": "value", "quantity": "value",
                            "reference": "target_id"}.get(p.type)
                if p.type == "date":
                    inner = t.c.high if desc else t.c.low
                elif p.type == "composite":
                    inner = t.c.code1
                else:
                    inner = t.c[col_name]
                agg = func.max(inner) if desc else func.min(inner)
                col = (select(agg).where(t.c.res_pk == r.c.pk, t.c.param == code)
                       .correlate(r).scalar_subquery())
            out.append(col.desc().nulls_last() if desc else col.asc().nulls_last())
        out.append(r.c.pk)
        return out

    def _where(self, plan: Plan, r, conn=None) -> list:
        conds = [r.c.deleted == false()]
        if plan.rtype:
            conds.insert(0, r.c.resource_type == plan.rtype)
        ordered = sorted(plan.conds, key=lambda c: c.rank)  # stable: request order on ties
        pair = self._intersect_pair(ordered, conn)
        if pair is not None:
            # a large fan-out driver: intersect its rows with the next condition's as sets
            # (hashed, two index scans) instead of probing the second index once per row
            conds.append(r.c.pk.in_(intersect(pair[0].rows(), pair[1].rows())))
            ordered = [c for c in ordered if c is not pair[0] and c is not pair[1]]
            conds.extend(c.as_exists(r) for c in ordered)
            return conds
        for i, cond in enumerate(ordered):
            # the most selective condition drives (IN list); the others are probed per row
            conds.append(cond.as_in(r) if i == 0 and cond.rank < 9 else cond.as_exists(r))
        return conds

    @staticmethod
    def _intersect_pair(ordered: list, conn):
        """(driver, partner) to run as `pk IN (driver INTERSECT partner)`, or None.

        PostgreSQL only. A chained parameter drives when it is the most selective kind of
        condition, but its size is the number of matching targets times their fan-out, which
        the planner cannot estimate (it assumes one row and probes the other conditions'
        indexes once per row: 14,000 probes for a family name shared by 78 patients). So its
        size is measured, capped: when it is large and a second condition can be answered as
        a set that is not much larger, the two sets are intersected. SQLite probes fast
        enough per row that the nested plan stays the better one there."""
        if conn is None or conn.dialect.name != "postgresql" or len(ordered) < 2:
            return None
        drive = ordered[0]
        if not drive.fanout or drive.rows is None or drive.rank >= 9:
            return None
        partner = next((c for c in ordered[1:] if c.rows is not None and c.rank < 9), None)
        if partner is None:
            return None
        # one round trip; the partner is only counted when the driver is large (lazy InitPlan)
        n_large, m_cap = FANOUT_LARGE, FANOUT_LARGE * PARTNER_FACTOR
        m = conn.execute(select(case(
            (_capped_count(drive.rows(), n_large) >= n_large,
             _capped_count(partner.rows(), m_cap)), else_=None))).scalar_one()
        if m is None or m >= m_cap:
            return None
        return drive, partner

    def search(self, uow, resource_type: str | None, params: list[tuple[str, str]], *,
               base_url: str, strict: bool = False,
               compartment: tuple[str, str] | None = None) -> dict:
        base_url = base_url.rstrip("/")
        r = R.alias("r")
        plan = self.plan(resource_type, params, base_url=base_url, strict=strict,
                         compartment=compartment, r=r)
        conn = uow.conn
        where = self._where(plan, r, conn)
        total = None
        if plan.total != "none" or plan.summary == "count" or plan.count == 0:
            total = conn.execute(select(func.count()).select_from(r).where(*where)).scalar_one()
        path = base_url + (f"/{compartment[0]}/{compartment[1]}" if compartment else "") \
            + (f"/{resource_type}" if resource_type else "")
        if plan.summary == "count" or plan.count == 0:
            bundle = {"resourceType": "Bundle", "type": "searchset", "total": total,
                      "link": [{"relation": "self",
                                "url": self._url(path, plan.link_params)}]}
            self._add_outcome(bundle, plan)
            return bundle
        q = (select(r.c.pk).where(*where).order_by(*self._order(plan, r))
             .limit(plan.count + 1).offset(plan.offset))
        pks = [row[0] for row in conn.execute(q)]
        has_next = len(pks) > plan.count
        pks = pks[:plan.count]
        stored = uow.resources.read_many(pks)
        matches = [stored[pk] for pk in pks if pk in stored]
        included = self._include(uow, matches, plan) if (plan.includes or plan.revincludes) \
            else []
        entries = []
        for s in matches:
            res = self._shape(s, plan)
            entries.append({"fullUrl": f"{base_url}/{s.resource_type}/{s.resource_id}",
                            "resource": res, "search": {"mode": "match"}})
        for s in included:
            entries.append({"fullUrl": f"{base_url}/{s.resource_type}/{s.resource_id}",
                            "resource": orjson.loads(s.content), "search": {"mode": "include"}})
        links = [{"relation": "self", "url": self._page_url(path, plan, plan.offset)}]
        if has_next:
            links.append({"relation": "next",
                          "url": self._page_url(path, plan, plan.offset + plan.count)})
        if plan.offset > 0:
            links.append({"relation": "previous",
                          "url": self._page_url(path, plan, max(0, plan.offset - plan.count))})
        bundle = {"resourceType": "Bundle", "type": "searchset"}
        if total is not None:
            bundle["total"] = total
        bundle["link"] = links
        bundle["entry"] = entries
        self._add_outcome(bundle, plan)
        return bundle

    @staticmethod
    def _add_outcome(bundle: dict, plan: Plan) -> None:
        if plan.issues:
            bundle.setdefault("entry", []).insert(0, {
                "resource": operation_outcome(plan.issues), "search": {"mode": "outcome"}})

    @staticmethod
    def _url(path: str, params: list[tuple[str, str]]) -> str:
        qs = urlencode(params, safe=":|,/$*")
        return path + ("?" + qs if qs else "")

    def _page_url(self, path: str, plan: Plan, offset: int) -> str:
        params = [(k, v) for k, v in plan.link_params if k not in ("_count", "_offset")]
        params.append(("_count", str(plan.count)))
        if offset:
            params.append(("_offset", str(offset)))
        return self._url(path, params)

    def _shape(self, s, plan: Plan) -> dict:
        # the same reduction as read: summary elements from the R4 definitions, mandatory
        # elements kept, choice types matched, SUBSETTED tag (fhirsvc.summary)
        res = orjson.loads(s.content)
        if plan.summary not in (None, "count"):
            res = summarise(res, plan.summary)
        if plan.elements:
            res = select_elements(res, ",".join(plan.elements))
        return res

    # -- includes ------------------------------------------------------------------------------
    def _include(self, uow, matches: list, plan: Plan) -> list:
        seen = {s.pk for s in matches}
        out: list = []
        current = matches
        first = True
        for _round in range(MAX_INCLUDE_ROUNDS):
            inc = [s for s in plan.includes if first or s[3]]
            rev = [s for s in plan.revincludes if first or s[3]]
            if not (inc or rev) or not current:
                break
            pks: set[int] = set()
            for spec in inc:
                pks |= self._include_pks(uow.conn, current, spec)
            for spec in rev:
                pks |= self._revinclude_pks(uow.conn, current, spec)
            new = sorted(pks - seen)
            if not new:
                break
            seen.update(new)
            got = uow.resources.read_many(new)
            current = [got[pk] for pk in new if pk in got and not got[pk].deleted]
            out.extend(current)
            first = False
            if not any(s[3] for s in plan.includes + plan.revincludes):
                break
        return out

    def _include_pks(self, conn, sources: list, spec) -> set[int]:
        src, code, target, _it = spec
        src_pks = [s.pk for s in sources if src == "*" or s.resource_type == src]
        if not src_pks:
            return set()
        ref = idx_reference
        out: set[int] = set()
        for start in range(0, len(src_pks), 500):
            q = select(ref.c.target_type, ref.c.target_id).where(
                ref.c.res_pk.in_(src_pks[start:start + 500]), ref.c.target_id.is_not(None))
            if code != "*":
                q = q.where(ref.c.param == code)
            if target:
                q = q.where(ref.c.target_type == target)
            by_type: dict[str, set[str]] = {}
            for tt, tid in conn.execute(q.distinct()):
                by_type.setdefault(tt, set()).add(tid)
            for tt, ids in by_type.items():
                ids_l = sorted(ids)
                for s2 in range(0, len(ids_l), 500):
                    out.update(row[0] for row in conn.execute(
                        select(R.c.pk).where(R.c.resource_type == tt,
                                             R.c.resource_id.in_(ids_l[s2:s2 + 500]),
                                             R.c.deleted == false())))
        return out

    def _revinclude_pks(self, conn, targets: list, spec) -> set[int]:
        src, code, target, _it = spec
        by_type: dict[str, list[str]] = {}
        for s in targets:
            if target is None or s.resource_type == target:
                by_type.setdefault(s.resource_type, []).append(s.resource_id)
        ref = idx_reference
        out: set[int] = set()
        for tt, ids in by_type.items():
            for start in range(0, len(ids), 500):
                q = select(ref.c.res_pk).where(ref.c.target_type == tt,
                                               ref.c.target_id.in_(ids[start:start + 500]))
                if src != "*":
                    q = q.where(ref.c.resource_type == src)
                if code != "*":
                    q = q.where(ref.c.param == code)
                out.update(row[0] for row in conn.execute(q))
        return out

    # -- conditional operations ----------------------------------------------------------------
    def match(self, uow, resource_type: str, params: list[tuple[str, str]]) -> list:
        """Every current resource matching a conditional-operation query (strict)."""
        r = R.alias("r")
        criteria = [(k, v) for k, v in params if k.split(":")[0] not in CONTROL]
        if not criteria:
            raise fail(400, "invalid", "A conditional operation needs search criteria")
        plan = self.plan(resource_type, criteria, base_url="", strict=True, r=r)
        pks = [row[0] for row in uow.conn.execute(
            select(r.c.pk).where(*self._where(plan, r, uow.conn)).order_by(r.c.pk))]
        got = uow.resources.read_many(pks)
        return [got[pk] for pk in pks if pk in got]

    # -- Patient/$everything -------------------------------------------------------------------
    def everything(self, uow, patient_id: str, params: list[tuple[str, str]], base_url: str
                   ) -> dict:
        base_url = base_url.rstrip("/")
        conn = uow.conn
        patient = uow.resources.read("Patient", patient_id)
        if patient is None or patient.deleted:
            raise fail(404, "not-found", f"Patient/{patient_id} is not known")
        count, offset, types, since = DEFAULT_COUNT * 5, 0, None, None
        link_params = []
        for k, v in params:
            if k == "_count":
                if not v.isdigit():
                    raise bad(k, f"_count must be a non-negative integer, got '{v}'")
                count = min(int(v), MAX_COUNT)
            elif k == "_offset":
                if not v.isdigit():
                    raise bad(k, f"_offset must be a non-negative integer, got '{v}'")
                offset = int(v)
                continue
            elif k == "_type":
                types = set(t for t in v.split(",") if t)
            elif k == "_since":
                from .values import date_bounds
                b = date_bounds(v)
                if b is None:
                    raise bad(k, f"Invalid instant '{v}' for _since")
                since = b[0]
            elif k in SILENT:
                continue
            link_params.append((k, v))
        comp = self.registry.compartments.get("Patient", {})
        ref = idx_reference
        members: set[int] = set()
        rows = conn.execute(select(ref.c.resource_type, ref.c.param, ref.c.res_pk).where(
            ref.c.target_type == "Patient", ref.c.target_id == patient_id)).all()
        for rt, code, pk in rows:
            if code in comp.get(rt, ()):
                members.add(pk)
        members.discard(patient.pk)
        # resources referenced from the compartment (practitioners, organizations, ...)
        referenced: set[int] = set()
        member_list = sorted(members | {patient.pk})
        for start in range(0, len(member_list), 500):
            pairs = conn.execute(select(ref.c.target_type, ref.c.target_id).where(
                ref.c.res_pk.in_(member_list[start:start + 500]),
                ref.c.target_id.is_not(None)).distinct()).all()
            by_type: dict[str, list[str]] = {}
            for tt, tid in pairs:
                by_type.setdefault(tt, []).append(tid)
            for tt, ids in by_type.items():
                for s2 in range(0, len(ids), 500):
                    referenced.update(row[0] for row in conn.execute(
                        select(R.c.pk).where(R.c.resource_type == tt,
                                             R.c.resource_id.in_(ids[s2:s2 + 500]),
                                             R.c.deleted == false())))
        referenced -= members | {patient.pk}
        ordered = [patient.pk] + sorted(members) + sorted(referenced)
        if types is not None or since is not None:
            keep = set()
            for start in range(0, len(ordered), 500):
                q = select(R.c.pk).where(R.c.pk.in_(ordered[start:start + 500]))
                if types is not None:
                    q = q.where(R.c.resource_type.in_(sorted(types)))
                if since is not None:
                    q = q.where(R.c.last_updated >= since)
                keep.update(row[0] for row in conn.execute(q))
            ordered = [pk for pk in ordered if pk in keep]
        total = len(ordered)
        page = ordered[offset:offset + count]
        got = uow.resources.read_many(page)
        entries = []
        for pk in page:
            s = got.get(pk)
            if s is None or s.deleted:
                continue
            entries.append({"fullUrl": f"{base_url}/{s.resource_type}/{s.resource_id}",
                            "resource": orjson.loads(s.content),
                            "search": {"mode": "include" if pk in referenced else "match"}})
        path = f"{base_url}/Patient/{patient_id}/$everything"

        def url(off: int) -> str:
            ps = [(k, v) for k, v in link_params if k != "_count"] + [("_count", str(count))]
            if off:
                ps.append(("_offset", str(off)))
            return self._url(path, ps)
        links = [{"relation": "self", "url": url(offset)}]
        if offset + count < total:
            links.append({"relation": "next", "url": url(offset + count)})
        if offset > 0:
            links.append({"relation": "previous", "url": url(max(0, offset - count))})
        return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
                "entry": entries}


__all__ = ["SearchEngine", "Plan"]
