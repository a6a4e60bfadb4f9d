"""The reads of Bulk Data export and the registry dataset: stored JSON text, streamed in
keyset batches, as of a transaction time.

    reader = ExportReader(uow.conn)
    batch = reader.batch(selection, after=0, limit=5000)  # [(pk, id, content, deleted)]

`Selection` says what one output file holds: one resource type, changed after `since` and no
later than `until` (the export's transactionTime), optionally limited to patients' compartments
and to search criteria (_typeFilter). Each row is the version that was current at `until`: a
resource changed after the kick-off is exported as it was then (its newer version goes to a
later `_since` export), so a file never mixes states from after transactionTime. Each
selection is read in two phases (`main`, then `later()`), see `_batch_query`.

Batches walk one type by primary key through the (resource_type, pk) index (migration 0006):
a batch is an index range scan whatever the table size, the versions' text is read in the
order it was written (nearly sequential, where resource-id order is random for UUID ids), and
the last key is a resumable cursor.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from sqlalchemy import and_, bindparam, exists, false, func, literal, or_, select, true

from ..search import criteria as c
from .search_sql import compile_clause
from .tables import idx_reference as REF
from .tables import resource_versions as V
from .tables import resources as R


@dataclass(frozen=True)
class Selection:
    rtype: str
    until: int                                   # transactionTime, microseconds
    since: int | None = None                     # _since (exclusive lower bound)
    # None: no compartment restriction; otherwise the Patient ids (empty tuple with
    # all_patients: every resource in some Patient compartment)
    patients: tuple[str, ...] | None = None
    all_patients: bool = False
    compartment_params: tuple[str, ...] = ()     # reference params linking rtype to a Patient
    # alternatives (OR): each one an AND of clauses (_typeFilter entries for this type)
    filters: tuple[c.Criteria, ...] = field(default=())
    include_deleted: bool = False                # for _since: the deleted ones too
    phase: str = "main"                          # main | late (see ExportReader._batch_query)
    # includeAssociatedData (Provenance only): the Provenance whose target is a resource of
    # one of these selections is selected too; `latest`: only the newest such Provenance of
    # each target; `associated_only`: none other (Provenance is not itself an exported type)
    associated: tuple["Selection", ...] = ()
    latest: bool = False
    associated_only: bool = False

    def later(self) -> "Selection":
        return replace(self, phase="late")


class BatchSizer:
    """Rows per batch so that one batch holds about `budget` bytes of text: a type of large
    resources (Synthea's ExplanationOfBenefit, ~15 kB each) gets smaller batches, so memory
    stays the same whatever the types and sizes (the driver may buffer a whole batch)."""

    def __init__(self, max_rows: int = 5000, budget: int = 4 * 1024 * 1024, min_rows: int = 50):
        self.max_rows, self.budget, self.min_rows = max_rows, budget, min_rows
        self.rows = min(max_rows, 500)  # a first, modest probe of each type

    def seen(self, rows: list) -> None:
        size = sum(len(r[2] or "") for r in rows)
        if rows and size:
            per_row = size / len(rows)
            self.rows = int(max(self.min_rows, min(self.max_rows, self.budget / per_row)))


def _compile(conn, query) -> tuple[str, object]:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    if compiled.positional:
        return compiled.string, tuple(compiled.positiontup), compiled.params
    return compiled.string, None, compiled.params


def _driver_rows(conn, sql: str, names, params: dict) -> list[tuple]:
    """Run compiled SQL on the driver's cursor of this transaction: plain tuples, no result
    processing. Exports move every row of the database through here, and SQLAlchemy's
    per-row result handling and per-call compilation were most of the time (raw sqlite3 /
    psycopg fetch is 2-3x faster on 100,000 rows)."""
    args = [params[n] for n in names] if names is not None else params
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        cur.close()


_CACHE: dict = {}  # (dialect, Selection) -> compiled batch query: compiled once per export


class ExportReader:
    def __init__(self, conn):
        self.conn = conn

    def _conditions(self, sel: Selection, r) -> list:
        if not sel.associated:
            return self._own_conditions(sel, r)
        own = false() if sel.associated_only else and_(true(), *self._own_conditions(sel, r))
        return [r.c.resource_type == sel.rtype, or_(own, self._associated(sel, r))]

    def _associated(self, sel: Selection, r):
        """`r` (a Provenance) targets a resource that one of `sel.associated` exports: that
        selection's conditions on the target, which existed, not deleted, at transactionTime
        (or changed after it: exported as it was then) and, with _since, changed since. With
        `latest`, no newer Provenance up to transactionTime targets the same resource."""
        ref, t = REF.alias("aref"), R.alias("at")
        alternatives = []
        for other in sel.associated:
            timely = or_(and_(t.c.last_updated <= other.until, t.c.deleted == false()),
                         t.c.last_updated > other.until)
            conds = [*self._own_conditions(other, t), timely]
            if other.since is not None:
                conds.append(t.c.last_updated > other.since)
            alternatives.append(and_(*conds))
        link = [ref.c.res_pk == r.c.pk, ref.c.param == "target", or_(*alternatives)]
        if sel.latest:
            ref2, p2 = REF.alias("aref2"), R.alias("ap2")
            link.append(~exists(select(literal(1)).select_from(ref2).where(
                ref2.c.resource_type == "Provenance", ref2.c.param == "target",
                ref2.c.target_type == ref.c.target_type,
                ref2.c.target_id == ref.c.target_id, p2.c.pk == ref2.c.res_pk,
                p2.c.resource_type == "Provenance", p2.c.pk > r.c.pk,
                p2.c.last_updated <= sel.until, p2.c.deleted == false())
                .correlate(r, ref)))
        on = and_(t.c.resource_type == ref.c.target_type, t.c.resource_id == ref.c.target_id)
        return exists(select(literal(1)).select_from(ref.join(t, on)).where(*link)
                      .correlate(r))

    def _own_conditions(self, sel: Selection, r) -> list:
        conds = [r.c.resource_type == sel.rtype]
        if sel.patients is not None or sel.all_patients:
            if sel.rtype == "Patient":
                if not sel.all_patients:
                    conds.append(r.c.resource_id.in_(list(sel.patients)))
            else:
                link = [REF.c.res_pk == r.c.pk, REF.c.target_type == "Patient",
                        REF.c.param.in_(list(sel.compartment_params))]
                if not sel.all_patients:
                    link.append(REF.c.target_id.in_(list(sel.patients)))
                conds.append(exists(select(literal(1)).select_from(REF).where(*link)
                                    .correlate(r)))
        if sel.filters:
            alternatives = []
            for crit in sel.filters:
                parts = [compile_clause(cl).as_exists(r) for cl in crit.clauses]
                alternatives.append(and_(true(), *parts))
            conds.append(or_(*alternatives))
        return conds

    def batch(self, sel: Selection, after: int = 0, limit: int = 5000
              ) -> list[tuple[int, str, str | None, bool]]:
        """Up to `limit` rows (pk, id, content, deleted) with keys above `after`."""
        key = (self.conn.dialect.name, sel)
        try:
            hash(key)
        except TypeError:  # unhashable criteria: compile every time
            key = None
        compiled = _CACHE.get(key) if key is not None else None
        if compiled is None:
            compiled = _compile(self.conn, self._batch_query(sel))
            if key is not None:
                if len(_CACHE) > 256:
                    _CACHE.clear()
                _CACHE[key] = compiled
        sql, names, params = compiled
        return _driver_rows(self.conn, sql, names, dict(params, b_after=after, b_limit=limit))

    def _batch_query(self, sel: Selection):
        """Two phases per type, each a keyset walk by primary key. `main`: resources whose
        current version is not newer than `until` (nearly all): every filter is on the
        resources row and the text is one primary-key probe per row, so the (type, pk)
        index drives and LIMIT stops the scan (a join to the versions table let PostgreSQL's
        planner hash-join the whole table for every batch). `late`: the few changed after
        `until`, exported as the version they had then (found through the updated index)."""
        r, v = R.alias("r"), V.alias("v")
        after, limit = bindparam("b_after", 0), bindparam("b_limit", 5000)
        if sel.phase == "main":
            text = (select(v.c.content).where(v.c.res_pk == r.c.pk, v.c.version == r.c.version)
                    .correlate(r).scalar_subquery())
            q = (select(r.c.pk, r.c.resource_id, text, r.c.deleted)
                 .where(*self._conditions(sel, r), r.c.last_updated <= sel.until,
                        r.c.pk > after).order_by(r.c.pk).limit(limit))
            if sel.since is not None:
                q = q.where(r.c.last_updated > sel.since)
            if not sel.include_deleted:
                q = q.where(r.c.deleted == false())
            return q
        v2 = V.alias("v2")
        then = (select(func.max(v2.c.version))
                .where(v2.c.res_pk == r.c.pk, v2.c.last_updated <= sel.until)
                .correlate(r).scalar_subquery())
        q = (select(r.c.pk, r.c.resource_id, v.c.content, v.c.deleted)
             .select_from(r.join(v, and_(v.c.res_pk == r.c.pk, v.c.version == then)))
             .where(*self._conditions(sel, r), r.c.last_updated > sel.until, r.c.pk > after)
             .order_by(r.c.pk).limit(limit))
        if sel.since is not None:
            q = q.where(v.c.last_updated > sel.since)
        if not sel.include_deleted:
            q = q.where(v.c.deleted == false())
        return q

    def compartments(self, patient_ids: Sequence[str], params_by_type: dict[str, Sequence[str]],
                     until: int) -> list[tuple[str, str, str]]:
        """(type, id, content) of the Patients `patient_ids` and of every resource of
        `params_by_type` in their compartments (linked by those reference parameters), each
        as it was at `until` (not deleted then), Patients first, then by key. Driven by the
        reference index on the target (ix_idx_reference_target), so a page of patients
        costs its own rows whatever the table size (the registry export's pages)."""
        ids = list(patient_ids)
        if not ids:
            return []
        r, v, v2, ref = R.alias("r"), V.alias("v"), V.alias("v2"), REF.alias("cref")
        then = (select(func.max(v2.c.version))
                .where(v2.c.res_pk == r.c.pk, v2.c.last_updated <= until)
                .correlate(r).scalar_subquery())
        base = (select(r.c.resource_type, r.c.resource_id, v.c.content)
                .select_from(r.join(v, and_(v.c.res_pk == r.c.pk, v.c.version == then)))
                .where(v.c.deleted == false()).order_by(r.c.pk))
        out = []
        pats = base.where(r.c.resource_type == "Patient", r.c.resource_id.in_(ids))
        linked = [and_(ref.c.resource_type == t, ref.c.param.in_(list(ps)))
                  for t, ps in sorted(params_by_type.items()) if ps and t != "Patient"]
        queries = [pats]
        if linked:
            pks = (select(ref.c.res_pk).where(ref.c.target_id.in_(ids),
                                               ref.c.target_type == "Patient", or_(*linked)))
            queries.append(base.where(r.c.pk.in_(pks)))
        for q in queries:
            sql, names, params = _compile(self.conn, q)
            out.extend(_driver_rows(self.conn, sql, names, params))
        return out

    def count(self, sel: Selection) -> int:
        """How many current resources the selection roughly holds (progress totals): counted
        on current versions, without the as-of-transactionTime refinement."""
        r = R.alias("r")
        q = select(func.count()).select_from(r).where(*self._conditions(sel, r),
                                                      r.c.deleted == false())
        if sel.since is not None:
            q = q.where(r.c.last_updated > sel.since)
        return self.conn.execute(q).scalar_one()

    def types_present(self, types: Sequence[str] | None = None) -> list[str]:
        """Resource types with at least one stored resource (of `types` when given)."""
        q = select(R.c.resource_type).distinct()
        if types is not None:
            q = q.where(R.c.resource_type.in_(list(types)))
        return sorted(row[0] for row in self.conn.execute(q))

    def current_ids(self, rtype: str, ids: Sequence[str]) -> list[str]:
        """Those of `ids` that exist (not deleted) as `rtype`."""
        out: list[str] = []
        ids = list(ids)
        for start in range(0, len(ids), 500):
            out.extend(row[0] for row in self.conn.execute(
                select(R.c.resource_id).where(R.c.resource_type == rtype,
                                              R.c.resource_id.in_(ids[start:start + 500]),
                                              R.c.deleted == false())))
        return sorted(out)

    def ids_matching(self, criteria: c.Criteria) -> list[str]:
        """Ids of current resources matching search criteria (a Group defined by a query)."""
        from .search_repository import SearchRepository
        pks = SearchRepository(self.conn).match(criteria)
        out: list[str] = []
        for start in range(0, len(pks), 500):
            out.extend(row[0] for row in self.conn.execute(
                select(R.c.resource_id).where(R.c.pk.in_(pks[start:start + 500]))))
        return sorted(out)

    def now_floor(self) -> int:
        """Newest lastUpdated stored (0 when empty): a transactionTime is never before it."""
        return self.conn.execute(select(func.max(R.c.last_updated))).scalar() or 0
