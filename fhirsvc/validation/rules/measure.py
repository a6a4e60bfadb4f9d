"""MeasureReport against its Measure (value scope, on a MeasureReport).

The Measure is found by the report's canonical among the registry's canonical resources; an
unknown Measure is not an error. Checked: a cohort measure's groups carry no measureScore
(a cohort only counts); each group's stratifiers name a stratifier of the measure's group by
its code, and every stratifier the measure's group defines is reported (as the reference
validator: a stratifier defined only by components has no code, so it cannot be matched)."""
from __future__ import annotations

from ..run import issue


def _codes(cc) -> frozenset:
    if not isinstance(cc, dict):
        return frozenset()
    return frozenset((c.get("system"), c.get("code")) for c in cc.get("coding") or ()
                     if isinstance(c, dict) and c.get("code"))


def _scoring(measure: dict) -> str | None:
    for c in (measure.get("scoring") or {}).get("coding") or ():
        if isinstance(c, dict) and c.get("code"):
            return c["code"]
    return None


def _measure_group(group: dict, groups: list, index: int):
    codes = _codes(group.get("code"))
    for g in groups:
        if codes and codes & _codes(g.get("code")):
            return g
    for g in groups:
        if group.get("id") and g.get("id") == group.get("id"):
            return g
    return groups[index] if index < len(groups) and len(groups) == 1 else None


def measure_report(value, element, type_code, location, run):
    if value.__class__ is not dict:
        return ()
    measure = run.reg.canonical("Measure", value.get("measure"))
    if measure is None:
        return ()
    out = []
    scoring = _scoring(measure)
    mgroups = [g for g in measure.get("group") or () if isinstance(g, dict)]
    for i, group in enumerate(value.get("group") or ()):
        if not isinstance(group, dict):
            continue
        where = f"{location}.group[{i}]"
        if scoring == "cohort" and "measureScore" in group:
            out.append(issue("error", "invalid", "No measureScore when the scoring of the "
                             "measure is 'cohort'", f"{where}.measureScore"))
        mg = _measure_group(group, mgroups, i)
        if mg is None:
            continue
        defined = [s for s in mg.get("stratifier") or () if isinstance(s, dict)]
        reported = [s for s in group.get("stratifier") or () if isinstance(s, dict)]
        for k, strat in enumerate(reported):
            codes = _strat_codes(strat)
            if not codes or not any(codes & _codes(d.get("code")) for d in defined):
                out.append(issue("error", "invalid", "Group should have a code that matches the "
                                 "group stratifier definition in the measure",
                                 f"{where}.stratifier[{k}]"))
        for d in defined:
            dcodes = _codes(d.get("code"))
            if not dcodes or not any(dcodes & _strat_codes(s) for s in reported):
                shown = ", ".join(c for _s, c in sorted(dcodes, key=str)) if dcodes else ""
                out.append(issue("error", "invalid", "The MeasureReport does not include a "
                                 f"stratifier for the stratifier with code '{shown}' "
                                 f"(id = '{d.get('id')}')", where))
    return out


def _strat_codes(strat: dict) -> frozenset:
    code = strat.get("code")
    if isinstance(code, list):  # MeasureReport.group.stratifier.code is 0..* in R4
        return frozenset().union(*(_codes(c) for c in code))
    return _codes(code)
