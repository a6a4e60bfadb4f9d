"""Search criteria (fhirsvc.search.criteria) -> SQLAlchemy Core conditions on a `resources`
alias.

Every parameter clause becomes `r.pk IN (SELECT res_pk FROM idx_<type> WHERE ...)` or a
correlated EXISTS (NOT IN / NOT EXISTS for :not and :missing=true), so each is answered from
one composite index (resource_type, param, value, res_pk). Alternatives (comma) are ORed
inside one subquery. Every value was parsed and checked before it got here: nothing in this
module can fail on user input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import (ARRAY, BigInteger, String, and_, any_, bindparam, false, intersect,
                        literal, not_, or_, select, true, union)

from ..search import criteria as c
from ..search.values import DAY
from .fulltext import text_pks
from .tables import INDEX_TABLES, idx_date, idx_reference, idx_string
from .tables import resources as R


@dataclass
class Cond:
    """One search condition on a resources alias, usable as `r.pk IN (...)` (the driving,
    most selective condition) or as a correlated EXISTS (every other condition: one index
    probe per candidate instead of materialising a large set)."""
    rank: int
    as_in: Callable
    as_exists: Callable
    # the matching res_pks as a plain SELECT (positive conditions answered from index rows),
    # so two conditions can be intersected as sets; None when not available
    rows: Callable | None = None
    # one match on the target side fans out to any number of rows (chained parameters): the
    # planner cannot estimate its size, so it is measured before a plan is chosen
    fanout: bool = False
    # rows() are exactly the matching current resources of the searched type (index rows of
    # one type, which exist only for current, non-deleted versions): a search with only this
    # condition can be counted and paged from the index alone
    index_only: bool = False
    # rows() come out of their index in res_pk order (one equality on the index's leading
    # columns): the page can be found by walking them in order (search_repository._walk)
    ordered_rows: bool = False
    # () -> SELECTs of res_pk, each one range of one index in that index's order (ORDER BY
    # its columns), whose rows together are rows(): a page is read by walking them and
    # stopping at its end instead of sorting every match (search_repository._walk_index)
    walks: Callable | None = None
    # (conn, keys) -> the given keys that satisfy the condition, found through the keys' own
    # index rows (their res_pk index) with the values tested in Python, so no planner can
    # choose to seek every value of a long IN list once per key instead
    probe: Callable | None = None
    # () -> the condition with its targets listed (a chain left unresolved because it has
    # many: search_repository._chain); None for every other condition
    resolve: Callable | None = None
    # (partner subquery) -> one statement testing the partner's next batch of keys against
    # this unresolved chain (chain_walk.batch_statement, PostgreSQL); None otherwise
    walk_batch: Callable | None = None


# Selectivity by index table: the lowest rank drives; ties keep the request order.
RANKS = {"reference": 1, "token": 2, "uri": 2, "string": 3, "composite": 3, "number": 4,
         "quantity": 4, "date": 4}
NEGATED = 9  # never drives


def fixed(rank: int, expr: Callable) -> Cond:
    return Cond(rank, expr, expr)


def rows_cond(rank: int, table, where: list, negate: bool = False) -> Cond:
    def as_in(r):
        sub = select(table.c.res_pk).where(*where).correlate(None)
        return r.c.pk.not_in(sub) if negate else r.c.pk.in_(sub)

    def as_exists(r):
        e = (select(literal(1)).select_from(table).where(table.c.res_pk == r.c.pk, *where)
             .correlate(r).exists())
        return ~e if negate else e

    def rows():
        return select(table.c.res_pk).where(*where).correlate(None)
    return Cond(rank, as_in, as_exists, None if negate else rows)


# -- values on one index table row -----------------------------------------------------------

def _prefix_range(upper: str) -> str:
    """The smallest string greater than every string starting with `upper`'s prefix."""
    return upper[:-1] + chr(ord(upper[-1]) + 1)


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(col, n: str):
    return and_(col >= n, col < _prefix_range(n)) if n else true()


