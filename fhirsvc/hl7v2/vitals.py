"""Vital signs: an Observation whose code is one of R4's vital-sign LOINC codes gets the
vital-signs category. The guide does not say so, but R4 requires it: the core vital-signs
profiles (which validators apply to such Observations whatever meta.profile says) need
`category` = vital-signs, and a result without it made the whole message AE.

The codes and the category are read from the R4 core package: the fixed codes of the profiles
derived from `vitalsigns` (the table the validator applies them by) and the value set bound to
`vitalsigns` Observation.code; the category from its VSCat slice. Nothing else the profiles
ask for (UCUM units, effective[x], subject) is invented here: what the message does not carry
the validator reports, located at its OBX."""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache

import orjson

LOINC = "http://loinc.org"
VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"


@dataclass(frozen=True)
class VitalSigns:
    codes: frozenset      # LOINC codes
    category: dict        # the CodeableConcept of the VSCat slice

    def categorise(self, res: dict) -> None:
        """Add the vital-signs category to an Observation coded as a vital sign (once)."""
        if res["resourceType"] != "Observation":
            return
        for c in (res.get("code") or {}).get("coding", ()):   # a plain loop: per result
            if c.get("code") in self.codes and c.get("system") == LOINC:
                break
        else:
            return
        want = self.category["coding"][0]
        cats = res.setdefault("category", [])
        if not any(c.get("system") == want["system"] and c.get("code") == want["code"]
                   for cc in cats for c in cc.get("coding", ())):
            cats.append({"coding": [dict(want)]})


def from_definitions(sds, expansion) -> VitalSigns:
    """From StructureDefinitions (url -> compact SD) and an expansion look-up (url -> {codes})."""
    base = sds.get(VITALSIGNS)
    if base is None:
        return VitalSigns(frozenset(), {})
    codes: set = set()
    system = code = None
    for el in base.get("elements") or ():
        if el.get("id") == "Observation.code":
            vs = (el.get("binding") or {}).get("valueSet")
            exp = expansion(vs) if vs else None
            codes.update((exp or {}).get("codes", {}).get(LOINC, ()))
        elif el.get("id") == "Observation.category:VSCat.coding.system":
            system = el.get("fixedUri")
        elif el.get("id") == "Observation.category:VSCat.coding.code":
            code = el.get("fixedCode")
    for sd in sds.values():
        if sd.get("baseDefinition") != VITALSIGNS or sd.get("type") != "Observation":
            continue
        for el in sd.get("elements") or ():
            if el.get("path") == "Observation.code.coding.code" and el.get("fixedCode"):
                codes.add(el["fixedCode"])
            pc = el.get("patternCoding") if el.get("path") == "Observation.code.coding" else None
            if pc and pc.get("system") == LOINC and pc.get("code"):
                codes.add(pc["code"])
    if not (system and code):
        return VitalSigns(frozenset(), {})
    coding = {"system": system, "code": code}
    display = _displays(system).get(code)
    if display:
        coding["display"] = display
    return VitalSigns(frozenset(codes), {"coding": [coding]})


@lru_cache(maxsize=4)
def _displays(system: str) -> dict:
    """code -> display of a code system, the first display the R4 package gives."""
    from ..definitions.registry import DATA
    raw = orjson.loads(gzip.decompress(DATA.with_name("r4displays.json.gz").read_bytes()))
    return {c: d[0] for c, d in raw.get(system, {}).items() if d}


@lru_cache(maxsize=1)
def from_package() -> VitalSigns:
    """Read once per process from the R4 core package the server ships (for converters made
    without the server's definitions: tools, tests)."""
    from ..definitions.registry import DATA
    core = orjson.loads(gzip.decompress(DATA.read_bytes()))
    return from_definitions(core["sd"], core["vs"].get)
