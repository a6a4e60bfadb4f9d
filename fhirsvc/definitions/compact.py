"""The compact form of StructureDefinitions: what validation and snapshot generation need.

Used at build time (scripts/build_definitions.py, for the R4 core package) and at run time
(guide profiles, --ig packages, StructureDefinitions stored through REST), so every definition
the validator sees has the same shape:

    {"url", "version", "name", "type", "kind", "abstract", "derivation", "baseDefinition",
     "context": [{"type", "expression"}]  (extensions),
     "elements": [compact element] | None   (snapshot),
     "differential": [compact element] | None}

A compact element keeps id, path, sliceName, min, max, type [{code, profile, targetProfile}],
contentReference, fixed*/pattern*/minValue*/maxValue* (original keys), maxLength, binding
{strength, valueSet}, constraint [{key, severity, expression, human, source}], slicing.
"""
from __future__ import annotations

_PREFIXES = ("fixed", "pattern", "minValue", "maxValue", "defaultValue")
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


# additional bindings (R5 ElementDefinition.binding.additional) in R4: the cross-version
# extension and the tools extension carry them
ADDITIONAL_BINDING = ("http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition."
                      "binding.additional",
                      "http://hl7.org/fhir/tools/StructureDefinition/additional-binding")


def additional_bindings(binding: dict) -> list[dict]:
    """[{purpose, valueSet, any?, usage?}] of a binding's additional-binding extensions."""
    out = []
    for ext in binding.get("extension") or ():
        if not isinstance(ext, dict) or ext.get("url") not in ADDITIONAL_BINDING:
            continue
        got: dict = {}
        for part in ext.get("extension") or ():
            if not isinstance(part, dict):
                continue
            name = part.get("url")
            if name == "purpose":
                got["purpose"] = part.get("valueCode")
            elif name == "valueSet":
                got["valueSet"] = part.get("valueCanonical") or part.get("valueUri")
            elif name == "any":
                got["any"] = part.get("valueBoolean") is True
            elif name == "usage":
                got["usage"] = True
        if got.get("purpose") and got.get("valueSet"):
            out.append(got)
    return out


def compact_element(el: dict) -> dict:
    out: dict = {}
    for key in ("id", "path", "sliceName", "min", "max", "contentReference", "maxLength"):
        if key in el:
            out[key] = el[key]
    if "type" in el:
        types = []
        for t in el["type"]:
            code = t.get("code")
            for ext in t.get("extension", ()):
                if ext.get("url") == _FHIR_TYPE_EXT and code and code.startswith("http://hl7.org/fhirpath"):
                    # Resource.id, Element.id, Extension.url: the FHIR type behind System.String
                    code = ext.get("valueUrl") or ext.get("valueUri") or code
            ct: dict = {"code": code}
            if t.get("profile"):
                ct["profile"] = list(t["profile"])
            if t.get("targetProfile"):
                ct["targetProfile"] = list(t["targetProfile"])
            types.append(ct)
        out["type"] = types
    for key, value in el.items():
        if key.startswith(_PREFIXES) and key != "defaultValueBoolean" and not key.startswith("defaultValue"):
            out[key] = value
    if "binding" in el:
        b = el["binding"]
        out["binding"] = {k: b[k] for k in ("strength", "valueSet") if k in b}
        extra = additional_bindings(b)
        if extra:
            out["binding"]["additional"] = extra
    if el.get("constraint"):
        out["constraint"] = [{k: c[k] for k in ("key", "severity", "expression", "human", "source")
                              if k in c} for c in el["constraint"]]
    if "slicing" in el:
        s = el["slicing"]
        out["slicing"] = {k: s[k] for k in ("discriminator", "rules", "ordered") if k in s}
    if "base" in el:
        # whether the element is an array in the base resource (JSON shape) depends on
        # base.max, not on a profile's restricted max
        out["baseMax"] = el["base"].get("max")
    return out


def compact_sd(sd: dict) -> dict:
    out = {k: sd.get(k) for k in ("url", "version", "name", "type", "kind", "abstract",
                                  "derivation", "baseDefinition")}
    if sd.get("context"):
        out["context"] = [{"type": c.get("type"), "expression": c.get("expression")}
                          for c in sd["context"]]
    snap = (sd.get("snapshot") or {}).get("element")
    out["elements"] = [compact_element(e) for e in snap] if snap else None
    diff = (sd.get("differential") or {}).get("element")
    # Core definitions ship a snapshot: their differential is only needed for derived
    # profiles without a snapshot (guide, --ig, REST).
    out["differential"] = [compact_element(e) for e in diff] if diff and not snap else None
    return out
