"""Search parameters -> SQLAlchemy Core conditions on a `resources` alias.

Every condition has the form `r.pk IN (SELECT res_pk FROM idx_<type> WHERE ...)` (or NOT IN for
:not / :missing=true), so each parameter is answered from one composite index
(resource_type, param, value, res_pk). Repeated parameters are ANDed, comma-separated values
ORed inside one subquery.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import and_, false, intersect, literal, or_, select, true, union
from sqlalchemy.sql.elements import ColumnElement

from ..outcomes import fail
from .registry import SearchParam, SearchRegistry
from .tables import (idx_composite, idx_date, idx_number, idx_quantity, idx_reference,
                     idx_string, idx_token, idx_uri)
from .values import DAY, MAX_LEN, date_bounds, decimal_places, normalise

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SPLIT_COMMA = re.compile(r"(?<!\\),")

MODIFIERS = {
    "token": {"not", "text", "of-type", "missing"},
    "string": {"exact", "contains", "missing"},
    "date": {"missing"},
    "reference": {"missing", "identifier"},  # plus :[Type]
    "quantity": {"missing"},
    "number": {"missing"},
    "uri": {"below", "missing"},
    "composite": {"missing"},
}


@dataclass
class Ctx:
    registry: SearchRegistry
    base_url: str


def split_values(value: str) -> list[str]:
    """Comma = OR; `\\,` is a literal comma."""
    return [v.replace("\\,", ",") for v in _SPLIT_COMMA.split(value)]


def _unescape(v: str) -> str:
    return v.replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


def _split_bar(v: str) -> list[str]:
    return [_unescape(x) for x in re.split(r"(?<!\\)\|", v)]


def bad(name: str, message: str):
    return fail(400, "invalid", message, name)


def prefix_of(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


def _prefix_range(upper: str) -> str:
    """The smallest string greater than every string starting with `upper`'s prefix."""
    return upper[:-1] + chr(ord(upper[-1]) + 1)


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- per-type value conditions (on one index table row) ------------------------------------------

def token_cond(t, name: str, modifier: str | None, value: str):
    if modifier == "text":
        n = normalise(value)
        if not n:
            return false()
        return and_(t.c.text >= n, t.c.text < _prefix_range(n))
    if modifier == "of-type":
        parts = _split_bar(value)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise bad(name, f"Parameter '{name}' needs system|code|value, got '{value}'")
        return and_(t.c.system == f"{parts[0]}|{parts[1]}"[:MAX_LEN],
                    t.c.code == parts[2][:MAX_LEN])
    parts = _split_bar(value) if "|" in value else [None, _unescape(value)]
    if len(parts) != 2:
        raise bad(name, f"Invalid token '{value}' for parameter '{name}'")
    system, code = parts
    conds = []
    if system is not None:
        if system == "":
            conds.append(t.c.system.is_(None))
        elif code:
            # primitive `code` elements (status, gender) carry no system: it is implied by the
            # element's binding, so `gender=http://hl7.org/fhir/administrative-gender|female`
            # matches them as well
            conds.append(or_(t.c.system == system[:MAX_LEN], t.c.system.is_(None)))
        else:
            conds.append(t.c.system == system[:MAX_LEN])
    if code:
        conds.append(t.c.code == code[:MAX_LEN])
    elif system is None or system == "":
        raise bad(name, f"Empty token value for parameter '{name}'")
    return and_(*conds)


def string_cond(t, name: str, modifier: str | None, value: str):
    n = normalise(value)
    if modifier == "exact":
        return and_(t.c.value == n, t.c.exact == value)
    if modifier == "contains":
        return t.c.value.like("%" + _like_escape(n) + "%", escape="\\")
    if not n:
        return true()
    return and_(t.c.value >= n, t.c.value < _prefix_range(n))


def _date_search_bounds(name: str, value: str) -> tuple[str, int, int]:
    prefix, v = prefix_of(value)
    b = date_bounds(v)
    if b is None:
        raise bad(name, f"Invalid date '{value}' for parameter '{name}'")
    return prefix, b[0], b[1]


