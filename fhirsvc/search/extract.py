"""Index extraction: the search index rows of one resource (pure; storage writes them).

    indexer = Indexer(registry)
    indexer.rows("Observation", resource) -> {"token": [TokenRow, ...], "date": [...], ...}

Storage calls `rows` for every new current version just before the transaction commits
(fhirsvc.storage.index) and for every resource when reindexing.
"""
from __future__ import annotations

from collections import defaultdict
from functools import partial

from .registry import Compiled, SearchRegistry
from .text import text_rows
from .rows import (CompositeRow, DateRow, IndexRows, NumberRow, QuantityRow, ReferenceRow,
                   StringRow, TokenRow, UriRow)
from .values import (DAY, MAX_LEN, MAX_TS, MIN_TS, date_bounds, index_decimal, normalise,
                     parse_reference, reference_version)

_HUMAN_NAME = ("family", "given", "prefix", "suffix", "text")
_ADDRESS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _s(v) -> str | None:
    return v[:MAX_LEN] if isinstance(v, str) else None


# -- per-type value converters: value -> list of column tuples ---------------------------------

def token_values(value, t) -> list[tuple]:
    """(system, code, text) rows; identifiers with a type also yield an `of-type` row."""
    if isinstance(value, bool):
        return [(None, "true" if value else "false", None)]
    if isinstance(value, str):
        return [(None, value[:MAX_LEN], None)]
    if not isinstance(value, dict):
        return [] if value is None else [(None, str(value)[:MAX_LEN], None)]
    if "coding" in value or (t == "CodeableConcept"):
        text = value.get("text")
        out = []
        for c in value.get("coding") or ():
            if isinstance(c, dict) and (c.get("code") or c.get("system")):
                disp = text or c.get("display")
                out.append((_s(c.get("system")), _s(c.get("code")),
                            normalise(disp) if isinstance(disp, str) else None))
        if not out and isinstance(text, str):
            out.append((None, None, normalise(text)))
        return out
    if "code" in value and "value" not in value:  # Coding
        disp = value.get("display")
        return [(_s(value.get("system")), _s(value.get("code")),
                 normalise(disp) if isinstance(disp, str) else None)]
    if "value" in value and isinstance(value.get("value"), str):  # Identifier, ContactPoint
        typ = value.get("type")
        text = typ.get("text") if isinstance(typ, dict) else None
        out = [(_s(value.get("system")), value["value"][:MAX_LEN],
                normalise(text) if isinstance(text, str) else None)]
        if isinstance(typ, dict):
            for c in typ.get("coding") or ():
                if isinstance(c, dict) and c.get("code"):
                    out.append(("of-type", f"{c.get('system') or ''}|{c['code']}"[:MAX_LEN],
                                value["value"][:MAX_LEN]))
        return out
    if "code" in value:  # Quantity as token
        return [(_s(value.get("system")), _s(value.get("code")), None)]
    return []


def string_values(value, t) -> list[tuple]:
    if isinstance(value, str):
        return [(normalise(value), value)]
    if not isinstance(value, dict):
        return []
    out = []
    keys = _ADDRESS if ("line" in value or "city" in value or "postalCode" in value
                        or "country" in value) else _HUMAN_NAME
    for k in keys:
        v = value.get(k)
        if isinstance(v, str):
            out.append((normalise(v), v))
        elif isinstance(v, list):
            out.extend((normalise(x), x) for x in v if isinstance(x, str))
    if not out:
        for k in ("text", "value", "display"):
            v = value.get(k)
            if isinstance(v, str):
                out.append((normalise(v), v))
                break
    return out


