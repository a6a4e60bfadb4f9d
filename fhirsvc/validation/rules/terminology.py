"""Bindings (value scope, required and extensible) and code-system membership of a Coding."""
from __future__ import annotations

import gzip
import re
import threading

import orjson

from ...definitions.registry import DATA as CORE_DATA
from ..run import issue
from .snomed import SNOMED, bad_code

# Systems that cannot be enumerated offline: codes are accepted, and said so once.
EXTERNAL_SYSTEMS = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://loinc.org": "LOINC",
    "http://unitsofmeasure.org": "UCUM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://hl7.org/fhir/sid/ndc": "NDC",
    "urn:ietf:bcp:47": "BCP-47",
    "urn:ietf:bcp:13": "BCP-13 (MIME types)",
    "urn:iso:std:iso:3166": "ISO 3166",
    "urn:iso:std:iso:4217": "ISO 4217",
    "http://dicom.nema.org/resources/ontology/DCM": "DICOM",
}

# the syntax of the codes of systems that cannot be enumerated offline, where it is fixed: a
# code outside it is certainly not of the system (whether one inside exists needs a server)
_ISO3166 = re.compile(r"^(?:[A-Z]{2}|[A-Z]{3}|[0-9]{3})$")
_ISO3166_2 = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
_M49 = re.compile(r"^[0-9]{3}$")
CODE_SYNTAX = {
    "urn:iso:std:iso:3166": lambda c: bool(_ISO3166.match(c)),
    "urn:iso:std:iso:3166:-2": lambda c: bool(_ISO3166_2.match(c)),
    "http://unstats.un.org/unsd/methods/m49/m49.htm": lambda c: bool(_M49.match(c)),
    "http://snomed.info/sct": lambda c: bad_code(c) is None,
}


def may_be_in(exp: dict, system: str | None, code: str) -> bool | None:
    """Is a code (of a system, or of any system when None) in an expansion: True, False, or
    None when it cannot be judged offline (a system the expansion includes whole, which we
    cannot enumerate and whose code syntax we do not know)."""
    codes, open_ = exp["codes"], exp["open"]
    if system is not None:
        if code in codes.get(system, ()):
            return True
        if system in open_ or "*" in open_:
            check = CODE_SYNTAX.get(system)
            return None if check is None else (None if check(code) else False)
        return False
    if any(code in c for c in codes.values()):
        return True
    verdict = False
    for s in open_:
        check = CODE_SYNTAX.get(s)
        if check is None or check(code):
            verdict = None
    return verdict


_QUANTITIES = ("Quantity", "Age", "Duration", "Count", "Distance", "SimpleQuantity",
               "MoneyQuantity")


def codings(value, type_code):
    """The codings a value carries, None for a type that carries none."""
    if type_code == "CodeableConcept":
        return [c for c in value.get("coding") or () if isinstance(c, dict)]
    if type_code == "Coding":
        return [value]
    if type_code in _QUANTITIES:
        if value.get("code") is None:
            return []
        return [{"system": value.get("system"), "code": value.get("code")}]
    return None


