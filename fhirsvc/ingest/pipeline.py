"""The one ingestion pipeline: plan -> validate -> one unit of work -> typed results.

Every write takes this path, whatever door it came through: a REST create or update is a
plan of one operation, a transaction Bundle a plan of many (validated whole, stored in one
unit of work, all or nothing), a batch Bundle a plan whose entries each get their own
validation and unit of work. Converters hand in a Bundle plus a `ProvenanceRecord`; the
Provenance resource is written in the same unit of work as what it describes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from ..outcomes import Issue, OperationOutcomeError, error, has_errors, information, sort_issues
from ..security.audit import change_rows
from ..storage.errors import StorageError
from ..storage_outcomes import storage_outcome
from .patch import apply_patch, patch_rewritten, repeats_in
from .plan import (ConditionalDelete, ConditionalPatch, ConditionalUpdate, Create, Delete, Op,
                   PATCHES, Patch, Plan, Read, Rejected, Search, Update, WRITES,
                   processing_order, resource_of)
from .references import conditional_only, rewritten
from .resolve import Resolution, resolve
from .results import EntryResult, IngestResult, Outcome

_ENTRY_RE = re.compile(r"Bundle\.entry\[(\d+)\]")


@dataclass(frozen=True)
class ProvenanceRecord:
    """Who sent what, through which door: becomes a Provenance of everything one ingest wrote."""
    door: str                          # e.g. "hl7v2", "mllp", "remote-pull"
    agent: str                         # the sending system or caller, as a person reads it
    source_id: str | None = None       # the source message / document id (MSH-10, ...)
    source_system: str | None = None   # identifier system of source_id
    activity: str | None = None        # free text: "ADT^A01 converted", ...
    # The REST doors (services/resources.py): the request that made the change, named in
    # `entity` (the request id as its identifier, as in the audit trail; never the body) ...
    request: str | None = None         # "PUT Patient/1", "transaction Bundle of 3 entries"
    request_identifiers: tuple[dict, ...] = ()   # e.g. the request Bundle's identifier
    # ... and `written`: only versions this unit of work wrote are targets (nothing written,
    # no Provenance), never a Provenance or an AuditEvent (no recursion), the activity coded
    # from v3-DataOperation by what was written, the agent the authenticated caller.
    written: bool = False


class IngestPipeline:
    def __init__(self, db, validator, search, before=None, guard=None, write_rules=None,
                 max_response_resources: int = 10_000, written=None):
        self.db = db
        # resources the searches of one Bundle may return together (a batch of 40 searches
        # with _include:iterate=* once took a worker to 3 GB)
        self.max_response_resources = max_response_resources
        self.validator = validator
        self.search = search
        # write_rules(resource) -> [Issue]: rules beyond validation (protected canonicals)
        self._write_rules = write_rules or (lambda resource: [])
        # fhirsvc.security.Guard: every operation is authorised here, whatever the door
        if guard is None:
            from ..security.guard import Guard
            guard = Guard(search.registry, search)
        self.guard = guard
        # called before validating anything (the conformance catch-up of this worker)
        self._before = before
        # written(resource types) after each commit: the catch-up's signal that this server
        # stored a conformance resource (services/conformance.py)
        self._written = written or (lambda types: None)

    # -- entry point --------------------------------------------------------------------------
    def run(self, ctx, plan: Plan, provenance: ProvenanceRecord | None = None, *,
            merge=None, keep_unchanged: bool = False, before_commit=None) -> IngestResult:
        """`merge(index, current, new) -> resource`, optional: for each update of the plan
        whose target has a current version, the resource actually stored is computed from
        that version, read under its row lock inside this unit of work (so concurrent
        updates of one resource each see the other's result), and validated again.

        `keep_unchanged`: an update whose resource equals its current version (apart from
        id, versionId and lastUpdated) writes no version (Outcome.UNCHANGED); a message sent
        again with the same content then writes nothing, not even a Provenance.
        `before_commit(uow, result)`: called with the IngestResult inside the unit of work,
        after everything is written and before the commit, for a door's own rows that must
        be committed with the change or not at all (the HL7 v2 message log)."""
        if self._before is not None:
            self._before()
        if plan.kind == "batch":
            return self._batch(ctx, plan, provenance)
        self._authorize_types(ctx, plan.ops, located=plan.kind == "transaction")
        warnings = self._validate(ctx, plan)
        with self.db.unit_of_work(write=True) as uow:
            results = self._apply(uow, ctx, plan.ops, [self.max_response_resources],
                                  merge=merge, keep_unchanged=keep_unchanged)
            prov = self._write_provenance(uow, provenance, results, ctx) if provenance \
                else None
            uow.audit.append(change_rows(ctx, results))  # committed with the change
            result = IngestResult(plan.kind, self._hand_out(plan, results, warnings), prov,
                                  tuple(warnings))
            if before_commit is not None:
                before_commit(uow, result)
            uow.commit()
        self._written(_types_written(results))
        return result

    def _batch(self, ctx, plan: Plan, provenance: ProvenanceRecord | None = None
               ) -> IngestResult:
        """Each entry in its own unit of work; with `provenance`, each written entry gets a
        Provenance of its own in that unit of work (a Provenance of the whole batch could
        only be written after entries already committed, or name entries that then fail)."""
        results = []
        budget = [self.max_response_resources]   # shared by every entry of the batch
        for op in plan.ops:
            try:
                if isinstance(op, Rejected):
                    raise op.error
                self._authorize_types(ctx, (op,), located=True)
                warnings = self._validate_ops(ctx, [op], located=True)
                with self.db.unit_of_work(write=isinstance(op, WRITES)) as uow:
                    (result,) = self._apply(uow, ctx, (op,), budget)
                    if isinstance(op, WRITES):
                        if provenance is not None:
                            self._write_provenance(uow, replace(
                                provenance, request=f"{provenance.request}, entry "
                                f"{op.index}: {request_line(op)}"), [result], ctx)
                        uow.audit.append(change_rows(ctx, [result]))
                    uow.commit()
                if isinstance(op, WRITES):
                    self._written(_types_written([result]))
                results.append(result.with_issues(warnings))
            except OperationOutcomeError as exc:
                results.append(EntryResult.failed(op.index, exc))
            except StorageError as exc:  # e.g. a conflict with a concurrent request
                results.append(EntryResult.failed(op.index, storage_outcome(exc)))
        return IngestResult("batch", tuple(results))

    # -- authorisation (fhirsvc/security/guard.py) ------------------------------------------
    def _authorize_types(self, ctx, ops, located: bool) -> None:
        """Type-level scope checks before anything is validated or read: every refusal of a
        transaction at once (403, entries located), a single operation's own."""
        issues = []
        for op in ops:
            letter = LETTERS.get(type(op))
            if letter is None:
                continue
            rtype = op.rtype if op.rtype is not None else "*"
            try:
                where = op.location if located else None
                if isinstance(op, Search):
                    self.guard.search(ctx, op.rtype, list(op.query))
                else:
                    self.guard.require(ctx, rtype, letter, where)
                    # what conditional criteria and references search (before any lookup)
                    self.guard.criteria(ctx, rtype, getattr(op, "criteria", None) or getattr(
                        op, "if_none_exist", None), where)
                    for ref in sorted(conditional_only(written_references(op))):
                        self.guard.conditional_reference(ctx, ref, where)
            except OperationOutcomeError as exc:
                if exc.status != 403 or not located:
                    raise
                issues.extend(exc.issues)
        if issues:
            raise OperationOutcomeError(issues, 403)

    def _authorize_instances(self, uow, ctx, ops, res: Resolution) -> None:
        """patient/ scopes: what is written, and what it replaces or deletes, must be in the
        token patient's compartment."""
        if not ctx.enforce:
            return
        for op in ops:
            if not isinstance(op, WRITES):
                continue
            access = self.guard.require(ctx, op.rtype, LETTERS[type(op)], op.location)
            if access.unrestricted:
                continue
            rid = res.targets[op.index].rid if op.index in res.targets else \
                getattr(op, "rid", None)
            if isinstance(op, (Create, Update, ConditionalUpdate)):
                self.guard.check_resource(ctx, access, op.rtype, self._bound(op, res), rid,
                                          op.location)
            existing = res.targets[op.index].existing if op.index in res.targets else None
            if isinstance(op, Create) and existing is not None:  # ifNoneExist matched: it
                self.guard.check_resource(ctx, access, op.rtype,  # is handed back, so it
                                          existing.resource(), existing.resource_id,
                                          op.location)        # must be the caller's too
            if rid is not None and not isinstance(op, Create):
                current = uow.resources.read(op.rtype, rid)
                if current is not None and not current.deleted:
                    self.guard.check_resource(ctx, access, op.rtype, current.resource(), rid,
                                              op.location)

    # -- validation -----------------------------------------------------------------------------
    def _validate(self, ctx, plan: Plan) -> list[Issue]:
        if plan.kind == "transaction":
            # Whole, so references between entries resolve and issues are located as
            # Bundle.entry[i].resource...; nothing is written on an error.
            issues = self.validator.validate(plan.bundle, strict=ctx.require_guide_profiles)
            for op in plan.ops:
                if resource_of(op) is not None:
                    issues += [i.prefixed(op.location, strip=op.rtype)
                               for i in self._write_rules(resource_of(op))]
            if has_errors(issues):
                raise OperationOutcomeError(sort_issues(issues), 422)
            return [i for i in issues if i.severity == "warning"]
        return self._validate_ops(ctx, plan.ops, located=False)

    def _validate_ops(self, ctx, ops, located: bool) -> list[Issue]:
        issues: list[Issue] = []
        for op in ops:
            resource = resource_of(op)
            if resource is None:
                continue
            found = self.validator.validate(resource, strict=ctx.require_guide_profiles)
            found += self._write_rules(resource)
            if located:
                found = [i.prefixed(op.location, strip=op.rtype) for i in found]
            issues.extend(found)
        if has_errors(issues):
            raise OperationOutcomeError(sort_issues(issues), 422)
        return [i for i in issues if i.severity == "warning"]

    @staticmethod
    def _hand_out(plan: Plan, results: list[EntryResult], warnings: list[Issue]
                  ) -> tuple[EntryResult, ...]:
        """Warnings go to the entry they are located in (all of them for a single op)."""
        if not warnings:
            return tuple(results)
        if plan.kind == "single":
            return (results[0].with_issues(warnings),) + tuple(results[1:])
        by_index: dict[int, list[Issue]] = {}
        for w in warnings:
            m = _ENTRY_RE.match(w.expression[0]) if w.expression else None
            if m:
                by_index.setdefault(int(m.group(1)), []).append(w)
        return tuple(r.with_issues(by_index[r.index]) if r.index in by_index else r
                     for r in results)

    # -- storing --------------------------------------------------------------------------------
    def _apply(self, uow, ctx, ops: tuple[Op, ...], budget: list[int], merge=None,
               keep_unchanged: bool = False) -> list[EntryResult]:
        """Every operation of `ops` inside `uow`, in R4 processing order; results in request
        order. Any error propagates (the caller's unit of work then rolls back)."""
        res = resolve(uow, self.search.match, ops,
                      match_many=getattr(self.search, "match_many", None))
        self._authorize_instances(uow, ctx, ops, res)
        done: dict[int, EntryResult] = {}
        ordered = processing_order(ops)
        for op in ordered:
            if isinstance(op, (Delete, ConditionalDelete)):
                done[op.index] = self._delete(uow, op, res)
        # creates go in bulk (one INSERT ... RETURNING, one executemany)
        creates = [op for op in ordered
                   if isinstance(op, Create) and res.targets[op.index].existing is None
                   and res.targets[op.index].same_as is None]
        stored = uow.resources.create_many(
            [(op.rtype, op.rid, self._bound(op, res), "POST") for op in creates])
        for op, s in zip(creates, stored):
            done[op.index] = EntryResult(op.index, Outcome.CREATED, s)
        # updates that create (no version stored yet, no If-Match) go in bulk too: a remote
        # pull is all PUTs to ids of its own making
        seen: dict = {}   # (type, id) -> current version, read and locked for the updates
        for op, s in self._creating_updates(uow, ordered, res, seen):
            done[op.index] = EntryResult(op.index, Outcome.CREATED, s)
        self._bulk_updates(uow, ctx, ordered, res, done, seen, merge, keep_unchanged)
        for op in ordered:
            if isinstance(op, Create) and op.index not in done:
                target = res.targets[op.index]
                existing = target.existing or done[target.same_as].stored
                done[op.index] = EntryResult(op.index, Outcome.MATCHED, existing, (information(
                    "informational", f"ifNoneExist matched {existing.reference}; nothing "
                    "created"),))
            elif isinstance(op, (Update, ConditionalUpdate)) and op.index not in done:
                done[op.index] = self._update(uow, ctx, op, res, merge, keep_unchanged)
            elif isinstance(op, PATCHES):
                done[op.index] = self._patch(uow, ctx, op, res)
        uow.resources.add_aliases([
            (op.full_url, done[op.index].stored.pk) for op in ops
            if isinstance(op, (Create, Update, ConditionalUpdate)) and op.full_url
            and op.full_url.startswith(("urn:uuid:", "urn:oid:"))
            and done[op.index].outcome in (Outcome.CREATED, Outcome.UPDATED)])
        if any(isinstance(op, (Read, Search)) for op in ops):
            uow.flush_index()  # reads after the writes see them, search indexes included
            for op in ops:
                if isinstance(op, Read):
                    done[op.index] = self._read(uow, op)
                    if ctx.enforce and done[op.index].stored is not None:
                        self.guard.check(ctx, uow, "r", done[op.index].stored, op.location)
                elif isinstance(op, Search):
                    if budget[0] <= 0:               # spent: do not even run it
                        raise self._too_costly(op)
                    query, compartment = self.guard.search(ctx, op.rtype, list(op.query))
                    bundle = self.search.search(
                        uow, op.rtype, query, base_url=ctx.base_url, compartment=compartment,
                        admit=lambda u, items: self.guard.admit(ctx, u, "r", items))
                    budget[0] -= len(bundle.get("entry") or ())
                    if budget[0] < 0:
                        raise self._too_costly(op)
                    done[op.index] = EntryResult(op.index, Outcome.SEARCHED, body=bundle)
        return [done[op.index] for op in ops]

    def _creating_updates(self, uow, ordered, res: Resolution, seen: dict | None = None
                          ) -> list:
        """`seen` is filled with the current versions read (and locked: they are updated
        next) on the way."""
        seen = {} if seen is None else seen
        ops = [op for op in ordered if isinstance(op, (Update, ConditionalUpdate))
               and getattr(op, "if_match", None) is None]
        if not ops:
            return []
        # ids drawn by resolve (new UUIDs) are not looked up: nothing can be stored under them
        new = [op for op in ops if res.targets[op.index].generated]
        ops = [op for op in ops if not res.targets[op.index].generated]
        if not ops:
            stored = uow.resources.create_many(
                [(op.rtype, res.targets[op.index].rid, self._bound(op, res), "PUT")
                 for op in new])
            return list(zip(new, stored))
        by_type: dict[str, list[str]] = {}
        for op in ops:
            by_type.setdefault(op.rtype, []).append(res.targets[op.index].rid)
        # every type in one statement, locked in key order (one order for every writer)
        seen.update(uow.resources.read_keys_many(by_type, for_update=True))
        known = set(seen)
        fresh = [op for op in ops if (op.rtype, res.targets[op.index].rid) not in known]
        if fresh and not uow.exclusive:   # SQLite: no one else can have created them since
            # Concurrent PUTs creating the same id: lock the ids (one statement, one order)
            # and look again, so the later writer updates what the first created (last writer
            # wins, as _current does for one resource) instead of failing on the unique key.
            uow.lock_many(f"resource:{op.rtype}/{res.targets[op.index].rid}" for op in fresh)
            again: dict[str, list[str]] = {}
            for op in fresh:
                again.setdefault(op.rtype, []).append(res.targets[op.index].rid)
            seen.update(uow.resources.read_keys_many(again, for_update=True))
            known = set(seen)
            fresh = [op for op in fresh if (op.rtype, res.targets[op.index].rid) not in known]
        if new:   # in processing order
            creating = {op.index for op in new} | {op.index for op in fresh}
            fresh = [op for op in ordered if op.index in creating]
        stored = uow.resources.create_many(
            [(op.rtype, res.targets[op.index].rid, self._bound(op, res), "PUT") for op in fresh])
        return list(zip(fresh, stored))

    def _bulk_updates(self, uow, ctx, ordered, res: Resolution, done: dict,
                      seen: dict | None = None, merge=None, keep_unchanged: bool = False
                      ) -> None:
        """Updates of stored resources in bulk (a re-sent HL7 v2 ORU is 13 of them): read and
        locked in one statement (every type), stored by one executemany each for the resource rows
        and the versions. An update whose resource is not stored (yet) is left to _update,
        which serialises concurrent creators of its id."""
        ops = [op for op in ordered
               if isinstance(op, (Update, ConditionalUpdate)) and op.index not in done]
        if len(ops) < 2:
            return
        current = dict(seen or {})
        by_type: dict[str, list[str]] = {}
        for op in ops:
            if (op.rtype, res.targets[op.index].rid) not in current:
                by_type.setdefault(op.rtype, []).append(res.targets[op.index].rid)
        if by_type:   # every type in one statement, locked in key order
            current.update(uow.resources.read_keys_many(by_type, for_update=True))
        items, which = [], []
        for op in ops:
            rid = res.targets[op.index].rid
            cur = current.get((op.rtype, rid))
            if cur is None:
                continue
            self._check_version(op, rid, cur)
            resource, issues = self._bound(op, res), ()
            if merge is not None and not cur.deleted:   # as _update: merged, then validated
                merged = merge(op.index, cur.resource(), resource)
                if merged != resource:
                    resource, issues = merged, self._revalidate(ctx, op, merged)
            if keep_unchanged and not cur.deleted and same_content(cur.resource(), resource):
                done[op.index] = EntryResult(op.index, Outcome.UNCHANGED, cur, issues)
                continue
            items.append((op.rtype, rid, resource, "PUT", cur))
            which.append((op, cur, issues))
        for (op, cur, issues), stored in zip(which, uow.resources.save_many(items)):
            done[op.index] = EntryResult(
                op.index, Outcome.CREATED if cur.deleted else Outcome.UPDATED, stored, issues)

    def _too_costly(self, op) -> OperationOutcomeError:
        return OperationOutcomeError(error(
            "too-costly", f"The searches of this Bundle return more than "
            f"{self.max_response_resources} resources together; split it or lower _count",
            f"{op.location.removesuffix('.resource')}.request.url"), 413)

    @staticmethod
    def _bound(op: Op, res: Resolution) -> dict:
        """The op's resource with fullUrl and conditional references rewritten (a copy)."""
        resource = resource_of(op)
        return rewritten(resource, res.references) if res.references else resource

    @staticmethod
    def _current(uow, rtype: str, rid: str):
        """The current version, locked for this write. When there is none yet, concurrent
        writers of the same id are serialised by a lock on it and the row is read again, so
        the second of two PUTs creating one id updates what the first created (last writer
        wins) instead of failing on the unique key."""
        current = uow.resources.read(rtype, rid, for_update=True)
        if current is None:
            uow.lock(f"resource:{rtype}/{rid}")
            current = uow.resources.read(rtype, rid, for_update=True)
        return current

    def _delete(self, uow, op, res: Resolution) -> EntryResult:
        rid = res.targets[op.index].rid
        if rid is None:
            return EntryResult(op.index, Outcome.NOTHING_DELETED, issues=(information(
                "not-found", f"No {op.rtype} matches {_q(op.criteria)}; nothing deleted"),))
        current = uow.resources.read(op.rtype, rid, for_update=True)
        self._check_version(op, rid, current)
        if current is None or current.deleted:
            return EntryResult(op.index, Outcome.NOTHING_DELETED, current, (information(
                "not-found", f"{op.rtype}/{rid} does not exist or is already deleted"),))
        stored = uow.resources.save(op.rtype, rid, None, "DELETE", current)
        return EntryResult(op.index, Outcome.DELETED, stored, (information(
            "informational", f"Deleted {op.rtype}/{rid} (version {stored.version})"),))

    def _update(self, uow, ctx, op, res: Resolution, merge=None, keep_unchanged: bool = False
                ) -> EntryResult:
        rid = res.targets[op.index].rid
        current = self._current(uow, op.rtype, rid)
        self._check_version(op, rid, current)
        resource = self._bound(op, res)
        issues: tuple[Issue, ...] = ()
        if merge is not None and current is not None and not current.deleted:
            merged = merge(op.index, current.resource(), resource)
            if merged != resource:
                resource = merged
                issues = self._revalidate(ctx, op, resource)
        if keep_unchanged and current is not None and not current.deleted \
                and same_content(current.resource(), resource):
            return EntryResult(op.index, Outcome.UNCHANGED, current, issues)
        stored = uow.resources.save(op.rtype, rid, resource, "PUT", current)
        created = current is None or current.deleted
        return EntryResult(op.index, Outcome.CREATED if created else Outcome.UPDATED, stored,
                           issues)

    def _revalidate(self, ctx, op, resource: dict) -> tuple[Issue, ...]:
        """A resource computed inside the unit of work (a merge, a patch) is validated like any
        write: 422 located in the entry, nothing stored; its warnings are handed back."""
        found = self.validator.validate(resource, strict=ctx.require_guide_profiles)
        found += self._write_rules(resource)
        if op.location != op.rtype:
            found = [i.prefixed(op.location, strip=op.rtype) for i in found]
        if has_errors(found):
            raise OperationOutcomeError(sort_issues(found), 422)
        return tuple(i for i in found if i.severity == "warning")

    def _patch(self, uow, ctx, op, res: Resolution) -> EntryResult:
        """Apply the patch to the current version (locked), validate the result like any
        write (422 located in the entry; nothing stored) and store it as a new version."""
        rid = res.targets[op.index].rid
        current = uow.resources.read(op.rtype, rid, for_update=True)
        if current is None or current.deleted:
            raise OperationOutcomeError(error(
                "not-found" if current is None else "deleted",
                f"{op.rtype}/{rid} {'is not known' if current is None else 'was deleted'}; "
                "there is nothing to patch", op.location), 404 if current is None else 410)
        self._check_version(op, rid, current)
        patched = apply_patch(patch_rewritten(op.patch, res.references), current.resource(),
                              op.location, repeats_in(self.validator.registry.state))
        if ctx.enforce:   # patient/ scopes: the result must stay in the token's compartment
            access = self.guard.require(ctx, op.rtype, "u", op.location)
            if not access.unrestricted:
                self.guard.check_resource(ctx, access, op.rtype, patched, rid, op.location)
        warnings = self._revalidate(ctx, op, patched)
        stored = uow.resources.save(op.rtype, rid, patched, "PATCH", current)
        return EntryResult(op.index, Outcome.UPDATED, stored, warnings)

    @staticmethod
    def _check_version(op, rid: str, current) -> None:
        expected = getattr(op, "if_match", None)
        if expected is not None and (current is None or current.version != expected):
            have = "does not exist" if current is None else f"is at version {current.version}"
            raise OperationOutcomeError(error(
                "conflict", f"If-Match expected version {expected} but {op.rtype}/{rid} {have}",
                op.location), 412)

    @staticmethod
    def _read(uow, op: Read) -> EntryResult:
        if op.vid is not None and op.vid.isdigit() and int(op.vid) > 2 ** 31 - 1:
            return EntryResult.failed(op.index, OperationOutcomeError(error(
                "invalid", f"Version id {op.vid[:30]} is out of range (at most {2 ** 31 - 1})",
                f"{op.location.removesuffix('.resource')}.request.url"), 400))
        if op.vid is not None:
            stored = uow.resources.vread(op.rtype, op.rid, int(op.vid)) if op.vid.isdigit() \
                else None
        else:
            stored = uow.resources.read(op.rtype, op.rid)
        if stored is None:
            return EntryResult.failed(op.index, OperationOutcomeError(
                error("not-found", f"{op.url} is not known"), 404))
        if stored.deleted:
            return EntryResult(op.index, Outcome.FAILED, stored, (error(
                "deleted", f"{op.url} was deleted"),),
                error=OperationOutcomeError(error("deleted", f"{op.url} was deleted"), 410))
        if op.if_none_match is not None and op.if_none_match == stored.version:
            return EntryResult(op.index, Outcome.NOT_MODIFIED, stored)
        return EntryResult(op.index, Outcome.READ, stored)

    # -- provenance -------------------------------------------------------------------------
    @staticmethod
    def _write_provenance(uow, record: ProvenanceRecord, results: list[EntryResult], ctx=None):
        if record.written:
            done = [r for r in results if r.stored is not None and r.outcome in WRITTEN
                    and r.stored.resource_type not in NO_PROVENANCE]
            targets = [r.stored for r in done]
        else:
            done = None
            targets = [r.stored for r in results
                       if r.stored is not None and r.outcome in (
                           Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED, Outcome.MATCHED)]
        if not targets:
            return None
        prov = provenance_resource(record, targets, ctx, done)
        from .plan import new_id
        return uow.resources.create_many([("Provenance", new_id(), prov, "POST")])[0]


def _types_written(results) -> set[str]:
    return {r.stored.resource_type for r in results
            if r.stored is not None and r.outcome in WRITTEN}


def provenance_resource(record: ProvenanceRecord, targets, ctx=None, done=None) -> dict:
    """An R4 Provenance naming every stored version one ingest wrote, who sent it and how.
    `done`: the EntryResults of `targets` (REST doors: the activity is coded from them)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    prov: dict = {
        "resourceType": "Provenance",
        "meta": {},
        "target": [{"reference": f"{s.resource_type}/{s.resource_id}/_history/{s.version}"}
                   for s in targets],
        "recorded": now,
        "agent": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                "code": "author", "display": "Author"}]},
            "who": {"display": record.agent}}],
    }
    if record.written:
        return _rest_provenance(prov, record, ctx, done or ())
    if ctx is not None and ctx.caller:
        # the authenticated client (and user) that handed the data in (security/)
        from ..security.audit import CLIENT_SYSTEM
        agent = {"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "enterer", "display": "Enterer"}]},
            "who": {"identifier": {"system": CLIENT_SYSTEM, "value": ctx.caller},
                    "display": ctx.caller}}
        if ctx.user:
            agent["onBehalfOf"] = {"reference": ctx.user} if "/" in ctx.user \
                else {"display": ctx.user}
        prov["agent"].append(agent)
    if record.activity:
        prov["activity"] = {"text": record.activity}
    prov["meta"] = {"tag": [{"system": DOOR_TAG_SYSTEM, "code": record.door}]}
    if record.source_id:
        ident = {"value": record.source_id}
        if record.source_system:
            ident["system"] = record.source_system
        prov["entity"] = [{"role": "source", "what": {"identifier": ident,
                                                        "display": record.source_id}}]
    return prov


def _rest_provenance(prov: dict, record: ProvenanceRecord, ctx, done) -> dict:
    """A REST door's Provenance: the caller as the author (the client, on behalf of the
    user), what was done (v3-DataOperation), the request as the source entity."""
    from ..security.audit import CLIENT_SYSTEM
    agent = prov["agent"][0]
    if ctx is not None and ctx.caller:
        agent["who"] = {"identifier": {"system": CLIENT_SYSTEM, "value": ctx.caller},
                        "display": ctx.caller}
        if ctx.user:
            agent["onBehalfOf"] = {"reference": ctx.user} if "/" in ctx.user \
                else {"display": ctx.user}
    counts: dict[str, int] = {}
    for r in done:
        code = DATA_OPERATIONS[r.outcome]
        counts[code] = counts.get(code, 0) + 1
    text = ", ".join(f"{n} {DATA_OPERATION_DISPLAY[c]}" for c, n in counts.items())
    if len(counts) == 1:
        (code,) = counts
        prov["activity"] = {"coding": [{"system": DATA_OPERATION_SYSTEM, "code": code,
                                        "display": DATA_OPERATION_DISPLAY[code]}]}
    else:   # a transaction of several kinds: no one code says it (R4 activity is 0..1)
        prov["activity"] = {"text": text}
    prov["meta"] = {"tag": [{"system": DOOR_TAG_SYSTEM, "code": record.door}]}
    entity = []
    if ctx is not None:
        entity.append({"role": "source", "what": {
            "identifier": {"system": REQUEST_ID_SYSTEM, "value": ctx.request_id},
            "display": record.request or record.door}})
    entity += [{"role": "source", "what": {"identifier": ident, "display": "request Bundle"}}
               for ident in record.request_identifiers]
    if entity:
        prov["entity"] = entity
    return prov


def same_content(stored: dict, resource: dict) -> bool:
    """Whether storing `resource` over `stored` would change nothing but the version stamps
    (id, meta.versionId, meta.lastUpdated, which every write sets anew)."""
    return _content(stored) == _content(resource)


def _content(resource: dict) -> dict:
    out = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = {k: v for k, v in (resource.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


def request_line(op: Op) -> str:
    """`PUT Patient/1`, `DELETE Observation?code=x`: how a person reads the request."""
    rid = None if isinstance(op, Create) else getattr(op, "rid", None)   # the server's id
    criteria = getattr(op, "criteria", None)
    url = op.rtype or ""
    if rid:
        url += f"/{rid}"
    elif criteria:
        url += f"?{_q(criteria)}"
    return f"{op.method} {url}"


# What was written -> v3-DataOperation (R4 provenance-activity-type)
DATA_OPERATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
DATA_OPERATIONS = {Outcome.CREATED: "CREATE", Outcome.UPDATED: "UPDATE",
                   Outcome.DELETED: "DELETE"}
DATA_OPERATION_DISPLAY = {"CREATE": "create", "UPDATE": "revise", "DELETE": "delete"}
WRITTEN = tuple(DATA_OPERATIONS)
# Never the target of a REST door's Provenance: writing one must not call for another
NO_PROVENANCE = frozenset({"Provenance", "AuditEvent"})
# The identifier system of a request id (the audit trail's AuditEvent uses the same)
REQUEST_ID_SYSTEM = "urn:fhirsvc:request-id"

# The SMART letter each planned operation needs (fhirsvc/security/scopes.py).
LETTERS = {Create: "c", Update: "u", ConditionalUpdate: "u", Patch: "u", ConditionalPatch: "u",
           Delete: "d",
           ConditionalDelete: "d", Read: "r", Search: "s"}

# Tag system for the door a Provenance's data came through (hl7v2, mllp, remote-pull, ...).
DOOR_TAG_SYSTEM = "http://fhirsvc.org/fhir/ingest-door"


def written_references(op: Op):
    """The references an operation writes (plan.Op.written_references)."""
    return op.written_references


def _q(query) -> str:
    from urllib.parse import urlencode
    return urlencode(list(query or ()))