def date_range_cond(low, high, m: c.DateMatch):
    """R4 date comparison between a target [low, high] and the search [m.low, m.high]."""
    p, s_lo, s_hi = m.prefix, m.low, m.high
    if p == "eq":
        return and_(low >= s_lo, high <= s_hi)
    if p == "ne":
        return or_(low < s_lo, high > s_hi)
    if p == "gt":
        return high > s_hi
    if p == "lt":
        return low < s_lo
    if p == "ge":
        return or_(high > s_hi, and_(low >= s_lo, high <= s_hi))
    if p == "le":
        return or_(low < s_lo, and_(low >= s_lo, high <= s_hi))
    if p == "sa":
        return low > s_hi
    if p == "eb":
        return high < s_lo
    if p == "ap":
        return and_(low <= s_hi + m.gap, high >= s_lo - m.gap)
    raise AssertionError(p)


def _low_range(m: c.DateMatch) -> tuple[int | None, int | None]:
    """Bounds on `low` implied for short values (high - low < 1 day) by one comparison."""
    p, s_lo, s_hi = m.prefix, m.low, m.high
    if p == "eq":
        return s_lo, s_hi
    if p == "gt":
        return s_hi - DAY, None
    if p == "ge":
        return s_lo - DAY, None
    if p == "lt":
        return None, s_lo
    if p == "le":
        return None, s_hi
    if p == "sa":
        return s_hi, None
    if p == "eb":
        return None, s_lo
    if p == "ap":
        return s_lo - m.gap - DAY, s_hi + m.gap
    return None, None


def date_branches(t, matches) -> list | None:
    """The rows (of idx_date `t`) satisfying every comparison as two ranges of the
    (wide, low, high) index: short values (under a day) by their bounded `low`, then the
    wide ones; None when the comparisons bound no `low` (then every row is compared)."""
    exact = [date_range_cond(t.c.low, t.c.high, m) for m in matches]
    lows, highs = [], []
    for m in matches:
        a, b = _low_range(m)
        if a is not None:
            lows.append(a)
        if b is not None:
            highs.append(b)
    if not lows and not highs:
        return None
    short = [t.c.wide == 0]
    if lows:
        short.append(t.c.low >= max(lows))
    if highs:
        short.append(t.c.low <= min(highs))
    return [and_(*short, *exact), and_(t.c.wide == 1, *exact)]


def date_rows(t, matches) -> object:
    """Rows (of idx_date `t`) satisfying every comparison, through the (wide, low) index."""
    branches = date_branches(t, matches)
    if branches is None:
        return and_(*[date_range_cond(t.c.low, t.c.high, m) for m in matches])
    return or_(*branches)


def _date_walks(t, head: list, matches) -> list | None:
    """date_branches as ordered SELECTs (index order: low, high, key) after `head`."""
    branches = date_branches(t, matches)
    if branches is None:
        return None
    return [select(t.c.res_pk).where(*head, b).order_by(t.c.low, t.c.high, t.c.res_pk)
            for b in branches]


def number_range_cond(col, m: c.NumberMatch):
    p, v = m.prefix, m.value
    if p == "eq":
        return and_(col >= m.low, col < m.high)
    if p == "ne":
        return or_(col < m.low, col >= m.high)
    if p in ("gt", "sa"):
        return col > v
    if p in ("lt", "eb"):
        return col < v
    if p == "ge":
        return col >= v
    if p == "le":
        return col <= v
    if p == "ap":
        d = abs(v) / 10
        return and_(col >= v - d, col <= v + d)
    raise AssertionError(p)


def _quantity(m: c.QuantityMatch, num, system, code, unit=None):
    conds = [number_range_cond(num, m.number)]
    if m.system:
        conds.append(system == m.system)
    if m.code:
        conds.append(or_(code == m.code, unit == m.code) if m.code_or_unit and unit is not None
                     else code == m.code)
    return and_(*conds)


