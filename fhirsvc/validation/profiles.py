"""Which profiles a resource is validated against: the ones asked for (the caller's, the
element's type profiles), meta.profile, the guide's global profiles, in strict runs the guide's
profile for the type, and the core vital-signs profiles the reference validator applies
implicitly. The walker walks the resource once per profile returned."""
from __future__ import annotations

from .run import issue

CORE = "http://hl7.org/fhir/StructureDefinition/"

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


def implicit_profiles(resource: dict, run) -> list[str]:
    """The vital-signs profiles for an Observation carrying a vital-sign code."""
    if resource.get("resourceType") != "Observation":
        return []
    code = resource.get("code")
    if not isinstance(code, dict) or not isinstance(code.get("coding"), list):
        return []
    table = run.defs.vital_profiles()
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


def applicable(resource: dict, asked: list[str], location: str, run):
    """(compiled profiles to walk, issues, guide profiles of which one must fit or None).

    An unknown profile is a warning (an error in strict runs); a profile whose snapshot
    cannot be generated is always an error; a profile for another type is an error. A
    profile derived from another one in the list already carries its rules."""
    rt = resource.get("resourceType")
    urls: list[str] = list(asked)
    meta = resource.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("profile"), list):
        urls += [p for p in meta["profile"] if isinstance(p, str)]
    urls += run.reg.global_profiles.get(rt, ())
    one_of = None
    if run.strict:
        guide = run.reg.guide_profiles_by_type.get(rt) or ()
        if guide and not any(u in guide for u in urls):
            if len(guide) == 1:
                urls.append(guide[0])
            else:
                one_of = list(guide)
    urls += implicit_profiles(resource, run)
    # the same profile list for the same type gives the same answer in a generation: kept
    # with the rule plans when it has nothing to report (issues carry locations)
    key = ("applicable", rt, tuple(urls), run.strict, one_of is None)
    hit = run.defs.plans.get(key)
    if hit is not None:
        return hit, [], one_of
    out, issues, seen = [], [], set()
    for url in urls:
        if url in seen:
            continue
        seen.add(url)
        where = f"{location}.meta.profile" if url not in asked else location
        cs = run.defs.compiled(url)
        if cs is None:
            reason = run.defs.broken(url)
            if reason:
                issues.append(issue("error", "invalid",
                                    f"Profile {url} cannot be used: its snapshot cannot be "
                                    f"generated: {reason}", where, source=url))
            elif run.strict:
                issues.append(issue("error", "not-found", f"Profile reference '{url}' has not "
                                    "been checked because it is unknown", where, source=url))
            else:
                issues.append(issue("warning", "informational", f"Profile reference '{url}' "
                                    "has not been checked because it is unknown", where,
                                    source=url))
            continue
        if cs.type != rt:
            issues.append(issue("error", "invalid", f"The profile {url} is for {cs.type}, not {rt}",
                                location, source=url))
            continue
        out.append(cs)
    ancestors = set()
    for cs in out:
        base = cs.sd.get("baseDefinition")
        hops = 0
        while base and hops < 20:
            ancestors.add(base)
            b = run.reg.sd(base)
            base = b.get("baseDefinition") if b else None
            hops += 1
    walked = [cs for cs in out if cs.url not in ancestors]
    if not issues:
        run.defs.plans[key] = walked
    return walked, issues, one_of


def snomed_vital_sign(code: str | None) -> str | None:
    """The LOINC code of the vital-signs profile this validator applies to a SNOMED CT code
    (None when it applies none): for converters, so they can say what a message lacks."""
    return _SNOMED_VITALS.get(code) if code else None
