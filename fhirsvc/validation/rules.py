"""The rule table: small functions, one per ElementDefinition aspect, each adding Issues.

The walker (engine.py) decides where a value is and calls the rules with its location.
"""
from __future__ import annotations

import datetime as _dt
import re

from .primitives import CHECKERS, date_key

CORE = "http://hl7.org/fhir/StructureDefinition/"
_ABS_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_REL_REF = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_COND_REF = re.compile(r"^[A-Z][A-Za-z]+\?\S*$")  # conditional reference (transactions)
_ABS_REF = re.compile(r"^(https?://.+/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")

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


# ---------------------------------------------------------------- implicit profiles
# SNOMED CT concepts equivalent to the LOINC codes of the core vital-signs profiles (the
# profiles themselves only name LOINC); used to recognise a vital sign coded in SNOMED CT.
_SNOMED_VITALS = {
    "276885007": "8310-5", "386725007": "8310-5",  # body temperature
    "364075005": "8867-4", "78564009": "8867-4",   # heart rate / pulse rate
    "86290005": "9279-1",                          # respiratory rate
    "50373000": "8302-2",                          # body height
    "27113001": "29463-7",                         # body weight
    "60621009": "39156-5",                         # body mass index
    "75367002": "85354-9",                         # blood pressure
    "103228002": "59408-5", "431314004": "59408-5",  # oxygen saturation
    "363812007": "9843-4",                         # head circumference
}


def _vital_profiles(engine) -> dict:
    """LOINC code -> core vital-signs profile, read from the profiles' fixed/pattern codes."""
    if engine._vs_profiles is not None:
        return engine._vs_profiles
    table: dict[str, str] = {}
    vs = CORE + "vitalsigns"
    for url, sd in engine.reg.sds.items():
        if sd.get("baseDefinition") != vs or sd.get("type") != "Observation":
            continue
        for el in sd.get("elements") or ():
            if el.get("path") == "Observation.code.coding.code" and ":" in el.get("id", "") \
                    and el.get("fixedCode"):
                table.setdefault(el["fixedCode"], url)
            if el.get("path") == "Observation.code.coding" and el.get("patternCoding"):
                pc = el["patternCoding"]
                if pc.get("system") == "http://loinc.org" and pc.get("code"):
                    table.setdefault(pc["code"], url)
    engine._vs_profiles = table
    return table


def implicit_profiles(engine, res: dict) -> list[str]:
    """Core profiles the reference validator applies without being asked: the vital-signs
    profiles for an Observation carrying a vital-sign code."""
    if res.get("resourceType") != "Observation":
        return []
    code = res.get("code")
    if not isinstance(code, dict) or not isinstance(code.get("coding"), list):
        return []
    table = _vital_profiles(engine)
    out = []
    for c in code["coding"]:
        if not isinstance(c, dict):
            continue
        loinc = None
        if c.get("system") == "http://loinc.org":
            loinc = c.get("code")
        elif c.get("system") == "http://snomed.info/sct":
            loinc = _SNOMED_VITALS.get(c.get("code"))
        url = table.get(loinc) if loinc else None
        if url and url not in out:
            out.append(url)
    return out


# ---------------------------------------------------------------- primitives
def check_primitive(engine, value, ext, node, tcode, expr, ctx):
    if value is not None:
        if isinstance(value, (dict, list)):
            ctx.add("error", "structure",
                    f"The property must be a JSON primitive ({tcode}), not "
                    f"{'an Object' if isinstance(value, dict) else 'an Array'}", expr)
            return
        msg = CHECKERS[tcode](value)
        if msg:
            ctx.add("error", "invalid", msg, expr)
            return
    if ext is not None:
        if not isinstance(ext, dict):
            ctx.add("error", "structure", "A primitive extension (_name) must be a JSON object",
                    expr)
        else:
            root = engine.type_root(tcode)
            if root is not None:
                engine.walk_complex(ext, root, tcode, expr, ctx)
    if value is None:
        if node.binding and node.binding[0] == "required" and tcode == "code":
            ctx.add("error", "code-invalid",
                    "No code provided, and a code is required from the value set", expr,
                    source=node.binding[1])
        return
    element_value_rules(engine, value, node, tcode, expr, ctx)


