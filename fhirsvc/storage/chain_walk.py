"""One statement per batch of a chain walk on PostgreSQL (issue 16, search_repository._walk).

The walk of a key-ordered partner beside a chain with many targets tested each batch in three
round trips: the partner's next keys, those keys' references, the new targets' verdicts. At
1M resources that was 8 statements a search and most of its client CPU (each a statement
built, bound and sent). Here the three are one statement of MATERIALIZED CTEs, each planned
on its own (a fence: no step's plan rests on another's row estimate):

    walk_keys   the partner's next `:size` keys after `:last`, in key order (its index)
    walk_refs   each key's references under the chain's parameter (ix_idx_reference_pk,
                covering; LEFT JOIN: a key without one is still walked)
    walk_ok     the distinct targets named, each looked up by its id (uq_resources_type_id)
                with the chain's inner clause a per-target scalar subquery (as
                search_sql._targets_satisfying: no semi-join driven by the clause's range)

and the result is one row per key in key order: (res_pk, whether a reference names a target
that is current and satisfies the clause). Each target is tested once per batch, as before.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Integer, and_, bindparam, false, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.visitors import replacement_traverse

from ..search import criteria as c
from .search_sql import Cond, compile_clause
from .tables import INDEX_TABLES, idx_reference
from .tables import resources as R

# below every key (res_pk is a positive bigserial): the first batch's `:last`
FIRST = -(2 ** 63)
# named aliases built once (a named alias is the same FROM in any statement; building their
# column collections was a third of the statement's construction, per search)
_REF = idx_reference.alias("walk_ref")
_TARGET = R.alias("walk_target")


def batch_statement(cl: c.ChainClause, partner_sub) -> object:
    """SELECT (res_pk, matched) of the next `:size` keys of `partner_sub` (a subquery of
    res_pk in the partner's key order) after `:last`, each tested against the chain `cl`."""
    types: dict[str, list] = {}
    for t, sub in cl.targets:
        types.setdefault(t, []).append(sub)
    keys = (select(partner_sub.c.res_pk).distinct()
            .where(partner_sub.c.res_pk > bindparam("last", type_=BigInteger))
            .order_by(partner_sub.c.res_pk).limit(bindparam("size", type_=Integer))
            .cte("walk_keys").prefix_with("MATERIALIZED"))
    p = _REF
    refs = (select(keys.c.res_pk, p.c.target_type, p.c.target_id)
            .select_from(keys.outerjoin(p, and_(p.c.res_pk == keys.c.res_pk,
                                                p.c.param == cl.param,
                                                p.c.resource_type == cl.rtype)))
            .cte("walk_refs").prefix_with("MATERIALIZED"))
    named = (select(refs.c.target_type, refs.c.target_id).distinct()
             .where(refs.c.target_id.is_not(None), refs.c.target_type.in_(sorted(types)))
             .subquery("walk_named"))
    r2 = _TARGET

    def per_target(subs):
        test = or_(*[by_key(compile_clause(sub).as_exists(r2)) for sub in subs])
        return select(literal(1)).where(test).correlate(r2).scalar_subquery().is_not(None)
    alts = [and_(r2.c.resource_type == t, per_target(types[t])) for t in sorted(types)]
    verdict = (select(literal(1)).select_from(r2)
               .where(r2.c.resource_type == named.c.target_type,
                      r2.c.resource_id == named.c.target_id, r2.c.deleted == false(),
                      or_(*alts) if len(alts) > 1 else alts[0])
               .correlate(named).scalar_subquery())
    ok = (select(named.c.target_type, named.c.target_id).where(verdict.is_not(None))
          .cte("walk_ok").prefix_with("MATERIALIZED"))
    matched = func.bool_or(ok.c.target_id.is_not(None))
    return (select(refs.c.res_pk, matched)
            .select_from(refs.outerjoin(ok, and_(ok.c.target_type == refs.c.target_type,
                                                 ok.c.target_id == refs.c.target_id)))
            .group_by(refs.c.res_pk).order_by(refs.c.res_pk))


def by_key(expr):
    """`expr` (a condition probed for one resource: its index rows `res_pk = r.pk`) with the
    index tables' `resource_type = ...` tests written as `resource_type || ''`, so that only
    the (res_pk, param) index can serve it. Each value index leads with resource_type and ends
    with res_pk, so the planner could also seek the clause's whole value range and filter it
    by key, and chose so at 1M when it estimated that range at one row: a family's range is
    every patient of the family (~800 index rows, 0.17 ms a target, 85% of a walk's database
    time). The index rows carry their resource's type, which the caller tests on the
    resource itself, so the answer is the same."""
    tables = set(INDEX_TABLES.values())

    def replace(el):
        if isinstance(el, ColumnClause) and el.key == "resource_type" \
                and getattr(el.table, "element", None) in tables:
            return el.concat("")
        return None
    return replacement_traverse(expr, {}, replace)


def deferred(cl: c.ChainClause) -> Cond:
    """compile_clause(cl) with its SQL built on first use (rank and fan-out as
    search_sql._chain's): a walk that answers never uses it, and its construction was
    0.5-0.7 ms of client CPU a search."""
    built: list[Cond] = []

    def full() -> Cond:
        if not built:
            built.append(compile_clause(cl))
        return built[0]
    return Cond(2, lambda r: full().as_in(r), lambda r: full().as_exists(r),
                lambda: full().rows(), fanout=True)
