"""Conformance resources' own rules (value scope, on the resource): what the element model
cannot say about ValueSets, CodeSystems, SearchParameters and CapabilityStatements.

- a canonical url is absolute (a contained resource's too, when it has one);
- ValueSet.compose.include/exclude.system is absolute (a contained code system is named by its
  own absolute url, never '#id');
- CodeSystem.property codes and uris are unique, the uris of the standard concept properties
  carry their defined type (and usually their code), and each concept's property values have
  the declared type;
- a SearchParameter derived from a core one keeps its type and a subset of its base; a
  CapabilityStatement's searchParam with a core definition states the definition's type.
The core SearchParameters are read from the search registry's data file (the R4 package's
search parameters): validation does not import the search layer.
"""
from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path

from ..fhirpath import syntax_error
from ..run import issue
from .snomed import SNOMED, is_concept_id
from .references import ABS_URL

CANONICAL_TYPES = frozenset((
    "ValueSet", "CodeSystem", "ConceptMap", "SearchParameter", "CapabilityStatement",
    "StructureDefinition", "OperationDefinition", "Questionnaire", "ImplementationGuide",
    "CompartmentDefinition", "StructureMap", "GraphDefinition", "MessageDefinition",
    "TerminologyCapabilities", "Library", "Measure", "PlanDefinition", "ActivityDefinition"))
_SP_DATA = Path(__file__).resolve().parents[2] / "search" / "data" / "search_parameters.json.gz"
CONCEPT_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
# the standard concept properties (http://hl7.org/fhir/concept-properties) and their types
STANDARD_PROPERTIES = {
    "inactive": "boolean", "deprecated": "dateTime", "deprecationDate": "dateTime",
    "notSelectable": "boolean", "parent": "code", "child": "code", "partOf": "code",
    "synonym": "code", "comment": "string", "itemWeight": "decimal", "status": "code",
    "retirementDate": "dateTime", "effectiveDate": "dateTime"}
_VALUE_TYPES = {"valueCode": "code", "valueCoding": "Coding", "valueString": "string",
                "valueInteger": "integer", "valueBoolean": "boolean",
                "valueDateTime": "dateTime", "valueDecimal": "decimal"}


@lru_cache(maxsize=1)
def core_search_parameters() -> dict[str, dict]:
    try:
        with gzip.open(_SP_DATA, "rt", encoding="utf-8") as f:
            params = json.load(f).get("params") or []
    except OSError:
        return {}
    return {p["url"]: p for p in params if isinstance(p, dict) and p.get("url")}


def _core_sp(url) -> dict | None:
    if not isinstance(url, str):
        return None
    return core_search_parameters().get(url.split("|", 1)[0])


def canonical_resource(value, element, type_code, location, run):
    if value.__class__ is not dict:
        return ()
    out = []
    url = value.get("url")
    if isinstance(url, str) and not url.startswith("#") and not ABS_URL.match(url):
        contained = run.resources and len(run.resources) > 1 and ".contained[" in location
        out.append(issue("error", "invalid", (
            f"Canonical URLs in contained resources must be absolute URLs if present ({url})"
            if contained else
            f"Canonical URLs must be absolute URLs if they are not fragment references ({url})"),
            f"{location}.url"))
    check = _BY_TYPE.get(type_code)
    if check is not None:
        out += check(value, location)
    if type_code == "ValueSet":
        out += _filter_values(value, location, run)
    elif type_code == "ConceptMap":
        out += _conceptmap_sources(value, location, run)
    if type_code == "StructureDefinition":
        out += _fixed_against_base(value, location, run)
    return out


def _fixed_against_base(sd: dict, location: str, run):
    """A profile cannot change a value its base definition fixes (a derived extension
    re-fixing Extension.url, a fixed code replaced): its instances could never conform to
    the base."""
    base_url = sd.get("baseDefinition")
    diff = (sd.get("differential") or {}).get("element") if isinstance(
        sd.get("differential"), dict) else None
    if not isinstance(base_url, str) or not isinstance(diff, list) or \
            sd.get("derivation") != "constraint":
        return []
    try:
        base = run.reg.snapshot(base_url)
    except Exception:  # a base that cannot be snapshotted is reported where it is used
        return []
    if not base:
        return []
    by_id = {e.get("id") or e.get("path"): e for e in base}
    out = []
    for i, el in enumerate(diff):
        if not isinstance(el, dict):
            continue
        b = by_id.get(el.get("id") or el.get("path"))
        if b is None:
            continue
        for key, val in el.items():
            if key.startswith("fixed") and key in b and b[key] != val:
                out.append(issue("error", "invalid", f"{el.get('path')}: value is {val!r} but is "
                                 f"fixed to {b[key]!r} in the base definition {base_url}",
                                 f"{location}.differential.element[{i}]"))
    return out


