"""Extensions (value scope, a plain `extension` element): the url names a usable definition,
whose context allows it here. The walker walks the extension with that definition
(Definitions.definition_for)."""
from __future__ import annotations

import re

from ..run import issue

CORE = "http://hl7.org/fhir/StructureDefinition/"
_INDEX = re.compile(r"\[\d+\]")
_ANYWHERE = ("Element", "Resource", "DomainResource", "Base", "*", "BackboneElement")


def extension(value, element, type_code, location, run):
    if value.__class__ is not dict:
        return ()
    url = value.get("url")
    if not isinstance(url, str):
        if "url" not in value:  # beside the cardinality error of Extension.url
            return (issue("error", "structure", "Extension.url is required in order to "
                          "identify, use and validate the extension", location),)
        return ()
    ext = run.defs.extension_definition(url)
    if ext is not None:
        out = _context(ext, element, location, run)
        if "|" in url:  # a canonical version belongs to the definition, not to the instance
            out = [issue("error", "structure", "The extension URL must not contain a version "
                         f"('{url}'): its definition's url without the version identifies it",
                         location, url), *out]
        return out
    reason = run.defs.broken(url)
    if reason:
        return (issue("error", "invalid",
                      f"The extension definition {url} cannot be used: its snapshot cannot be "
                      f"generated: {reason}", location, url),)
    if ":" in url:  # relative urls name the slices of a complex extension (checked there)
        if _unknown_allowed(url) or run.unknown_extensions == "warning":
            return (issue("warning", "extension", f"Unknown extension {url}", location, url),)
        # as the reference validator: an extension nobody can resolve cannot be checked, so
        # it is not allowed, except from the example domains the specification's own examples
        # use (the reference's allowUnknownExtension list)
        return (issue("error", "extension", f"The extension {url} could not be found so is not "
                      "allowed here", location, url),)
    return ()


# the domains whose unknown extensions the reference validator accepts (examples, tooling),
# and HL7's own extension spaces: the reference resolves those from the packages it downloads
# (the extensions pack, the cross-version extensions http://hl7.org/fhir/5.0/...); offline
# they are unknown here, which is a warning, not a verdict
_EXAMPLE_DOMAINS = ("example.org", "acme.com", "nema.org")
_TOOLING = ("http://hl7.org/fhir/", "http://terminology.hl7.org/")


def _unknown_allowed(url: str) -> bool:
    return any(d in url for d in _EXAMPLE_DOMAINS) or url.startswith(_TOOLING)


def _context(ext, element, location, run):
    contexts = ext.sd.get("context") or []
    if not contexts:
        return ()
    # the element holding the extension, as a path from its resource (indexes removed) and
    # as the path of its definition (a data type's path when it came from the type)
    hosts = set()
    if run.resources:
        res_loc, rt = run.resources[-1]
        rel = location[len(res_loc):] if location.startswith(res_loc) else ""
        rel = _INDEX.sub("", rel)
        hosts.add((rt + rel).rsplit(".", 1)[0])
        hosts.add(rt)
    hosts.add(element.path.rsplit(".", 1)[0])
    hosts |= {h.replace("[x]", "") for h in hosts}
    for c in contexts:
        t, e = c.get("type"), (c.get("expression") or "").replace("[x]", "")
        if t in ("fhirpath", "extension") or e in _ANYWHERE:
            return ()
        for h in hosts:
            if e == h or _host_is_type(h, e, run):
                return ()
            # a choice host: Observation.value -> context Observation.value[x]
            if h.startswith(e) and h[len(e):][:1].isupper():
                return ()
    return (issue("warning", "extension",
                  f"The extension {ext.url} is not allowed to be used at this point (allowed: "
                  f"{', '.join(str(c.get('expression')) for c in contexts)})", location,
                  ext.url),)


def _host_is_type(host, e, run) -> bool:
    """A context naming a data type (Address, CodeableConcept ...) matches elements of that
    type: the host path names the type, or the host element in its resource is of it."""
    if e == host:
        return True
    sd = run.reg.sd(CORE + e.split(".")[0])
    if not (sd and sd.get("kind") in ("complex-type", "primitive-type")):
        return False
    if "." in e:
        return host.endswith(e)
    rt = host.split(".")[0]
    cs = run.defs.compiled(CORE + rt) if "." in host else None
    if cs is None:
        return False
    n = cs.by_id.get(host)
    if n is None:
        # choice hosts (valueCodeableConcept -> value[x])
        for cand in cs.by_id.values():
            if cand.choice and host.startswith(cand.path[:-3]):
                n = cand
                break
    return bool(n and any(t.code == e for t in n.types))
