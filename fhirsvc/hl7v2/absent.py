"""An OBX that gives no value[x]: Observation.dataAbsentReason, never an AE.

OBX-5 is optional in v2 (a result may be pending, not asked, not obtainable, or only its
interpretation is sent) and optional in the guide's OBX[Observation] (0..*), whose one row for
it is OBX-11 N -> dataAbsentReason `not-asked`. R4 says why a value is missing in
dataAbsentReason, and the vital-signs profiles require it (vs-2): so every Observation made
from an OBX without value[x], component or hasMember gets one, whatever its value type:
- the OBX-11 row of `tables.yaml` `data-absent-reason` (N not-asked, the guide's; I
  temp-unknown, results pending; X not-performed, results cannot be obtained);
- an ED or RP value, held in the R5 valueAttachment extension because R4 value[x] has no
  Attachment: `unsupported` (the value is sent, R4's value[x] cannot carry it);
- otherwise `unknown` (a value is expected but none was sent).
An Observation that has a value keeps none (R4 obs-6)."""
from __future__ import annotations

from .transforms import VALUE_ATTACHMENT_URL

DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# what gives an Observation its value (R4 Observation.value[x], and components / members): an
# Observation with any of these needs no reason (tested by the caller, once per result)
VALUED = frozenset(["valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",
                    "valueInteger", "valueRange", "valueRatio", "valueSampledData", "valueTime",
                    "valueDateTime", "valuePeriod", "component", "hasMember",
                    "dataAbsentReason"])


def mark(res: dict, status: str, lookup) -> None:
    """Give `res` (an Observation made from an OBX, none of VALUED in it) its
    dataAbsentReason. `status` is OBX-11 as sent; `lookup(table, code)` reads tables.yaml."""
    if any(e.get("url") == VALUE_ATTACHMENT_URL for e in res.get("extension", ())):
        code = "unsupported"
    else:
        code = lookup("data-absent-reason", status) or "unknown"
    coding = {"system": DAR, "code": code}
    display = _display(code)
    if display:
        coding["display"] = display
    res["dataAbsentReason"] = {"coding": [coding]}


def _display(code: str) -> str | None:
    from ..validation.rules.terminology import core_displays
    names = core_displays().get(DAR, {}).get(code)
    return names[0] if names else None
