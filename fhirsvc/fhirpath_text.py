"""Text-level helpers for FHIRPath expressions, shared by the search and validation compilers.

Both decide, before any evaluation, whether an expression is simple enough for a native fast
path; that needs splitting on top-level operators and removing enclosing parentheses, which
fhirpathpy does not expose (its parser returns an ANTLR tree for evaluation only).
"""
from __future__ import annotations


def split_top(expr: str, sep: str) -> list[str]:
    """Split on `sep` where it stands outside parentheses and quoted strings / identifiers."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and expr.startswith(sep, i):
            parts.append(expr[start:i])
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def strip_parens(expr: str) -> str:
    """`((a | b))` -> `a | b`; `(a).b | (c)` stays as it is."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for i, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(expr) - 1:
                return expr
        expr = expr[1:-1].strip()
    return expr
