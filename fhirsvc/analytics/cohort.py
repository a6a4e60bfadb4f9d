"""Cohort statistics of a calcinosis prevalence study from stored resources.

Population: the subjects of the cohort study (ResearchSubject) in its SSc, RA and SLE arms (the
index-case arm is not counted), or every patient with a diagnosis when no study is stored. Each
patient's group is its diagnosis Condition (SSc, RA, SLE); a findings is a Condition that is
not refuted (calcinosis kinds, digital ulcers, Raynaud's phenomenon of regular or daily
frequency). Prevalence carries a Clopper-Pearson exact 95% interval; every SSc-vs-comparator
finding and every within-SSc association gets a two-sided Fisher exact p-value
(scipy.stats.fisher_exact), set beside the value the paper printed with a `reproduces` verdict:
a bound ("<0.0005") holds, a value equals the computed p rounded to its printed precision, "not
associated" means p >= 0.05.
"""
from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Iterable


from .codes import (ABSENT_VERIFICATION, CIG, RA, RAYNAUD, RAYNAUD_FREQUENCY, SLE, SSC_CODES, cig,
                    codings)
from .published import PUBLISHED

GROUPS = ("SSc", "RA", "SLE")
ARM_GROUP = {"cohort-ssc": "SSc", "cohort-ra": "RA", "cohort-sle": "SLE", "cohort-index-case": None}
FINDINGS = [("paraspinal-calcinosis", "Paraspinal calcinosis (PSC)"),
            ("intraspinal-calcinosis", "Intraspinal calcinosis (ISC)"),
            ("intracranial-calcification", "Intracranial calcification"),
            ("calcinosis-cutis", "Calcinosis cutis"),
            ("raynaud-regular", "Regular Raynaud's phenomenon"),
            ("digital-ulcer", "Digital ulcers")]
COMPARED = ("paraspinal-calcinosis", "intraspinal-calcinosis", "intracranial-calcification")
SPINAL = ("paraspinal-calcinosis", "intraspinal-calcinosis")
FEATURES = ("calcinosis-cutis", "raynaud-regular", "digital-ulcer", "intracranial-calcification")
LABEL = dict(FINDINGS)
SHORT = {"paraspinal-calcinosis": "PSC", "intraspinal-calcinosis": "ISC"}
TEST = "Fisher exact, two-sided (scipy.stats.fisher_exact)"
CI = "Clopper-Pearson exact 95% (scipy.stats.binomtest(...).proportion_ci(method='exact'))"


def _ref(r: dict) -> str:
    return f"{r['resourceType']}/{r.get('id')}"


def _group(code_set: set) -> str | None:
    if code_set & SSC_CODES:
        return "SSc"
    if RA in code_set:
        return "RA"
    if SLE in code_set:
        return "SLE"
    return None


def _findings(cond: dict) -> set[str]:
    codes = codings(cond.get("code"))
    out = {c for s, c in codes if s == CIG and c in LABEL}
    if RAYNAUD in codes:
        freq = set().union(*(codings(e.get("valueCodeableConcept")) for e in cond.get("extension", [])
                             if e.get("url") == RAYNAUD_FREQUENCY))
        if freq & {cig("raynaud-regular"), cig("raynaud-daily")}:
            out.add("raynaud-regular")
    return out


def reproduces(p: float, published: str | None) -> bool | None:
    """Does a computed p-value reproduce the printed one? None when nothing was printed."""
    if published is None:
        return None
    if published == "not associated":
        return p >= 0.05
    if published.startswith("<"):
        return p < float(published[1:])
    printed = Decimal(published)
    return round(Decimal(repr(float(p))), -printed.as_tuple().exponent) == printed


def _achievable(r1: int, r2: int, published: str) -> bool:
    """Whether any 2x2 table with these row totals (same direction) gives the printed value."""
    from scipy.stats import fisher_exact  # scipy costs 0.6 s and 70 MB: loaded when used
    return any(reproduces(fisher_exact([[x, r1 - x], [y, r2 - y]])[1], published)
               for x in range(r1 + 1) for y in range(r2 + 1) if x * r2 > y * r1)


def _yates(table) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from scipy.stats import chi2_contingency
            return float(chi2_contingency(table, correction=True)[1])
        except ValueError:                      # a zero margin
            return None


def _test(table: list[list[int]], published: str | None, note: str | None) -> dict:
    from scipy.stats import fisher_exact
    p = float(fisher_exact(table, alternative="two-sided")[1])
    out = {"table": table, "p_value": p, "test": TEST, "published": published,
           "reproduces": reproduces(p, published)}
    yates = _yates(table)
    if yates is not None:
        out["yates_p_value"] = yates
    if out["reproduces"] is False and published not in (None, "not associated"):
        r1, r2 = sum(table[0]), sum(table[1])
        out["achievable_by_fisher"] = _achievable(r1, r2, published)
        if note is None:
            if not out["achievable_by_fisher"]:
                note = (f"No 2x2 table with these group sizes ({r1}, {r2}) gives p={published} by Fisher's test"
                        + (f"; Yates' continuity-corrected chi-square on this table gives {yates:.4f}"
                           if yates is not None and reproduces(yates, published) else "") + ".")
            else:
                note = f"Does not reproduce: Fisher's test gives {p:.2g} on these counts."
    if note:
        out["note"] = note
    return out


