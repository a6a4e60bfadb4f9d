"""Resolving a plan against the database, inside its write transaction.

Conditional creates, updates and deletes find their matches (serialised with concurrent
requests by an advisory lock on the criteria); fullUrls, conditional references and `urn:`
identities created by earlier transactions become `Type/id`. The result is a `Resolution`
beside the plan: the plan itself is never changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from ..outcomes import OperationOutcomeError, error
from ..storage import Stored
from ..wire import check_id, check_type
from .plan import (ConditionalDelete, ConditionalPatch, ConditionalUpdate, Create, Delete, Op,
                   Patch, Update, new_id, parse_query, resource_of)
from .references import conditional_only, urn_only


@dataclass(frozen=True)
class Target:
    """What one write operation acts on, once resolved."""
    rid: str | None                  # None: a conditional delete that matched nothing
    existing: Stored | None = None   # the match of a conditional create (nothing is created)
    # a conditional create with the same criteria as an earlier entry of this request: it
    # resolves to what that entry creates or matches (op index)
    same_as: int | None = None
    # the id was drawn here (a conditional update that matched nothing, no id in its body):
    # a new UUID, so nothing is stored under it and no one else can be creating it
    generated: bool = False


@dataclass(frozen=True)
class Resolution:
    targets: dict[int, Target]       # by op index (write operations only)
    references: dict[str, str]       # fullUrl / conditional reference / urn -> Type/id


def _q(query) -> str:
    return urlencode(list(query or ()))


def _conditions(ops: tuple[Op, ...]) -> dict[int, tuple[str, str, list]]:
    """op index -> (lock key, type, criteria) of every conditional write (a conditional
    create whose criteria an earlier entry has already is left out: it follows that one)."""
    out: dict[int, tuple[str, str, list]] = {}
    seen: set[str] = set()
    for op in ops:
        if isinstance(op, Create):
            if op.if_none_exist is None:
                continue
            key = f"create:{op.rtype}?{sorted(op.if_none_exist)}"
            if key in seen:
                continue
            seen.add(key)
            out[op.index] = (key, op.rtype, list(op.if_none_exist))
        elif isinstance(op, (ConditionalUpdate, ConditionalDelete, ConditionalPatch)):
            method = ("PUT" if isinstance(op, ConditionalUpdate) else
                      "DELETE" if isinstance(op, ConditionalDelete) else "PATCH")
            out[op.index] = (f"{method}:{op.rtype}?{sorted(op.criteria)}", op.rtype,
                             list(op.criteria))
    return out


def resolve(uow, match, ops: tuple[Op, ...], match_many=None) -> Resolution:
    """`match(uow, rtype, criteria) -> [Stored]` is the search engine's conditional matcher;
    `match_many(uow, [(rtype, criteria)]) -> [[Stored]]` its batched form (one statement for
    the identifier conditions of the whole plan). Every conditional criterion is locked first,
    in one statement (one global order: no deadlock between two such plans), then all are
    matched at once; the answers are those of matching them one by one."""
    if match_many is None:
        def match_many(u, queries):
            return [match(u, rtype, params) for rtype, params in queries]
    targets: dict[int, Target] = {}
    mapping: dict[str, str] = {}
    conditions = _conditions(ops)
    if conditions:
        uow.lock_many(key for key, _, _ in conditions.values())
        answers = match_many(uow, [(rtype, params) for _, rtype, params in conditions.values()])
        matched = dict(zip(conditions, answers))
    else:
        matched = {}
    creates_by_criteria: dict[str, int] = {}
    for op in ops:
        if isinstance(op, Create):
            target = Target(op.rid)
            key = f"create:{op.rtype}?{sorted(op.if_none_exist or ())}"
            first = creates_by_criteria.get(key) if op.if_none_exist is not None else None
            if first is not None:
                earlier = targets[first]
                target = Target(earlier.rid, earlier.existing, first)
            elif op.if_none_exist is not None:
                creates_by_criteria[key] = op.index
                matches = matched[op.index]
                if len(matches) > 1:
                    raise OperationOutcomeError(error(
                        "multiple-matches", f"ifNoneExist {_q(op.if_none_exist)} matches "
                        f"{len(matches)} {op.rtype} resources", op.location), 412)
                if matches:
                    target = Target(matches[0].resource_id, matches[0])
            targets[op.index] = target
        elif isinstance(op, (ConditionalUpdate, ConditionalDelete)):
            method = "PUT" if isinstance(op, ConditionalUpdate) else "DELETE"
            matches = matched[op.index]
            if len(matches) > 1:
                raise OperationOutcomeError(error(
                    "multiple-matches", f"Conditional {method.lower()} criteria "
                    f"{_q(op.criteria)} match {len(matches)} {op.rtype} resources",
                    op.location), 412)
            body_id = (resource_of(op) or {}).get("id")
            if matches:
                if body_id is not None and body_id != matches[0].resource_id:
                    raise OperationOutcomeError(error(
                        "invalid", f"Resource id {body_id!r} differs from the matching "
                        f"{matches[0].reference}", f"{op.location}.id"), 400)
                targets[op.index] = Target(matches[0].resource_id)
            elif method == "PUT":
                targets[op.index] = Target(check_id(body_id, f"{op.location}.id"))  \
                    if body_id else Target(new_id(), generated=True)
            else:
                targets[op.index] = Target(None)
        elif isinstance(op, ConditionalPatch):
            matches = matched[op.index]
            if len(matches) != 1:
                raise OperationOutcomeError(error(
                    "multiple-matches" if matches else "not-found",
                    f"Conditional patch criteria {_q(op.criteria)} match {len(matches)} "
                    f"{op.rtype} resources (exactly one is needed)", op.location),
                    412 if matches else 404)
            targets[op.index] = Target(matches[0].resource_id)
        elif isinstance(op, (Update, Patch, Delete)):
            targets[op.index] = Target(op.rid)
        else:
            continue
        rid = targets[op.index].rid
        if op.full_url and rid and isinstance(op, (Create, Update, ConditionalUpdate)):
            ref = f"{op.rtype}/{rid}"
            mapping[op.full_url] = ref
            tail = "/".join(op.full_url.rstrip("/").split("/")[-2:])
            if isinstance(op, Create) and op.full_url.startswith(("http://", "https://")) \
                    and tail.split("/")[0] == op.rtype:
                mapping.setdefault(tail, ref)  # relative references resolve against fullUrl
    # One walk per resource collects its references for both checks below.
    # (a PATCH: the references its values write, rewritten in them before they apply)
    refs = {op.index: set(op.written_references) for op in ops
            if resource_of(op) is not None or isinstance(op, (Patch, ConditionalPatch))}
    locations = {op.index: op.location for op in ops}
    # Conditional references (Patient?identifier=...): exactly one match, or the request fails.
    # All of them matched at once; the first failing one (in entry order) is the answer.
    wanted_refs: dict[str, int] = {}
    for index, found in refs.items():
        for ref in sorted(conditional_only(found)):
            if ref not in mapping and ref not in wanted_refs:
                check_type(ref.partition("?")[0], locations[index])
                wanted_refs[ref] = index
    if wanted_refs:
        answers = dict(zip(wanted_refs, match_many(uow, [
            (ref.partition("?")[0], list(parse_query(ref.partition("?")[2])))
            for ref in wanted_refs])))
    for index, found in refs.items():
        for ref in sorted(conditional_only(found)):
            if ref in mapping:
                continue
            matches = answers[ref]
            if len(matches) != 1:
                raise OperationOutcomeError(error(
                    "not-found" if not matches else "multiple-matches",
                    f"Conditional reference {ref!r} matches {len(matches)} resources (exactly "
                    "one is required)", locations[index]), 412 if matches else 404)
            mapping[ref] = matches[0].reference
    # urn references to no entry of this request: resources created earlier under that urn
    # (UUIDs and OIDs are globally unique), or an error naming where they are.
    wanted = {i: urn_only(r) - mapping.keys() for i, r in refs.items()}
    unresolved = set().union(*wanted.values()) if wanted else set()
    if unresolved:
        mapping.update(uow.resources.resolve_aliases(unresolved))
        problems = [error("not-found", f"Reference {ref} matches no entry of this request and no "
                          "resource created earlier under that fullUrl", locations[i])
                    for i in sorted(wanted) for ref in sorted(wanted[i]) if ref not in mapping]
        if problems:
            raise OperationOutcomeError(problems, 404)
    return Resolution(targets, mapping)
