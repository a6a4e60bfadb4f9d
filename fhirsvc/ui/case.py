"""Page builders of the case page: a patient's resources -> timeline, labs with reference
ranges, MRC grades per muscle and side over time (chart geometry). Pure functions of the
resources; the spine map is `spine.py`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .spine import CIG, LATERALITY_CODES, SD, codings, concept_text

EXT_LATERALITY = SD + "laterality"
NEURO_PROFILES = {SD + "neuro-exam-finding", SD + "lasegue-sign", SD + "muscle-strength"}
IMAGING_REPORT_CATEGORIES = {"RAD", "CT", "MR", "NMR", "XR", "CUS", "RUS", "IMG"}
LAB_CATEGORIES = {"LAB", "laboratory", "HM", "CH", "SP", "IMM", "SR"}


def profiles(r: dict) -> set[str]:
    return set((r.get("meta") or {}).get("profile") or [])


def _ref(r: dict) -> str:
    return f"{r.get('resourceType')}/{r.get('id')}"


def _category_codes(r: dict) -> set[str]:
    cats = r.get("category")
    cats = cats if isinstance(cats, list) else [cats] if cats else []
    return {c for cat in cats for _, c, _ in codings(cat) if c}


def is_lab(r: dict) -> bool:
    return r.get("resourceType") == "Observation" and bool(_category_codes(r) & LAB_CATEGORIES)


def is_neuro(r: dict) -> bool:
    return r.get("resourceType") == "Observation" and bool(profiles(r) & NEURO_PROFILES)


def value_text(r: dict) -> str:
    if "valueQuantity" in r:
        q = r["valueQuantity"] or {}
        return f"{q.get('comparator', '')}{_num(q.get('value'))} {q.get('unit') or q.get('code') or ''}".strip()
    for key in ("valueInteger", "valueString", "valueBoolean", "valueDateTime"):
        if key in r:
            return str(r[key])
    if "valueCodeableConcept" in r:
        return concept_text(r["valueCodeableConcept"])
    if "valueRange" in r:
        return _range_text(r["valueRange"])
    interp = r.get("interpretation") or []
    return ", ".join(concept_text(i) for i in interp) if interp else ""


def _num(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return f"{v:.1f}"
    return "" if v is None else str(v)


def _range_text(rng: dict) -> str:
    low, high = (rng.get("low") or {}), (rng.get("high") or {})
    unit = high.get("unit") or low.get("unit") or ""
    if low.get("value") is not None and high.get("value") is not None:
        return f"{_num(low['value'])}-{_num(high['value'])} {unit}".strip()
    if low.get("value") is not None:
        return f">= {_num(low['value'])} {unit}".strip()
    if high.get("value") is not None:
        return f"<= {_num(high['value'])} {unit}".strip()
    return ""


def when(r: dict, encounters: dict | None = None) -> str:
    """The clinically relevant date of a resource (ISO text, possibly partial), else the
    start of its encounter, else ''."""
    for key in ("effectiveDateTime", "onsetDateTime", "performedDateTime", "recordedDate",
                "issued", "authoredOn", "dateAsserted", "occurrenceDateTime"):
        if isinstance(r.get(key), str):
            return r[key][:10]
    for key in ("effectivePeriod", "performedPeriod", "period", "onsetPeriod"):
        if isinstance(r.get(key), dict) and r[key].get("start"):
            return r[key]["start"][:10]
    if encounters:
        enc = (r.get("encounter") or r.get("context") or {}).get("reference")
        if enc in encounters:
            return when(encounters[enc])
    return ""


# -- timeline ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    date: str
    category: str      # conditions, encounters, imaging, labs, procedures, medications, neuro
    title: str
    detail: str
    source: str        # Type/id (or several, for a grouped event)
    status: str = ""
    items: tuple[str, ...] = ()   # a grouped event's findings, one per line


CATEGORY_LABEL = {"conditions": "Condition", "encounters": "Encounter",
                  "imaging": "Imaging report", "labs": "Laboratory results",
                  "procedures": "Procedure", "medications": "Medication",
                  "neuro": "Neurological examination"}


def timeline(resources) -> list[Event]:
    """Dated events, oldest first (undated ones last): conditions, encounters, imaging and
    lab reports, procedures, medications, and each day's neurological examination and lab
    results grouped as one event."""
    resources = list(resources)
    encounters = {_ref(r): r for r in resources if r.get("resourceType") == "Encounter"}
    events: list[Event] = []
    labs_by_day: dict[str, list[dict]] = {}
    neuro_by_day: dict[str, list[dict]] = {}
    reported: set[str] = set()
    for r in resources:
        if r.get("resourceType") == "DiagnosticReport":
            reported.update((x or {}).get("reference", "") for x in r.get("result") or [])
    for r in resources:
        rtype = r.get("resourceType")
        day = when(r, encounters)
        if rtype == "Condition":
            detail = "; ".join(filter(None, [
                concept_text((r.get("clinicalStatus"))),
                concept_text(r.get("verificationStatus")),
                ", ".join(dict.fromkeys(filter(None, (_site_text(s)
                                                      for s in r.get("bodySite") or []))))]))
            if r.get("abatementDateTime"):
                detail += f"; resolved {r['abatementDateTime'][:10]}"
            events.append(Event(day, "conditions", concept_text(r.get("code")), detail,
                                _ref(r)))
        elif rtype == "Encounter":
            kinds = ", ".join(concept_text(t) for t in r.get("type") or [])
            events.append(Event(day, "encounters", kinds or concept_text(r.get("class")) or
                                "Encounter", concept_text(r.get("class")) if kinds else "",
                                _ref(r), r.get("status", "")))
        elif rtype == "DiagnosticReport":
            lab = bool(_category_codes(r) & LAB_CATEGORIES)
            events.append(Event(day, "labs" if lab else "imaging",
                                concept_text(r.get("code")) or "Report",
                                r.get("conclusion") or f"{len(r.get('result') or [])} results",
                                _ref(r), r.get("status", "")))
        elif rtype == "Procedure":
            reason = concept_text(r.get("statusReason"))
            events.append(Event(day, "procedures", concept_text(r.get("code")),
                                "; ".join(filter(None, [r.get("status", ""), reason])),
                                _ref(r), r.get("status", "")))
        elif rtype in ("MedicationStatement", "MedicationRequest"):
            med = concept_text(r.get("medicationCodeableConcept")) or \
                (r.get("medicationReference") or {}).get("display", "")
            dose = "; ".join(d.get("text", "") for d in r.get("dosage") or r.get(
                "dosageInstruction") or [] if isinstance(d, dict))
            events.append(Event(day, "medications", med, "; ".join(filter(None, [
                r.get("status", ""), dose])), _ref(r), r.get("status", "")))
        elif is_lab(r) and _ref(r) not in reported:
            labs_by_day.setdefault(day, []).append(r)
        elif is_neuro(r):
            neuro_by_day.setdefault(day, []).append(r)
    for day, obs in labs_by_day.items():
        items = tuple(f"{_short(concept_text(o.get('code')))}: {value_text(o)}" for o in obs)
        events.append(Event(day, "labs", f"{len(obs)} laboratory results", "; ".join(items),
                            " ".join(_ref(o) for o in obs), items=items))
    for day, obs in neuro_by_day.items():
        items = tuple(neuro_text(o) for o in obs)
        events.append(Event(day, "neuro", f"{len(obs)} findings", "; ".join(items),
                            " ".join(_ref(o) for o in obs), items=items))
    return sorted(events, key=lambda e: (e.date == "", e.date, list(CATEGORY_LABEL).index(
        e.category), e.title))


def _short(text: str) -> str:
    return text.split(" [")[0]


def _site_text(site: dict) -> str:
    text = concept_text(site)
    side = laterality(site)
    return f"{text} ({side})" if side else text


def laterality(site: dict | None) -> str:
    for ext in (site or {}).get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EXT_LATERALITY:
            for _, code, _ in codings(ext.get("valueCodeableConcept")):
                if code in LATERALITY_CODES:
                    return LATERALITY_CODES[code]
    return ""


def neuro_text(o: dict) -> str:
    site = o.get("bodySite") if isinstance(o.get("bodySite"), dict) else None
    where = _site_text(site) if site else ""
    what = concept_text(o.get("code"))
    if SD + "muscle-strength" in profiles(o):
        what = "MRC"
    return f"{' '.join(filter(None, [what, where]))}: {value_text(o)}"


# -- labs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabRow:
    date: str
    test: str
    value: str
    reference: str
    flag: str          # "high" | "low" | "normal" | "" (no numeric range to compare)
    interpretation: str
    source: str
    position: float | None = None   # the value within [low, high] mapped to 0..1, clamped


def labs(resources) -> list[LabRow]:
    rows = []
    for r in resources:
        if not is_lab(r):
            continue
        ranges = r.get("referenceRange") or []
        reference = "; ".join(filter(None, (rr.get("text") or _range_text(rr)
                                            for rr in ranges if isinstance(rr, dict))))
        flag, position = "", None
        value = (r.get("valueQuantity") or {}).get("value")
        if isinstance(value, (int, float)) and ranges and isinstance(ranges[0], dict):
            low = (ranges[0].get("low") or {}).get("value")
            high = (ranges[0].get("high") or {}).get("value")
            if isinstance(low, (int, float)) and value < low:
                flag = "low"
            elif isinstance(high, (int, float)) and value > high:
                flag = "high"
            elif low is not None or high is not None:
                flag = "normal"
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and high > low:
                # the range is the middle half of the gauge
                position = min(1.0, max(0.0, 0.25 + 0.5 * (value - low) / (high - low)))
        interp = ", ".join(concept_text(i) for i in r.get("interpretation") or [])
        rows.append(LabRow(when(r), concept_text(r.get("code")), value_text(r), reference, flag,
                           interp, _ref(r), position))
    return sorted(rows, key=lambda x: (x.date, x.test))


# -- MRC grades ----------------------------------------------------------------------------
MRC_CODED = {"mrc-0": 0, "mrc-1": 1, "mrc-2": 2, "mrc-3": 3, "mrc-4-minus": 3.67, "mrc-4": 4,
             "mrc-4-plus": 4.33, "mrc-5": 5}


@dataclass(frozen=True)
class Grade:
    muscle: str
    side: str
    date: str
    grade: float
    text: str          # as recorded ("2", "4-")
    source: str


def mrc_grades(resources) -> list[Grade]:
    out = []
    for r in resources:
        if SD + "muscle-strength" not in profiles(r) and not any(
                c == "mrc-muscle-strength" for _, c, _ in codings(r.get("code"))):
            continue
        if isinstance(r.get("valueInteger"), int):
            grade, text = float(r["valueInteger"]), str(r["valueInteger"])
        else:
            coded = [(c, d) for s, c, d in codings(r.get("valueCodeableConcept"))
                     if s == CIG and c in MRC_CODED]
            if not coded:
                continue
            grade, text = MRC_CODED[coded[0][0]], coded[0][1] or coded[0][0]
        site = r.get("bodySite") if isinstance(r.get("bodySite"), dict) else {}
        out.append(Grade(concept_text(site) or "muscle", laterality(site) or "unspecified",
                         when(r), grade, text, _ref(r)))
    return sorted(out, key=lambda g: (g.muscle, g.side, g.date))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    grade: Grade


@dataclass(frozen=True)
class Series:
    side: str
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}"
                        for i, p in enumerate(self.points))


@dataclass(frozen=True)
class Panel:
    muscle: str
    x: float
    series: tuple[Series, ...]


PANEL_W, PLOT_TOP, PLOT_H = 200, 34, 150
PLOT_X, PLOT_W, PAD = 8, 164, 22     # the plot inside a panel; points PAD inside the plot


@dataclass(frozen=True)
class MrcChart:
    width: int
    height: int
    panels: tuple[Panel, ...]
    dates: tuple[tuple[str, float], ...]     # x offset within a panel
    grades: tuple[tuple[int, float], ...]    # y of each grade 0..5
    panel_width: float
    plot_top: float
    plot_bottom: float
    plot_x: float = PLOT_X
    plot_w: float = PLOT_W


SIDE_OFFSET = {"right": -3.0, "left": 3.0}   # both sides stay visible when equal


def _day(text: str) -> int | None:
    try:
        return date.fromisoformat(text[:10]).toordinal()
    except ValueError:
        return None


def _short_date(text: str) -> str:
    try:
        return date.fromisoformat(text[:10]).strftime("%d %b %Y")
    except ValueError:
        return text


def mrc_chart(grades: list[Grade]) -> MrcChart | None:
    """Small multiples: one panel per muscle, grade (0-5) against time, a line per side;
    x is proportional to the days between examinations."""
    if not grades:
        return None
    dates = sorted({g.date for g in grades if _day(g.date) is not None})
    if not dates:
        return None
    d0, d1 = _day(dates[0]), _day(dates[-1])
    inner = PLOT_W - 2 * PAD

    def x_of(d: str) -> float:
        return PLOT_X + PAD + (inner / 2 if d1 == d0 else inner * (_day(d) - d0) / (d1 - d0))

    def y_of(grade: float) -> float:
        return PLOT_TOP + PLOT_H * (1 - grade / 5)

    muscles = list(dict.fromkeys(g.muscle for g in grades))
    panels = []
    for k, muscle in enumerate(muscles):
        x0 = 44 + k * PANEL_W
        series = []
        for side in ("right", "left", "bilateral", "unspecified"):
            pts = [g for g in grades if g.muscle == muscle and g.side == side
                   and _day(g.date) is not None]
            if pts:
                series.append(Series(side, tuple(
                    Point(x0 + x_of(g.date) + SIDE_OFFSET.get(side, 0), y_of(g.grade), g)
                    for g in sorted(pts, key=lambda g: g.date))))
        panels.append(Panel(muscle, x0, tuple(series)))
    return MrcChart(int(44 + len(muscles) * PANEL_W + 10), PLOT_TOP + PLOT_H + 48,
                    tuple(panels), tuple((_short_date(d), x_of(d)) for d in dates),
                    tuple((g, y_of(g)) for g in range(6)), PANEL_W, PLOT_TOP,
                    PLOT_TOP + PLOT_H)


# -- the patient banner --------------------------------------------------------------------
def patient_summary(patient: dict) -> dict:
    names = patient.get("name") or []
    name = ""
    if names and isinstance(names[0], dict):
        n = names[0]
        name = n.get("text") or " ".join(filter(None, [" ".join(n.get("given") or []),
                                                       n.get("family", "")]))
    ident = next((f"{i.get('value')}" for i in patient.get("identifier") or []
                  if isinstance(i, dict) and i.get("value")), "")
    tags = {t.get("code") for t in (patient.get("meta") or {}).get("tag") or []
            if isinstance(t, dict) and t.get("system") == CIG}
    return {"id": patient.get("id"), "name": name or f"Patient {patient.get('id')}",
            "gender": patient.get("gender", ""), "birthDate": patient.get("birthDate", ""),
            "identifier": ident,
            # the guide's tags: a wholly synthetic record (the cohort) or a real case with
            # synthetic detail
            "synthetic": "synthetic" in tags, "synthetic_detail": "synthetic-detail" in tags}
