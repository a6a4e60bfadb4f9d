"""Use cases: create, read, vread, update, delete, history, transaction, batch, validate.

Plain data in, `Result`s or bundles out; no Flask here. Every write goes the one ingestion
path: plan (bundles.py) -> validate every resource -> store in one unit of work -> respond.
"""
from __future__ import annotations

import email.utils
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence

import orjson

from . import bundles
from .jsontext import RawJson
from .bundles import Op, check_id, check_type, new_id, status_line
from .outcomes import (Issue, OperationOutcomeError, error, fail, has_errors, information,
                       operation_outcome, sort_issues)
from .storage import Database, StorageError, Stored, UnitOfWork, micros_to_instant
from .storage_outcomes import storage_outcome


@dataclass
class Result:
    """What a use case produced, before any HTTP concern."""

    status: int
    stored: Stored | None = None
    issues: list[Issue] = field(default_factory=list)
    body: dict | None = None            # a bundle or outcome that is not a stored resource


def parse_etag(value: str | None) -> int | None:
    """`W/"3"`, `"3"` or `3` -> 3; None stays None; anything else is a 400."""
    if value is None or value == "":
        return None
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    v = v.strip('"')
    if not v.isdigit():
        raise fail(400, "invalid", f"Malformed version in If-Match / ETag: {value!r}")
    return int(v)


