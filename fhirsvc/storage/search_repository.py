"""Search repository: runs parsed criteria (fhirsvc.search.criteria) and the look-ups behind
_include, _revinclude and Patient/$everything. Returns primary keys in order; the resources
themselves are read with `uow.resources.read_many`.

    page = uow.search.find(criteria, sort=keys, limit=20, offset=0, with_total=True)
    page.total, page.pks, page.has_next
    uow.search.match(criteria) -> [pk, ...]              (conditional operations)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from sqlalchemy import case, distinct, false, func, intersect, literal_column, select, text

from ..search import criteria as c
from . import chain_walk, dialect
from .search_probed import probed_keys
from .search_sql import (NEGATED, Cond, chain_probe, chain_targets, compile_clause,
                         resolved_chain)
from .tables import INDEX_TABLES, idx_reference
from .tables import resources as R

_CHUNK = 500
# the searched resources' alias, built once: its column collection cost every search a rebuild
# (a named alias is the same FROM in any statement, so one object serves them all)
_R = R.alias("r")
_TOKEN_CHUNK = 200  # conditions per match_tokens statement
# a chained driver with at least this many rows is intersected with the next condition as a
# set when that one has fewer than PARTNER_FACTOR times as many (see _intersect_pair)
FANOUT_LARGE = 1000
# the page of a large chain with a large, key-ordered partner: batches of partner keys walked
WALK_BATCH = 500
WALK_BATCHES = 8
WALK_FIRST = 4  # the first batch: this many partner keys per match wanted (at most WALK_BATCH)
CHAIN_TARGETS = 2000  # a chain with at most this many targets is resolved to their ids first
# ... and right away when it has at most this many; with more, and a key-ordered partner to
# walk, it is tested from the referring side (search_sql.chain_probe) and never listed
CHAIN_FEW = 16
PARTNER_FACTOR = 8
# a multi-condition search on PostgreSQL probes its driver's keys this many at a time
# (search_probed); a driver whose first PROBE_MAX keys do not settle the page: the usual plan
PROBE_FIRST = 1000
PROBE_MAX = 20_000     # driver keys probed before the usual shape takes over
_SORT_COLUMN = {"token": "code", "string": "value", "uri": "value", "number": "value",
                "quantity": "value", "reference": "target_id"}


@dataclass(frozen=True)
class Page:
    total: int | None      # None when not asked for
    pks: list[int]         # at most `limit`, in sort order
    has_next: bool
    # the total was left out because more than this many match (the caller's cap)
    total_over: int | None = None


def _capped_count(rows, cap: int):
    """How many rows `rows` yields, counting no further than `cap` (scalar subquery)."""
    return select(func.count()).select_from(rows.limit(cap).subquery()).scalar_subquery()


class SearchRepository:
    def __init__(self, conn):
        self.conn = conn

    # -- criteria --------------------------------------------------------------------------------
    def find(self, criteria: c.Criteria, *, sort: Sequence[c.SortKey] = (), limit: int = 20,
             offset: int = 0, with_total: bool = False, total_cap: int | None = None) -> Page:
        """One page of matches (limit 0: none, only the total). `total_cap`: count no more
        than that many matches; above it the total is None and `total_over` says so."""
        # a chain with many targets is left unresolved while a walk may answer without them
        compiled = self._compile(criteria, lazy=not sort and len(criteria.clauses) > 1)
        only = self._index_only(criteria, sort, compiled)
        if only is not None and only.walks is not None and with_total \
                and total_cap is not None and limit > 0:
            # one walk gives the page and the capped count (at most cap + 1 keys read)
            seen = self._walk_index(only.walks(), max(offset + limit + 1, total_cap + 1))
            page = seen[offset:]
            over = len(seen) > total_cap
            return Page(None if over else len(seen), page[:limit], len(page) > limit,
                        total_cap if over else None)
        if only is not None:
            pks, has_next = self._page_in_index(only, limit, offset)

            def count():
                return self._count_index(only, total_cap)
        else:
            r = _R
            split: list = []
            planned, walk = self._plan(criteria, r, compiled, split=split)
            if split and not sort and dialect.probes_per_candidate(self.conn):
                page = self._find_probed(criteria, *split[0], limit, offset, with_total,
                                         total_cap)
                if page is not None:
                    return page

            def where() -> list:
                # the set plan (a walk's fallback, the count): unresolved chains listed now
                return planned if planned is not None else \
                    self._plan(criteria, r, self._resolved(compiled))[0]
            pks, has_next = self._page(criteria, where, walk, sort, r, limit, offset)

            def count():
                return self._count(select(r.c.pk).where(*where()), total_cap)
        total = over = None
        if with_total:
            if limit > 0 and not has_next and (pks or offset == 0):
                total = offset + len(pks)  # the last page: its matches are the rest
            else:
                total, over = count()
        return Page(total, pks, has_next, over)

    def _page(self, criteria: c.Criteria, where: Callable[[], list], walk, sort, r, limit: int,
              offset: int) -> tuple[list[int], bool]:
        if limit <= 0:
            return [], False
        if walk is not None and not sort:
            pks = self._walk(walk, criteria, offset + limit + 1)
            if pks is not None:
                pks = pks[offset:]
                return pks[:limit], len(pks) > limit
        q = (select(r.c.pk).where(*where()).order_by(*self._order(sort, r))
             .limit(limit + 1).offset(offset))
        pks = [row[0] for row in self.conn.execute(q)]
        return pks[:limit], len(pks) > limit

    def _count(self, q, cap: int | None) -> tuple[int | None, int | None]:
        """(total, None), or (None, cap) when more than `cap` rows match (distinct rows:
        `q` selects resources' keys)."""
        if cap is None:
            return self.conn.execute(
                select(func.count()).select_from(q.subquery())).scalar_one(), None
        if self.conn.dialect.name == "postgresql":
            # A LIMIT on a multi-condition search lets PostgreSQL pick a plan that walks a key
            # order hoping to stop early, which reads everything when fewer than cap match
            # (the mixed load's patient+code counts: 59% of database time). A MATERIALIZED
            # CTE is planned for all its rows, read lazily, so the cap still stops the scan.
            m = q.cte("capped_matches").prefix_with("MATERIALIZED")
            first = select(literal_column("1")).select_from(m).limit(cap + 1).subquery()
            n = self.conn.execute(select(func.count()).select_from(first)).scalar_one()
        else:
            n = self.conn.execute(select(_capped_count(q, cap + 1))).scalar_one()
        return (n, None) if n <= cap else (None, cap)

    def _count_index(self, cond: Cond, cap: int | None) -> tuple[int | None, int | None]:
        """The distinct resources among the condition's index rows. Capped: at most cap + 1
        index rows are read; all of them seen (no more than cap) gives the exact count.
        (A resource with several matching rows counts once, so more than cap rows can
        still be fewer resources: the total is then left out as well, never guessed.)"""
        if cap is None:
            sub = cond.rows().subquery()
            return self.conn.execute(
                select(func.count(distinct(sub.c.res_pk)))).scalar_one(), None
        if cond.walks is not None:
            # the same ordered walks as the page: each stops once cap + 1 resources are seen
            # (a UNION of the ranges would be built whole before any LIMIT)
            n = len(self._walk_index(cond.walks(), cap + 1))
            return (n, None) if n <= cap else (None, cap)
        sub = cond.rows().limit(cap + 1).subquery()
        n_rows, n = self.conn.execute(
            select(func.count(), func.count(distinct(sub.c.res_pk)))).one()
        return (n, None) if n_rows <= cap else (None, cap)

    def _compile(self, criteria: c.Criteria, lazy: bool = False) -> list[Cond]:
        return [self._chain(cl, lazy) if isinstance(cl, c.ChainClause) else compile_clause(cl)
                for cl in criteria.clauses]

    @staticmethod
    def _resolved(compiled: list[Cond]) -> list[Cond]:
        return [x.resolve() if x.resolve is not None else x for x in compiled]

    def _index_only(self, criteria: c.Criteria, sort, compiled: list[Cond]) -> Cond | None:
        """The one condition of a single-parameter search in pk order whose index rows are
        exactly the matching current resources (index rows exist only for current,
        non-deleted versions and carry the resource type), or None."""
        if not criteria.rtype or sort or len(compiled) != 1:
            return None
        cond = compiled[0]
        return cond if cond.index_only and cond.rows is not None else None

    def _page_in_index(self, cond: Cond, limit: int, offset: int) -> tuple[list[int], bool]:
        """A page from the index alone (issue 16: probing `resources` once per match was most
        of the 1M p95). A condition on one index range (a date range, a string prefix) is
        walked in its index's order and stops at the page's end: the order of such a search
        without _sort is the index's (date, or string value, then key), because putting every
        match in key order first means sorting them all. Others in key order."""
        if limit <= 0:
            return [], False
        if cond.walks is not None:
            pks = self._walk_index(cond.walks(), offset + limit + 1)[offset:]
            return pks[:limit], len(pks) > limit
        sub = cond.rows().subquery()
        q = (select(sub.c.res_pk).distinct().order_by(sub.c.res_pk)
             .limit(limit + 1).offset(offset))
        pks = [row[0] for row in self.conn.execute(q)]
        return pks[:limit], len(pks) > limit

    def _walk_index(self, walks: list, need: int) -> list[int]:
        """The first `need` distinct keys of the ordered selects `walks`, one after the other
        (each one index range read in index order, so the database stops at the LIMIT). A
        resource with several matching rows is kept where it first appears. A walk that
        yields too many repeats is read again with a larger LIMIT (x4: the rows re-read add
        at most a third)."""
        seen: dict[int, None] = {}
        for q in walks:
            fetch = max(2 * need, 64)
            while True:
                rows = self.conn.execute(q.limit(fetch)).all()
                for (pk,) in rows:
                    seen.setdefault(pk, None)
                    if len(seen) >= need:
                        return list(seen)
                if len(rows) < fetch:
                    break
                fetch *= 4
        return list(seen)

    def match(self, criteria: c.Criteria) -> list[int]:
        """Every match, in pk order (conditional operations)."""
        r = _R
        return [row[0] for row in self.conn.execute(
            select(r.c.pk).where(*self._where(criteria, r)).order_by(r.c.pk))]

    def match_tokens(self, keys: Iterable[tuple[str, str, str | None, str, bool]]
                     ) -> dict[tuple[str, str, str | None, str, bool], list[int]]:
        """Many single-token conditions at once (the identifiers of a transaction's conditional
        entries): (resource type, parameter, system, code, or_no_system) -> the matching
        current resources' keys in pk order. system None: any system; "": none; or_no_system:
        that system or none (criteria.TokenMatch). One statement per 200 conditions instead of
        one search each (an HL7 v2 ORU has 13 of them)."""
        keys = list(dict.fromkeys(keys))
        out: dict = {k: [] for k in keys}
        by_code: dict[tuple[str, str, str], list] = {}
        for k in keys:
            by_code.setdefault((k[0], k[1], k[3]), []).append(k)
        for start in range(0, len(keys), _TOKEN_CHUNK):
            chunk = keys[start:start + _TOKEN_CHUNK]
            ors, params = [], {"f": False}
            for n, (rtype, param, system, code, or_none) in enumerate(chunk):
                cond = f"(t.resource_type = :t{n} AND t.param = :p{n} AND t.code = :c{n}"
                params.update({f"t{n}": rtype, f"p{n}": param, f"c{n}": code})
                if system == "":
                    cond += " AND t.system IS NULL"
                elif system is not None:
                    cond += (f" AND (t.system = :s{n} OR t.system IS NULL)" if or_none
                             else f" AND t.system = :s{n}")
                    params[f"s{n}"] = system
                ors.append(cond + ")")
            # index rows exist for current, non-deleted versions only; the join says so anyway
            q = text("SELECT DISTINCT t.res_pk, t.resource_type, t.param, t.system, t.code "
                     "FROM idx_token t JOIN resources r ON r.pk = t.res_pk "
                     f"WHERE r.deleted = :f AND ({' OR '.join(ors)}) ORDER BY t.res_pk")
            for pk, rtype, param, system, code in self.conn.execute(q, params):
                for key in by_code.get((rtype, param, code), ()):
                    want, or_none = key[2], key[4]
                    if want is None or (system is None and (want == "" or or_none)) \
                            or (want != "" and system == want):
                        found = out[key]
                        if not found or found[-1] != pk:
                            found.append(pk)
        return out

    def _where(self, criteria: c.Criteria, r) -> list:
        return self._plan(criteria, r)[0]

    def _base(self, criteria: c.Criteria, r) -> list:
        conds = [r.c.deleted == false()]
        if criteria.rtype:
            conds.insert(0, r.c.resource_type == criteria.rtype)
        return conds

    def _walk(self, walk: tuple[Cond, list[Cond]], criteria: c.Criteria,
              need: int) -> list[int] | None:
        """The first `need` matches in key order, found by walking the partner's index rows
        in key order (an equality on one index gives them sorted) in batches and probing the
        other conditions for each batch's keys: the cost follows how densely the matches lie
        among the partner's rows, not the table sizes, and no plan rests on an estimate.
        None when WALK_BATCHES batches found too few (sparse: the set plan is better)."""
        partner, others = walk
        # conditions that can test given keys through the keys' own index rows do so (an
        # explicit plan: a chain's long IN list of targets is tested in Python); the rest are
        # probed per key in SQL, with the type and deletion checks, unless the partner's
        # index rows already imply those (index_only) and nothing else is left
        probed = [x for x in others if x.probe is not None]
        rest = [x for x in others if x.probe is None]
        sub = partner.rows().subquery()
        # PostgreSQL: the next keys and an unresolved chain's test of them are one statement
        # per batch (chain_walk: three round trips were most of the walk's client CPU)
        combined = next((x for x in probed if x.walk_batch is not None), None) \
            if self.conn.dialect.name == "postgresql" else None
        if combined is not None:
            probed.remove(combined)
            stmt = combined.walk_batch(sub)
        r = _R
        found: list[int] = []
        last = None
        walked = 0
        # the first batch is small (a dense page needs few keys; each key costs a probe), the
        # next ones sized by the density seen so far, never over WALK_BATCH
        size = min(WALK_BATCH, WALK_FIRST * need)
        for _ in range(WALK_BATCHES):
            if combined is not None:
                rows = self.conn.execute(stmt, {
                    "last": chain_walk.FIRST if last is None else last, "size": size}).all()
                batch = [pk for pk, _ok in rows]
                keys = [pk for pk, ok in rows if ok]
            else:
                q = select(sub.c.res_pk).distinct().order_by(sub.c.res_pk).limit(size)
                if last is not None:
                    q = q.where(sub.c.res_pk > last)
                batch = [row[0] for row in self.conn.execute(q)]
                keys = batch
            if not batch:
                return found
            last = batch[-1]
            walked += len(batch)
            for x in probed:
                ok = x.probe(self.conn, keys)
                keys = [k for k in keys if k in ok]
            if keys and (rest or not partner.index_only):
                check = (select(r.c.pk).where(r.c.pk.in_(keys), *self._base(criteria, r),
                                              *[x.as_exists(r) for x in rest])
                         .order_by(r.c.pk))
                keys = [row[0] for row in self.conn.execute(check)]
            found.extend(keys)
            if len(found) >= need or len(batch) < size:
                return found
            guess = (need - len(found)) * walked // len(found) * 5 // 4 + 1 if found else 0
            size = min(WALK_BATCH, max(2 * size, guess) if not found else max(16, guess))
        return None

    def _plan(self, criteria: c.Criteria, r, compiled: list[Cond] | None = None,
              split: list | None = None) -> tuple[list, tuple | None]:
        """The WHERE conditions, and (partner, other conditions) when the page is better
        found by walking the partner's rows in key order (see _walk). `split`, when given,
        receives (driver, the other conditions) when the plan is the plain one (a driver with
        index rows, probes for the rest): what _find_probed needs."""
        if compiled is None:
            compiled = self._compile(criteria)
        ordered = sorted(compiled, key=lambda x: x.rank)  # stable: request order on ties
        walk = self._unresolved_walk(ordered)
        if walk is not None:
            return None, walk
        ordered = self._resolved(ordered)
        ordered.sort(key=lambda x: x.rank)
        conds = [r.c.deleted == false()]
        if criteria.rtype:
            conds.insert(0, r.c.resource_type == criteria.rtype)
        pair, walk = self._intersect_pair(ordered)
        if pair is not None:
            # a large fan-out driver: intersect its rows with the next condition's as sets
            # (hashed, two index scans) instead of probing the second index once per row
            conds.append(r.c.pk.in_(intersect(pair[0].rows(), pair[1].rows())))
            conds.extend(x.as_exists(r) for x in ordered if x is not pair[0]
                         and x is not pair[1])
            return conds, None
        for i, cond in enumerate(ordered):
            # the most selective condition drives (IN list); the others are probed per row
            conds.append(cond.as_in(r) if i == 0 and cond.rank < NEGATED else cond.as_exists(r))
        if walk is not None:
            walk = (walk, [x for x in ordered if x is not walk])
        elif split is not None and len(ordered) > 1 and ordered[0].rank < NEGATED \
                and ordered[0].rows is not None:
            split.append((ordered[0], ordered[1:]))
        return conds, walk

    def _find_probed(self, criteria: c.Criteria, driver: Cond, others: list[Cond], limit: int,
                     offset: int, with_total: bool, total_cap: int | None) -> Page | None:
        """find() through search_probed.probed_keys: the driver's keys in batches of
        PROBE_FIRST, each probed for the rest, in key order, until the page and the (capped)
        total are settled. None when PROBE_MAX keys do not settle them: the caller plans the
        usual shape."""
        index_only = bool(criteria.rtype) and driver.index_only \
            and all(x.rows is not None for x in others)
        end = offset + limit
        keys: list[int] = []
        after, probed = None, 0
        while True:
            rows = self.conn.execute(probed_keys(
                driver, others, lambda r: self._base(criteria, r), PROBE_FIRST + 1,
                index_only=index_only, after=after)).all()
            batch = rows[:PROBE_FIRST]
            keys.extend(k for k, ok in batch if ok)
            probed += len(batch)
            whole = len(rows) <= PROBE_FIRST    # every key of the driver is probed now
            page = keys[offset:end] if limit > 0 else []
            has_next = limit > 0 and len(keys) > end
            if whole:
                if with_total and total_cap is not None and len(keys) > total_cap \
                        and not (limit > 0 and not has_next and (page or offset == 0)):
                    return Page(None, page, has_next, total_cap)
                return Page(len(keys) if with_total else None, page, has_next)
            # a prefix of the driver's keys: its matches are the first ones in key order
            if not with_total:
                if has_next or limit <= 0:
                    return Page(None, page, has_next)
            elif total_cap is not None and len(keys) > total_cap and (has_next or limit <= 0):
                return Page(None, page, has_next, total_cap)
            if probed >= PROBE_MAX:
                return None
            after = batch[-1][0]

    def _chain(self, cl: c.ChainClause, lazy: bool = False) -> Cond:
        """A chained parameter in two steps: its targets first (one indexed query, at most
        CHAIN_TARGETS of them), then references to those ids. The one-statement join's size
        is a fan-out the planner can only guess (PostgreSQL: 1 row), so the plan flipped with
        the data (issue 16: 10 ms at 100k, 1.3 s p95 at 1M); literal ids are estimated from
        the index statistics. More targets than that: the one-statement plan.

        lazy: only CHAIN_FEW targets are read; with more the chain is returned unresolved,
        with a probe from the referring side and `resolve` for the set plan (_plan walks a
        key-ordered partner with it: listing every target grew with the data, issue 16)."""
        if lazy:
            few = self.conn.execute(chain_targets(cl, CHAIN_FEW)).all()
            if len(few) <= CHAIN_FEW:
                return resolved_chain(cl, [tuple(t) for t in few])
            cond = chain_walk.deferred(cl)
            cond.probe = chain_probe(cl)
            cond.walk_batch = lambda partner_sub: chain_walk.batch_statement(cl, partner_sub)
            memo: dict[str, Cond] = {}

            def resolve() -> Cond:  # once per search: the page's fallback and the count
                if "cond" not in memo:
                    memo["cond"] = self._chain(cl)
                return memo["cond"]
            cond.resolve = resolve
            return cond
        targets = self.conn.execute(chain_targets(cl, CHAIN_TARGETS)).all()
        if len(targets) > CHAIN_TARGETS:
            return compile_clause(cl)
        return resolved_chain(cl, [tuple(t) for t in targets])

    @staticmethod
    def _unresolved_walk(ordered: list[Cond]) -> tuple[Cond, list[Cond]] | None:
        """(partner, the other conditions) when a chain was left unresolved (many targets)
        and a condition's rows come out of its index in key order: the page is found by
        walking that partner, the chain probed per batch of keys (_walk), with no count of
        either (their sizes grow with the data; the walk's cost follows the density of
        matches). None otherwise: the chain is resolved and planned as before."""
        if not any(x.resolve is not None for x in ordered):
            return None
        partner = next((x for x in ordered if x.ordered_rows and x.rank < NEGATED
                        and x.resolve is None), None)
        if partner is None:
            return None
        return partner, [x for x in ordered if x is not partner]

    def _intersect_pair(self, ordered: list[Cond]) -> tuple[tuple[Cond, Cond] | None,
                                                            Cond | None]:
        """((driver, partner) to run as `pk IN (driver INTERSECT partner)`, None), or
        (None, partner to walk in key order: both large, the partner's rows sorted by key),
        or (None, None).

        A chained parameter drives when it is the most selective kind of condition, but its
        size is the number of matching targets times their fan-out, which the planner cannot
        estimate. So where the dialect wants it (dialect.intersects_large_chains) its size is
        measured, capped: when it is large and a second condition can be answered as a set
        that is not much larger, the two sets are intersected."""
        if len(ordered) < 2:
            return None, None
        drive = ordered[0]
        if not drive.fanout or drive.rows is None or drive.rank >= NEGATED:
            return None, None
        partner = next((x for x in ordered[1:] if x.rows is not None and x.rank < NEGATED),
                       None)
        if partner is None:
            return None, None
        if not dialect.intersects_large_chains(self.conn):
            # SQLite lists every row of the chain before it probes the partner (LIST
            # SUBQUERY: ~46,000 rows for a family at 1M); a large chain with a key-ordered
            # partner is walked instead, with no count of the partner (that count cost more
            # than it saved, bench/RESULTS.md)
            if not partner.ordered_rows:
                return None, None
            n = self.conn.execute(
                select(_capped_count(drive.rows(), FANOUT_LARGE))).scalar_one()
            return None, (partner if n >= FANOUT_LARGE else None)
        # one round trip; the partner is only counted when the driver is large (lazy InitPlan)
        n_large, m_cap = FANOUT_LARGE, FANOUT_LARGE * PARTNER_FACTOR
        m = self.conn.execute(select(case(
            (_capped_count(drive.rows(), n_large) >= n_large,
             _capped_count(partner.rows(), m_cap)), else_=None))).scalar_one()
        if m is None:
            return None, None
        if m >= m_cap:
            return None, (partner if partner.ordered_rows else None)
        return (drive, partner), None

    @staticmethod
    def _order(sort: Sequence[c.SortKey], r) -> list:
        out = []
        for key in sort:
            if key.code == "_id":
                col = r.c.resource_id
            elif key.code == "_lastUpdated":
                col = r.c.last_updated
            else:
                t = INDEX_TABLES[key.kind].alias()
                if key.kind == "date":
                    inner = t.c.high if key.descending else t.c.low
                elif key.kind == "composite":
                    inner = t.c.code1
                else:
                    inner = t.c[_SORT_COLUMN[key.kind]]
                agg = func.max(inner) if key.descending else func.min(inner)
                col = (select(agg).where(t.c.res_pk == r.c.pk, t.c.param == key.code)
                       .correlate(r).scalar_subquery())
            out.append(col.desc().nulls_last() if key.descending else col.asc().nulls_last())
        out.append(r.c.pk)
        return out

    # -- _include / _revinclude ------------------------------------------------------------------
    def include_targets(self, sources: Sequence, spec: c.IncludeSpec) -> set[int]:
        """Current resources that `sources` (stored resources) refer to through `spec`."""
        src_pks = [s.pk for s in sources if spec.source == "*" or s.resource_type == spec.source]
        if not src_pks:
            return set()
        ref = idx_reference
        out: set[int] = set()
        for start in range(0, len(src_pks), _CHUNK):
            q = select(ref.c.target_type, ref.c.target_id).where(
                ref.c.res_pk.in_(src_pks[start:start + _CHUNK]), ref.c.target_id.is_not(None))
            if spec.param != "*":
                q = q.where(ref.c.param == spec.param)
            if spec.target:
                q = q.where(ref.c.target_type == spec.target)
            by_type: dict[str, set[str]] = {}
            for tt, tid in self.conn.execute(q.distinct()):
                by_type.setdefault(tt, set()).add(tid)
            for tt, ids in by_type.items():
                out |= self._current_pks(tt, sorted(ids))
        return out

    def revinclude_sources(self, targets: Sequence, spec: c.IncludeSpec) -> set[int]:
        """Resources whose reference `spec` points at one of `targets`."""
        by_type: dict[str, list[str]] = {}
        for s in targets:
            if spec.target is None or s.resource_type == spec.target:
                by_type.setdefault(s.resource_type, []).append(s.resource_id)
        ref = idx_reference
        out: set[int] = set()
        for tt, ids in by_type.items():
            for start in range(0, len(ids), _CHUNK):
                q = select(ref.c.res_pk).where(ref.c.target_type == tt,
                                               ref.c.target_id.in_(ids[start:start + _CHUNK]))
                if spec.source != "*":
                    q = q.where(ref.c.resource_type == spec.source)
                if spec.param != "*":
                    q = q.where(ref.c.param == spec.param)
                out.update(row[0] for row in self.conn.execute(q))
        return out

    # -- compartments (Patient/$everything) ------------------------------------------------------
    def compartment_members(self, ctype: str, cid: str,
                            definition: dict[str, Iterable[str]]) -> set[int]:
        """Resources in the compartment of `ctype`/`cid`: those referring to it through one of
        the parameters `definition` lists for their type."""
        ref = idx_reference
        members: set[int] = set()
        for rt, code, pk in self.conn.execute(
                select(ref.c.resource_type, ref.c.param, ref.c.res_pk).where(
                    ref.c.target_type == ctype, ref.c.target_id == cid)):
            if code in definition.get(rt, ()):
                members.add(pk)
        return members

    def referenced_by(self, pks: Sequence[int]) -> set[int]:
        """Current resources that the resources `pks` refer to (local references)."""
        ref = idx_reference
        out: set[int] = set()
        pks = list(pks)
        for start in range(0, len(pks), _CHUNK):
            pairs = self.conn.execute(select(ref.c.target_type, ref.c.target_id).where(
                ref.c.res_pk.in_(pks[start:start + _CHUNK]),
                ref.c.target_id.is_not(None)).distinct()).all()
            by_type: dict[str, list[str]] = {}
            for tt, tid in pairs:
                by_type.setdefault(tt, []).append(tid)
            for tt, ids in by_type.items():
                out |= self._current_pks(tt, ids)
        return out

    def in_other_compartments(self, pks: Sequence[int], ctype: str, cid: str,
                              definition: dict[str, Iterable[str]]) -> set[int]:
        """Those of `pks` that belong to the compartment of another `ctype` than `cid`: another
        `ctype` resource itself, or one referring to another through a parameter `definition`
        lists for its type. $everything brings what the compartment refers to along, but not
        someone else's record (a transaction's Provenance or a Group names other patients)."""
        ref = idx_reference
        out: set[int] = set()
        pks = list(pks)
        for start in range(0, len(pks), _CHUNK):
            chunk = pks[start:start + _CHUNK]
            out.update(row[0] for row in self.conn.execute(select(R.c.pk).where(
                R.c.pk.in_(chunk), R.c.resource_type == ctype, R.c.resource_id != cid)))
            for rt, code, pk in self.conn.execute(
                    select(ref.c.resource_type, ref.c.param, ref.c.res_pk).where(
                        ref.c.res_pk.in_(chunk), ref.c.target_type == ctype,
                        ref.c.target_id != cid).distinct()):
                if code in definition.get(rt, ()):
                    out.add(pk)
        return out

    def restrict(self, pks: Sequence[int], types: Iterable[str] | None = None,
                 since: int | None = None) -> set[int]:
        """Those of `pks` of one of `types` and changed at or after `since` (microseconds)."""
        pks = list(pks)
        out: set[int] = set()
        for start in range(0, len(pks), _CHUNK):
            q = select(R.c.pk).where(R.c.pk.in_(pks[start:start + _CHUNK]))
            if types is not None:
                q = q.where(R.c.resource_type.in_(sorted(types)))
            if since is not None:
                q = q.where(R.c.last_updated >= since)
            out.update(row[0] for row in self.conn.execute(q))
        return out

    def _current_pks(self, rtype: str, ids: Sequence[str]) -> set[int]:
        out: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            out.update(row[0] for row in self.conn.execute(
                select(R.c.pk).where(R.c.resource_type == rtype,
                                     R.c.resource_id.in_(ids[start:start + _CHUNK]),
                                     R.c.deleted == false())))
        return out