def _token(t, m):
    if isinstance(m, c.TokenText):
        return _prefix(t.c.text, m.text) if m.text else false()
    if isinstance(m, c.TokenOfType):
        return and_(t.c.system == m.type_token, t.c.code == m.value)
    if isinstance(m, c.TokenIn):
        # primitive codes carry no system (implied by the binding), as TokenMatch.or_no_system
        return and_(t.c.code.in_(list(m.codes)),
                    or_(t.c.system == m.system, t.c.system.is_(None)) if m.or_no_system
                    else t.c.system == m.system)
    if isinstance(m, c.Nothing):
        return false()
    conds = []
    if m.system == "":
        conds.append(t.c.system.is_(None))
    elif m.system is not None:
        conds.append(or_(t.c.system == m.system, t.c.system.is_(None)) if m.or_no_system
                     else t.c.system == m.system)
    if m.code is not None:
        conds.append(t.c.code == m.code)
    return and_(*conds)


def _string(t, m: c.StringMatch):
    if m.mode == "exact":
        return and_(t.c.value == m.value, t.c.exact == m.exact)
    if m.mode == "contains":
        return t.c.value.like("%" + _like_escape(m.value) + "%", escape="\\")
    if m.mode == "equal":
        return t.c.value == m.value
    if m.mode == "suffix":
        return t.c.value.like("%" + _like_escape(m.value), escape="\\")
    return _prefix(t.c.value, m.value)


def _reference(t, m):
    if isinstance(m, c.Nothing):
        return false()
    if m.url is not None:
        cond = t.c.url == m.url
    elif m.target_type is not None:
        cond = and_(t.c.target_type == m.target_type, t.c.target_id == m.target_id)
    else:
        cond = t.c.target_id == m.target_id
    # `Patient/1/_history/2`: only references naming that version (index rows carry it)
    return cond if m.version is None else and_(cond, t.c.target_version == m.version)


def _uri(t, m):
    if isinstance(m, c.UriIn):
        return t.c.value.in_(list(m.values))
    if m.below:
        return t.c.value.like(_like_escape(m.value) + "%", escape="\\")
    return t.c.value == m.value


def _composite(t, m: c.CompositeMatch):
    conds = [t.c.code1 == m.code1]
    if m.system1:
        conds.append(t.c.system1 == m.system1)
    s = m.second
    if isinstance(s, c.QuantityMatch):
        conds.append(_quantity(s, t.c.v_num, t.c.v_system, t.c.v_code))
    elif isinstance(s, c.NumberMatch):
        conds.append(number_range_cond(t.c.v_num, s))
    elif isinstance(s, c.DateMatch):
        conds.append(date_range_cond(t.c.v_low, t.c.v_high, s))
    elif isinstance(s, c.StringMatch):
        conds.append(_prefix(t.c.v_str, s.value))
    elif isinstance(s, c.TokenMatch):
        conds.append(t.c.v_code == s.code)
        if s.system:
            conds.append(t.c.v_system == s.system)
    elif isinstance(s, c.ReferenceMatch):
        conds.append(and_(t.c.v_system == s.target_type, t.c.v_code == s.target_id))
    elif isinstance(s, c.ReferenceAny):
        conds.append(or_(t.c.v_code == s.value, t.c.v_str == s.value))
    else:
        raise AssertionError(s)
    return and_(*conds)


_VALUE = {
    "token": _token,
    "string": _string,
    "date": lambda t, m: date_rows(t, [m]),
    "number": lambda t, m: number_range_cond(t.c.value, m),
    "quantity": lambda t, m: _quantity(m, t.c.value, t.c.system, t.c.code, t.c.unit),
    "uri": _uri,
    "reference": _reference,
    "composite": _composite,
}


# -- clauses -----------------------------------------------------------------------------------

