"""Helpers shared by the example generators (gen_cases.py, gen_cohort.py, gen_invalid.py).

Builds transaction Bundles whose resources claim the calcinosis guide's profiles. Codes of the
guide's own CodeSystem take their displays from the compiled CodeSystem, so examples and guide
cannot drift apart. Everything is deterministic (uuid5 ids, no clock, no randomness here).
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RES = ROOT / "profiles" / "fsh-generated" / "resources"
GUIDE = json.loads((ROOT / "profiles" / "guide.json").read_text())
CANON = GUIDE["canonical"]
CIG = CANON + "/CodeSystem/calcinosis-ig"
EXT = CANON + "/StructureDefinition/"
SCT = "http://snomed.info/sct"
LNC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
BODY_SITE = "http://hl7.org/fhir/StructureDefinition/bodySite"
NS = uuid.UUID("6f1c2a52-6d0e-4f7e-9a43-2f4f3c9b7e11")

_CS = json.loads((RES / "CodeSystem-calcinosis-ig.json").read_text())
CIG_DISPLAY = {c["code"]: c["display"] for c in _CS["concept"]}
LEVELS = {c["display"]: {"system": c["system"], "code": c["code"], "display": c["display"]}
          for c in GUIDE["spinalLevelOrder"]}


def profile(name: str) -> str:
    return f"{CANON}/StructureDefinition/{name}"


def cc(*codings: dict, text: str | None = None) -> dict:
    out: dict = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out


def coding(system: str, code: str, display: str | None = None) -> dict:
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def cig(code: str) -> dict:
    return coding(CIG, code, CIG_DISPLAY[code])


def sct(code: str, display: str) -> dict:
    return coding(SCT, code, display)


def lnc(code: str, display: str) -> dict:
    return coding(LNC, code, display)


def level(name: str) -> dict:
    return dict(LEVELS[name])


def dcm(code: str) -> dict:
    return coding(DCM, code, {"CT": "Computed Tomography", "MR": "Magnetic Resonance",
                              "DX": "Digital Radiography"}[code])


def dermatome(name: str) -> dict:
    return cig(f"dermatome-{name}")


LATERALITY = {"left": sct("7771000", "Left"), "right": sct("24028007", "Right"),
              "bilateral": sct("51440002", "Right and left"), "midline": sct("399488007", "Midline")}
# BodyStructure.locationQualifier (core binding bodystructure-relative-location)
LOCATION_SIDE = {"left": sct("419161000", "Unilateral left"), "right": sct("419465000", "Unilateral right"),
                 "bilateral": sct("51440002", "Bilateral")}
COMPARTMENT = {"vertebral-canal": sct("61853006", "Vertebral canal"),
               "subcutaneous": sct("71966008", "Subcutaneous tissue"),
               "skin": sct("39937001", "Skin"), "brain": sct("12738006", "Brain"),
               "intervertebral-space": None, "facet-joint": None, "paraspinal-soft-tissue": None}


def compartment(name: str) -> dict:
    return COMPARTMENT.get(name) or cig(name)


def site_extensions(laterality: str | None = None, levels: tuple = (), ranges: tuple = (),
                    comp: str | None = None, lesions: tuple = ()) -> list[dict]:
    ext = []
    if laterality:
        ext.append({"url": EXT + "laterality", "valueCodeableConcept": cc(LATERALITY[laterality])})
    for lv in levels:
        ext.append({"url": EXT + "spinal-level", "valueCodeableConcept": cc(level(lv))})
    for start, end in ranges:
        ext.append({"url": EXT + "spinal-level-range", "extension": [
            {"url": "start", "valueCodeableConcept": cc(level(start))},
            {"url": "end", "valueCodeableConcept": cc(level(end))}]})
    if comp:
        ext.append({"url": EXT + "compartment", "valueCodeableConcept": cc(compartment(comp))})
    for ref in lesions:
        ext.append({"url": BODY_SITE, "valueReference": {"reference": ref}})
    return ext


def site(*codings: dict, text: str | None = None, **kw) -> dict:
    """A coded body site: one concept (the region); levels, side, compartment and lesion go in
    extensions, never as further codings of the same CodeableConcept."""
    if len(codings) > 1:
        raise ValueError("one concept per CodeableConcept: a body site has one coding")
    out = {}
    ext = site_extensions(**kw)
    if ext:
        out["extension"] = ext
    out.update(cc(*codings, text=text))
    return out


def qty(value, unit: str, code: str | None = None) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def ref(full_url: str, display: str | None = None) -> dict:
    r = {"reference": full_url}
    if display:
        r["display"] = display
    return r


CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERSTATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDCAT = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSCAT = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def clinical(code: str) -> dict:
    return cc(coding(CLINICAL, code))


def verified(code: str = "confirmed") -> dict:
    return cc(coding(VERSTATUS, code))


def condcat(code: str = "problem-list-item") -> list[dict]:
    return [cc(coding(CONDCAT, code))]


def obscat(code: str) -> list[dict]:
    return [cc(coding(OBSCAT, code))]


SYNTHETIC = {"system": CIG, "code": "synthetic", "display": "Synthetic record"}
SYNTHETIC_DETAIL = {"system": CIG, "code": "synthetic-detail", "display": "Contains synthetic detail"}


def dar(code: str = "unknown") -> dict:
    return cc(coding(DAR, code, {"unknown": "Unknown", "not-performed": "Not Performed"}.get(code)))


URI_SYSTEM = "urn:ietf:rfc:3986"


class BundleBuilder:
    """A transaction Bundle; `add` returns the entry's urn:uuid full URL. `tag` goes on every
    resource and on the Bundle (synthetic for the cohort, synthetic-detail for the cases)."""

    def __init__(self, name: str, tag: dict | None = None):
        self.name = name
        self.entries: list[dict] = []
        self.tag = tag
        self.keys: dict[str, str] = {}

    def urn(self, key: str) -> str:
        return "urn:uuid:" + str(uuid.uuid5(NS, f"{self.name}/{key}"))

    def add(self, key: str, resource: dict, prof: str, if_none_exist: str | None = None) -> str:
        if key in self.keys:
            raise ValueError(f"duplicate key {key}")
        full = self.urn(key)
        meta = {"profile": [profile(prof)]}
        if self.tag:
            meta["tag"] = [self.tag]
        rtype = resource.pop("resourceType")
        if not if_none_exist:
            # The entry's own URN doubles as a business identifier, so posting the Bundle again
            # matches what the first post created instead of making duplicates.
            ident = {"system": URI_SYSTEM, "value": full}
            resource["identifier"] = [*resource.get("identifier", []), ident]
            if_none_exist = f"identifier={URI_SYSTEM}|{full}"
        res = {"resourceType": rtype, "meta": meta, **resource}
        req = {"method": "POST", "url": res["resourceType"], "ifNoneExist": if_none_exist}
        self.entries.append({"fullUrl": full, "resource": res, "request": req})
        self.keys[key] = full
        return full

    def bundle(self, bundle_id: str) -> dict:
        meta = {"profile": [profile("calcinosis-case-bundle")]}
        if self.tag:
            meta["tag"] = [self.tag]
        return {"resourceType": "Bundle", "id": bundle_id, "meta": meta, "type": "transaction",
                "entry": self.entries}


def write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