def date_values(value, t) -> list[tuple]:
    if isinstance(value, str):
        b = date_bounds(value)
        return [b] if b else []
    if not isinstance(value, dict):
        return []
    if "start" in value or "end" in value:
        lo = date_bounds(value["start"]) if isinstance(value.get("start"), str) else None
        hi = date_bounds(value["end"]) if isinstance(value.get("end"), str) else None
        return [(lo[0] if lo else MIN_TS, hi[1] if hi else MAX_TS)]
    out = []
    for e in value.get("event") or ():
        b = date_bounds(e) if isinstance(e, str) else None
        if b:
            out.append(b)
    rep = value.get("repeat")
    if isinstance(rep, dict) and isinstance(rep.get("boundsPeriod"), dict):
        out.extend(date_values(rep["boundsPeriod"], "Period"))
    return out


def reference_values(value, t) -> list[tuple]:
    """(target_type, target_id, url, version); a logical reference (Reference.identifier)
    also yields ("identifier", system, value), indexed as a token for `:identifier`."""
    if isinstance(value, dict):
        ref = value.get("reference")
        ident = value.get("identifier")
        out = []
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            out.append(("identifier", _s(ident.get("system")), ident["value"][:MAX_LEN]))
        if not isinstance(ref, str):
            return out
        tt, tid, url = parse_reference(ref)
        if tt is not None or url is not None:
            out.append((tt, tid[:64] if tid else None, url, reference_version(ref)))
        return out
    elif isinstance(value, str):
        ref = value.split("|")[0]  # canonical, without version
    else:
        return []
    tt, tid, url = parse_reference(ref)
    if tt is None and url is None:
        return []
    return [(tt, tid[:64] if tid else None, url, None)]  # canonical: its version is `|v`


def quantity_values(value, t) -> list[tuple]:
    if isinstance(value, dict):
        v = value.get("value")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            d = index_decimal(v)
            if d is None:
                return []
            if "currency" in value:
                return [(d, "urn:iso:std:iso:4217", _s(value.get("currency")), None)]
            return [(d, _s(value.get("system")), _s(value.get("code")),
                     _s(value.get("unit")))]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        d = index_decimal(value)
        return [] if d is None else [(d, None, None, None)]
    return []


def number_values(value, t) -> list[tuple]:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        d = index_decimal(value)
        return [] if d is None else [(d,)]
    return []


def uri_values(value, t) -> list[tuple]:
    if isinstance(value, str):
        return [(value[:512],)]
    return []


CONVERTERS = {"token": token_values, "string": string_values, "date": date_values,
              "reference": reference_values, "quantity": quantity_values,
              "number": number_values, "uri": uri_values}
# row constructors taking one tuple: tuple.__new__ skips the NamedTuple's Python-level
# __new__ (a frame per row, ~8% of extraction)
ROWS = {kind: partial(tuple.__new__, cls) for kind, cls in (
    ("token", TokenRow), ("string", StringRow), ("date", DateRow), ("reference", ReferenceRow),
    ("quantity", QuantityRow), ("number", NumberRow), ("uri", UriRow),
    ("composite", CompositeRow))}
_TOKEN, _DATE, _COMPOSITE = ROWS["token"], ROWS["date"], ROWS["composite"]


def _composite_second(kind: str, value, t) -> list[tuple]:
    """(v_system, v_code, v_num, v_low, v_high, v_str) for the second component."""
    out = []
    if kind == "token":
        for s, c, _x in token_values(value, t):
            if s != "of-type":
                out.append((s, c, None, None, None, None))
    elif kind == "quantity":
        for v, s, c, u in quantity_values(value, t):
            out.append((s, c or u, v, None, None, None))
    elif kind == "number":
        out.extend((None, None, v, None, None, None) for (v,) in number_values(value, t))
    elif kind == "date":
        out.extend((None, None, None, lo, hi, None) for lo, hi in date_values(value, t))
    elif kind == "string":
        out.extend((None, None, None, None, None, n) for n, _e in string_values(value, t))
    elif kind in ("reference", "uri"):
        for row in reference_values(value, t):
            if row[0] != "identifier":
                out.append((row[0], row[1], None, None, None, row[2]))
    return out


