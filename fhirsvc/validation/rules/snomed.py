"""SNOMED CT identifiers checked offline (no terminology server): the syntax of an SCTID
(6 to 18 digits, no leading zero, a partition identifier, a Verhoeff check digit). A code that
is not a well-formed concept id cannot be a SNOMED CT concept whatever the edition; whether a
well-formed one exists needs a server, and is not judged here."""
from __future__ import annotations

import re

SNOMED = "http://snomed.info/sct"
_DIGITS = re.compile(r"^[1-9][0-9]{5,17}$")
# a post-coordinated expression (compositional grammar) is not a plain concept id
_EXPRESSION = re.compile(r"[:=|+{}()\s]")

_D = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
      (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
      (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
      (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
      (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
_P = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
      (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
      (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
      (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8))
# partition identifiers of concept ids (core, extension); 01/11 are descriptions, 02/12
# relationships
_CONCEPT_PARTITIONS = ("00", "10")


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][ord(ch) - 48]]
    return c == 0


def is_concept_id(code: str) -> bool:
    """A well-formed SNOMED CT concept identifier."""
    return bool(_DIGITS.match(code)) and code[-3:-1] in _CONCEPT_PARTITIONS and \
        verhoeff_ok(code)


def is_expression(code: str) -> bool:
    return bool(_EXPRESSION.search(code))


def bad_code(code: str) -> str | None:
    """Why a code cannot be a SNOMED CT concept, None when it may be one: "syntax" (not an
    expression and not 6 to 18 digits) or "check" (digits, but the partition or the Verhoeff
    check digit is wrong)."""
    if is_expression(code):
        return None
    if not _DIGITS.match(code):
        return "syntax"
    return None if is_concept_id(code) else "check"