def _wilson_free_ci(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def cohort_statistics(resources: Iterable[dict], *, study_identifier: tuple[str, str] | None = None) -> dict:
    """Statistics of the cohort in `resources` (stored resources: ids, Type/id references).

    `study_identifier` (system, value) picks the ResearchStudy when several are stored. Returns
    a JSON-ready dict: study, groups (counts), prevalence, comparisons (SSc vs RA / SLE),
    associations (within SSc), methods, warnings.
    """
    res = [r for r in resources if isinstance(r, dict)]
    studies = [r for r in res if r.get("resourceType") == "ResearchStudy"]
    if study_identifier:
        studies = [s for s in studies if any((i.get("system"), i.get("value")) == tuple(study_identifier)
                                             for i in s.get("identifier", []))]
        if not studies:
            raise ValueError(f"no ResearchStudy with identifier {study_identifier[0]}|{study_identifier[1]}")
    if len(studies) > 1:
        raise ValueError("several ResearchStudy resources: pass study_identifier")
    study = studies[0] if studies else None
    warnings_: list[str] = []

    diagnosis: dict[str, set] = {}
    findings: dict[str, set[str]] = {}
    for r in res:
        if r.get("resourceType") != "Condition":
            continue
        if {c for _, c in codings(r.get("verificationStatus"))} & ABSENT_VERIFICATION:
            continue
        pat = (r.get("subject") or {}).get("reference")
        diagnosis.setdefault(pat, set()).update(codings(r.get("code")))
        findings.setdefault(pat, set()).update(_findings(r))

    if study is not None:
        study_ref = _ref(study)
        ident = {(i.get("system"), i.get("value")) for i in study.get("identifier", [])}
        arm_type = {a.get("name"): next((c for s, c in codings(a.get("type")) if s == CIG), None)
                    for a in study.get("arm", [])}
        members: dict[str, str | None] = {}
        for r in res:
            if r.get("resourceType") != "ResearchSubject":
                continue
            st = r.get("study") or {}
            logical = st.get("identifier") or {}
            if st.get("reference") != study_ref and (logical.get("system"), logical.get("value")) not in ident:
                continue
            members[(r.get("individual") or {}).get("reference")] = ARM_GROUP.get(arm_type.get(r.get("assignedArm")))
        population = {}
        for pat, arm in members.items():
            if arm is None:
                continue
            grp = _group(diagnosis.get(pat, set()))
            if grp != arm:
                warnings_.append(f"{pat}: arm {arm} but diagnosis {grp}")
            if grp:
                population[pat] = grp
    else:
        population = {p: g for p, g in ((p, _group(c)) for p, c in diagnosis.items()) if g}

    n = {g: sum(1 for x in population.values() if x == g) for g in GROUPS}
    key = None
    if study is not None:
        key = next((k for k in ((i.get("system"), i.get("value")) for i in study.get("identifier", []))
                    if k in PUBLISHED), None)
    paper = PUBLISHED.get(key, {})

    def count(group: str, *codes: str, without: tuple = ()) -> int:
        return sum(1 for p, g in population.items() if g == group and all(c in findings.get(p, ()) for c in codes)
                   and not any(c in findings.get(p, ()) for c in without))

    prevalence = []
    for code, label in FINDINGS:
        for g in GROUPS:
            if not n[g] or (code not in COMPARED and g != "SSc"):
                continue
            k = count(g, code)
            lo, hi = _wilson_free_ci(k, n[g])
            prevalence.append({"finding": code, "label": label, "group": g, "count": k, "n": n[g],
                               "proportion": k / n[g], "ci95_low": lo, "ci95_high": hi,
                               "published": paper.get("prevalence", {}).get((code, g))})
    comparisons = []
    for code in COMPARED:
        for g in ("RA", "SLE"):
            if not (n["SSc"] and n[g]):
                continue
            a, c = count("SSc", code), count(g, code)
            item = {"finding": code, "label": LABEL[code], "comparison": f"SSc vs {g}", "groups": ["SSc", g]}
            item.update(_test([[a, n["SSc"] - a], [c, n[g] - c]], paper.get("comparisons", {}).get((code, g)),
                              paper.get("notes", {}).get((code, g))))
            comparisons.append(item)
    associations = []
    for spinal in SPINAL:
        for feat in FEATURES:
            if not n["SSc"]:
                continue
            with_s = count("SSc", spinal)
            a = count("SSc", spinal, feat)
            c = count("SSc", feat, without=(spinal,))
            table = [[a, with_s - a], [c, n["SSc"] - with_s - c]]
            item = {"finding": feat, "label": LABEL[feat], "with": spinal,
                    "comparison": f"{SHORT[spinal]} vs no {SHORT[spinal]} (SSc)"}
            item.update(_test(table, paper.get("associations", {}).get((feat, spinal)), None))
            item["direction"] = "more frequent with " + SHORT[spinal] if a * (n["SSc"] - with_s) > c * with_s \
                else "not more frequent with " + SHORT[spinal]
            associations.append(item)
    out = {"study": None, "groups": n, "prevalence": prevalence, "comparisons": comparisons,
           "associations": associations, "methods": {"ci": CI, "test": TEST,
                                                     "reproduces": "a printed bound holds; a printed value equals "
                                                                   "the p-value rounded to its printed precision; "
                                                                   "'not associated' is p >= 0.05"},
           "warnings": warnings_}
    if study is not None:
        out["study"] = {"identifier": [dict(i) for i in study.get("identifier", [])], "title": study.get("title"),
                        "published_groups": paper.get("groups")}
    return out
