"""Which FHIR types a token parameter's expression reaches, from the StructureDefinitions.

A token `system|code` must match only rows with that system, except for primitive `code`
(and boolean, string, uri...) elements: they carry no system, it is implied by the element's
binding, so `Patient?gender=http://hl7.org/fhir/administrative-gender|male` matches a
Patient whose `gender` is `male`. Index rows of a primitive and of an Identifier, Coding or
ContactPoint without a system look the same (system NULL), so the leniency is decided per
parameter here, at query time, from the element types its expression ends in, and the
system a primitive `code` implies is its required binding's code system:

    implied_systems(structures, "Patient", gender_steps)      # {administrative-gender URL}
    implied_systems(structures, "Patient", identifier_steps)  # False: never without a system
    implied_systems(structures, "Patient", active_steps)      # True: a boolean, any system
    # None: an element on the way is not in the definitions (the caller decides)

`structures` is a definitions registry (`type_url`, `sd`, `snapshot`); `steps` are the compiled
steps of one union member (fhirsvc.search.paths).
"""
from __future__ import annotations

_COMPLEX_OWN = ("BackboneElement", "Element")  # elements defined inside the same SD


def _is_primitive(type_code: str) -> bool:
    # R4 primitive type names start with a lower-case letter (code, string, boolean, uri, ...);
    # the compact core data also writes FHIRPath system types (System.String) for `id` values
    return type_code[:1].islower() or type_code.startswith("http://hl7.org/fhirpath/")


def _elements(structures, url: str) -> dict[str, list[dict]] | None:
    """path -> the elements of that path: the base one and its slices (a complex extension's
    `Extension.extension.value[x]` is one per sub-extension; their types are joined)."""
    try:
        els = structures.snapshot(url)
    except Exception:  # noqa: BLE001 - a definition that fails to build tells us nothing
        return None
    if not els:
        return None
    out: dict[str, list[dict]] = {}
    for e in els:
        if isinstance(e, dict):
            out.setdefault(e.get("path"), []).append(e)
    return out


class _Where:
    """One place the walk can be: an element path inside the StructureDefinition `url`."""
    __slots__ = ("url", "path")

    def __init__(self, url: str, path: str):
        self.url, self.path = url, path


def _binding_systems(structures, binding) -> frozenset | bool:
    """The code systems a `code` element's required binding allows (its ValueSet's closed
    expansion), else True (any: no binding, a weaker one, or codes the server cannot list)."""
    if not isinstance(binding, dict) or binding.get("strength") != "required" or \
            not binding.get("valueSet"):
        return True
    try:
        exp = structures.expansion(binding["valueSet"])
    except Exception:  # noqa: BLE001 - a ValueSet that cannot be expanded tells us nothing
        return True
    if not exp or exp.get("open") or not exp.get("codes"):
        return True
    return frozenset(exp["codes"])


def implied_systems(structures, rtype: str, steps: list[tuple]) -> frozenset | bool | None:
    """The systems a value `steps` yield from an `rtype` resource may carry implicitly: False
    when they cannot be primitives (Identifier, Coding, CodeableConcept, ContactPoint...),
    True when a primitive's system cannot be told (boolean, string, an unbound code), else
    the code systems of the primitive codes' required bindings. None when an element on the
    way is not found in the definitions (the caller decides)."""
    here = [_Where(structures.type_url(rtype), rtype)]
    # (type, binding) of the last step's values, once known
    types: list[tuple[str, dict | None]] | None = None
    for step in steps:
        kind = step[0]
        if kind == "child":
            name, choice = step[1], step[2]
            nxt: list[_Where] = []
            types = []
            for w in here:
                els = _elements(structures, w.url)
                if els is None:
                    return None
                path = f"{w.path}.{name}"
                found = els.get(path) or els.get(path + "[x]")
                if not found:
                    return None
                ref = found[0].get("contentReference")
                if isinstance(ref, str) and "#" in ref:
                    # a repeated structure (Questionnaire.item.item): same SD, referenced path
                    nxt.append(_Where(w.url, ref.split("#", 1)[1]))
                    types.append(("BackboneElement", None))
                    continue
                codes = list(dict.fromkeys(t.get("code") for el in found
                                           for t in el.get("type") or () if t.get("code")))
                if choice is not None:
                    # a choice element: the walker reads only the choice's types (`value as
                    # Quantity`: one); an extension's definition may narrow them further
                    narrowed = {x.lower() for x in codes}
                    codes = [x for x in choice if x.lower() in narrowed] or list(choice)
                if not codes:
                    return None
                binding = next((el["binding"] for el in found if el.get("binding")), None)
                own_extension = w.url != structures.type_url("Extension") and (
                    w.path == "Extension" or w.path.startswith("Extension."))
                for code in codes:
                    types.append((code, binding))
                    if (code in _COMPLEX_OWN and len(codes) == 1) or (
                            code == "Extension" and own_extension):
                        # defined in this SD (a backbone; the sub-extensions of an extension)
                        nxt.append(_Where(w.url, path))
                    elif not _is_primitive(code):
                        nxt.append(_Where(structures.type_url(code), code))
            here = nxt
        elif kind == "eq" and step[1] == "url":
            # `extension('<url>')`: the extension's own definition narrows value[x]
            nxt = []
            for w in here:
                sd = structures.sd(step[2])
                if sd is not None and sd.get("type") == "Extension":
                    nxt.append(_Where(step[2], "Extension"))
                else:
                    nxt.append(w)
            here = nxt
        elif kind == "type":
            # `as code`: the element read is the last step's, and so is its binding
            types = [(step[1], types[0][1] if types else None)]
            here = [] if _is_primitive(step[1]) else [
                _Where(structures.type_url(step[1]), step[1])]
        # "eq" on other fields and "ref_type" filter values without changing their type
    if types is None:
        return None
    systems: set[str] = set()
    primitive = False
    for code, binding in types:
        if not _is_primitive(code):
            continue
        primitive = True
        allowed = _binding_systems(structures, binding) if code == "code" else True
        if allowed is True:
            return True
        systems |= allowed
    return frozenset(systems) if primitive else False
