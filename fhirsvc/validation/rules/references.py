"""References (value scope, type Reference): format, local and bundle targets, target types."""
from __future__ import annotations

import re

from ...wire import ID_PATTERN
from ..fhirpath import bundle_versions, resolve_reference
from ..run import issue

CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
ABS_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_REL_REF = re.compile(rf"^([A-Z][A-Za-z]+)/({ID_PATTERN})(/_history/{ID_PATTERN})?$")
_COND_REF = re.compile(r"^[A-Z][A-Za-z]+\?\S*$")  # conditional reference (transactions)
_ABS_REF = re.compile(rf"^(https?://.+/)?([A-Z][A-Za-z]+)/({ID_PATTERN})(/_history/{ID_PATTERN})?$")


def _target_types(element, run) -> list[str] | None:
    """The resource types an element's references may target (None: any), once per element
    and generation (kept with the rule plans)."""
    key = ("reference targets", element)
    got = run.defs.plans.get(key, False)
    if got is False:
        got = run.defs.plans[key] = _compute_target_types(element, run)
    return got


def _versions(ref: str, m, versions: tuple, where: str):
    """A bundle holding several versions of one resource: an unversioned reference to it is
    ambiguous, a versioned one must name a version the bundle has. `versions`: the
    versionIds of the bundle's resources with the reference's Type/id (_in_bundle)."""
    # _REL_REF: (type, id, history); _ABS_REF: (base, type, id, history)
    history = m.group(4 if m.re is _ABS_REF else 3)
    if history:
        vid = history.rsplit("/", 1)[-1]
        if versions and vid not in versions:
            return (issue("error", "not-found", f"Can't find '{ref}' in the bundle. Note that "
                          f"there are {len(versions)} resources in the bundle with the same "
                          "type and id, but none with this version", where),)
        return ()
    if len(versions) > 1:
        return (issue("error", "invalid", f"Found {len(versions)} matches for '{ref}' in the "
                      "bundle (versions of one resource): the reference must name the version",
                      where),)
    return ()


def _in_bundle(run, ref: str, identity: str | None):
    """All the reference rule takes from the bundle around a reference (a Run.probe, so a
    Reference's verdict is kept beside it): (the versionIds of the bundle's resources
    Type/id when the bundle's type makes versions matter, else None; whether the reference
    resolves to an entry; that entry's resourceType)."""
    versions = None
    if identity is not None and run._bundle.get("type") not in ("history", "transaction",
                                                                 "batch"):
        versions = tuple(r["meta"].get("versionId") if isinstance(r.get("meta"), dict)
                         else None for r in bundle_versions(identity))
    target = resolve_reference(ref)
    if isinstance(target, dict):
        return versions, True, target.get("resourceType")
    return versions, target is not None, None


def _narrowed_by_profile(element, run) -> bool:
    sd = run.reg.sd(getattr(element, "sd_url", None))
    return bool(sd) and sd.get("derivation") == "constraint"


def _unknown_target_profiles(element, run) -> list[str]:
    """The target profiles of a profile's Reference element when none of them is known (a
    core or known one among them leaves the check to the types)."""
    urls = [u for t in element.types if t.code == "Reference" for u in t.targets]
    if not urls or any(u.startswith(CORE_SD) or run.reg.sd(u) is not None for u in urls):
        return []
    return urls if _narrowed_by_profile(element, run) else []


def _compute_target_types(element, run) -> list[str] | None:
    types = []
    for t in element.types:
        if t.code != "Reference":
            continue
        if not t.targets:
            return None
        for url in t.targets:
            sd = run.reg.sd(url)
            if sd is None and not url.startswith(CORE_SD):
                return None  # an unknown target profile: its type is unknown, any may fit
            tt = sd.get("type") if sd else url.rsplit("/", 1)[-1]
            if tt in ("Resource", "DomainResource"):
                return None
            types.append(tt)
    return types or None


def _in_parameters(top, rtype: str, rid: str) -> dict | None:
    """The resource Type/id among the resources of a Parameters (parameter and part, at any
    depth), when the validated resource is one."""
    if not isinstance(top, dict) or top.get("resourceType") != "Parameters":
        return None
    stack = [top.get("parameter")]
    while stack:
        params = stack.pop()
        for p in params if isinstance(params, list) else ():
            if not isinstance(p, dict):
                continue
            r = p.get("resource")
            if isinstance(r, dict) and r.get("resourceType") == rtype and r.get("id") == rid:
                return r
            stack.append(p.get("part"))
    return None


