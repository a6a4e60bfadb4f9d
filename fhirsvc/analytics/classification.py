"""2013 ACR/EULAR classification criteria for systemic sclerosis, computed from recorded data.

van den Hoogen et al., Ann Rheum Dis 2013;72:1747 (Table 1): 8 items, each scoring the highest
weight among its sub-items; a total of 9 or more classifies as SSc. The evidence is what the
guide records: SSc manifestation Conditions (Raynaud's, digital ulcers, telangiectasia, ILD,
PAH, skin and nailfold items), laboratory Observations (anti-Scl-70, anti-centromere,
anti-RNA polymerase III), digital-ulcer status and ILD-extent Observations. A sub-item is
present, explicitly absent (a refuted Condition, a negative or 'absent' result) or unknown
(nothing recorded); an item with nothing present and something unknown has no score
(data-absent-reason), and the verdict says whether the unknown items could still reach 9.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from .codes import (ABSENT_VERIFICATION, CANON, CIG, DAR, ILD, INTERP, OBSCAT, RAYNAUD, SUPPORTING_INFO,
                    TELANGIECTASIA, cig, codings)

PROFILE = CANON + "/StructureDefinition/ssc-classification"
THRESHOLD = 9

# item code -> [(sub-item evidence codes, weight)]; the item scores its highest present weight.
ITEMS: list[tuple[str, str, list[tuple[frozenset, int]]]] = [
    ("acr-skin-proximal", "Skin thickening of the fingers of both hands extending proximal to the MCP joints",
     [(frozenset({cig("skin-thickening-proximal-to-mcp")}), 9)]),
    ("acr-finger-skin", "Skin thickening of the fingers",
     [(frozenset({cig("puffy-fingers")}), 2), (frozenset({cig("sclerodactyly")}), 4)]),
    ("acr-fingertip-lesions", "Fingertip lesions",
     [(frozenset({cig("digital-ulcer"), cig("digital-ulcers-ever"), cig("digital-ulcers-active")}), 2),
      (frozenset({cig("fingertip-pitting-scars")}), 3)]),
    ("acr-telangiectasia", "Telangiectasia", [(frozenset({TELANGIECTASIA}), 2)]),
    ("acr-nailfold-capillaries", "Abnormal nailfold capillaries",
     [(frozenset({cig("abnormal-nailfold-capillaries")}), 2)]),
    ("acr-pah-ild", "PAH and/or ILD",
     [(frozenset({cig("pulmonary-arterial-hypertension")}), 2), (frozenset(ILD | {cig("ild-extent")}), 2)]),
    ("acr-raynaud", "Raynaud's phenomenon", [(frozenset({RAYNAUD}), 3)]),
    ("acr-autoantibodies", "SSc-related autoantibodies",
     [(frozenset({cig("anti-scl-70")}), 3), (frozenset({cig("anti-centromere")}), 3),
      (frozenset({cig("anti-rna-polymerase-iii")}), 3)]),
]
POSITIVE = {(INTERP, "POS"), cig("present"), cig("positive")}
NEGATIVE = {(INTERP, "NEG"), cig("absent"), cig("negative")}


@dataclass
class Evidence:
    present: list[dict] = field(default_factory=list)
    absent: list[dict] = field(default_factory=list)


def default_reference(resource: dict) -> str:
    if not resource.get("id"):
        raise ValueError(f"{resource.get('resourceType')} without an id: pass reference_of")
    return f"{resource['resourceType']}/{resource['id']}"


def _state(resource: dict) -> bool | None:
    """True present, False explicitly absent, None not usable."""
    rt = resource.get("resourceType")
    if rt == "Condition":
        ver = {c for _, c in codings(resource.get("verificationStatus"))}
        return not (ver & ABSENT_VERIFICATION)
    if rt == "Observation":
        if resource.get("status") in ("entered-in-error", "cancelled"):
            return None
        if codings(resource.get("code")) == {cig("ild-extent")}:
            # an extent is ILD evidence unless it is 0% (looked for, none)
            q = resource.get("valueQuantity") or {}
            return not (isinstance(q.get("value"), (int, float)) and q["value"] == 0)
        values = codings(resource.get("valueCodeableConcept")) | codings(resource.get("interpretation"))
        if values & POSITIVE:
            return True
        if values & NEGATIVE:
            return False
    return None


def _dates(resource: dict) -> list[str]:
    return [resource[k] for k in ("effectiveDateTime", "recordedDate", "onsetDateTime", "issued")
            if isinstance(resource.get(k), str)]


def _subject(resource: dict) -> str | None:
    ref = (resource.get("subject") or resource.get("patient") or {}).get("reference")
    return ref if isinstance(ref, str) else None


def ssc_classification(resources: Iterable[dict], *, effective: str | None = None,
                       reference_of: Callable[[dict], str] = default_reference) -> dict:
    """The derived ACR/EULAR 2013 Observation (profile ssc-classification) for one patient.

    `resources`: that patient's resources (a Patient resource among them, or at least a
    subject on each). `effective`: the Observation's effectiveDateTime; defaults to the latest
    date among the patient's resources. `reference_of(resource)` gives the reference text of a
    resource (default Type/id). Raises ValueError for resources of more than one patient, or
    when there is no patient or no date to go on.
    """
    res = [r for r in resources if isinstance(r, dict)]
    patients = [r for r in res if r.get("resourceType") == "Patient"]
    subjects = {s for s in (_subject(r) for r in res if r.get("resourceType") != "Patient") if s}
    if patients:
        if len(patients) > 1:
            raise ValueError("resources of more than one patient")
        patient_ref = reference_of(patients[0])
        if subjects - {patient_ref}:
            raise ValueError(f"resources of more than one patient: {sorted(subjects - {patient_ref})}")
    elif len(subjects) == 1:
        (patient_ref,) = subjects
    else:
        raise ValueError("no patient: give the Patient resource or resources with one subject")

    evidence: dict[tuple[str, str], Evidence] = {}
    for r in res:
        if r.get("resourceType") not in ("Condition", "Observation"):
            continue
        state = _state(r)
        if state is None:
            continue
        for code in codings(r.get("code")):
            ev = evidence.setdefault(code, Evidence())
            (ev.present if state else ev.absent).append(r)

    components, used, total, potential = [], [], 0, 0
    for item, display, subitems in ITEMS:
        present_w = [w for codes, w in subitems if any(evidence.get(c) and evidence[c].present for c in codes)]
        unknown_w = [w for codes, w in subitems
                     if not any(evidence.get(c) and (evidence[c].present or evidence[c].absent) for c in codes)]
        for codes, _ in subitems:
            for c in codes:
                if c in evidence:
                    used += evidence[c].present + evidence[c].absent
        comp = {"code": {"coding": [{"system": CIG, "code": item, "display": display}]}}
        if present_w:
            comp["valueInteger"] = max(present_w)
            total += max(present_w)
            potential += max(present_w + unknown_w)
        elif unknown_w:
            comp["dataAbsentReason"] = {"coding": [{"system": DAR, "code": "unknown", "display": "Unknown"}],
                                        "text": "nothing recorded for this item"}
            potential += max(unknown_w)
        else:
            comp["valueInteger"] = 0
        components.append(comp)

    if total >= THRESHOLD:
        verdict = ("ssc-classified", "Classified as SSc")
    elif potential < THRESHOLD:
        verdict = ("ssc-not-classified", "Not classified as SSc")
    else:
        verdict = ("ssc-insufficient-data", "Insufficient data")
    if effective is None:
        dates = sorted(d for r in res for d in _dates(r))
        if not dates:
            raise ValueError("no date in the patient's resources: pass effective")
        effective = dates[-1]

    seen: set[str] = set()
    observations, conditions = [], []
    position = {id(r): i for i, r in enumerate(res)}
    for r in sorted(used, key=lambda x: position[id(x)]):        # input order: deterministic
        ref = reference_of(r)
        if ref in seen:
            continue
        seen.add(ref)
        (conditions if r["resourceType"] == "Condition" else observations).append({"reference": ref})
    out = {"resourceType": "Observation", "meta": {"profile": [PROFILE]}}
    if conditions:
        out["extension"] = [{"url": SUPPORTING_INFO, "valueReference": c} for c in conditions]
    out.update({
        "status": "final",
        "category": [{"coding": [{"system": OBSCAT, "code": "survey", "display": "Survey"}]}],
        "code": {"coding": [{"system": CIG, "code": "acr-eular-2013-ssc",
                             "display": "ACR/EULAR 2013 SSc classification score"}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": effective,
        "valueInteger": total,
        "interpretation": [{"coding": [{"system": CIG, "code": verdict[0], "display": verdict[1]}]}],
        "note": [{"text": f"ACR/EULAR 2013 criteria computed from recorded data: {total} points "
                          f"(at most {potential} if every unrecorded item scored); 9 or more classifies as SSc. "
                          "The criteria do not apply to skin thickening sparing the fingers or to a "
                          "scleroderma-like disorder that better explains the findings."}],
    })
    if observations:
        out["derivedFrom"] = observations
    out["component"] = components
    return out
