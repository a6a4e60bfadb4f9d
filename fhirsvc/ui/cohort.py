"""Page builder of the cohort page: services.analytics.cohort_statistics output -> the table of
published beside recomputed values (each verdict and the misprint flagged) and prevalence bars
with their 95% confidence intervals per group (SVG geometry)."""
from __future__ import annotations

from dataclasses import dataclass

GROUP_COLORS = {"SSc": "#9f1239", "RA": "#1d4ed8", "SLE": "#047857"}


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    if p < 0.0001:
        return f"{p:.1e}"
    return f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


@dataclass(frozen=True)
class Verdict:
    key: str      # reproduces | misprint | differs | none
    label: str


def verdict(row: dict, counts_published: bool) -> Verdict:
    """`misprint`: the counts are the paper's own (SSc vs comparator: the group prevalences
    are published) and the printed value is achievable by the test with these group sizes
    but not from these counts (cohort.py's `achievable_by_fisher`), so the printed number is
    most likely wrong; `differs` otherwise (another test was used, or the within-SSc tables
    are a reconstruction, the paper printing only their p-values)."""
    rep = row.get("reproduces")
    if rep is True:
        return Verdict("reproduces", "Reproduces")
    if rep is None:
        return Verdict("none", "Nothing published to compare")
    if counts_published and row.get("achievable_by_fisher"):
        return Verdict("misprint", "Likely misprint")
    return Verdict("differs", "Does not reproduce")


@dataclass(frozen=True)
class TestRow:
    section: str
    finding: str
    comparison: str
    table: str
    published: str
    recomputed: str
    yates: str
    verdict: Verdict
    note: str


def test_rows(stats: dict) -> list[TestRow]:
    out = []
    for section, rows, published_counts in (
            ("SSc vs comparator", stats.get("comparisons") or [], True),
            ("Association within SSc", stats.get("associations") or [], False)):
        for t in rows:
            (a, b), (c, d) = t["table"]
            out.append(TestRow(section, t.get("label") or t["finding"], t["comparison"],
                               f"{a}/{a + b} vs {c}/{c + d}", t.get("published") or "",
                               p_text(t.get("p_value")), p_text(t.get("yates_p_value")),
                               verdict(t, published_counts), t.get("note") or ""))
    return out


def sections(stats: dict) -> list[tuple[str, list[TestRow]]]:
    """The test rows in their sections, in the order of test_rows."""
    out: dict[str, list[TestRow]] = {}
    for row in test_rows(stats):
        out.setdefault(row.section, []).append(row)
    return list(out.items())


@dataclass(frozen=True)
class Bar:
    group: str
    count: int
    n: int
    percent: float
    ci_low: float
    ci_high: float
    published: str
    y: float
    width: float          # bar length in px
    ci_x1: float
    ci_x2: float
    color: str


@dataclass(frozen=True)
class BarGroup:
    finding: str
    label: str
    y: float
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    plot: int
    groups: tuple[BarGroup, ...]
    ticks: tuple[tuple[int, float], ...]


LEFT, TOP, BAR, GAP, PLOT = 250, 30, 16, 14, 460


def bar_chart(stats: dict) -> BarChart:
    rows = stats.get("prevalence") or []
    findings = list(dict.fromkeys(p["finding"] for p in rows))
    groups, y = [], TOP
    for f in findings:
        bars = []
        label = ""
        y0 = y
        for p in (p for p in rows if p["finding"] == f):
            label = p.get("label") or f
            bars.append(Bar(p["group"], p["count"], p["n"], 100 * p["proportion"],
                            100 * p["ci95_low"], 100 * p["ci95_high"], p.get("published") or "",
                            y, PLOT * p["proportion"], LEFT + PLOT * p["ci95_low"],
                            LEFT + PLOT * p["ci95_high"],
                            GROUP_COLORS.get(p["group"], "#475569")))
            y += BAR + 4
        groups.append(BarGroup(f, label, y0, tuple(bars)))
        y += GAP
    return BarChart(LEFT + PLOT + 90, int(y + 26), LEFT, PLOT, tuple(groups),
                    tuple((t, LEFT + PLOT * t / 100) for t in range(0, 101, 20)))