def _valueset(vs: dict, location: str):
    out = []
    compose = vs.get("compose")
    if not isinstance(compose, dict):
        return out
    for part in ("include", "exclude"):
        for i, inc in enumerate(compose.get(part) or ()):
            if isinstance(inc, dict):
                out += _filter_expressions(inc, f"{location}.compose.{part}[{i}]")
            system = inc.get("system") if isinstance(inc, dict) else None
            if isinstance(system, str) and not ABS_URL.match(system):
                out.append(issue("error", "invalid", f"URI values in ValueSet.compose.{part}."
                                 "system must be absolute. To reference a contained code system, "
                                 "use the full CodeSystem URL and reference it using the "
                                 "http://hl7.org/fhir/StructureDefinition/valueset-system "
                                 f"extension ('{system}')", f"{location}.compose.{part}[{i}]"))
    return out


def _conceptmap_sources(cm: dict, location: str, run):
    """The codes a ConceptMap maps from belong to its source value set (when the value set
    can be enumerated here)."""
    src = cm.get("sourceCanonical") or cm.get("sourceUri")
    if not isinstance(src, str):
        return []
    version = cm.get("version")
    exp = run.reg.expansion(src) or (run.reg.expansion(f"{src}|{version}") if version else None)
    if exp is None or exp.get("open"):
        return []
    out = []
    for g, group in enumerate(cm.get("group") or ()):
        if not isinstance(group, dict) or not isinstance(group.get("source"), str):
            continue
        codes = exp["codes"].get(group["source"])
        if codes is None:
            continue
        for e, el in enumerate(group.get("element") or ()):
            code = el.get("code") if isinstance(el, dict) else None
            if isinstance(code, str) and code not in codes:
                out.append(issue("error", "code-invalid", f"The source code '{code}' is not "
                                 f"valid in the value set {src}",
                                 f"{location}.group[{g}].element[{e}].code"))
    return out


_CODING_TEXT = re.compile(r"^([^|#\s]+)(\|[^#\s]+)?#(\S.*)$")


# properties every code system has (the FHIR concept properties), by type, where a code
# system does not declare them itself
GENERIC_PROPERTIES = {"inactive": "boolean", "notSelectable": "boolean"}


def _snomed_filter(prop, op, val: str, where: str) -> list:
    """SNOMED CT filters offline: a `concept` filter names concept ids; an attribute (a
    property that is a concept id) is filtered with = or in only."""
    if prop == "concept" and op not in ("regex", "exists"):
        values = val.split(",") if op in ("in", "not-in") else [val]
        for v in values:
            if not is_concept_id(v.strip()):
                return [issue("error", "invalid", f"The value for a filter based on property "
                              f"'concept' must be a valid code from the system '{SNOMED}'"
                              f", and '{val}' is not (not a SNOMED CT concept identifier)",
                              where)]
    elif isinstance(prop, str) and is_concept_id(prop) and op not in ("=", "in"):
        return [issue("error", "invalid", f"The operation '{op}' is not allowed for property "
                      f"'{prop}' in system '{SNOMED}'. Allowed ops: =,in", where)]
    return []