# ---------------------------------------------------------------- value rules
def element_value_rules(engine, value, node, tcode, expr, ctx):
    if node.fixed is not None:
        check_fixed(value, node.fixed[1], expr, ctx, node)
    if node.pattern is not None:
        if not matches_pattern(value, node.pattern[1]):
            ctx.add("error", "value",
                    f"The value does not match the pattern required by the profile "
                    f"({_short(node.pattern[1])})", expr, source=node.source())
    if node.min_value is not None or node.max_value is not None:
        check_range(value, node, tcode, expr, ctx)
    if node.max_length is not None and isinstance(value, str) and len(value) > node.max_length:
        ctx.add("error", "too-long", f"The value exceeds the allowed length {node.max_length}",
                expr, source=node.source())
    if node.binding is not None and node.binding[0] in ("required", "extensible"):
        check_binding(engine, value, node, tcode, expr, ctx)


def _short(v) -> str:
    import json
    s = json.dumps(v, separators=(",", ":"))
    return s if len(s) < 120 else s[:117] + "..."


def check_fixed(value, fixed, expr, ctx, node):
    if isinstance(fixed, dict):
        if not isinstance(value, dict):
            ctx.add("error", "value", "The value does not match the fixed value", expr,
                    source=node.source())
            return
        for k, v in value.items():
            if k not in fixed:
                ctx.add("error", "value",
                        f"The element {k} is present in the instance but not allowed in the "
                        f"applicable fixed value specified in profile", f"{expr}.{k}",
                        source=node.source())
        for k, fv in fixed.items():
            if k not in value:
                ctx.add("error", "value", f"Missing element '{k}' - required by fixed value",
                        expr, source=node.source())
            else:
                check_fixed(value[k], fv, f"{expr}.{k}", ctx, node)
        return
    if isinstance(fixed, list):
        if not isinstance(value, list) or len(value) != len(fixed):
            ctx.add("error", "value", "The value does not match the fixed value", expr,
                    source=node.source())
            return
        for i, (a, b) in enumerate(zip(value, fixed)):
            check_fixed(a, b, f"{expr}[{i}]", ctx, node)
        return
    if value != fixed or type(value) is bool and type(fixed) is not bool:
        ctx.add("error", "value", f"Value is '{value}' but must be '{fixed}'", expr,
                source=node.source())


