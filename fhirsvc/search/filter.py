"""`_filter` (FHIR R4 search, section 3.1.3): an expression of comparisons joined by `and`,
`or`, `not (...)` and parentheses, parsed into the same clauses as ordinary parameters.

    parse_filter(parser, "Patient", 'family co "smi" and (birthdate ge 1990 or gender eq male)',
                 base_url) -> Clause

Written by hand: no maintained Python library implements the FHIR filter grammar, and it is
small (a tokenizer and a recursive-descent parser). Supported: parameters of the searched type
that are plain names (no chained paths, no `[filter]` paths), with

    string     eq ne co sw ew        token, reference     eq ne
    date       eq ne gt lt ge le sa eb ap                 uri   eq ne sw (below)
    number, quantity  eq ne gt lt ge le sa eb ap          _id eq ne, _lastUpdated as dates

Everything else (other operators, paths, unknown parameters) is a 400 naming the position.
Precedence: `not` binds tightest, then `and`, then `or`.
"""
from __future__ import annotations

import re

from ..outcomes import fail
from . import criteria as c
from .values import normalise

DATE_OPS = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
OPS = {
    "string": ("eq", "ne", "co", "sw", "ew"),
    "token": ("eq", "ne"),
    "reference": ("eq", "ne"),
    "uri": ("eq", "ne", "sw"),
    "date": DATE_OPS,
    "number": DATE_OPS,
    "quantity": DATE_OPS,
}
ALL_OPS = {"eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "ap", "sa", "eb", "pr", "po",
           "ss", "sb", "in", "ni", "re"}
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))')
MAX_TERMS = 50


def _bad(message: str):
    return fail(400, "invalid", message, "_filter")


class _Tokens:
    def __init__(self, text: str):
        self.items: list[tuple[str, str, int]] = []  # (kind, text, position)
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise _bad(f"_filter: unexpected character at position {pos + 1}: "
                           f"'{text[pos:pos + 10]}'")
            start = m.start(0) + (len(m.group(0)) - len(m.group(0).lstrip()))
            if m.group(1):
                self.items.append(("(", "(", start))
            elif m.group(2):
                self.items.append((")", ")", start))
            elif m.group(3) is not None:
                self.items.append(("string", re.sub(r"\\(.)", r"\1", m.group(3)), start))
            else:
                self.items.append(("word", m.group(4), start))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def next(self, what: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise _bad(f"_filter: expression ends where {what} was expected")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() == word:
            self.i += 1
            return True
        return False


def parse_filter(parser, rtype: str | None, text: str, base_url: str):
    if rtype is None:
        raise fail(400, "not-supported", "_filter needs a resource type", "_filter")
    if not text.strip():
        raise _bad("_filter is empty")
    toks = _Tokens(text)
    f = _Filter(parser, rtype, base_url, toks)
    clause = f.or_expr()
    rest = toks.peek()
    if rest is not None:
        raise _bad(f"_filter: unexpected '{rest[1]}' at position {rest[2] + 1} (expected 'and', "
                   "'or' or the end)")
    return clause


class _Filter:
    def __init__(self, parser, rtype: str, base_url: str, toks: _Tokens):
        self.parser, self.rtype, self.base_url, self.toks = parser, rtype, base_url, toks
        self.terms = 0

    def or_expr(self):
        parts = [self.and_expr()]
        while self.toks.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else c.AnyClause(tuple(parts))

    def and_expr(self):
        parts = [self.unary()]
        while self.toks.keyword("and"):
            parts.append(self.unary())
        flat: list = []
        for p in parts:
            flat.extend(p.clauses if isinstance(p, c.AllClause) else [p])
        return flat[0] if len(flat) == 1 else c.AllClause(tuple(flat))

    def unary(self):
        toks = self.toks
        tok = toks.peek()
        if tok is not None and tok[0] == "word" and tok[1].lower() == "not":
            nxt = toks.items[toks.i + 1] if toks.i + 1 < len(toks.items) else None
            if nxt is not None and nxt[0] == "(":
                toks.i += 1
                return c.NotClause(self.group())
        if tok is not None and tok[0] == "(":
            return self.group()
        return self.comparison()

    def group(self):
        toks = self.toks
        toks.next("'('")
        inner = self.or_expr()
        close = toks.next("')'")
        if close[0] != ")":
            raise _bad(f"_filter: expected ')' at position {close[2] + 1}, got '{close[1]}'")
        return inner

    def comparison(self):
        toks = self.toks
        path = toks.next("a parameter name")
        if path[0] != "word":
            raise _bad(f"_filter: expected a parameter name at position {path[2] + 1}, "
                       f"got '{path[1]}'")
        op = toks.next(f"an operator after '{path[1]}'")
        value = toks.next(f"a value after '{path[1]} {op[1]}'")
        if value[0] not in ("word", "string"):
            raise _bad(f"_filter: expected a value at position {value[2] + 1}, got '{value[1]}'")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _bad(f"_filter: more than {MAX_TERMS} comparisons")
        return self.clause(path, op[1].lower(), value[1], op[2])

    def clause(self, path, op: str, value: str, op_pos: int):
        name, pos = path[1], path[2] + 1
        if "." in name or "[" in name:
            raise fail(400, "not-supported", f"_filter: parameter paths ('{name}' at position "
                       f"{pos}) are not supported; use a parameter of {self.rtype}", "_filter")
        if op not in ALL_OPS:
            raise _bad(f"_filter: unknown operator '{op}' at position {op_pos + 1}")
        p = self.parser
        if name in ("_id", "_lastUpdated"):
            kind, param = ("token" if name == "_id" else "date"), None
        else:
            param = p._param(self.rtype, name)
            if param is None:
                raise _bad(f"_filter: {self.rtype} has no supported search parameter '{name}' "
                           f"(position {pos})")
            kind = param.type
        allowed = OPS.get(kind, ())
        if op not in allowed:
            raise fail(400, "not-supported", f"_filter: operator '{op}' is not supported on "
                       f"{kind} parameter '{name}' (position {op_pos + 1}); supported: "
                       + (", ".join(allowed) or "none"), "_filter")
        if kind == "string":
            mode = {"eq": "equal", "ne": "equal", "co": "contains", "sw": "prefix",
                    "ew": "suffix"}[op]
            cl = c.ParamClause(f"_filter:{name}", "string", self.rtype, param.code,
                               (c.StringMatch(mode, normalise(value)),))
            return c.NotClause(cl) if op == "ne" else cl
        escaped = value.replace(",", "\\,")
        if kind in ("date", "number", "quantity"):
            return p._clause(self.rtype, name, op + escaped, param, None, self.base_url)
        if kind == "uri" and op == "sw":
            return p._clause(self.rtype, name + ":below", escaped, param, "below",
                             self.base_url)
        cl = p._clause(self.rtype, name, escaped, param, None, self.base_url)
        return c.NotClause(cl) if op == "ne" else cl