def _filter_values(vs: dict, location: str, run):
    """A filter on a property the code system declares: a Coding property's value is
    system(|version)#code naming a code that exists (when that system is held here), a
    boolean property's value is true or false."""
    out = []
    compose = vs.get("compose") if isinstance(vs.get("compose"), dict) else {}
    for part in ("include", "exclude"):
        for i, inc in enumerate(compose.get(part) or ()):
            if not isinstance(inc, dict) or not isinstance(inc.get("system"), str):
                continue
            cs = run.reg.codesystem(inc["system"])
            props = (cs or {}).get("properties") or {}
            for k, f in enumerate(inc.get("filter") or ()):
                if not isinstance(f, dict) or not isinstance(f.get("value"), str):
                    continue
                ptype, val, prop = props.get(f.get("property")), f["value"], f.get("property")
                ptype = ptype or GENERIC_PROPERTIES.get(prop)
                where = f"{location}.compose.{part}[{i}].filter[{k}]"
                if inc["system"] == SNOMED:
                    out += _snomed_filter(prop, f.get("op"), val, where)
                    continue
                if ptype == "Coding" and f.get("op") in ("=", "in", "not-in"):
                    m = _CODING_TEXT.match(val)
                    if m is None:
                        out.append(issue("error", "invalid", f"The value for a filter based on "
                                         f"property '{prop}' must be in the format "
                                         f"system(|version)#code, not '{val}'", where))
                        continue
                    target = run.reg.codesystem(m.group(1))
                    if target is not None and target.get("content") in (None, "complete") and \
                            m.group(3) not in target["_set"]:
                        out.append(issue("error", "invalid", f"The value for a filter based on "
                                         f"property '{prop}' is '{val}' which is not a valid "
                                         f"code (Unknown code '{m.group(3)}' in the CodeSystem "
                                         f"'{m.group(1)}')", where))
                elif ptype == "boolean" and val not in ("true", "false"):
                    out.append(issue("error", "invalid", f"The value for a filter based on "
                                     f"property '{prop}' must be either 'true' or 'false', not "
                                     f"'{val}'", where))
    return out


CQF_EXPRESSION = "http://hl7.org/fhir/StructureDefinition/cqf-expression"


def _filter_expressions(inc: dict, where: str):
    """A filter value computed by an expression (cqf-expression on the value, a ValueSet
    parameter): it must be FHIRPath, and parse."""
    out = []
    for k, f in enumerate(inc.get("filter") or ()):
        part = f.get("_value") if isinstance(f, dict) else None
        for j, ext in enumerate((part or {}).get("extension") or () if isinstance(part, dict)
                                else ()):
            if not isinstance(ext, dict) or ext.get("url") != CQF_EXPRESSION:
                continue
            expr = ext.get("valueExpression")
            if not isinstance(expr, dict):
                continue
            loc = f"{where}.filter[{k}].value.extension[{j}].valueExpression"
            lang = expr.get("language")
            if lang != "text/fhirpath":
                out.append(issue("error", "invalid", f"A ValueSet expression language must be "
                                 f"'text/fhirpath' not '{lang}'", loc))
            elif isinstance(expr.get("expression"), str):
                why = syntax_error(expr["expression"])
                if why:
                    out.append(issue("error", "invalid", f"The value of the expression "
                                     f"'{expr['expression']}' is not a valid FHIRPath: {why}",
                                     loc))
    return out


def _codesystem(cs: dict, location: str):
    out = []
    declared: dict[str, str] = {}
    uris: set[str] = set()
    for i, p in enumerate(cs.get("property") or ()):
        if not isinstance(p, dict):
            continue
        where = f"{location}.property[{i}]"
        code, uri, ptype = p.get("code"), p.get("uri"), p.get("type")
        dup_code = code in declared
        dup_uri = isinstance(uri, str) and uri in uris
        if isinstance(uri, str) and uri.startswith(CONCEPT_PROPERTIES):
            std = uri[len(CONCEPT_PROPERTIES):]
            want = STANDARD_PROPERTIES.get(std)
            if want and ptype and ptype != want:
                out.append(issue("error", "invalid", f"Wrong type '{ptype}': The URI '{uri}' "
                                 f"identifies a property that has the type '{want}'", where))
            if want and code != std and not dup_uri and not dup_code:
                out.append(issue("error", "invalid", f"The URI '{uri}' is normally assigned the "
                                 f"code '{std}'. Using a different code is an error ('{code}')",
                                 where))
        if dup_code:
            out.append(issue("error", "duplicate",
                             f"A property is already defined with the code '{code}'", where))
        elif isinstance(code, str) and isinstance(ptype, str):
            declared[code] = ptype
        if dup_uri:
            out.append(issue("error", "duplicate",
                             f"A property is already defined with the URI '{uri}'", where))
        elif isinstance(uri, str):
            uris.add(uri)
    _concept_properties(cs.get("concept"), f"{location}.concept", declared, out)
    return out