def _param_clause(cl: c.ParamClause) -> Cond:
    t = INDEX_TABLES[cl.kind].alias()
    where = [t.c.param == cl.param]
    if cl.rtype is not None:
        where.insert(0, t.c.resource_type == cl.rtype)
    value = _VALUE[cl.kind]
    ors = [value(t, v) for v in cl.values]
    where.append(or_(*ors) if len(ors) > 1 else ors[0])
    rank = RANKS[cl.kind]
    if cl.modifier in ("text", "contains") or any(
            isinstance(v, c.StringMatch) and v.mode in ("contains", "suffix") for v in cl.values):
        rank = 6
    elif cl.modifier == "exact":
        rank = 2
    cond = rows_cond(NEGATED if cl.negate else rank, t, where, negate=cl.negate)
    cond.index_only = cl.rtype is not None and not cl.negate
    one = cl.values[0] if len(cl.values) == 1 else None
    cond.ordered_rows = cl.rtype is not None and not cl.negate and cl.modifier is None and (
        (isinstance(one, c.TokenMatch) and one.code is not None)
        or (isinstance(one, c.ReferenceMatch) and one.target_type is not None))
    if cl.rtype is not None and not cl.negate and one is not None:
        cond.walks = _walks(cl, one)
    return cond


def _walks(cl: c.ParamClause, one) -> Callable | None:
    """Ordered index walks for one value that is one index range: a date comparison, a
    string prefix or exact value."""
    if cl.kind == "date" and isinstance(one, c.DateMatch):
        def walks():
            t = idx_date.alias()
            return _date_walks(t, [t.c.resource_type == cl.rtype, t.c.param == cl.param],
                               [one])
        return walks if walks() is not None else None
    if cl.kind == "string" and isinstance(one, c.StringMatch) \
            and one.mode not in ("contains", "suffix"):
        def walks():
            t = idx_string.alias()
            return [select(t.c.res_pk).where(t.c.resource_type == cl.rtype,
                                             t.c.param == cl.param, _string(t, one))
                    .order_by(t.c.value, t.c.res_pk)]
        return walks
    return None


def _missing(cl: c.MissingClause) -> Cond:
    t = INDEX_TABLES[cl.kind].alias()
    where = [t.c.param == cl.param]
    if cl.rtype is not None:
        where.insert(0, t.c.resource_type == cl.rtype)
    return rows_cond(NEGATED if cl.missing else 5, t, where, negate=cl.missing)


def _date_and(cl: c.DateAndClause) -> Cond:
    """Values that satisfy every comparison on one row, plus resources with several values
    (`multi`) that satisfy each comparison on some row: exact AND semantics, one narrow index
    range."""
    def parts():
        t = idx_date.alias()
        same = (t, [t.c.resource_type == cl.rtype, t.c.param == cl.param,
                    date_rows(t, cl.matches)])
        multi = []
        for m in cl.matches:
            a = idx_date.alias()
            # exact comparison only: the planner then uses the small (multi) index
            multi.append((a, [a.c.resource_type == cl.rtype, a.c.param == cl.param,
                              a.c.multi == 1, date_range_cond(a.c.low, a.c.high, m)]))
        return same, multi

    def as_in(r):
        (t, where), multi = parts()
        same_row = select(t.c.res_pk).where(*where).correlate(None)
        inter = intersect(*[select(a.c.res_pk).where(*w).correlate(None) for a, w in multi])
        sub = inter.subquery()
        return r.c.pk.in_(union(same_row, select(sub.c.res_pk)))

    def as_exists(r):
        (t, where), multi = parts()

        def ex(tab, w):
            return (select(literal(1)).select_from(tab).where(tab.c.res_pk == r.c.pk, *w)
                    .correlate(r).exists())
        return or_(ex(t, where), and_(*[ex(a, w) for a, w in multi]))

    def rows():
        (t, where), multi = parts()
        same_row = select(t.c.res_pk).where(*where).correlate(None)
        inter = intersect(*[select(a.c.res_pk).where(*w).correlate(None) for a, w in multi])
        sub = inter.subquery()
        return union(same_row, select(sub.c.res_pk))

    def walks():
        (t, where), multi = parts()
        # the same-row ranges in index order, then the (few) multi-valued resources'
        # intersection in key order
        ordered = _date_walks(t, where[:2], cl.matches)
        inter = intersect(*[select(a.c.res_pk).where(*w).correlate(None)
                            for a, w in multi]).subquery()
        return ordered + [select(inter.c.res_pk).order_by(inter.c.res_pk)]
    t0 = idx_date.alias()
    has_walks = date_branches(t0, cl.matches) is not None
    return Cond(4, as_in, as_exists, rows, index_only=True,
                walks=walks if has_walks else None)