def matches_pattern(value, pattern) -> bool:
    """FHIR pattern semantics: every element of the pattern is present in the value; arrays
    match when each pattern item matches some value item."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(k in value and matches_pattern(value[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        return all(any(matches_pattern(v, p) for v in value) for p in pattern)
    return value == pattern


_UCUM_TIME = {"a": 365.25 * 86400, "mo": 30.4375 * 86400, "wk": 7 * 86400, "d": 86400,
              "h": 3600, "min": 60, "s": 1}


def check_range(value, node, tcode, expr, ctx):
    for bound, is_min in ((node.min_value, True), (node.max_value, False)):
        if bound is None:
            continue
        btype, bval = bound
        bad = False
        shown = bval
        if btype in ("Integer", "Decimal", "PositiveInt", "UnsignedInt"):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                bad = value < bval if is_min else value > bval
        elif btype in ("Date", "DateTime", "Instant") and isinstance(value, str):
            a, b = date_key(value), date_key(bval)
            if a is not None and b is not None:
                bad = a < b if is_min else a > b
        elif btype in ("Quantity", "Duration", "Age", "Count", "Distance") and isinstance(bval, dict):
            if isinstance(value, dict):
                if value.get("system") == bval.get("system") and value.get("code") == bval.get(
                        "code") and isinstance(value.get("value"), (int, float)):
                    bad = value["value"] < bval.get("value", 0) if is_min else \
                        value["value"] > bval.get("value", 0)
            elif isinstance(value, str) and bval.get("code") in _UCUM_TIME:
                # a Duration bound on a date: relative to today
                a = date_key(value)
                secs = _UCUM_TIME[bval["code"]] * float(bval.get("value", 0))
                ref = _dt.datetime.now() - _dt.timedelta(seconds=secs)
                shown = f"{bval.get('value')} {bval.get('code')} before now"
                if a is not None:
                    bad = a < ref if is_min else a > ref
        if bad:
            ctx.add("error", "invalid",
                    f"The value is {'less' if is_min else 'greater'} than the permitted "
                    f"{'minimum' if is_min else 'maximum'} value of {_short(shown)}", expr,
                    source=node.source())


# ---------------------------------------------------------------- terminology
def _codings(value, tcode):
    if tcode == "CodeableConcept":
        return [c for c in value.get("coding") or () if isinstance(c, dict)]
    if tcode == "Coding":
        return [value]
    if tcode == "Quantity" or tcode in ("Age", "Duration", "Count", "Distance", "SimpleQuantity",
                                         "MoneyQuantity"):
        if value.get("code") is None:
            return []
        return [{"system": value.get("system"), "code": value.get("code")}]
    return None


def check_binding(engine, value, node, tcode, expr, ctx):
    strength, vs_url = node.binding
    sev = "error" if strength == "required" else "warning"
    if isinstance(value, str):
        if tcode not in ("code",):
            return
        exp = engine.reg.expansion(vs_url)
        if exp is None:
            ctx.add("warning", "not-found", f"ValueSet {vs_url} is not known: code not checked",
                    expr, source=vs_url)
            return
        if exp["open"]:
            return
        if not any(value in codes for codes in exp["codes"].values()):
            ctx.add(sev, "code-invalid",
                    f"The value provided ('{value}') was not found in the value set {vs_url}"
                    + (", and a code is required from this value set" if sev == "error" else ""),
                    expr, source=vs_url)
        return
    if not isinstance(value, dict):
        return
    codings = _codings(value, tcode)
    if codings is None:
        return
    exp = engine.reg.expansion(vs_url)
    if exp is None:
        ctx.add("warning", "not-found", f"ValueSet {vs_url} is not known: codes not checked",
                expr, source=vs_url)
        return
    if not codings:
        if strength == "required" and tcode == "CodeableConcept" and not exp["open"]:
            ctx.add("error", "code-invalid",
                    "No code provided, and a code is required from the value set", expr,
                    source=vs_url)
        return
    unchecked = False
    for c in codings:
        system, code = c.get("system"), c.get("code")
        if code is None:
            continue
        cs = engine.reg.codesystem(system) if tcode != "Quantity" else None
        if cs is not None and cs.get("content") in (None, "complete") and code not in cs["_set"]:
            return  # reported once, as an unknown code of its code system
        if system in exp["codes"] and code in exp["codes"][system]:
            return
        if system in exp["open"] or "*" in exp["open"]:
            unchecked = True
            if system in EXTERNAL_SYSTEMS:
                ctx.unchecked_systems.add(EXTERNAL_SYSTEMS[system])
        if system is None and any(code in s for s in exp["codes"].values()):
            return
    if unchecked:
        return
    # a code from a complete local code system outside the value set; codes of unknown
    # systems in an extensible binding are allowed in substance only with a warning
    shown = ", ".join(f"{c.get('system')}#{c.get('code')}" for c in codings)
    ctx.add(sev, "code-invalid",
            f"The code provided ({shown}) was not found in the value set {vs_url}"
            + (", and a code from this value set is required" if sev == "error" else ""),
            expr, source=vs_url)


def check_coding_system(engine, value, node, expr, ctx):
    """A code whose system is a complete code system we hold must be in it."""
    system, code = value.get("system"), value.get("code")
    if not isinstance(system, str) or not isinstance(code, str):
        return
    cs = engine.reg.codesystem(system)
    if cs is None:
        if system in EXTERNAL_SYSTEMS:
            ctx.unchecked_systems.add(EXTERNAL_SYSTEMS[system])
        return
    if cs.get("content") not in (None, "complete"):
        return
    if code in cs["_set"]:
        return
    if cs.get("caseSensitive") is False and code.lower() in {c.lower() for c in cs["_set"]}:
        return
    ctx.add("error", "code-invalid", f"Unknown code '{code}' in the CodeSystem '{system}'",
            f"{expr}.code", source=system)


def _type_coding(engine, obj, node, expr, ctx):
    check_coding_system(engine, obj, node, expr, ctx)


def _type_cc(engine, obj, node, expr, ctx):
    pass  # codings are visited as Coding values


# ---------------------------------------------------------------- references
def _target_types(engine, node) -> list[str] | None:
    types = []
    for t in node.types:
        if t.code != "Reference":
            continue
        if not t.targets:
            return None
        for url in t.targets:
            sd = engine.reg.sd(url)
            tt = sd.get("type") if sd else url.rsplit("/", 1)[-1]
            if tt in ("Resource", "DomainResource"):
                return None
            types.append(tt)
    return types or None


def _type_reference(engine, obj, node, expr, ctx):
    ref = obj.get("reference")
    if not isinstance(ref, str):
        return
    allowed = _target_types(engine, node)
    rtype = None
    resolved = False
    if ref.startswith("#"):
        root = ctx.root
        if ref != "#" and root is not None:
            found = None
            for c in root.get("contained") or ():
                if isinstance(c, dict) and c.get("id") == ref[1:]:
                    found = c
                    break
            if found is None:
                ctx.add("error", "structure",
                        f"The contained resource '{ref}' is not found in the resource",
                        f"{expr}.reference")
                return
            rtype = found.get("resourceType")
            resolved = True
    else:
        m = _REL_REF.match(ref) or _ABS_REF.match(ref)
        if m:
            rtype = m.group(1) if m.re is _REL_REF else m.group(2)
            if not engine.reg.is_resource_type(rtype):
                if m.re is _REL_REF:
                    ctx.add("error", "structure",
                            f"Invalid reference '{ref}': '{rtype}' is not a resource type",
                            f"{expr}.reference")
                    return
                rtype = None
        elif ref.startswith(("urn:uuid:", "urn:oid:")) and ctx.bundle is not None:
            from .fhirpath import _resolve_one
            target = _resolve_one(ref)
            if target is None:
                ctx.add("warning", "not-found",
                        f"The reference '{ref}' is not found in the bundle", f"{expr}.reference")
                return
            rtype = target.get("resourceType")
            resolved = True
        elif not _ABS_URL.match(ref) and not _COND_REF.match(ref):
            ctx.add("error", "invalid", f"Invalid reference '{ref}': expected Type/id, an "
                    "absolute URL or #id", f"{expr}.reference")
            return
    if m_rel_or_abs(ref) and ctx.bundle is not None:
        from .fhirpath import _resolve_one
        target = _resolve_one(ref)
        if isinstance(target, dict):
            rtype = target.get("resourceType") or rtype
            resolved = True
    if isinstance(obj.get("type"), str) and rtype and obj["type"] != rtype:
        ctx.add("error", "structure",
                f"The reference type '{obj['type']}' does not match the reference '{ref}'",
                f"{expr}.type")
    if allowed and rtype and rtype not in allowed:
        # a target found in the resource or bundle is certain; a type read from an external
        # URL is only what the URL says
        sev = "error" if resolved else "warning"
        ctx.add(sev, "structure",
                f"The type '{rtype}' is not valid for this reference (allowed: "
                f"{', '.join(allowed)})", f"{expr}.reference", source=node.source())


def m_rel_or_abs(ref: str) -> bool:
    return bool(_REL_REF.match(ref) or _ABS_REF.match(ref))


def _type_narrative(engine, obj, node, expr, ctx):
    div = obj.get("div")
    if isinstance(div, str) and "<script" in div.lower():
        ctx.add("error", "invalid", "The narrative contains a script element", f"{expr}.div")


TYPE_RULES = {
    "Coding": _type_coding,
    "Reference": _type_reference,
    "Narrative": _type_narrative,
}


# ---------------------------------------------------------------- invariants
def _present(obj) -> set:
    out = set()
    for k in obj:
        if k[:1] == "_":
            k = k[1:]
        out.add(k)
        for i, ch in enumerate(k):
            if ch.isupper():
                out.add(k[:i])
                break
    return out


def check_constraints(engine, obj, node, extra, expr, ctx):
    present = None
    for c in (node.constraints + extra) if extra else node.constraints:
        if c.fn is None and c.key == "ref-1":
            ref = obj.get("reference")
            if isinstance(ref, str) and ref.startswith("#") and ref != "#":
                root = ctx.root or {}
                ids = [r.get("id") for r in root.get("contained") or () if isinstance(r, dict)]
                if ref[1:] not in ids:
                    ctx.add("error", "invariant", f"Constraint failed: ref-1: '{c.human}'", expr,
                            source=f"ref-1|{c.source}", diagnostics=c.expression)
            continue
        if c.fn is None and c.key == "dom-3":
            contained = obj.get("contained")
            if isinstance(contained, list) and contained:
                refs = set()
                _hash_refs(obj, refs)
                for r in contained:
                    if not isinstance(r, dict) or not isinstance(r.get("id"), str):
                        continue
                    if "#" + r["id"] in refs:
                        continue
                    inner = set()
                    _hash_refs(r, inner)
                    if "#" in inner:
                        continue
                    ctx.add("error", "invariant", f"Constraint failed: dom-3: '{c.human}' "
                            f"(unmatched: {r['id']})", expr, source=f"dom-3|{c.source}",
                            diagnostics=c.expression)
            continue
        if c.fn is None and c.key == "qty-3":
            if "code" in obj and "system" not in obj:
                ctx.add("error", "invariant", f"Constraint failed: qty-3: '{c.human}'", expr,
                        source=f"qty-3|{c.source}", diagnostics=c.expression)
            continue
        if c.fn is None and c.key == "dom-6":
            text = obj.get("text")
            if not (isinstance(text, dict) and "div" in text):
                ctx.add("warning", "invariant", f"Constraint failed: dom-6: '{c.human}'", expr,
                        source=f"dom-6|{c.source}", diagnostics=c.expression)
            continue
        if c.fn is None and c.key == "per-1":
            if not period_ok(obj.get("start"), obj.get("end")):
                ctx.add("error", "invariant", f"Constraint failed: per-1: '{c.human}'", expr,
                        source=f"per-1|{c.source}", diagnostics=c.expression)
            continue
        if c.fn is None and c.key in ("ele-1", "ext-1"):
            if c.key == "ext-1":
                has_ext = bool(obj.get("extension"))
                has_val = any(k.startswith("value") for k in obj)
                if has_ext == has_val:
                    ctx.add("error", "invariant",
                            "Constraint failed: ext-1: 'Must have either extensions or value[x], "
                            "not both'", expr, source=f"ext-1|{c.source}")
            continue
        if present is None:
            present = _present(obj)
        ok = c.evaluate(obj, present, ctx.root)
        if ok is False:
            sev = "error" if c.severity == "error" else "warning"
            ctx.add(sev, "invariant", f"Constraint failed: {c.key}: '{c.human}'", expr,
                    source=f"{c.key}|{c.source}", diagnostics=c.expression)


def _hash_refs(v, out: set):
    """Every string starting with '#' in a resource (references, canonicals, uris)."""
    if isinstance(v, dict):
        for x in v.values():
            _hash_refs(x, out)
    elif isinstance(v, list):
        for x in v:
            _hash_refs(x, out)
    elif isinstance(v, str) and v[:1] == "#":
        out.add(v)


def period_ok(start, end) -> bool:
    """per-1 natively (Period is everywhere): start <= end. Values of different precision
    that agree on their common precision cannot be ordered; like the reference validator,
    that is not a pass (FHIRPath gives an empty result, which the reference treats as false)."""
    if not isinstance(start, str) or not isinstance(end, str):
        return True
    a, b = date_key(start), date_key(end)
    if a is None or b is None:
        return True
    if ("T" in start) == ("T" in end) and len(start.split("T")[0]) == len(end.split("T")[0]):
        return a <= b
    n = min(len(start.split("T")[0]), len(end.split("T")[0]))
    ca, cb = start[:n], end[:n]
    if ca != cb:
        return ca < cb
    return False


# ---------------------------------------------------------------- extensions
def unknown_extension(engine, url, expr, ctx):
    ctx.add("warning", "extension", f"Unknown extension {url}", expr, source=url)


def check_extension_context(engine, ext_cs, node, expr, ctx):
    contexts = ext_cs.sd.get("context") or []
    if not contexts:
        return
    # the element holding the extension, as a path from its resource (indexes removed) and
    # as the path of its definition (a data type's path when it came from the type)
    hosts = set()
    if ctx.res_stack:
        res_expr, rt = ctx.res_stack[-1]
        rel = expr[len(res_expr):] if expr.startswith(res_expr) else ""
        rel = re.sub(r"\[\d+\]", "", rel)
        hosts.add((rt + rel).rsplit(".", 1)[0])
        hosts.add(rt)
    hosts.add(node.path.rsplit(".", 1)[0])
    hosts |= {h.replace("[x]", "") for h in hosts}
    for c in contexts:
        t, e = c.get("type"), (c.get("expression") or "").replace("[x]", "")
        if t in ("fhirpath", "extension") or e in ("Element", "Resource", "DomainResource",
                                                    "Base", "*", "BackboneElement"):
            return
        for h in hosts:
            if e == h or (h.startswith(e + ".") and False) or _host_is_type(engine, h, e):
                return
            # a choice host: Observation.value -> context Observation.value[x]
            if h.startswith(e) and h[len(e):][:1].isupper():
                return
    ctx.add("warning", "extension",
            f"The extension {ext_cs.url} is not allowed to be used at this point (allowed: "
            f"{', '.join(str(c.get('expression')) for c in contexts)})", expr,
            source=ext_cs.url)


def _host_is_type(engine, host, e) -> bool:
    """A context naming a data type (Address, CodeableConcept ...) matches elements of that
    type: the host path names the type, or the host element in its resource is of it."""
    if e == host:
        return True
    sd = engine.reg.sd(CORE + e.split(".")[0])
    if not (sd and sd.get("kind") in ("complex-type", "primitive-type")):
        return False
    if "." in e:
        return host.endswith(e)
    rt = host.split(".")[0]
    cs = engine.compiled(CORE + rt) if "." in host else None
    if cs is None:
        return False
    n = cs.by_id.get(host)
    if n is None:
        # choice hosts (valueCodeableConcept -> value[x])
        for k, cand in cs.by_id.items():
            if cand.choice and host.startswith(cand.path[:-3]):
                n = cand
                break
    return bool(n and any(t.code == e for t in n.types))


# ---------------------------------------------------------------- slicing
def _values_at(engine, item, path: str):
    if path in ("$this", ""):
        return [item]
    vals = [item]
    for kind, seg in _segments(path):
        nxt = []
        for v in vals:
            if not isinstance(v, dict):
                continue
            if kind == "ext":
                nxt += [e for e in v.get("extension") or () if isinstance(e, dict)
                        and e.get("url") == seg]
                continue
            if kind == "resolve":
                from .fhirpath import _resolve_one
                r = _resolve_one(v)
                if r is not None:
                    nxt.append(r)
                continue
            seg2 = seg
            x = v.get(seg2)
            if x is None and seg2 not in v:
                for k, val in v.items():
                    if k.startswith(seg2) and k[len(seg2):][:1].isupper():
                        x = val
                        break
            if isinstance(x, list):
                nxt += x
            elif x is not None:
                nxt.append(x)
        vals = nxt
    return vals


from functools import lru_cache as _lru


@_lru(maxsize=1024)
def _segments(path: str) -> tuple:
    """Discriminator path -> ((kind, name), ...): kind is 'ext' (extension('url')),
    'resolve' or 'el' (ofType() stripped)."""
    out = []
    for seg in path.split("."):
        m = re.match(r"^extension\(['\"](.+)['\"]\)$", seg)
        if m:
            out.append(("ext", m.group(1)))
        elif seg == "resolve()":
            out.append(("resolve", ""))
        else:
            out.append(("el", re.sub(r"\.?ofType\((\w+)\)$", "", seg)))
    return tuple(out)


def _nodes_at(engine, node, path: str) -> list:
    key = (id(node), path)
    hit = _NODES_AT.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    got = _nodes_at_uncached(engine, node, path)
    _NODES_AT[key] = (node, got)
    return got


_NODES_AT: dict = {}


def _nodes_at_uncached(engine, node, path: str) -> list:
    """Element definitions reached by a discriminator path from a slice; a path through a
    sliced element also reaches its required slices (code.coding.code -> coding:SBPCode.code)."""
    if path in ("$this", ""):
        return [node]
    cur = [node]
    for kind, seg in _segments(path):
        if kind != "el":
            return []
        nxt = []
        for n in cur:
            kids, _, _ = engine.type_info(n, None)
            hit = kids.get(seg)
            if hit is None:
                for _name, (k, t) in kids.items():
                    if k.name == seg:
                        hit = (k, t)
                        break
            if hit is None:
                continue
            nxt.append(hit[0])
            nxt += [sl for sl in hit[0].slices if sl.min >= 1]
        cur = nxt
    return cur


def _node_at(engine, node, path: str):
    got = _nodes_at(engine, node, path)
    return got[0] if got else None


def _expected(node, depth=0):
    """The value a value/pattern discriminator expects at `node`: its fixed or pattern value,
    or (as the reference validator does) the pattern its required descendants and slices
    fix, e.g. code.coding:SBPCode with fixed system and code -> {"coding": [{...}]}."""
    if node.fixed is not None:
        return node.fixed[1]
    if node.pattern is not None:
        return node.pattern[1]
    if depth > 4 or not node.has_explicit:
        return None
    out = {}
    seen = set()
    for name, (child, _t) in node.explicit.items():
        if id(child) in seen or child.choice:
            continue
        seen.add(id(child))
        subs = []
        if child.slices:
            for sl in child.slices:
                if sl.min >= 1:
                    e = _expected(sl, depth + 1)
                    if e is not None:
                        subs.append(e)
        e = _expected(child, depth + 1) if not subs else None
        if subs:
            out[name] = subs
        elif e is not None:
            out[name] = [e] if child.is_array and not isinstance(e, list) else e
    return out or None


def _matches(engine, item, sl, slicing, ctx) -> bool:
    for d in slicing.get("discriminator") or ():
        dtype, path = d.get("type"), d.get("path", "$this")
        vals = _values_at(engine, item, path)
        target = _node_at(engine, sl, path)
        if dtype in ("value", "pattern"):
            expected = None
            for cand in _nodes_at(engine, sl, path):
                expected = _expected(cand)
                if expected is not None:
                    break
            if expected is None and path == "url" and sl.types and sl.types[0].profiles:
                expected = sl.types[0].profiles[0]
            if expected is None and target is not None and target.binding and \
                    target.binding[0] == "required":
                exp = engine.reg.expansion(target.binding[1])
                if exp is None:
                    return False
                ok = False
                for v in vals:
                    cods = _codings(v, "CodeableConcept" if isinstance(v, dict) and "coding" in v
                                    else "Coding") if isinstance(v, dict) else None
                    if isinstance(v, str):
                        ok = ok or any(v in cs for cs in exp["codes"].values())
                    for c in cods or ():
                        ok = ok or c.get("code") in exp["codes"].get(c.get("system"), ())
                if not ok:
                    return False
                continue
            if expected is None:
                continue
            if not any(matches_pattern(v, expected) for v in vals):
                return False
        elif dtype == "type":
            if target is None:
                return False
            allowed = {t.code for t in target.types}
            got = set()
            for v in vals:
                if isinstance(v, dict) and "resourceType" in v:
                    got.add(v["resourceType"])
            if path not in ("$this", "") and not got:
                # a choice: the JSON name tells the type
                stem = path.rsplit(".", 1)[-1].replace("[x]", "")
                parent_vals = _values_at(engine, item, path.rsplit(".", 1)[0]) if "." in path \
                    else [item]
                for pv in parent_vals:
                    if isinstance(pv, dict):
                        for k in pv:
                            if k.startswith(stem) and k[len(stem):][:1].isupper():
                                got.add(k[len(stem):])
            if not got or not any(g in allowed or g[:1].lower() + g[1:] in allowed for g in got):
                return False
        elif dtype == "profile":
            if target is None:
                return False
            profs = [p for t in target.types for p in t.profiles]
            if not profs:
                continue
            ok = False
            for v in vals:
                if not isinstance(v, dict):
                    continue
                for p in profs:
                    cs = engine.compiled(p)
                    if cs is None or cs.type != v.get("resourceType"):
                        continue
                    sub = type(ctx)(ctx.strict)
                    sub.bundle = ctx.bundle
                    engine.validate_resource(v, [p], None, sub)
                    if not any(i.is_error for i in sub.issues):
                        ok = True
                        break
                if ok:
                    break
            if not ok:
                return False
        elif dtype == "exists":
            want = target.min > 0 if target is not None else True
            if bool(vals) != want:
                return False
    return True


def check_slicing(engine, obj, child, expr, ctx):
    slicing = child.slicing or {}
    # the JSON name of the sliced element
    name = child.name
    val = obj.get(name)
    items = val if isinstance(val, list) else ([val] if val is not None else [])
    slices = child.slices
    if not slices and not slicing:
        return
    rules_ = slicing.get("rules", "open")
    ordered = slicing.get("ordered", False)
    is_ext = name in ("extension", "modifierExtension")
    if is_ext and not slicing.get("discriminator"):
        slicing = dict(slicing, discriminator=[{"type": "value", "path": "url"}])
    counts = [0] * len(slices)
    last_slice = -1
    unmatched_seen = False
    for i, item in enumerate(items):
        iexpr = f"{expr}.{name}[{i}]" if child.is_array else f"{expr}.{name}"
        hit = None
        for si, sl in enumerate(slices):
            if _matches(engine, item, sl, slicing, ctx):
                hit = si
                break
        if hit is None:
            if rules_ == "closed":
                ctx.add("error", "structure",
                        f"This element does not match any known slice defined in the profile "
                        f"{child.sd_url} (slicing of {child.path} is closed)", iexpr,
                        source=child.source())
            unmatched_seen = True
            continue
        if rules_ == "openAtEnd" and unmatched_seen:
            ctx.add("error", "structure", "Slices must come before unmatched items "
                    f"(slicing of {child.path} is open at end)", iexpr, source=child.source())
        if ordered and hit < last_slice:
            ctx.add("error", "structure", f"The element is out of order (slicing of {child.path}"
                    " is ordered)", iexpr, source=child.source())
        last_slice = max(last_slice, hit)
        counts[hit] += 1
        sl = slices[hit]
        tcode = sl.types[0].code if len(sl.types) == 1 else None
        if tcode is not None and not isinstance(item, dict) and tcode[:1].islower():
            engine.walk_value(item, None, sl, tcode, iexpr, ctx)
            continue
        if isinstance(item, dict):
            if tcode in ("Resource",) or (tcode and engine.reg.is_resource_type(tcode)):
                engine.walk_value(item, None, sl, tcode, iexpr, ctx)
            else:
                engine.walk_complex(item, sl, tcode, iexpr, ctx)
                element_value_rules(engine, item, sl, tcode, iexpr, ctx)
    for si, sl in enumerate(slices):
        label = f"{child.path}:{sl.slice_name}"
        if counts[si] < sl.min:
            ctx.add("error", "structure",
                    f"Slice '{label}': a matching slice is required, but not found"
                    + (f" (found {counts[si]}, required {sl.min})" if counts[si] else ""),
                    expr, source=sl.source())
        if sl.max is not None and counts[si] > sl.max:
            ctx.add("error", "structure", f"{label}: max allowed = {sl.max}, but found {counts[si]}",
                    expr, source=sl.source())


# ---------------------------------------------------------------- Bundle
def bundle_rules(engine, bundle, expr, ctx):
    seen: dict[str, int] = {}
    btype = bundle.get("type")
    for i, e in enumerate(bundle.get("entry") or ()):
        if not isinstance(e, dict):
            continue
        full = e.get("fullUrl")
        if isinstance(full, str):
            if not _ABS_URL.match(full):
                ctx.add("error", "invalid", f"The fullUrl must be an absolute URL (not '{full}')",
                        f"{expr}.entry[{i}]")
            res = e.get("resource")
            if isinstance(res, dict) and isinstance(res.get("id"), str) and \
                    full.startswith(("http://", "https://")) and \
                    not full.endswith(f"/{res.get('resourceType')}/{res['id']}"):
                ctx.add("error", "invalid",
                        f"The fullUrl '{full}' does not match the resource id "
                        f"'{res.get('resourceType')}/{res['id']}'", f"{expr}.entry[{i}]")
            if btype not in ("history",) and full in seen:
                vid = None
                if isinstance(res, dict) and isinstance(res.get("meta"), dict):
                    vid = res["meta"].get("versionId")
                if vid is None:
                    ctx.add("error", "duplicate",
                            f"Duplicate fullUrl '{full}' (also in entry {seen[full]})",
                            f"{expr}.entry[{i}]")
            seen.setdefault(full, i)