def _concept_properties(concepts, where: str, declared: dict, out: list):
    for i, c in enumerate(concepts if isinstance(concepts, list) else ()):
        if not isinstance(c, dict):
            continue
        for k, p in enumerate(c.get("property") or ()):
            if not isinstance(p, dict):
                continue
            want = declared.get(p.get("code"))
            got = next((t for key, t in _VALUE_TYPES.items() if key in p), None)
            if want and got and got != want:
                out.append(issue("error", "invalid", f"The property '{p.get('code')}' has the "
                                 f"invalid type '{got}', when it is defined to have the type "
                                 f"'{want}'", f"{where}[{i}].property[{k}]"))
        _concept_properties(c.get("concept"), f"{where}[{i}].concept", declared, out)


CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
_LEADING_TYPE = re.compile(r"^\(*\s*([A-Z][A-Za-z]*)\s*(?:\.|$|\))")


def _union_branches(expr: str) -> list[str]:
    """The branches of the top-level `|` of a FHIRPath expression (outside parentheses,
    brackets and strings)."""
    out, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(expr):
        if quote:
            if ch == quote and expr[i - 1] != "\\":
                quote = None
        elif ch in "'`\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(expr[start:i])
            start = i + 1
    out.append(expr[start:])
    return out


def _expression_types(sp: dict, location: str) -> list:
    """Each branch of a search expression that starts with a type name starts with one of
    the SearchParameter's bases (FHIRPath evaluated on a resource of a base type)."""
    expr, bases = sp.get("expression"), [b for b in sp.get("base") or () if isinstance(b, str)]
    if not isinstance(expr, str) or not bases or {"Resource", "DomainResource"} & set(bases):
        return []
    for branch in _union_branches(expr):
        m = _LEADING_TYPE.match(branch.strip())
        if m and m.group(1) not in bases and m.group(1) not in ("Resource", "DomainResource"):
            types = ", ".join(CORE_SD + b for b in bases)
            return [issue("error", "invalid", f"Error in search expression '{expr}': Error "
                          f"evaluating FHIRPath expression: The name '{m.group(1)}' is not valid "
                          f"for any of the possible types: [{types}]", f"{location}.expression")]
    return []


def _searchparameter(sp: dict, location: str):
    out = _expression_types(sp, location)
    parent = _core_sp(sp.get("derivedFrom"))
    if parent is None:
        return out
    if isinstance(sp.get("type"), str) and sp["type"] != parent.get("type"):
        out.append(issue("error", "invalid", f"The type {sp['type']} is different to the type "
                         f"{parent.get('type')} in the derivedFrom SearchParameter "
                         f"{parent['url']}", location))
    for b in sp.get("base") or ():
        if isinstance(b, str) and b not in (parent.get("base") or ()):
            out.append(issue("error", "invalid", f"The resource type {b} is not listed as a base "
                             f"in the SearchParameter this is derived from ({parent['url']})",
                             location))
    return out


def _capabilitystatement(cs: dict, location: str):
    out = []
    for r, rest in enumerate(cs.get("rest") or ()):
        if not isinstance(rest, dict):
            continue
        for k, res in enumerate(rest.get("resource") or ()):
            if not isinstance(res, dict):
                continue
            for n, param in enumerate(res.get("searchParam") or ()):
                if not isinstance(param, dict):
                    continue
                sp = _core_sp(param.get("definition"))
                if sp and isinstance(param.get("type"), str) and param["type"] != sp.get("type"):
                    out.append(issue("error", "invalid", f"Type mismatch - SearchParameter "
                                     f"'{sp['url']}' type is {sp.get('type')}, but type here is "
                                     f"{param['type']}",
                                     f"{location}.rest[{r}].resource[{k}].searchParam[{n}]"))
    return out


_BY_TYPE = {"ValueSet": _valueset, "CodeSystem": _codesystem,
            "SearchParameter": _searchparameter, "CapabilityStatement": _capabilitystatement}