def _chain(cl: c.ChainClause) -> Cond:
    r2 = R.alias()
    inner = [and_(r2.c.resource_type == t, compile_clause(sub).as_in(r2))
             for t, sub in cl.targets]
    ref = idx_reference.alias()
    joined = ref.join(r2, and_(r2.c.resource_type == ref.c.target_type,
                               r2.c.resource_id == ref.c.target_id))
    where = [ref.c.resource_type == cl.rtype, ref.c.param == cl.param, r2.c.deleted == false(),
             or_(*inner) if len(inner) > 1 else inner[0]]

    def rows():
        return select(ref.c.res_pk).select_from(joined).where(*where).correlate(None)

    def as_in(r):
        return r.c.pk.in_(rows())

    def as_exists(r):
        return (select(ref.c.res_pk).select_from(joined)
                .where(ref.c.res_pk == r.c.pk, *where).correlate(r).exists())
    return Cond(2, as_in, as_exists, rows, fanout=True)


def chain_targets(cl: c.ChainClause, cap: int):
    """SELECT (type, id) of the current targets satisfying the chain's inner clauses, at most
    `cap` + 1 rows (more means: too many to list, keep the one-statement plan)."""
    r2 = R.alias()
    inner = [and_(r2.c.resource_type == t, compile_clause(sub).as_in(r2))
             for t, sub in cl.targets]
    return (select(r2.c.resource_type, r2.c.resource_id)
            .where(r2.c.deleted == false(), or_(*inner) if len(inner) > 1 else inner[0])
            .limit(cap + 1))


def resolved_chain(cl: c.ChainClause, targets: list[tuple[str, str]]) -> Cond:
    """The chain as references to known targets: an index range per target id on
    idx_reference (target_id first), sized by the planner from literal values instead of a
    guess at the fan-out of a join. Still measured against its partner (fanout)."""
    if not targets:
        return fixed(0, lambda r: false())
    by_type: dict[str, list[str]] = {}
    for t, i in targets:
        by_type.setdefault(t, []).append(i)
    ref = idx_reference.alias()
    alts = [and_(ref.c.target_type == t, ref.c.target_id.in_(sorted(ids)))
            for t, ids in sorted(by_type.items())]
    cond = rows_cond(1, ref, [ref.c.resource_type == cl.rtype, ref.c.param == cl.param,
                              or_(*alts) if len(alts) > 1 else alts[0]])
    cond.fanout = True
    cond.index_only = True
    wanted = set(targets)

    def probe(conn, pks):
        q = reference_rows(cl, _is_pg(conn))
        return {pk for pk, tt, tid in conn.execute(q, {"keys": pks}) if (tt, tid) in wanted}
    cond.probe = probe
    return cond


def _is_pg(conn) -> bool:
    return conn.dialect.name == "postgresql"


def _listed(col, name: str, pg: bool, item_type):
    """`col IN (:name)`: on PostgreSQL one array parameter (`= ANY(:name)`), so the text of
    the statement is the same whatever the list's length (psycopg converts and PostgreSQL
    plans one statement, not one per length: most of the client CPU of a walk)."""
    if pg:
        return col == any_(bindparam(name, type_=ARRAY(item_type)))
    return col.in_(bindparam(name, expanding=True))


def reference_rows(cl: c.ChainClause, pg: bool) -> object:
    """SELECT (res_pk, target_type, target_id) of the chain's references from the keys
    `:keys`, through the keys' own reference rows (ix_idx_reference_pk, covering)."""
    p = idx_reference.alias()
    return select(p.c.res_pk, p.c.target_type, p.c.target_id).where(
        _listed(p.c.res_pk, "keys", pg, BigInteger), p.c.param == cl.param,
        p.c.resource_type == cl.rtype)