def extract(registry: SearchRegistry, rtype: str, resource: dict, gated: bool = True
            ) -> IndexRows:
    """Index rows for one resource, by parameter type. gated: parameters whose elements are
    all absent from the resource are skipped (`Compiled.keys`); False runs every extractor
    (the tests compare both)."""
    rows: IndexRows = defaultdict(list)
    present = set(resource) if gated else None
    for comp in registry.compiled(rtype):
        if present is not None and comp.keys is not None and comp.keys.isdisjoint(present):
            continue
        p = comp.param
        kind = p.type
        if comp.composite is not None:
            _extract_composite(comp, resource, rows["composite"])
            continue
        conv = CONVERTERS[kind]
        seen: set = set()
        target = rows[kind]
        code = p.code
        make = ROWS[kind]
        for value, t in comp.extract(resource):
            for tup in conv(value, t):
                if tup in seen:
                    continue
                seen.add(tup)
                if kind == "token" and tup[0] == "of-type":
                    target.append(_TOKEN((code + ":of-type", tup[1], tup[2], None)))
                elif kind == "reference" and tup[0] == "identifier":
                    rows["token"].append(_TOKEN((code + ":identifier", tup[1], tup[2], None)))
                elif kind == "date":
                    target.append(_DATE((code, tup[0], tup[1],
                                         1 if tup[1] - tup[0] >= DAY else 0, 0)))
                else:
                    target.append(make((code,) + tup))
        if comp.ranges is not None:
            for srow in _expand_ranges(comp, resource):
                if srow not in seen:
                    seen.add(srow)
                    target.append(_TOKEN((code,) + srow))
        if kind == "date" and len(seen) > 1:
            n = len(seen)
            target[-n:] = [_DATE(row[:-1] + (1,)) for row in target[-n:]]
    return rows


def _expand_ranges(comp: Compiled, resource: dict) -> list[tuple]:
    """Every code from a range's start to its end (inclusive), in the declared order."""
    order = comp.order
    out = []
    for ext, _t in comp.ranges(resource):
        if not isinstance(ext, dict):
            continue
        ends = {}
        for sub in ext.get("extension") or ():
            if sub.get("url") in ("start", "end"):
                value = next((v for k, v in sub.items() if k.startswith("value")), None)
                ends[sub["url"]] = [(s, c) for s, c, _x in token_values(value, None) if c] \
                    if value is not None else []
        positions = []
        for key in ("start", "end"):
            pos = None
            for s, c in ends.get(key, ()):
                for i, (os_, oc) in enumerate(order):
                    if oc == c and (s is None or os_ is None or s == os_):
                        pos = i
                        break
                if pos is not None:
                    break
            positions.append(pos)
        if None in positions:
            continue
        lo, hi = sorted(positions)
        out.extend((s, c, None) for s, c in order[lo:hi + 1])
    return out


def _extract_composite(comp: Compiled, resource: dict, out: list) -> None:
    from .paths import walk
    kind2 = comp.component_types[1]
    code = comp.param.code
    for steps, (first, second) in comp.composite:
        for element, _t in walk(resource, steps):
            # the second component first: mostly a typed value[x] an element lacks, so the
            # (costlier) tokens of the first are only made for a row that has both
            seconds = [row for v, t in second(element) for row in _composite_second(kind2, v, t)]
            if not seconds:
                continue
            firsts = [row for v, t in first(element) for row in token_values(v, t)
                      if row[0] != "of-type" and row[1] is not None]
            for s1, c1, _x in firsts:
                for sec in seconds:
                    out.append(_COMPOSITE((code, s1, c1) + sec))


class Indexer:
    """The index rows of resources under one SearchParameter registry, plus (full_text) the
    words of `_text` / `_content` under kind "text" (one row: narrative, content)."""

    def __init__(self, registry: SearchRegistry, full_text: bool = True):
        self.registry = registry
        self.full_text = full_text

    def rows(self, rtype: str, resource: dict) -> IndexRows:
        rows = extract(self.registry, rtype, resource)
        if self.full_text:
            words = text_rows(resource)
            if words is not None:
                rows["text"] = [words]
        return rows
