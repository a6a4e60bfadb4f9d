"""UCUM units, as far as validation without a terminology server needs them: is a code a
well-formed UCUM unit, and can two quantities be compared (and how).

Written by hand because no maintained Python UCUM library exists (PyPI has none kept up to date;
the reference implementations are Java and .NET). It covers unit expressions built from the
UCUM base and common derived atoms with metric prefixes, products, quotients and integer
exponents, and annotations ({...}); curly-brace-only units ({score}) are dimensionless. A unit it
cannot parse is reported as not valid UCUM only by `is_ucum` callers that choose to; comparison
of units it cannot parse gives None (cannot compare), never a wrong verdict.
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

UCUM = "http://unitsofmeasure.org"

PREFIXES = {"Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6,
            "k": 1e3, "h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6,
            "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18, "z": 1e-21, "y": 1e-24}
# atom -> (factor, dimension vector over (m, g, s, K, mol, cd, C, rad)), metric: takes prefixes
_D = ("m", "g", "s", "K", "mol", "cd", "C", "rad")


def _dim(**kw):
    return tuple(Fraction(kw.get(k, 0)) for k in _D)


ATOMS = {
    "m": (1, _dim(m=1), True), "g": (1, _dim(g=1), True), "s": (1, _dim(s=1), True),
    "K": (1, _dim(K=1), True), "mol": (6.02214076e23, _dim(), True),
    "cd": (1, _dim(cd=1), True), "C": (1, _dim(C=1), True), "rad": (1, _dim(rad=1), True),
    "L": (1e-3, _dim(m=3), True), "l": (1e-3, _dim(m=3), True),
    "min": (60, _dim(s=1), False), "h": (3600, _dim(s=1), False),
    "d": (86400, _dim(s=1), False), "wk": (604800, _dim(s=1), False),
    "mo": (2629800, _dim(s=1), False), "a": (31557600, _dim(s=1), False),
    "Hz": (1, _dim(s=-1), True), "N": (1000, _dim(g=1, m=1, s=-2), True),
    "Pa": (1000, _dim(g=1, m=-1, s=-2), True), "J": (1000, _dim(g=1, m=2, s=-2), True),
    "W": (1000, _dim(g=1, m=2, s=-3), True), "A": (1, _dim(C=1, s=-1), True),
    "V": (1000, _dim(g=1, m=2, s=-2, C=-1), True), "eq": (6.02214076e23, _dim(), True),
    "Cel": (1, _dim(K=1), True), "%": (0.01, _dim(), False), "[pH]": (1, _dim(), False),
    "mm[Hg]": (133322.0, _dim(g=1, m=-1, s=-2), False),
    "cm[H2O]": (98066.5, _dim(g=1, m=-1, s=-2), False),
    "[in_i]": (0.0254, _dim(m=1), False), "[ft_i]": (0.3048, _dim(m=1), False),
    "[mi_i]": (1609.344, _dim(m=1), False), "[lb_av]": (453.59237, _dim(g=1), False),
    "[oz_av]": (28.349523125, _dim(g=1), False), "[degF]": (5 / 9, _dim(K=1), False),
    "[iU]": (1, _dim(), True), "[IU]": (1, _dim(), True), "U": (1, _dim(), True),
    "/min": (1 / 60, _dim(s=-1), False), "bar": (1e8, _dim(g=1, m=-1, s=-2), True),
    "cal": (4184, _dim(g=1, m=2, s=-2), True), "[drp]": (5e-8, _dim(m=3), False),
    "10*": (10, _dim(), False), "1": (1, _dim(), False),
}
_TERM = re.compile(r"(\{[^}]*\})|([^./{}]+?)(-?\d+)?(\{[^}]*\})?$")


@lru_cache(maxsize=2048)
def parse_unit(code: str):
    """(factor, dimension) of a UCUM code, or None when it is not one this module reads."""
    if not isinstance(code, str) or not code or code != code.strip() or " " in code:
        return None
    factor, dim = 1.0, [Fraction(0)] * len(_D)
    tokens = re.split(r"([./])", code)
    sign = 1
    if tokens and tokens[0] == "":
        tokens = tokens[1:]
    for tok in tokens:
        if tok == ".":
            sign = 1
            continue
        if tok == "/":
            sign = -1
            continue
        got = _term(tok)
        if got is None:
            return None
        f, d = got
        factor *= f ** sign
        for i, x in enumerate(d):
            dim[i] += sign * x
        sign = 1
    return factor, tuple(dim)


def _term(tok: str):
    if re.fullmatch(r"\{[^}]*\}", tok):
        return 1.0, _dim()
    tok = re.sub(r"\{[^}]*\}$", "", tok)
    m = re.fullmatch(r"10\*(-?\d+)|10\^(-?\d+)", tok)
    if m:
        return 10.0 ** int(m.group(1) or m.group(2)), _dim()
    if tok.isdigit():
        return float(tok), _dim()
    m = re.fullmatch(r"(.*?[^\d\-])(-?\d+)?", tok)
    if not m:
        return None
    atom, exp = m.group(1), int(m.group(2) or 1)
    base = _atom(atom)
    if base is None:
        return None
    f, d = base
    return f ** exp, tuple(x * exp for x in d)


def _atom(atom: str):
    if atom in ATOMS:
        f, d, _metric = ATOMS[atom]
        return f, d
    for p in sorted(PREFIXES, key=len, reverse=True):
        if atom.startswith(p) and atom[len(p):] in ATOMS and ATOMS[atom[len(p):]][2]:
            f, d, _metric = ATOMS[atom[len(p):]]
            return PREFIXES[p] * f, d
    return None


def is_ucum(code: str) -> bool:
    return parse_unit(code) is not None


def compare_quantities(a: dict, b: dict) -> tuple[int | None, str]:
    """-1/0/1 for a <, =, > b; (None, why) when they cannot be compared."""
    va, vb = a.get("value"), b.get("value")
    if not isinstance(va, (int, float)) or not isinstance(vb, (int, float)):
        return None, "no values"
    if not (a.get("system") == UCUM and a.get("code") and b.get("system") == UCUM
            and b.get("code")):
        if a.get("system") == b.get("system") and a.get("code") == b.get("code") and a.get("code"):
            return (va > vb) - (va < vb), ""
        return None, "no formal units are specified"
    ua, ub = parse_unit(a["code"]), parse_unit(b["code"])
    if ua is None or ub is None:
        return None, "a unit is not a UCUM unit this validator can convert"
    if ua[1] != ub[1]:
        return None, "the units are not comparable"
    x, y = va * ua[0], vb * ub[0]
    return (x > y) - (x < y), ""