def chain_probe(cl: c.ChainClause) -> Callable:
    """A probe for a chain with many targets, from the referring side: the given keys'
    references, then which of the (new) targets they name are current and satisfy the inner
    clauses, each looked up by its id (uq_resources_type_id) and tested per target. The work
    follows the keys probed, not how many targets the chain has (issue 16: listing the ~800
    patients of a family at 1M was the part that grew). Verdicts are kept for the search."""
    types: dict[str, list] = {}
    for t, sub in cl.targets:
        types.setdefault(t, []).append(sub)
    verdict: dict[tuple[str, str], bool] = {}
    built: list = []   # the two statements, built once per search (their construction cost)

    def probe(conn, pks):
        if not built:
            built.extend((reference_rows(cl, _is_pg(conn)),
                          _targets_satisfying(types, _is_pg(conn))))
        refs = [(pk, tt, tid) for pk, tt, tid in conn.execute(built[0], {"keys": pks})
                if tt in types and tid is not None]
        new: dict[str, set[str]] = {t: set() for t in types}
        for _pk, tt, tid in refs:
            if (tt, tid) not in verdict:
                verdict[(tt, tid)] = False
                new[tt].add(tid)
        if any(new.values()):
            ids = {f"ids_{n}": sorted(new[t]) for n, t in enumerate(sorted(types))}
            for tt, tid in conn.execute(built[1], ids):
                verdict[(tt, tid)] = True
        return {pk for pk, tt, tid in refs if verdict[(tt, tid)]}
    return probe


def _targets_satisfying(types: dict, pg: bool) -> object:
    """SELECT (type, id) of those of the targets given (`:ids_<n>` for the n-th type in name
    order) that are current and satisfy their type's inner clause: driven by the ids (the
    unique index), the clause probed per target.
    The probe is a scalar subquery so PostgreSQL cannot turn it into a semi-join driven by
    the clause's own index range (it did: that range, estimated at one row, is every patient
    of the family, the part that grows with the data)."""
    r2 = R.alias()

    def per_target(subs):
        test = or_(*[compile_clause(sub).as_exists(r2) for sub in subs])
        return select(literal(1)).where(test).correlate(r2).scalar_subquery().is_not(None)
    alts = [and_(r2.c.resource_type == t, _listed(r2.c.resource_id, f"ids_{n}", pg, String),
                 per_target(types[t])) for n, t in enumerate(sorted(types))]
    return select(r2.c.resource_type, r2.c.resource_id).where(
        r2.c.deleted == false(), or_(*alts) if len(alts) > 1 else alts[0])


def _has(cl: c.HasClause) -> Cond:
    r2 = R.alias()
    ref = idx_reference.alias()
    sub = (select(ref.c.target_id)
           .select_from(ref.join(r2, r2.c.pk == ref.c.res_pk))
           .where(ref.c.resource_type == cl.source, ref.c.param == cl.ref,
                  ref.c.target_type == cl.rtype, r2.c.deleted == false(),
                  compile_clause(cl.clause).as_in(r2))
           .correlate(None))
    return fixed(3, lambda r: r.c.resource_id.in_(sub))


def _compartment(cl: c.CompartmentClause) -> Cond:
    if cl.rtype == "Patient":
        # the patient itself, and patients linked to it
        ref = idx_reference
        sub = select(ref.c.res_pk).where(
            ref.c.target_id == cl.patient_id, ref.c.target_type == "Patient",
            ref.c.resource_type == cl.rtype, ref.c.param.in_(list(cl.params))).correlate(None)
        return fixed(0, lambda r: or_(r.c.resource_id == cl.patient_id, r.c.pk.in_(sub)))
    ref = idx_reference.alias()
    return rows_cond(1, ref, [ref.c.target_id == cl.patient_id,
                              ref.c.target_type == "Patient", ref.c.resource_type == cl.rtype,
                              ref.c.param.in_(list(cl.params))])


