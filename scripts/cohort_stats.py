"""Small exact statistics used by gen_cohort.py and the IG tests (pure Python; fhirsvc.analytics uses scipy)."""
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


def yates_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Pearson chi-square with Yates' continuity correction (1 df), two-sided; 1.0 on a zero margin."""
    from math import erfc, sqrt
    n = a + b + c + d
    r1, r2, c1, c2 = a + b, c + d, a + c, b + d
    if 0 in (r1, r2, c1, c2):
        return 1.0
    chi2 = n * max(0.0, abs(a * d - b * c) - n / 2) ** 2 / (r1 * r2 * c1 * c2)
    return erfc(sqrt(chi2 / 2))
