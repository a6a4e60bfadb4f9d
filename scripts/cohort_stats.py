"""Small exact statistics used by gen_cohort.py and the IG tests (no SciPy needed)."""
from __future__ import annotations

from math import comb


def fisher_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact test for [[a, b], [c, d]] (sum of tables no more likely)."""
    r1, r2, c1 = a + b, c + d, a + c
    n = r1 + r2

    def p(x: int) -> float:
        return comb(r1, x) * comb(r2, c1 - x) / comb(n, c1)

    p0 = p(a)
    lo, hi = max(0, c1 - r2), min(r1, c1)
    return min(1.0, sum(p(x) for x in range(lo, hi + 1) if p(x) <= p0 * (1 + 1e-7)))