def _own_targets(cl: c.OwnTargetsClause) -> Cond:
    """No local reference under `params` to a resource outside the compartment: each target
    is the patient, or a current resource referring to the patient through one of its type's
    compartment parameters (a deleted or unknown target is outside). A probe, never driving."""
    p, t, q = idx_reference.alias(), R.alias(), idx_reference.alias()
    member = (select(literal(1)).select_from(q)
              .where(q.c.res_pk == t.c.pk, q.c.target_type == "Patient",
                     q.c.target_id == cl.patient_id,
                     or_(*[and_(t.c.resource_type == rt, q.c.param.in_(list(codes)))
                           for rt, codes in cl.compartments]))
              .correlate(t).exists())
    inside = (select(literal(1)).select_from(t)
              .where(t.c.resource_type == p.c.target_type, t.c.resource_id == p.c.target_id,
                     t.c.deleted == false(),
                     or_(and_(t.c.resource_type == "Patient",
                              t.c.resource_id == cl.patient_id), member))
              .correlate(p).exists())

    def outside(r):
        return ~(select(literal(1)).select_from(p)
                 .where(p.c.res_pk == r.c.pk, p.c.param.in_(list(cl.params)),
                        p.c.target_type.is_not(None), ~inside)
                 .correlate(r).exists())
    return fixed(NEGATED, outside)


def _last_updated(cl: c.LastUpdatedClause) -> Cond:
    return fixed(6, lambda r: or_(*[date_range_cond(r.c.last_updated, r.c.last_updated, m)
                                    for m in cl.matches]))


def _text(cl: c.TextClause) -> Cond:
    """Full-text words (SQLite FTS5 / PostgreSQL tsvector, storage.fulltext)."""
    def rows():
        return text_pks(cl.field, cl.query)
    return Cond(3, lambda r: r.c.pk.in_(rows()),
                lambda r: r.c.pk.in_(rows()), rows)


def _any(cl: c.AnyClause) -> Cond:
    """_filter `or`: one set (UNION) when every branch has plain rows, else ORed probes."""
    subs = [compile_clause(x) for x in cl.clauses]
    rank = max(x.rank for x in subs)
    if all(x.rows is not None for x in subs):
        def rows():
            return union(*[x.rows() for x in subs])
        return Cond(rank, lambda r: r.c.pk.in_(rows()), lambda r: r.c.pk.in_(rows()), rows)
    return fixed(NEGATED, lambda r: or_(*[x.as_exists(r) for x in subs]))


def _all(cl: c.AllClause) -> Cond:
    subs = sorted((compile_clause(x) for x in cl.clauses), key=lambda x: x.rank)

    def as_in(r):
        return and_(subs[0].as_in(r), *[x.as_exists(r) for x in subs[1:]])

    def as_exists(r):
        return and_(*[x.as_exists(r) for x in subs])
    return Cond(subs[0].rank, as_in, as_exists)


def _not(cl: c.NotClause) -> Cond:
    sub = compile_clause(cl.clause)
    return fixed(NEGATED, lambda r: not_(sub.as_exists(r)))


_CLAUSE = {
    c.TextClause: _text,
    c.AnyClause: _any,
    c.AllClause: _all,
    c.NotClause: _not,
    c.ParamClause: _param_clause,
    c.MissingClause: _missing,
    c.DateAndClause: _date_and,
    c.ChainClause: _chain,
    c.HasClause: _has,
    c.CompartmentClause: _compartment,
    c.OwnTargetsClause: _own_targets,
    c.LastUpdatedClause: _last_updated,
    c.IdClause: lambda cl: fixed(0, lambda r: r.c.resource_id.in_(list(cl.ids))),
    c.TypesClause: lambda cl: fixed(0, lambda r: r.c.resource_type.in_(list(cl.types))),
    c.ConstantClause: lambda cl: fixed(0, lambda r: true() if cl.value else false()),
}


def compile_clause(clause) -> Cond:
    return _CLAUSE[type(clause)](clause)
