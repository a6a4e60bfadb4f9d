"""Vital signs: an Observation whose code is one of R4's vital-sign LOINC codes gets the
vital-signs category. The guide does not say so, but R4 requires it: the core vital-signs
profiles (which validators apply to such Observations whatever meta.profile says) need
`category` = vital-signs, and a result without it made the whole message AE.

The codes and the category are read from the R4 core package: the fixed codes of the profiles
derived from `vitalsigns` (the table the validator applies them by) and the value set bound to
`vitalsigns` Observation.code; the category from its VSCat slice. Nothing else the profiles
ask for (UCUM units, effective[x], subject) is invented here: what the message does not carry
the validator reports, located at its OBX.

Two checks before validation, each located where the sender can fix it (`check`):
- the UCUM unit the profile of the code requires (valueQuantity.code fixed, or its required
  binding: heart rate `/min`, body weight `kg` / `[lb_av]` / `g`, ...), read from the same
  profiles: a wrong or missing unit is an error at OBX-6;
- a vital sign coded in SNOMED CT only (one the validator recognises as a vital sign, as the
  reference validator does: "required by the FHIR specification because the SNOMED CT code was
  found"): the profile needs its LOINC code, which nothing verified gives (no ConceptMap is
  shipped for it; one stored in the server translates OBX-3 before this check), so it is an
  error at OBX-3 naming the LOINC code wanted, instead of three slice errors of the validator."""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from functools import lru_cache

import orjson

from .errors import REQUIRED_MISSING, TABLE_VALUE

LOINC = "http://loinc.org"
VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True)
class VitalSigns:
    codes: frozenset      # LOINC codes
    category: dict        # the CodeableConcept of the VSCat slice
    # LOINC code -> (profile title, UCUM codes its valueQuantity may have)
    units: dict = field(default_factory=dict)

    def review(self, res: dict) -> list[tuple[int, str, str]]:
        """One pass over an Observation's codings (per result, so a plain loop): a vital sign
        gets the category; returned are (OBX field, table 0357 code, message) for what its
        profile requires and the message does not give: its UCUM unit, its LOINC code."""
        if res["resourceType"] != "Observation":
            return []
        codings = (res.get("code") or {}).get("coding", ())
        vital = None
        loinc = False
        for c in codings:
            if c.get("system") == LOINC:
                loinc = True
                if c.get("code") in self.codes:
                    vital = c["code"]
                    break
        if vital is not None:
            self._categorise(res)
            return self._unit(res, vital)
        return [] if loinc or not codings else self._snomed(codings)

    def _categorise(self, res: dict) -> None:
        """Add the vital-signs category to an Observation coded as a vital sign (once)."""
        want = self.category["coding"][0]
        cats = res.setdefault("category", [])
        if not any(c.get("system") == want["system"] and c.get("code") == want["code"]
                   for cc in cats for c in cc.get("coding", ())):
            cats.append({"coding": [dict(want)]})

    def _unit(self, res: dict, code: str) -> list:
        rule = self.units.get(code)
        q = res.get("valueQuantity")
        if rule is None or q is None:
            return []   # no quantity: what the profile asks of value[x] the validator says
        title, allowed = rule
        if q.get("system") == UCUM and q.get("code") in allowed:
            return []
        sent = q.get("unit") or q.get("code")
        return [(6, TABLE_VALUE if sent else REQUIRED_MISSING,
                 f"{code} (R4 profile {title}) needs its unit in UCUM "
                 f"({', '.join(sorted(allowed))}); OBX-6 is {repr(sent) if sent else 'empty'}")]

    @staticmethod
    def _snomed(codings) -> list:
        from ..validation.profiles import snomed_vital_sign
        for c in codings:
            want = snomed_vital_sign(c.get("code")) if c.get("system") == SNOMED else None
            if want:
                return [(3, TABLE_VALUE, f"SNOMED CT {c.get('code')} is a vital sign: R4 "
                         f"requires its LOINC code {want} (the vital-signs profile); send it as "
                         "OBX-3's alternate code, or store a ConceptMap from SNOMED CT to "
                         "LOINC")]
        return []


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
    units: dict = {}
    for sd in sds.values():
        if sd.get("baseDefinition") != VITALSIGNS or sd.get("type") != "Observation":
            continue
        own, allowed = set(), set()
        for el in sd.get("elements") or ():
            if el.get("path") == "Observation.code.coding.code" and el.get("fixedCode"):
                codes.add(el["fixedCode"])
                own.add(el["fixedCode"])
            pc = el.get("patternCoding") if el.get("path") == "Observation.code.coding" else None
            if pc and pc.get("system") == LOINC and pc.get("code"):
                codes.add(pc["code"])
                own.add(pc["code"])
            if el.get("id") == "Observation.value[x]:valueQuantity.code":
                if el.get("fixedCode"):
                    allowed.add(el["fixedCode"])
                b = el.get("binding") or {}
                if b.get("strength") == "required" and b.get("valueSet"):
                    exp = expansion(b["valueSet"].split("|")[0]) or {}
                    allowed.update(exp.get("codes", {}).get(UCUM, ()))
        if allowed:
            title = sd.get("title") or sd.get("name") or sd.get("url", "").rsplit("/", 1)[-1]
            for c in own:
                units[c] = (title, frozenset(allowed))
    if not (system and code):
        return VitalSigns(frozenset(), {})
    coding = {"system": system, "code": code}
    display = _displays(system).get(code)
    if display:
        coding["display"] = display
    return VitalSigns(frozenset(codes), {"coding": [coding]}, units)


@lru_cache(maxsize=4)
def _displays(system: str) -> dict:
    """code -> display of a code system, the first display the R4 package gives (the
    validator's copy: the file is read and decompressed once per process)."""
    from ..validation.rules.terminology import core_displays
    return {c: d[0] for c, d in core_displays().get(system, {}).items() if d}


@lru_cache(maxsize=1)
def from_package() -> VitalSigns:
    """Read once per process from the R4 core package the server ships (for converters made
    without the server's definitions: tools, tests)."""
    from ..definitions.registry import DATA
    core = orjson.loads(gzip.decompress(DATA.read_bytes()))
    return from_definitions(core["sd"], core["vs"].get)