def binding(value, element, type_code, location, run):
    """A required binding's codes come from its value set (error); an extensible one's
    should (warning). Systems that cannot be enumerated offline are accepted."""
    strength, vs_url = element.binding
    sev = "error" if strength == "required" else "warning"
    if value is None:
        if strength == "required" and type_code == "code":
            return (issue("error", "code-invalid",
                          "No code provided, and a code is required from the value set",
                          location, vs_url),)
        return ()
    if isinstance(value, str):
        if type_code != "code":
            return ()
        exp = run.reg.expansion(vs_url)
        if exp is None:
            return (issue("warning", "not-found",
                          f"ValueSet {vs_url} is not known: code not checked", location,
                          vs_url),)
        if exp["open"] or any(value in codes for codes in exp["codes"].values()):
            return ()
        return (issue(sev, "code-invalid",
                      f"The value provided ('{value}') was not found in the value set {vs_url}"
                      + (", and a code is required from this value set" if sev == "error"
                         else ""), location, vs_url),)
    if not isinstance(value, dict):
        return ()
    cods = codings(value, type_code)
    if cods is None:
        return ()
    exp = run.reg.expansion(vs_url)
    if exp is None:
        return (issue("warning", "not-found",
                      f"ValueSet {vs_url} is not known: codes not checked", location, vs_url),)
    if not cods:
        if strength == "required" and type_code == "CodeableConcept" and not exp["open"]:
            return (issue("error", "code-invalid",
                          "No code provided, and a code is required from the value set",
                          location, vs_url),)
        return ()
    unchecked = False
    for c in cods:
        system, code = c.get("system"), c.get("code")
        if code is None:
            continue
        cs = run.reg.codesystem(system) if type_code != "Quantity" else None
        if cs is not None and cs.get("content") in (None, "complete") and code not in cs["_set"]:
            return ()  # reported once, as an unknown code of its code system
        if system in exp["codes"] and code in exp["codes"][system]:
            return ()
        if system in exp["open"] or "*" in exp["open"]:
            unchecked = True
            if system in EXTERNAL_SYSTEMS:
                run.unchecked.add(EXTERNAL_SYSTEMS[system])
        if system is None and any(code in s for s in exp["codes"].values()):
            return ()
    if unchecked:
        return ()
    # a code from a complete local code system outside the value set; codes of unknown
    # systems in an extensible binding are allowed in substance only with a warning
    shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in cods)
    return (issue(sev, "code-invalid",
                  f"The code provided ({shown}) was not found in the value set {vs_url}"
                  + (", and a code from this value set is required" if sev == "error" else ""),
                  location, vs_url),)


THO_CS = "http://terminology.hl7.org/CodeSystem/"
THO_V2 = THO_CS + "v2-"
_HL7_VS = ("http://hl7.org/fhir/ValueSet/", "http://terminology.hl7.org/ValueSet/")


def coding(value, element, type_code, location, run):
    """A Coding whose system is a complete code system we hold has a code of it."""
    if value.__class__ is not dict:
        return ()
    system, code = value.get("system"), value.get("code")
    if not isinstance(system, str) or not isinstance(code, str):
        return ()
    cs = run.reg.codesystem(system)
    if cs is None:
        why = bad_code(code) if system == SNOMED else None
        if why == "syntax":
            return (issue("error", "code-invalid", f"Unknown code '{code}' in the CodeSystem "
                          f"'{system}' (not a valid SNOMED CT concept identifier)",
                          f"{location}.code", system),)
        if why == "check":
            # certain too, but without a server the reference reports nothing: a warning
            # (the official example NutritionOrder-enteralcontinuous has such a code)
            return (issue("warning", "code-invalid", f"The code '{code}' is not a valid "
                          "SNOMED CT concept identifier (its partition or check digit is "
                          "wrong)", f"{location}.code", system),)
        if system in EXTERNAL_SYSTEMS:
            run.unchecked.add(EXTERNAL_SYSTEMS[system])
        elif ":" not in system:
            return (issue("error", "invalid", f"Coding.system must be an absolute reference, "
                          f"not a local reference ('{system}')", f"{location}.system"),)
        elif system.startswith(_HL7_VS) and (system in run.reg.valuesets or
                                             system in run.reg.vs_expansions):
            return (issue("error", "invalid", f"The Coding references a value set, not a code "
                          f"system ('{system}')", f"{location}.system"),)
        return ()
    if cs.get("content") == "supplement" or cs.get("supplements"):
        return (issue("error", "invalid", f"CodeSystem {system} is a supplement, so can't be "
                      "used as a value in Coding.system", f"{location}.system", system),)
    if cs.get("content") not in (None, "complete"):
        return ()
    if code in cs["_set"]:
        display = value.get("display")
        if display.__class__ is str and cs.get("_core"):
            return _display(system, code, display, location)
        return ()
    if cs.get("caseSensitive") is False and code.lower() in {c.lower() for c in cs["_set"]}:
        return ()
    if system.startswith(THO_V2) and cs.get("_core"):
        # the R4 package's copies of the v2 tables are those of v2.9 (2019); THO has added
        # codes to them since (v2-0203 NNxxx, ...) and the reference validates against the
        # current THO
        return (issue("warning", "code-invalid", f"Unknown code '{code}' in the CodeSystem "
                      f"'{system}' as the R4 core package has it (a later version of the "
                      "v2 table in terminology.hl7.org may define it)", f"{location}.code", system),)
    return (issue("error", "code-invalid", f"Unknown code '{code}' in the CodeSystem '{system}'",
                  f"{location}.code", system),)


