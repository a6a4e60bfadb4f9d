"""Code systems and value set expansion (local, offline).

Value sets are expanded from the code systems we hold (the FHIR and THO code systems of the
core package, plus guide / uploaded ones). Systems that cannot be enumerated offline (SNOMED CT,
LOINC, UCUM, ...) make the expansion "open" for that system: codes from it cannot be checked
and the validator says so as information, never as an error.
"""
from __future__ import annotations


def _walk(concepts, parent, codes, parents):
    for c in concepts or ():
        code = c.get("code")
        if code is None:
            continue
        codes.append(code)
        if parent is not None:
            parents.setdefault(code, []).append(parent)
        _walk(c.get("concept"), code, codes, parents)


def compact_cs(cs: dict) -> dict:
    codes: list[str] = []
    parents: dict[str, list[str]] = {}
    _walk(cs.get("concept"), None, codes, parents)
    out = {"codes": codes}
    if parents:
        out["parents"] = parents
    if cs.get("caseSensitive") is False:
        out["caseSensitive"] = False
    if cs.get("content") not in (None, "complete"):
        out["content"] = cs.get("content")
    return out


def cs_rule_facts(cs: dict) -> dict:
    """What validation rules read of a code system beside its codes: what it supplements and
    its declared properties (code -> type). Kept for code systems added at run time (guide,
    --ig, API, test material); the committed core data (scripts/build_definitions.py) stays
    the compact form alone."""
    out: dict = {}
    if isinstance(cs.get("supplements"), str):
        out["supplements"] = cs["supplements"]
    props = {p["code"]: p.get("type") for p in cs.get("property") or ()
             if isinstance(p, dict) and isinstance(p.get("code"), str)}
    if props:
        out["properties"] = props
    return out


def _descendants(cs: dict, root: str, include_self: bool) -> list[str]:
    parents = cs.get("parents") or {}
    children: dict[str, list[str]] = {}
    for code, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(code)
    out, stack = [], [root]
    seen = set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        if c != root or include_self:
            out.append(c)
        stack.extend(children.get(c, ()))
    return out


def expand_valueset(url: str, valuesets: dict, codesystems: dict, _depth: int = 0) -> dict | None:
    """{"codes": {system: [code]}, "open": [system]} or None when the value set is unknown.

    `codesystems` values may be full CodeSystem resources or compact ones (compact_cs); the
    mapping is only read (registry states share it between threads).
    """
    vs = valuesets.get(url.split("|")[0])
    if vs is None or _depth > 10:
        return None
    codes: dict[str, list[str]] = {}
    open_: set[str] = set()
    compose = vs.get("compose") or {}
    if not compose and vs.get("expansion"):
        for c in vs["expansion"].get("contains", ()):
            codes.setdefault(c.get("system", ""), []).append(c.get("code"))
        return {"codes": codes, "open": []}

    def system_codes(system: str):
        cs = codesystems.get(system)
        if cs is None:
            return None
        if "codes" not in cs:
            cs = compact_cs(cs)
        if cs.get("content") not in (None, "complete"):
            return None
        return cs

    def include_codes(inc) -> tuple[dict, set]:
        got: dict[str, set] = {}
        opened: set = set()
        system = inc.get("system")
        sets_from_vs = []
        for ref in inc.get("valueSet", ()):
            sub = expand_valueset(ref, valuesets, codesystems, _depth + 1)
            if sub is None:
                opened.add("*")
                continue
            sets_from_vs.append(sub)
        if system:
            if inc.get("concept"):
                got[system] = {c["code"] for c in inc["concept"]}
            else:
                cs = system_codes(system)
                if cs is None:
                    opened.add(system)
                elif inc.get("filter"):
                    sel = None
                    for f in inc["filter"]:
                        if f.get("property") == "concept" and f.get("op") in ("is-a", "descendent-of"):
                            part = set(_descendants(cs, f.get("value"), f["op"] == "is-a"))
                        elif f.get("property") == "concept" and f.get("op") == "is-not-a":
                            part = set(cs["codes"]) - set(_descendants(cs, f.get("value"), True))
                        else:
                            part = None
                        if part is None:
                            opened.add(system)
                            break
                        sel = part if sel is None else sel & part
                    if system not in opened:
                        got[system] = sel or set()
                else:
                    got[system] = set(cs["codes"])
        if sets_from_vs:
            # intersection of imported sets (and with the system part when present)
            for sub in sets_from_vs:
                subcodes = {s: set(c) for s, c in sub["codes"].items()}
                if system:
                    got = {s: got.get(s, set()) & subcodes.get(s, set()) for s in got}
                else:
                    for s, c in subcodes.items():
                        got.setdefault(s, set()).update(c)
                opened.update(sub["open"])
        return got, opened

    acc: dict[str, set] = {}
    for inc in compose.get("include", ()):
        got, opened = include_codes(inc)
        for s, c in got.items():
            acc.setdefault(s, set()).update(c)
        open_.update(opened)
    for exc in compose.get("exclude", ()):
        got, _ = include_codes(exc)
        for s, c in got.items():
            if s in acc:
                acc[s] -= c
    return {"codes": {s: sorted(c) for s, c in acc.items()}, "open": sorted(open_)}