def parse_json(body: bytes | str, where: str = "") -> object:
    """JSON text -> Python, or a 400 naming line and column."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OperationOutcomeError(
            error("structure", f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                  f"column {exc.colno}", *(where and [where] or [])), 400) from None


class FhirService:
    def __init__(self, db: Database, validator, search, config):
        self.db = db
        self.validator = validator
        self.search_engine = search
        self.config = config
        # Newest lastUpdated of stored conformance resources this process has applied to its
        # registries. Any worker may store a profile; every worker catches up before it
        # validates or searches (one indexed query), so the app stays stateless.
        self._conformance_mark = -1
        self._conformance_lock = threading.Lock()

    def sync_conformance(self, uow: UnitOfWork | None = None) -> int:
        """Apply StructureDefinitions, ValueSets, CodeSystems and SearchParameters stored since
        the last call (by any process) to the validator's and the search engine's registries.
        Returns how many were applied."""
        if uow is None:
            with self.db.unit_of_work() as own:
                return self.sync_conformance(own)
        mark = uow.resources.latest_change(CONFORMANCE_TYPES)
        if mark == self._conformance_mark:
            return 0
        with self._conformance_lock:
            changed = uow.resources.changed_since(CONFORMANCE_TYPES, self._conformance_mark)
            applied = 0
            for stored in changed:
                if stored.deleted:
                    continue  # registries keep what they learnt; documented limitation
                resource = stored.resource()
                if stored.resource_type == "SearchParameter":
                    if self.search_engine is not None:
                        self.search_engine.registry.add(resource)
                        applied += 1
                    continue
                if stored.resource_type == "ValueSet" and self.search_engine is not None:
                    self.search_engine.registry.add_valueset(resource)  # range expansion order
                if self.validator is not None and hasattr(self.validator, "registry"):
                    self.validator.registry.add(resource)  # recompiles what depends on it
                    applied += 1
            self._conformance_mark = max([mark] + [s.last_updated for s in changed])
        return applied

    # -- reads -------------------------------------------------------------------------------
    def read(self, rtype: str, rid: str) -> Stored:
        check_type(rtype, rtype)
        with self.db.unit_of_work() as uow:
            stored = uow.resources.read(rtype, rid)
        if stored is None:
            raise fail(404, "not-found", f"{rtype}/{rid} is not known")
        if stored.deleted:
            raise OperationOutcomeError(
                error("deleted", f"{rtype}/{rid} was deleted (version {stored.version})"), 410,
                {"ETag": f'W/"{stored.version}"',
                 "Last-Modified": http_date(stored.last_updated_datetime)})
        return stored

    def vread(self, rtype: str, rid: str, vid: str) -> Stored:
        check_type(rtype, rtype)
        if not vid.isdigit():
            raise fail(404, "not-found", f"{rtype}/{rid} has no version {vid!r}")
        with self.db.unit_of_work() as uow:
            stored = uow.resources.vread(rtype, rid, int(vid))
        if stored is None:
            raise fail(404, "not-found", f"{rtype}/{rid} has no version {vid}")
        if stored.deleted:
            raise OperationOutcomeError(
                error("deleted", f"Version {vid} of {rtype}/{rid} is a delete"), 410,
                {"ETag": f'W/"{stored.version}"'})
        return stored

    # -- single-resource writes: plans of one op ------------------------------------------------
    def create(self, rtype: str, resource: object, if_none_exist: str | None = None) -> Result:
        resource = self._body_resource(rtype, resource)
        op = Op(index=0, method="POST", rtype=rtype, rid=new_id(), resource=resource,
                location=rtype)
        if if_none_exist:
            op.if_none_exist = bundles.parse_query(if_none_exist.split("?", 1)[-1])
        return self._run_single(op)

    def update(self, rtype: str, rid: str, resource: object, if_match: str | None = None
               ) -> Result:
        resource = self._body_resource(rtype, resource)
        check_id(rid, f"{rtype}.id")
        if resource.get("id") is None:
            raise fail(400, "required", "The resource in an update must carry its id "
                       f"({rid!r})", f"{rtype}.id")
        if resource.get("id") != rid:
            raise fail(400, "invalid", f"Resource id {resource.get('id')!r} does not match the "
                       f"url id {rid!r}", f"{rtype}.id")
        op = Op(index=0, method="PUT", rtype=rtype, rid=rid, resource=resource, if_match=if_match,
                location=rtype)
        return self._run_single(op)

    def conditional_update(self, rtype: str, query: list[tuple[str, str]], resource: object,
                           if_match: str | None = None) -> Result:
        resource = self._body_resource(rtype, resource)
        op = Op(index=0, method="PUT", rtype=rtype, query=query, resource=resource,
                if_match=if_match, location=rtype)
        return self._run_single(op)

    def delete(self, rtype: str, rid: str, if_match: str | None = None) -> Result:
        check_type(rtype, rtype)
        op = Op(index=0, method="DELETE", rtype=rtype, rid=rid, if_match=if_match, location=rtype)
        return self._run_single(op)

    def conditional_delete(self, rtype: str, query: list[tuple[str, str]]) -> Result:
        check_type(rtype, rtype)
        if not query:
            raise fail(412, "multiple-matches", "A conditional delete needs search criteria")
        op = Op(index=0, method="DELETE", rtype=rtype, query=query, location=rtype)
        return self._run_single(op)

    def _body_resource(self, rtype: str, resource: object) -> dict:
        check_type(rtype, rtype)
        if isinstance(resource, (bytes, str)):
            resource = parse_json(resource)
        if not isinstance(resource, dict):
            raise fail(400, "structure", "The body must be a JSON object (a FHIR resource)")
        if resource.get("resourceType") != rtype:
            raise fail(400, "invalid", f"The body is a {resource.get('resourceType')!r} but the "
                       f"url names {rtype!r}", "resourceType")
        return resource

    def _run_single(self, op: Op) -> Result:
        self.sync_conformance()
        warnings = self._validate([op], single=True)
        with self.db.unit_of_work(write=True) as uow:
            mapping = self._resolve_identities(uow, [op], "")
            result = self._execute(uow, op, mapping)
            uow.commit()
        result.issues = warnings + result.issues
        return result

    # -- transaction and batch ----------------------------------------------------------------
    def process_bundle(self, bundle: object, base_url: str, return_resources: bool = False
                       ) -> dict:
        if isinstance(bundle, (bytes, str)):
            bundle = parse_json(bundle)
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise fail(400, "invalid", "POST to the base takes a Bundle (type transaction or "
                       "batch)", "resourceType")
        btype, ops = bundles.plan_bundle(bundle)
        self.sync_conformance()
        if btype == "transaction":
            results = self._transaction(bundle, ops, base_url)
        else:
            results = self._batch(ops, base_url)
        return self._response_bundle(btype, ops, results, base_url, return_resources)

    def _transaction(self, bundle: dict, ops: list[Op], base_url: str) -> list[Result]:
        # The whole Bundle is validated at once, so references between entries resolve and
        # issues are located as Bundle.entry[i].resource...; nothing is written on an error.
        issues = self.validator.validate(bundle)
        if has_errors(issues):
            raise OperationOutcomeError(sort_issues(issues), 422)
        warnings = [i for i in issues if i.severity == "warning"]
        by_index: dict[int, Result] = {}
        with self.db.unit_of_work(write=True) as uow:
            mapping = self._resolve_identities(uow, ops, base_url)
            ordered = bundles.sort_for_processing(ops)
            for op in ordered:
                if op.method == "DELETE":
                    by_index[op.index] = self._execute(uow, op, mapping)
            # creates go in bulk (one INSERT ... RETURNING, one executemany)
            creates = [op for op in ordered if op.method == "POST" and "existing" not in op.extra]
            for op in creates:
                if mapping:
                    bundles.rewrite_references(op.resource, mapping)
            stored = uow.resources.create_many(
                [(op.rtype, op.rid, op.resource, "POST") for op in creates])
            for op, s in zip(creates, stored):
                by_index[op.index] = Result(201, s)
            for op in ordered:
                if op.method in ("POST", "PUT") and op.index not in by_index:
                    by_index[op.index] = self._execute(uow, op, mapping)
            self._record_aliases(uow, [(op, by_index[op.index]) for op in ops
                                       if op.index in by_index])
            uow.flush_index()  # GETs after the writes see them, search indexes included
            for op in ops:
                if op.method in ("GET", "HEAD"):
                    by_index[op.index] = self._bundle_get(uow, op, base_url)
            uow.commit()
        for w in warnings:  # hand entry-located warnings to their entries
            m = _ENTRY_RE.match(w.expression[0]) if w.expression else None
            if m and int(m.group(1)) in by_index:
                by_index[int(m.group(1))].issues.append(w)
        results = [by_index[op.index] for op in ops]
        return results

    def _batch(self, ops: list[Op], base_url: str) -> list[Result]:
        results: list[Result] = []
        for op in ops:
            try:
                if op.method == "INVALID":
                    raise op.extra["error"]
                warnings = self._validate([op], single=False) if op.resource else []
                with self.db.unit_of_work(write=op.method not in ("GET", "HEAD")) as uow:
                    mapping = self._resolve_identities(uow, [op], base_url)
                    if op.method in ("GET", "HEAD"):
                        result = self._bundle_get(uow, op, base_url)
                    else:
                        result = self._execute(uow, op, mapping)
                        self._record_aliases(uow, [(op, result)])
                    uow.commit()
                result.issues = warnings + result.issues
            except (OperationOutcomeError, StorageError) as exc:
                if isinstance(exc, StorageError):  # e.g. a conflict: this entry fails alone
                    exc = storage_outcome(exc)
                result = Result(exc.status, issues=exc.issues)
            results.append(result)
        return results

    def _resolve_identities(self, uow: UnitOfWork, ops: list[Op], base_url: str
                            ) -> dict[str, str]:
        """Resolve conditional creates / updates / deletes and build the fullUrl -> Type/id map
        used to rewrite references. Runs inside the write transaction (matches are locked)."""
        mapping: dict[str, str] = {}
        for op in ops:
            if op.method == "POST" and op.if_none_exist is not None:
                uow.lock(f"create:{op.rtype}?{sorted(op.if_none_exist)}")
                matches = self.match(uow, op.rtype, op.if_none_exist, op)
                if len(matches) > 1:
                    raise OperationOutcomeError(error(
                        "multiple-matches", f"ifNoneExist {_q(op.if_none_exist)} matches "
                        f"{len(matches)} {op.rtype} resources", op.location), 412)
                if matches:
                    op.extra["existing"] = matches[0]
                    op.rid = matches[0].resource_id
            elif op.method in ("PUT", "DELETE") and op.query is not None:
                uow.lock(f"{op.method}:{op.rtype}?{sorted(op.query)}")
                matches = self.match(uow, op.rtype, op.query, op)
                if len(matches) > 1:
                    raise OperationOutcomeError(error(
                        "multiple-matches", f"Conditional {op.method.lower()} criteria "
                        f"{_q(op.query)} match {len(matches)} {op.rtype} resources",
                        op.location), 412)
                body_id = (op.resource or {}).get("id")
                if matches:
                    if body_id is not None and body_id != matches[0].resource_id:
                        raise fail(400, "invalid", f"Resource id {body_id!r} differs from the "
                                   f"matching {matches[0].reference}", f"{op.location}.id")
                    op.rid = matches[0].resource_id
                elif op.method == "PUT":
                    op.rid = check_id(body_id, f"{op.location}.id") if body_id else new_id()
                else:
                    op.extra["no_match"] = True
            if op.full_url and op.rid and op.method in ("POST", "PUT"):
                target = f"{op.rtype}/{op.rid}"
                mapping[op.full_url] = target
                tail = "/".join(op.full_url.rstrip("/").split("/")[-2:])
                if op.method == "POST" and op.full_url.startswith(("http://", "https://")) \
                        and tail.split("/")[0] == op.rtype:
                    mapping.setdefault(tail, target)  # relative refs resolve against fullUrl
        # One walk per resource collects its references for both checks below.
        refs = {op.index: set(bundles.iter_references(op.resource))
                for op in ops if op.resource is not None}
        # Conditional references (Patient?identifier=...): exactly one match or failure.
        for op in ops:
            for ref in sorted(bundles.conditional_only(refs.get(op.index, ()))):
                if ref in mapping:
                    continue
                rtype, _, query = ref.partition("?")
                check_type(rtype, op.location)
                matches = self.match(uow, rtype, bundles.parse_query(query), op)
                if len(matches) != 1:
                    raise OperationOutcomeError(error(
                        "not-found" if not matches else "multiple-matches",
                        f"Conditional reference {ref!r} matches {len(matches)} resources "
                        "(exactly one is required)", op.location), 412 if matches else 404)
                mapping[ref] = matches[0].reference
        # urn references to no entry of this request: resources created earlier under that
        # urn (UUIDs and OIDs are globally unique), or an error naming where they are.
        wanted = {i: bundles.urn_only(r) - mapping.keys() for i, r in refs.items()}
        unresolved = set().union(*wanted.values()) if wanted else set()
        if unresolved:
            mapping.update(uow.resources.resolve_aliases(unresolved))
            problems = [error("not-found", f"Reference {ref} matches no entry of this request "
                              "and no resource created earlier under that fullUrl", op.location)
                        for op in ops for ref in sorted(wanted.get(op.index, ()))
                        if ref not in mapping]
            if problems:
                raise OperationOutcomeError(problems, 404)
        return mapping

    @staticmethod
    def _record_aliases(uow: UnitOfWork, pairs: list[tuple[Op, Result]]) -> None:
        uow.resources.add_aliases([
            (op.full_url, r.stored.pk) for op, r in pairs
            if op.full_url and op.full_url.startswith(("urn:uuid:", "urn:oid:"))
            and r.stored is not None and not r.stored.deleted and op.method in ("POST", "PUT")])

    def _execute(self, uow: UnitOfWork, op: Op, mapping: dict[str, str]) -> Result:
        repo = uow.resources
        if op.method == "POST" and "existing" in op.extra:
            existing: Stored = op.extra["existing"]
            return Result(200, existing, [information(
                "informational", f"ifNoneExist matched {existing.reference}; nothing created")])
        if op.method == "DELETE":
            if op.extra.get("no_match"):
                return Result(204, issues=[information(
                    "not-found", f"No {op.rtype} matches {_q(op.query)}; nothing deleted")])
            current = repo.read(op.rtype, op.rid, for_update=True)
            expected = parse_etag(op.if_match)
            if expected is not None and (current is None or current.version != expected):
                raise self._version_conflict(op, current, expected)
            if current is None or current.deleted:
                return Result(204, current, [information(
                    "not-found", f"{op.rtype}/{op.rid} does not exist or is already deleted")])
            stored = repo.save(op.rtype, op.rid, None, "DELETE", current)
            return Result(200, stored, [information(
                "informational", f"Deleted {op.rtype}/{op.rid} (version {stored.version})")])
        # POST / PUT
        resource = op.resource
        if mapping:
            bundles.rewrite_references(resource, mapping)
        if op.method == "POST":
            stored = repo.save(op.rtype, op.rid, resource, "POST", None)
            return Result(201, stored)
        current = repo.read(op.rtype, op.rid, for_update=True)
        expected = parse_etag(op.if_match)
        if expected is not None and (current is None or current.version != expected):
            raise self._version_conflict(op, current, expected)
        stored = repo.save(op.rtype, op.rid, resource, "PUT", current)
        return Result(201 if current is None or current.deleted else 200, stored)

    @staticmethod
    def _version_conflict(op: Op, current: Stored | None, expected: int) -> OperationOutcomeError:
        have = "does not exist" if current is None else f"is at version {current.version}"
        return OperationOutcomeError(error(
            "conflict", f"If-Match expected version {expected} but {op.rtype}/{op.rid} {have}",
            op.location), 412)

    def _bundle_get(self, uow: UnitOfWork, op: Op, base_url: str) -> Result:
        if op.rtype and op.rid:
            stored = (uow.resources.vread(op.rtype, op.rid, int(op.vid))
                      if op.vid and op.vid.isdigit() else uow.resources.read(op.rtype, op.rid))
            if stored is None:
                return Result(404, issues=[error("not-found", f"{op.url} is not known")])
            if stored.deleted:
                return Result(410, stored, [error("deleted", f"{op.url} was deleted")])
            inm = parse_etag(op.if_none_match) if op.if_none_match else None
            if inm is not None and inm == stored.version:
                return Result(304, stored)
            return Result(200, stored)
        bundle = self.search_engine.search(uow, op.rtype, op.query or [], base_url=base_url)
        return Result(200, body=bundle)

    def _validate(self, ops: Sequence[Op], single: bool) -> list[Issue]:
        """Validate every resource of the plan; any error stops the request (422)."""
        issues: list[Issue] = []
        for op in ops:
            if op.resource is None:
                continue
            found = self.validator.validate(op.resource)
            if not single:
                found = [i.prefixed(op.location, strip=op.rtype) for i in found]
            issues.extend(found)
        if has_errors(issues):
            raise OperationOutcomeError(sort_issues(issues), 422)
        return [i for i in issues if i.severity == "warning"]

    # -- conditional matching ---------------------------------------------------------------
    def match(self, uow: UnitOfWork, rtype: str, query: list[tuple[str, str]], op: Op | None = None
              ) -> list[Stored]:
        return self.search_engine.match(uow, rtype, query)

    # -- history ---------------------------------------------------------------------------
    def history(self, rtype: str | None, rid: str | None, params: list[tuple[str, str]],
                base_url: str) -> dict:
        if rtype is not None:
            check_type(rtype, rtype)
        args = dict(params)
        count = min(_int_param(args, "_count", self.config.default_page_size),
                    self.config.max_page_size)
        offset = _int_param(args, "_offset", 0)
        since = _instant_param(args, "_since")
        at = _instant_param(args, "_at")
        with self.db.unit_of_work() as uow:
            if rid is not None and uow.resources.read(rtype, rid) is None:
                raise fail(404, "not-found", f"{rtype}/{rid} is not known")
            total, rows = uow.resources.history(rtype, rid, since=since, at=at, count=count,
                                                offset=offset)
            if at is None and rows and offset == 0:
                at = rows[0].last_updated  # pin later pages to this snapshot
        path = "/".join(p for p in (rtype, rid, "_history") if p)
        entries = []
        for s in rows:
            entry: dict = {"fullUrl": f"{base_url}/{s.resource_type}/{s.resource_id}"}
            if not s.deleted:
                entry["resource"] = RawJson(s.content)
            entry["request"] = {"method": s.method,
                                "url": s.resource_type if s.method == "POST"
                                else f"{s.resource_type}/{s.resource_id}"}
            entry["response"] = {"status": "201" if s.method == "POST" else "200",
                                 "etag": f'W/"{s.version}"',
                                 "lastModified": s.last_updated_instant}
            entries.append(entry)
        base_q = [("_count", str(count))]
        if since is not None and "_since" in args:
            base_q.append(("_since", args["_since"]))
        links = [{"relation": "self", "url": _link(base_url, path, base_q + (
            [("_offset", str(offset))] if offset else []))}]
        pin = [("_at", micros_to_instant(at))] if at is not None else []
        if offset + count < total:
            links.append({"relation": "next", "url": _link(
                base_url, path, base_q + pin + [("_offset", str(offset + count))])})
        if offset > 0:
            links.append({"relation": "previous", "url": _link(
                base_url, path, base_q + pin + [("_offset", str(max(0, offset - count)))])})
        return {"resourceType": "Bundle", "type": "history", "total": total, "link": links,
                "entry": entries}

    # -- response bundles --------------------------------------------------------------------
    def _response_bundle(self, btype: str, ops: list[Op], results: list[Result], base_url: str,
                         return_resources: bool) -> dict:
        entries = []
        for op, r in zip(ops, results):
            response: dict = {"status": status_line(r.status)}
            entry: dict = {}
            if r.stored is not None and not r.stored.deleted:
                response["location"] = (f"{r.stored.resource_type}/{r.stored.resource_id}"
                                        f"/_history/{r.stored.version}")
                response["etag"] = f'W/"{r.stored.version}"'
                response["lastModified"] = r.stored.last_updated_instant
                entry["fullUrl"] = f"{base_url}/{r.stored.resource_type}/{r.stored.resource_id}"
                if return_resources or op.method in ("GET", "HEAD"):
                    if r.status != 304:
                        entry["resource"] = RawJson(r.stored.content)
            elif r.stored is not None:
                response["etag"] = f'W/"{r.stored.version}"'
                response["lastModified"] = r.stored.last_updated_instant
            if r.body is not None:
                entry["resource"] = r.body
            if r.issues:
                response["outcome"] = operation_outcome(r.issues)
            entry["response"] = response
            entries.append(entry)
        return {"resourceType": "Bundle", "type": f"{btype}-response", "entry": entries}


_ENTRY_RE = re.compile(r"Bundle\.entry\[(\d+)\]")
CONFORMANCE_TYPES = frozenset({"StructureDefinition", "ValueSet", "CodeSystem",
                               "SearchParameter"})


def _q(query: list[tuple[str, str]] | None) -> str:
    from urllib.parse import urlencode
    return urlencode(query or [])


def _link(base_url: str, path: str, query: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode
    return f"{base_url}/{path}" + (f"?{urlencode(query)}" if query else "")


def _int_param(args: dict, name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise fail(400, "invalid", f"Parameter {name} must be a non-negative integer, not {raw!r}",
                   name)
    return int(raw)


def _instant_param(args: dict, name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise fail(400, "invalid", f"Parameter {name} must be an instant such as "
                   f"2024-01-31T10:00:00Z, not {raw!r}", name) from None
    from .storage import instant_to_micros
    return instant_to_micros(dt)


def http_date(dt: datetime) -> str:
    return email.utils.format_datetime(dt, usegmt=True)