# purposes of an additional binding that constrain the codes (the others, e.g. candidate,
# preferred, ui, starter, component, document or suggest; they are not conformance rules)
_ADDITIONAL = {"required": "error", "maximum": "error", "extensible": "warning",
               "current": "warning"}


def _vs_label(url: str, run) -> str:
    vs = run.reg.valuesets.get(url) or run.reg.valuesets.get(url.split("|")[0])
    if isinstance(vs, dict):
        name = vs.get("title") or vs.get("name") or url
        version = vs.get("version")
        return f"'{name}' ({vs.get('url', url)}{'|' + version if version else ''})"
    return f"'{url}'"


def additional_binding(value, element, type_code, location, run):
    """Additional bindings (compact.additional_bindings) without a usage context: with the
    purpose required or maximum a coding of the value set is required (error), extensible or
    current it should be (warning). Codes of systems that cannot be enumerated offline are
    not judged."""
    if value.__class__ is not dict:
        return ()
    cods = codings(value, type_code)
    if not cods:
        return ()
    out = []
    for b in element.additional_bindings:
        sev = _ADDITIONAL.get(b["purpose"])
        if sev is None or b.get("usage"):
            continue  # a usage context names where it applies: not in every validation
        url = b["valueSet"]
        exp = run.reg.expansion(url)
        if exp is None:
            out.append(issue("warning", "not-found", f"ValueSet {url} of an additional binding "
                             "is not known: codes not checked", location, url))
            continue
        inside, unknown = [], False
        for c in cods:
            system, code = c.get("system"), c.get("code")
            if code is None:
                continue
            if system in exp["codes"] and code in exp["codes"][system]:
                inside.append(c)
            elif system in exp["open"] or "*" in exp["open"]:
                unknown = True
        if unknown:
            continue
        shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in cods if c.get("code"))
        if b["purpose"] == "maximum":
            if len(inside) < len([c for c in cods if c.get("code") is not None]):
                out.append(issue(sev, "code-invalid", f"Some of the codings provided are not in "
                                 f"the value set {_vs_label(url, run)} specified in an additional "
                                 f"binding as the maximum (codes = {shown})", location, url))
        elif not inside and shown:
            word = "is required" if sev == "error" else "should be used"
            out.append(issue(sev, "code-invalid", f"None of the codings provided are in the value "
                             f"set {_vs_label(url, run)} specified in an additional binding, and a "
                             f"coding from this value set {word} (codes = {shown})", location, url))
    return out


_DISPLAYS: dict | None = None
_DISPLAYS_LOCK = threading.Lock()
_DISPLAYS_FILE = CORE_DATA.with_name("r4displays.json.gz")  # beside the core definitions


def core_displays() -> dict:
    """{system: {code: [display, designations...]}} of the R4 package's code systems
    (scripts/build_displays.py), read on first use."""
    global _DISPLAYS
    if _DISPLAYS is None:
        with _DISPLAYS_LOCK:
            if _DISPLAYS is None:
                try:
                    _DISPLAYS = orjson.loads(gzip.decompress(_DISPLAYS_FILE.read_bytes()))
                except OSError:
                    _DISPLAYS = {}
    return _DISPLAYS


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _display(system: str, code: str, display: str, location: str):
    """Coding.display is the concept's display or one of its designations (case and
    whitespace aside). A FHIR code system's display is fixed in R4 (error); a THO one may
    have changed since the package's 2019 copy (warning)."""
    key = (system, code, display)
    hit = _DISPLAY_MEMO.get(key)
    if hit is not None:
        return hit
    got = _check_display(system, code, display, location)
    if len(_DISPLAY_MEMO) < 8192 and not got:
        _DISPLAY_MEMO[key] = got  # the usual case, a right display: same answer everywhere
    return got


_DISPLAY_MEMO: dict = {}


def _check_display(system: str, code: str, display: str, location: str):
    names = core_displays().get(system, {}).get(code)
    if not names or _norm(display) in {_norm(n) for n in names}:
        return ()
    valid = f"is '{names[0]}'" if len(names) == 1 else \
        f"is one of {len(names)} choices: " + ", ".join(f"'{n}'" for n in names)
    sev = "warning" if system.startswith(THO_CS) else "error"
    return (issue(sev, "invalid", f"Wrong Display Name '{display}' for {system}#{code}. Valid "
                  f"display {valid} (for the language(s) '--')", f"{location}.display", system),)
