"""Codes of the calcinosis guide that the analytics read (canonical URLs as in profiles/)."""
from __future__ import annotations

CANON = "http://fhirsvc.org/fhir/calcinosis"
CIG = CANON + "/CodeSystem/calcinosis-ig"
EXT = CANON + "/StructureDefinition/"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
VERSTATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
OBSCAT = "http://terminology.hl7.org/CodeSystem/observation-category"
SUPPORTING_INFO = "http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo"
RAYNAUD_FREQUENCY = EXT + "raynaud-frequency"

SSC_CODES = {(SCT, c) for c in ("89155008", "128460000", "298285004", "299276009", "128461001",
                                 "31848007", "444133002")}
RA = (SCT, "69896004")
SLE = (SCT, "55464009")
RAYNAUD = (SCT, "266261006")
TELANGIECTASIA = (SCT, "403516008")
ILD = {(SCT, "233703007"), (SCT, "196133001")}
ABSENT_VERIFICATION = {"refuted", "entered-in-error"}


def codings(cc) -> set[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept (or a list of them)."""
    if not cc:
        return set()
    if isinstance(cc, list):
        return set().union(*(codings(x) for x in cc))
    return {(c.get("system"), c.get("code")) for c in cc.get("coding", []) if isinstance(c, dict)}


def cig(code: str) -> tuple[str, str]:
    return (CIG, code)