def reference(value, element, type_code, location, run):
    """Reference.reference is Type/id, an absolute URL, a conditional reference, a contained
    '#id' or an entry of the bundle; its target is of a type the element allows (an error
    when the target is found, a warning when only the URL names its type)."""
    if value.__class__ is not dict:
        return ()
    ref = value.get("reference")
    if not isinstance(ref, str):
        return ()
    where = f"{location}.reference"
    rtype = None
    resolved = False
    rel = abs_ = None
    if ref.startswith("#"):
        root = run.root
        if ref != "#" and root is not None:
            found = None
            for c in root.get("contained") or ():
                if isinstance(c, dict) and c.get("id") == ref[1:]:
                    found = c
                    break
            if found is None:
                return (issue("error", "structure",
                              f"The contained resource '{ref}' is not found in the resource",
                              where),)
            rtype = found.get("resourceType")
            resolved = True
    else:
        rel = _REL_REF.match(ref)
        abs_ = None if rel else _ABS_REF.match(ref)
        if rel or abs_:
            rtype = rel.group(1) if rel else abs_.group(2)
            if not run.reg.is_resource_type(rtype):
                if rel:
                    return (issue("error", "structure",
                                  f"Invalid reference '{ref}': '{rtype}' is not a resource type",
                                  where),)
                rtype = None
        elif ref.startswith(("urn:uuid:", "urn:oid:")) and run._bundle is not None:
            _v, found, ftype = run.probe(_in_bundle, ref, None)
            if not found:
                return (issue("warning", "not-found",
                              f"The reference '{ref}' is not found in the bundle", where),)
            rtype = ftype
            resolved = True
        elif not ABS_URL.match(ref) and not _COND_REF.match(ref):
            return (issue("error", "invalid", f"Invalid reference '{ref}': expected Type/id, an "
                          "absolute URL or #id", where),)
    if (rel or abs_) and run._bundle is not None:
        m = rel or abs_
        first = 1 if rel else 2
        versions, found, ftype = run.probe(_in_bundle, ref,
                                           f"{m.group(first)}/{m.group(first + 1)}")
        if versions is not None:
            got = _versions(ref, m, versions, where)
            if got:
                return got
        if found:
            rtype = ftype or rtype
            resolved = True
    out = []
    if rel and not resolved and run.options.validate_reference != "IGNORE":
        target = _in_parameters(run.top, rel.group(1), rel.group(2))
        if target is None:
            # no server to ask: a reference that must exist and is not here is an error
            out.append(issue("error", "structure",
                             f"Unable to resolve resource with reference '{ref}'", location))
        else:
            resolved = True
    if isinstance(value.get("type"), str) and rtype and value["type"] != rtype:
        out.append(issue("error", "structure",
                         f"The reference type '{value['type']}' does not match the reference "
                         f"'{ref}'", f"{location}.type"))
    allowed = _target_types(element, run)
    if resolved and rtype and allowed is None:
        unknown = _unknown_target_profiles(element, run)
        if unknown:
            # a target found here is checked against the target profiles, which must be
            # known: none is, so no type is allowed (as the reference reports it)
            out += [issue("error", "structure", f"Unable to resolve the profile reference "
                          f"'{u}'", location, u) for u in unknown]
            out.append(issue("error", "structure", f"Invalid Resource target type. Found "
                             f"{rtype}, but expected one of ([])", location))
            return out
    if allowed and rtype and rtype not in allowed:
        # a target found in the resource or bundle is certain; so is the type a relative
        # (Type/id) or RESTful URL names ("the type implied by the reference URL") against
        # the targets a profile narrowed; against the core's own targets an unresolved URL
        # stays a warning (the official examples rely on it)
        certain = resolved or ((rel or abs_) and _narrowed_by_profile(element, run))
        out.append(issue("error" if certain else "warning", "structure",
                         f"The type '{rtype}' is not valid for this reference (allowed: "
                         f"{', '.join(allowed)})", where, element.source()))
    return out
