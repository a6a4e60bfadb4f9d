"""The spine map: every calcinosis lesion of a patient at its vertebral level range, in its
compartment and on its side, as geometry for a server-rendered SVG (templates/ui/_spine.html).

Lesions come from the guide's resources (profiles/input/fsh/profiles.fsh):
- CalcinosisLesion (BodyStructure): the tracked lesions, with spinal-level / spinal-level-range
  and compartment extensions on the resource, side in locationQualifier;
- CalcinosisCondition bodySites and ImagingFinding bodySites (code a calcinosis kind, value
  present) that record levels but point to no tracked lesion (the core bodySite extension):
  deposits nobody tracked separately. One that points to a lesion lends the lesion its side
  when the lesion has none.

The drawing is a coronal schematic, viewed from the front (the patient's right on the viewer's
left, as radiology displays it): vertebral bodies down the middle with the discs between
them, the canal (intraspinal) as a band over the bodies, facet joints beside them and the
paraspinal soft tissue outermost.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SCT = "http://snomed.info/sct"
CIG = "http://fhirsvc.org/fhir/calcinosis/CodeSystem/calcinosis-ig"
SD = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/"
EXT_LEVEL = SD + "spinal-level"
EXT_RANGE = SD + "spinal-level-range"
EXT_COMPARTMENT = SD + "compartment"
EXT_LATERALITY = SD + "laterality"
EXT_LESION = "http://hl7.org/fhir/StructureDefinition/bodySite"
LESION_PROFILE = SD + "calcinosis-lesion"
FINDING_PROFILE = SD + "imaging-finding"

# SpinalLevelVS in cranio-caudal order: SNOMED CT vertebra codes C1-L5, guide codes S1-S5.
# tests/ui/test_spine.py checks this table against the guide's generated ValueSet.
LEVELS: tuple[tuple[str, str, str], ...] = (
    (SCT, "14806007", "C1"), (SCT, "39976000", "C2"), (SCT, "113205007", "C3"),
    (SCT, "5329002", "C4"), (SCT, "36978003", "C5"), (SCT, "36054005", "C6"),
    (SCT, "87391001", "C7"), (SCT, "64864005", "T1"), (SCT, "53733008", "T2"),
    (SCT, "1626008", "T3"), (SCT, "73071006", "T4"), (SCT, "56401006", "T5"),
    (SCT, "45296009", "T6"), (SCT, "62487009", "T7"), (SCT, "11068009", "T8"),
    (SCT, "82687006", "T9"), (SCT, "7610001", "T10"), (SCT, "12989004", "T11"),
    (SCT, "23215003", "T12"), (SCT, "66794005", "L1"), (SCT, "14293000", "L2"),
    (SCT, "36470004", "L3"), (SCT, "11994002", "L4"), (SCT, "49668003", "L5"),
    (CIG, "S1", "S1"), (CIG, "S2", "S2"), (CIG, "S3", "S3"), (CIG, "S4", "S4"),
    (CIG, "S5", "S5"))
LEVEL_NAMES = tuple(name for _, _, name in LEVELS)
LEVEL_INDEX = {(s, c): i for i, (s, c, _) in enumerate(LEVELS)}
REGIONS = (("Cervical", "C1", "C7"), ("Thoracic", "T1", "T12"), ("Lumbar", "L1", "L5"),
           ("Sacral", "S1", "S5"))

# The map's compartments (data-compartment values) from CompartmentVS codes.
COMPARTMENT_CODES = {(SCT, "61853006"): "intraspinal",          # vertebral canal
                     (CIG, "paraspinal-soft-tissue"): "paraspinal",
                     (CIG, "facet-joint"): "facet-joint",
                     (CIG, "intervertebral-space"): "intervertebral-space"}
VERTEBRAL_BODY = (SCT, "3572006")
# Without a compartment extension: the kind or the site says where the deposit is.
COMPARTMENT_BY_KIND = {"intraspinal-calcinosis": "intraspinal",
                       "paraspinal-calcinosis": "paraspinal"}
COMPARTMENTS = ("intraspinal", "paraspinal", "facet-joint", "intervertebral-space",
                "vertebral-body")
COMPARTMENT_LABEL = {"intraspinal": "Intraspinal (canal)", "paraspinal": "Paraspinal",
                     "facet-joint": "Facet joint", "intervertebral-space": "Intervertebral space",
                     "vertebral-body": "Vertebral body"}
# Calcinosis kinds (CalcinosisKindVS) and the imaging-finding codes that name a deposit.
CALCINOSIS_CODES = {"calcinosis-cutis", "paraspinal-calcinosis", "intraspinal-calcinosis",
                    "tumoral-calcinosis", "intracranial-calcification", "calcified-mass",
                    "soft-tissue-calcinosis"}
# Side: BodyStructure.locationQualifier (bodystructure-relative-location) and the guide's
# laterality extension (structure-laterality-vs).
LATERALITY_CODES = {"419161000": "left", "7771000": "left", "419465000": "right",
                    "24028007": "right", "51440002": "bilateral", "399488007": "midline"}
SIDED = ("paraspinal", "facet-joint")  # drawn on one side, or on both when not said


def codings(cc) -> list[tuple[str | None, str | None, str | None]]:
    if not isinstance(cc, dict):
        return []
    return [(c.get("system"), c.get("code"), c.get("display")) for c in cc.get("coding") or []
            if isinstance(c, dict)]


def concept_text(cc) -> str:
    if not isinstance(cc, dict):
        return ""
    if cc.get("text"):
        return cc["text"]
    for _, code, display in codings(cc):
        if display or code:
            return display or code
    return ""


def _level(cc) -> int | None:
    for system, code, _ in codings(cc):
        if (system, code) in LEVEL_INDEX:
            return LEVEL_INDEX[(system, code)]
    return None


def level_ranges(extensions) -> list[tuple[int, int]]:
    """Level ranges (start, end indexes, cranial first) from spinal-level(-range) extensions;
    single levels that touch are merged into one range."""
    ranges, singles = [], []
    for ext in extensions or []:
        if not isinstance(ext, dict):
            continue
        if ext.get("url") == EXT_RANGE:
            parts = {e.get("url"): _level(e.get("valueCodeableConcept"))
                     for e in ext.get("extension") or [] if isinstance(e, dict)}
            start, end = parts.get("start"), parts.get("end")
            if start is not None and end is not None:
                ranges.append((min(start, end), max(start, end)))
        elif ext.get("url") == EXT_LEVEL:
            level = _level(ext.get("valueCodeableConcept"))
            if level is not None:
                singles.append(level)
    runs: list[list[int]] = []
    for level in sorted(set(singles)):
        if runs and runs[-1][1] + 1 == level:
            runs[-1][1] = level
        else:
            runs.append([level, level])
    return ranges + [(a, b) for a, b in runs]


def _ext_code(extensions, url):
    for ext in extensions or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return codings(ext.get("valueCodeableConcept"))
    return []


def _compartment(extensions, kind_code: str | None, sites) -> str | None:
    for system, code, _ in _ext_code(extensions, EXT_COMPARTMENT):
        if (system, code) in COMPARTMENT_CODES:
            return COMPARTMENT_CODES[(system, code)]
        return None  # a compartment off the spine (skin, subcutaneous tissue, brain)
    for site in sites:
        if VERTEBRAL_BODY in {(s, c) for s, c, _ in codings(site)}:
            return "vertebral-body"
    return COMPARTMENT_BY_KIND.get(kind_code or "")


def _laterality(concepts) -> str | None:
    for cc in concepts:
        for _, code, _ in codings(cc):
            if code in LATERALITY_CODES:
                return LATERALITY_CODES[code]
    return None


def _kind(cc) -> tuple[str | None, str]:
    for system, code, display in codings(cc):
        if system == CIG and code in CALCINOSIS_CODES:
            return code, display or code
    return None, concept_text(cc)


@dataclass(frozen=True)
class Lesion:
    key: str                 # the BodyStructure reference, or the site's resource + path
    label: str               # the lesion identifier, or the kind
    kind: str                # e.g. "Paraspinal calcinosis"
    kind_code: str | None
    compartment: str | None  # one of COMPARTMENTS; None off the spine
    laterality: str          # left | right | bilateral | midline | unspecified
    start: int | None        # LEVELS index, cranial
    end: int | None
    description: str = ""
    source: str = ""         # the resource it comes from (Type/id)
    tracked: bool = True     # a CalcinosisLesion BodyStructure

    @property
    def level_start(self) -> str:
        return LEVEL_NAMES[self.start] if self.start is not None else ""

    @property
    def level_end(self) -> str:
        return LEVEL_NAMES[self.end] if self.end is not None else ""

    @property
    def levels(self) -> str:
        if self.start is None:
            return ""
        return self.level_start if self.start == self.end else f"{self.level_start}-{self.level_end}"

    @property
    def on_spine(self) -> bool:
        return self.start is not None and self.compartment in COMPARTMENTS


def _ref(resource: dict) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _points_to(site: dict) -> str | None:
    for ext in site.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EXT_LESION:
            return (ext.get("valueReference") or {}).get("reference")
    return None


def _present(obs: dict) -> bool:
    value = obs.get("valueCodeableConcept")
    return value is None or any(c == "present" for _, c, _ in codings(value))


def lesions(resources) -> list[Lesion]:
    """Every calcinosis lesion in the resources: tracked lesions first, then untracked
    deposits recorded on condition or finding body sites (duplicates removed)."""
    resources = list(resources)
    lesions_by_ref = {_ref(r): r for r in resources
                      if r.get("resourceType") == "BodyStructure"}
    sites: list[tuple[dict, dict, str]] = []  # (resource, site, path)
    for r in resources:
        if r.get("resourceType") == "Condition":
            kind, _ = _kind(r.get("code"))
            if kind and not _refuted(r):
                sites += [(r, s, f"bodySite[{i}]") for i, s in enumerate(r.get("bodySite") or [])
                          if isinstance(s, dict)]
        elif r.get("resourceType") == "Observation" and isinstance(r.get("bodySite"), dict):
            kind, _ = _kind(r.get("code"))
            if kind and _present(r):
                sites.append((r, r["bodySite"], "bodySite"))
    side_of: dict[str, str] = {}
    for _, site, _ in sites:
        target = _points_to(site)
        side = _laterality(c for _, c in _lat_concepts(site))
        if target and side and target not in side_of:
            side_of[target] = side

    out: list[Lesion] = []
    for ref, body in lesions_by_ref.items():
        kind_code, kind = _kind(body.get("morphology"))
        if kind_code is None and LESION_PROFILE not in (body.get("meta") or {}).get("profile", []):
            continue
        exts = body.get("extension")
        side = (_laterality(body.get("locationQualifier") or []) or side_of.get(ref)
                or "unspecified")
        label = next((i.get("value") for i in body.get("identifier") or []
                      if isinstance(i, dict) and i.get("value")), None) or kind
        compartment = _compartment(exts, kind_code, [body.get("location")])
        ranges = level_ranges(exts) or [(None, None)]
        for n, (start, end) in enumerate(ranges):
            out.append(Lesion(ref if n == 0 else f"{ref}#{n}", label, kind, kind_code,
                              compartment, side, start, end, body.get("description") or "",
                              ref, True))
    seen = {(l.kind_code, l.compartment, l.laterality, l.start, l.end) for l in out}
    for r, site, path in sites:
        if _points_to(site):
            continue  # that deposit is a tracked lesion, drawn above
        kind_code, kind = _kind(r.get("code"))
        exts = site.get("extension")
        side = _laterality(c for _, c in _lat_concepts(site)) or "unspecified"
        compartment = _compartment(exts, kind_code, [site])
        for start, end in level_ranges(exts) or [(None, None)]:
            key = (kind_code, compartment, side, start, end)
            if key in seen:
                continue
            seen.add(key)
            out.append(Lesion(f"{_ref(r)}.{path}", kind, kind, kind_code, compartment, side,
                              start, end, concept_text(site), _ref(r), False))
    return out


def _lat_concepts(site: dict):
    for ext in site.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == EXT_LATERALITY:
            yield ext, ext.get("valueCodeableConcept")


def _refuted(cond: dict) -> bool:
    return any(c in ("refuted", "entered-in-error")
               for _, c, _ in codings(cond.get("verificationStatus")))


@dataclass(frozen=True)
class AbsentFinding:
    """A region examined and found free of a kind of calcinosis (e.g. no intraspinal
    calcinosis at cervical levels): drawn as a dashed outline, not as a lesion."""
    kind: str
    compartment: str
    start: int
    end: int
    source: str


def absent_findings(resources) -> list[AbsentFinding]:
    out = []
    for r in resources:
        if r.get("resourceType") != "Observation" or not isinstance(r.get("bodySite"), dict):
            continue
        kind_code, kind = _kind(r.get("code"))
        value = r.get("valueCodeableConcept")
        if not kind_code or not any(c == "absent" for _, c, _ in codings(value)):
            continue
        compartment = _compartment(r["bodySite"].get("extension"), kind_code, [r["bodySite"]])
        if compartment not in COMPARTMENTS:
            continue
        for start, end in level_ranges(r["bodySite"].get("extension")):
            out.append(AbsentFinding(kind, compartment, start, end, _ref(r)))
    return out


# -- geometry ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Vertebra:
    name: str
    box: Box
    region: str


@dataclass(frozen=True)
class DrawnLesion:
    lesion: Lesion
    boxes: tuple[Box, ...]
    color: str
    # its label right of the column, and the leader line from the lesion to it
    label_x: float = 0.0
    label_y: float = 0.0
    anchor_x: float = 0.0
    anchor_y: float = 0.0

    @property
    def title(self) -> str:
        side = "" if self.lesion.laterality == "unspecified" else f", {self.lesion.laterality}"
        return (f"{self.lesion.label}: {self.lesion.kind}, {self.lesion.levels}, "
                f"{COMPARTMENT_LABEL.get(self.lesion.compartment, '')}{side}")


@dataclass(frozen=True)
class SpineMap:
    width: int
    height: int
    vertebrae: tuple[Vertebra, ...]
    discs: tuple[Box, ...]
    canal: Box
    lanes: dict
    regions: tuple[tuple[str, float, float], ...]
    lesions: tuple[DrawnLesion, ...]
    absent: tuple[tuple[AbsentFinding, Box], ...]
    off_spine: tuple[Lesion, ...] = field(default=())
    colors: dict = field(default_factory=dict)


# One pitch per level: the body, then its disc below.
TOP, PITCH, BODY_H = 36, 22, 15
CENTER = 250
BODY_HALF, CANAL_HALF = 34, 15
# (x from, x to) of each lane on the viewer's left (patient's right); mirrored for the left
FACET_LANE = (CENTER - BODY_HALF - 36, CENTER - BODY_HALF - 6)
PARA_LANE = (CENTER - BODY_HALF - 96, CENTER - BODY_HALF - 44)
COLORS = {"intraspinal": "#b91c1c", "paraspinal": "#b45309", "facet-joint": "#6d28d9",
          "intervertebral-space": "#0369a1", "vertebral-body": "#047857"}


def _y_top(i: int) -> float:
    return TOP + i * PITCH


def _mirror(lane: tuple[float, float]) -> tuple[float, float]:
    return (2 * CENTER - lane[1], 2 * CENTER - lane[0])


def _span(lesion_compartment: str, start: int, end: int) -> tuple[float, float]:
    """Vertical extent of a range in a compartment. Discs and facet joints sit between two
    levels: T4-T5 there is the joint or disc between T4 and T5, not both vertebrae."""
    if lesion_compartment == "intervertebral-space":
        if start == end:  # the disc below the level
            return _y_top(start) + BODY_H - 2, _y_top(start) + PITCH + 2
        return _y_top(start) + BODY_H - 2, _y_top(end) + 2
    if lesion_compartment == "facet-joint" and start != end:
        return _y_top(start) + BODY_H / 2, _y_top(end) + BODY_H / 2
    return _y_top(start), _y_top(end) + BODY_H


def _xs(compartment: str, side: str) -> list[tuple[float, float]]:
    if compartment == "vertebral-body":
        return [(CENTER - BODY_HALF, CENTER + BODY_HALF)]
    if compartment == "intervertebral-space":
        return [(CENTER - BODY_HALF - 3, CENTER + BODY_HALF + 3)]
    if compartment == "intraspinal":
        # the canal band; a sided lesion fills its half (patient's right = viewer's left)
        if side == "right":
            return [(CENTER - CANAL_HALF, CENTER)]
        if side == "left":
            return [(CENTER, CENTER + CANAL_HALF)]
        return [(CENTER - CANAL_HALF, CENTER + CANAL_HALF)]
    lane = FACET_LANE if compartment == "facet-joint" else PARA_LANE
    if side == "right":
        return [lane]
    if side == "left":
        return [_mirror(lane)]
    return [lane, _mirror(lane)]  # bilateral, midline or not said: both sides


LABEL_X, LABEL_GAP = CENTER + BODY_HALF + 112, 12


def _labelled(drawn: list[DrawnLesion]) -> list[DrawnLesion]:
    """Labels right of the column, top to bottom in the order of their lesions, each at
    least LABEL_GAP below the previous one so labels of lesions at one level never overlap."""
    out, last = [], None
    for d in sorted(drawn, key=lambda d: (d.boxes[0].y + d.boxes[0].height / 2, d.lesion.label)):
        box = max(d.boxes, key=lambda b: b.x + b.width)
        anchor_y = box.y + box.height / 2
        label_y = anchor_y if last is None else max(anchor_y, last + LABEL_GAP)
        last = label_y
        out.append(DrawnLesion(d.lesion, d.boxes, d.color, LABEL_X, label_y, box.x + box.width,
                               anchor_y))
    order = {id(d.lesion): k for k, d in enumerate(drawn)}  # keep the drawing order
    return sorted(out, key=lambda d: order[id(d.lesion)])


def spine_map(resources) -> SpineMap:
    resources = list(resources)
    all_lesions = lesions(resources)
    n = len(LEVELS)
    vertebrae = []
    for i, name in enumerate(LEVEL_NAMES):
        region = next(r for r, a, b in REGIONS
                      if LEVEL_NAMES.index(a) <= i <= LEVEL_NAMES.index(b))
        # the sacrum narrows caudally
        half = BODY_HALF - (max(0, i - LEVEL_NAMES.index("S1")) * 5)
        vertebrae.append(Vertebra(name, Box(CENTER - half, _y_top(i), 2 * half, BODY_H), region))
    discs = tuple(Box(CENTER - BODY_HALF + 4, _y_top(i) + BODY_H, 2 * BODY_HALF - 8,
                      PITCH - BODY_H) for i in range(LEVEL_NAMES.index("S1")))
    canal = Box(CENTER - CANAL_HALF, TOP - 6, 2 * CANAL_HALF,
                _y_top(LEVEL_NAMES.index("S2")) - TOP + 6)
    drawn: list[DrawnLesion] = []
    order = {c: k for k, c in enumerate(("vertebral-body", "intervertebral-space", "paraspinal",
                                         "facet-joint", "intraspinal"))}
    for lesion in sorted((l for l in all_lesions if l.on_spine),
                         key=lambda l: (order[l.compartment], l.start)):
        y1, y2 = _span(lesion.compartment, lesion.start, lesion.end)
        boxes = tuple(Box(x1, y1, x2 - x1, y2 - y1)
                      for x1, x2 in _xs(lesion.compartment, lesion.laterality))
        drawn.append(DrawnLesion(lesion, boxes, COLORS[lesion.compartment]))
    drawn = _labelled(drawn)
    absent = []
    for finding in absent_findings(resources):
        y1, y2 = _span(finding.compartment, finding.start, finding.end)
        (x1, x2), *_ = _xs(finding.compartment, "unspecified")
        absent.append((finding, Box(x1, y1, x2 - x1, y2 - y1)))
    regions = tuple((name, _y_top(LEVEL_NAMES.index(a)), _y_top(LEVEL_NAMES.index(b)) + BODY_H)
                    for name, a, b in REGIONS)
    lanes = {"right-paraspinal": PARA_LANE, "right-facet": FACET_LANE,
             "left-facet": _mirror(FACET_LANE), "left-paraspinal": _mirror(PARA_LANE)}
    return SpineMap(2 * CENTER + 40, int(_y_top(n) + 24), tuple(vertebrae), discs, canal, lanes,
                    regions, tuple(drawn), tuple(absent),
                    tuple(l for l in all_lesions if not l.on_spine), COLORS)