def date_range_cond(low, high, prefix: str, s_lo: int, s_hi: int):
    """R4 date comparison between a target [low, high] and a search [s_lo, s_hi]."""
    if prefix == "eq":
        return and_(low >= s_lo, high <= s_hi)
    if prefix == "ne":
        return or_(low < s_lo, high > s_hi)
    if prefix == "gt":
        return high > s_hi
    if prefix == "lt":
        return low < s_lo
    if prefix == "ge":
        return or_(high > s_hi, and_(low >= s_lo, high <= s_hi))
    if prefix == "le":
        return or_(low < s_lo, and_(low >= s_lo, high <= s_hi))
    if prefix == "sa":
        return low > s_hi
    if prefix == "eb":
        return high < s_lo
    if prefix == "ap":
        now = time.time_ns() // 1000
        mid = (s_lo + s_hi) // 2
        gap = max(abs(now - mid) // 10, 86_400 * 1_000_000)
        return and_(low <= s_hi + gap, high >= s_lo - gap)
    raise AssertionError(prefix)


def _low_range(prefix: str, s_lo: int, s_hi: int) -> tuple[int | None, int | None]:
    """Bounds on `low` implied for short values (high - low < 1 day) by one comparison."""
    if prefix == "eq":
        return s_lo, s_hi
    if prefix == "gt":
        return s_hi - DAY, None
    if prefix == "ge":
        return s_lo - DAY, None
    if prefix == "lt":
        return None, s_lo
    if prefix == "le":
        return None, s_hi
    if prefix == "sa":
        return s_hi, None
    if prefix == "eb":
        return None, s_lo
    if prefix == "ap":
        now = time.time_ns() // 1000
        gap = max(abs(now - (s_lo + s_hi) // 2) // 10, DAY)
        return s_lo - gap - DAY, s_hi + gap
    return None, None


def _date_rows(t, bounds: list[tuple[str, int, int]]):
    """Rows (of idx_date `t`) satisfying every comparison, through the (wide, low) index."""
    exact = [date_range_cond(t.c.low, t.c.high, p, lo, hi) for p, lo, hi in bounds]
    lows, highs = [], []
    for p, lo, hi in bounds:
        a, b = _low_range(p, lo, hi)
        if a is not None:
            lows.append(a)
        if b is not None:
            highs.append(b)
    if not lows and not highs:
        return and_(*exact)
    short = [t.c.wide == 0]
    if lows:
        short.append(t.c.low >= max(lows))
    if highs:
        short.append(t.c.low <= min(highs))
    return or_(and_(*short, *exact), and_(t.c.wide == 1, *exact))


def date_cond(t, name, modifier, value):
    return _date_rows(t, [_date_search_bounds(name, value)])


def date_and_condition(rtype: str, r, code: str, items: list[tuple[str, str]]) -> Cond:
    """Repeated date parameter (`date=ge2015&date=lt2016`, each single-valued): values that
    satisfy every comparison on one row, plus resources with several values (`multi`) that
    satisfy each comparison on some row -- exact AND semantics, one narrow index range."""
    bounds = [_date_search_bounds(name, value) for name, value in items]

    def parts():
        t = idx_date.alias()
        same = (t, [t.c.resource_type == rtype, t.c.param == code, _date_rows(t, bounds)])
        multi = []
        for p, lo, hi in bounds:
            m = idx_date.alias()
            # exact comparison only: the planner then uses the small (multi) index
            multi.append((m, [m.c.resource_type == rtype, m.c.param == code, m.c.multi == 1,
                              date_range_cond(m.c.low, m.c.high, p, lo, hi)]))
        return same, multi

    def as_in(r):
        (t, where), multi = parts()
        same_row = select(t.c.res_pk).where(*where).correlate(None)
        inter = intersect(*[select(m.c.res_pk).where(*w).correlate(None) for m, w in multi])
        sub = inter.subquery()
        return r.c.pk.in_(union(same_row, select(sub.c.res_pk)))

    def as_exists(r):
        (t, where), multi = parts()

        def ex(tab, w):
            return (select(literal(1)).select_from(tab).where(tab.c.res_pk == r.c.pk, *w)
                    .correlate(r).exists())
        return or_(ex(t, where), and_(*[ex(m, w) for m, w in multi]))
    return Cond(4, as_in, as_exists)


def _number(name: str, text: str) -> tuple[float, float, float]:
    """(value, low, high) of the implicit precision range."""
    if not _NUMBER.match(text):
        raise bad(name, f"Invalid number '{text}' for parameter '{name}'")
    v = float(text)
    half = 0.5 * 10 ** (-decimal_places(text))
    return v, v - half, v + half


def number_range_cond(col, name: str, value: str):
    prefix, text = prefix_of(value)
    v, lo, hi = _number(name, text)
    if prefix == "eq":
        return and_(col >= lo, col < hi)
    if prefix == "ne":
        return or_(col < lo, col >= hi)
    if prefix in ("gt", "sa"):
        return col > v
    if prefix in ("lt", "eb"):
        return col < v
    if prefix == "ge":
        return col >= v
    if prefix == "le":
        return col <= v
    if prefix == "ap":
        d = abs(v) * 0.1
        return and_(col >= v - d, col <= v + d)
    raise AssertionError(prefix)


def number_cond(t, name, modifier, value):
    return number_range_cond(t.c.value, name, value)


def quantity_cond(t, name, modifier, value, num_col=None, sys_col=None, code_col=None,
                  unit_col=None):
    parts = _split_bar(value)
    if len(parts) not in (1, 3):
        raise bad(name, f"Invalid quantity '{value}' for parameter '{name}'")
    conds = [number_range_cond(num_col if num_col is not None else t.c.value, name, parts[0])]
    if len(parts) == 3:
        system, code = parts[1], parts[2]
        sys_col = sys_col if sys_col is not None else t.c.system
        code_col = code_col if code_col is not None else t.c.code
        if system:
            conds.append(sys_col == system)
        if code:
            if system or unit_col is None:
                conds.append(code_col == code)
            else:
                conds.append(or_(code_col == code, unit_col == code))
    return and_(*conds)


def uri_cond(t, name, modifier, value):
    if modifier == "below":
        return t.c.value.like(_like_escape(value) + "%", escape="\\")
    return t.c.value == value


def reference_cond(t, name: str, modifier: str | None, value: str, ctx: Ctx,
                   param: SearchParam):
    """Type/id, id, absolute URL (own base -> local), canonical URL; :Type restricts."""
    value = value.split("/_history/")[0]
    rtype = modifier if modifier and modifier[:1].isupper() else None
    base = ctx.base_url.rstrip("/") + "/"
    if "://" in value or value.startswith("urn:"):
        if value.startswith(base):
            value = value[len(base):]
        else:
            return t.c.url == value.split("|")[0]
    parts = value.split("/")
    if len(parts) == 2 and parts[0][:1].isupper():
        if rtype and rtype != parts[0]:
            return false()
        return and_(t.c.target_type == parts[0], t.c.target_id == parts[1])
    if len(parts) != 1 or not value:
        raise bad(name, f"Invalid reference '{value}' for parameter '{name}'")
    if rtype:
        return and_(t.c.target_type == rtype, t.c.target_id == value)
    if len(param.target) == 1:
        return and_(t.c.target_type == param.target[0], t.c.target_id == value)
    return t.c.target_id == value


def composite_cond(t, name, modifier, value, ctx: Ctx, kinds: tuple[str, ...]):
    parts = re.split(r"(?<!\\)\$", value)
    if len(parts) != 2:
        raise bad(name, f"Composite parameter '{name}' needs two values joined by '$'")
    first, second = parts[0].replace("\\$", "$"), parts[1].replace("\\$", "$")
    fp = _split_bar(first) if "|" in first else [None, _unescape(first)]
    conds = [t.c.code1 == fp[-1]]
    if fp[0]:
        conds.append(t.c.system1 == fp[0])
    kind = kinds[1]
    if kind == "quantity":
        conds.append(quantity_cond(t, name, None, second, t.c.v_num, t.c.v_system, t.c.v_code))
    elif kind == "number":
        conds.append(number_range_cond(t.c.v_num, name, second))
    elif kind == "date":
        prefix, lo, hi = _date_search_bounds(name, second)
        conds.append(date_range_cond(t.c.v_low, t.c.v_high, prefix, lo, hi))
    elif kind == "string":
        n = normalise(second)
        conds.append(and_(t.c.v_str >= n, t.c.v_str < _prefix_range(n)) if n else true())
    elif kind == "token":
        sp = _split_bar(second) if "|" in second else [None, _unescape(second)]
        conds.append(t.c.v_code == sp[-1])
        if sp[0]:
            conds.append(t.c.v_system == sp[0])
    elif kind in ("reference", "uri"):
        segs = second.split("/")
        if len(segs) == 2:
            conds.append(and_(t.c.v_system == segs[0], t.c.v_code == segs[1]))
        else:
            conds.append(or_(t.c.v_code == second, t.c.v_str == second))
    return and_(*conds)


TABLES = {"token": idx_token, "string": idx_string, "date": idx_date,
          "reference": idx_reference, "quantity": idx_quantity, "number": idx_number,
          "uri": idx_uri, "composite": idx_composite}


# -- one parameter -> one condition on the resources alias `r` ------------------------------------

def _lastupdated_cond(r, name: str, value: str):
    prefix, lo, hi = _date_search_bounds(name, value)
    return date_range_cond(r.c.last_updated, r.c.last_updated, prefix, lo, hi)


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
    # planner cannot estimate its size, so the engine measures it before choosing a plan
    fanout: bool = False


def fixed(rank: int, expr) -> Cond:
    return Cond(rank, lambda r: expr, lambda r: expr)


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


RANKS = {"reference": 1, "token": 2, "uri": 2, "string": 3, "composite": 3, "number": 4,
         "quantity": 4, "date": 4}


def param_condition(ctx: Ctx, rtype: str | None, r, name: str, raw_value: str,
                    param: SearchParam | None, modifier: str | None) -> ColumnElement:
    """Condition on alias `r` (of type `rtype`) for one `name=value` occurrence."""
    return param_cond(ctx, rtype, r, name, raw_value, param, modifier).as_in(r)


def param_cond(ctx: Ctx, rtype: str | None, r, name: str, raw_value: str,
               param: SearchParam | None, modifier: str | None) -> Cond:
    """The condition for one `name=value` occurrence (see Cond)."""
    code = param.code if param is not None else name.split(":")[0]
    values = split_values(raw_value)
    if code == "_id":
        if modifier == "missing":
            return fixed(0, true() if raw_value == "false" else false())
        if modifier:
            raise fail(400, "not-supported", f"Modifier ':{modifier}' is not supported on "
                       "'_id'", name)
        return fixed(0, r.c.resource_id.in_(values))
    if code == "_lastUpdated":
        if modifier:
            raise fail(400, "not-supported", f"Modifier ':{modifier}' is not supported on "
                       "'_lastUpdated'", name)
        return fixed(6, or_(*[_lastupdated_cond(r, name, v) for v in values]))
    assert param is not None
    kind = param.type
    comp = ctx.registry.compiled_param(rtype or "Basic", code)
    if comp is None:
        raise fail(400, "not-supported", f"Search parameter '{code}' of {rtype} is not "
                   "supported (no indexable expression)", name)
    allowed = MODIFIERS[kind]
    if kind == "reference" and modifier == "identifier":
        kind = "token"  # Reference.identifier is indexed as a token under `<code>:identifier`
    t = TABLES[kind].alias()
    if modifier and modifier not in allowed and not (kind == "reference"
                                                     and modifier[:1].isupper()):
        raise fail(400, "not-supported", f"Modifier ':{modifier}' is not supported on "
                   f"{kind} parameter '{code}'", name)
    pcode = code + ":" + modifier if modifier in ("of-type", "identifier") else code
    base = [t.c.param == pcode]
    if rtype is not None:
        base.insert(0, t.c.resource_type == rtype)
    if modifier == "missing":
        if raw_value not in ("true", "false"):
            raise bad(name, f"':missing' takes true or false, got '{raw_value}'")
        return rows_cond(9 if raw_value == "true" else 5, t, base, negate=raw_value == "true")
    ors = []
    for v in values:
        if v == "":
            raise bad(name, f"Empty value for parameter '{name}'")
        if kind == "token":
            ors.append(token_cond(t, name, "text" if modifier == "text" else
                                  "of-type" if modifier == "of-type" else None, v))
        elif kind == "string":
            ors.append(string_cond(t, name, modifier, v))
        elif kind == "date":
            ors.append(date_cond(t, name, modifier, v))
        elif kind == "number":
            ors.append(number_cond(t, name, modifier, v))
        elif kind == "quantity":
            ors.append(quantity_cond(t, name, modifier, v, unit_col=t.c.unit))
        elif kind == "uri":
            ors.append(uri_cond(t, name, modifier, v))
        elif kind == "reference":
            ors.append(reference_cond(t, name, modifier, v, ctx, param))
        elif kind == "composite":
            ors.append(composite_cond(t, name, modifier, v, ctx, comp.component_types))
    where = base + [or_(*ors) if len(ors) > 1 else ors[0]]
    rank = RANKS[kind]
    if modifier in ("text", "contains"):
        rank = 6
    elif modifier == "exact":
        rank = 2
    return rows_cond(9 if modifier == "not" else rank, t, where, negate=modifier == "not")
