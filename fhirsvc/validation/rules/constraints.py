"""Invariants (ElementDefinition.constraint), value scope: native (invariants.NATIVE) or FHIRPath."""
from __future__ import annotations

from ..fhirpath import NotEvaluable
from ..run import issue


def present_names(obj) -> set:
    """Child names present in an object (`_x` counted as x; valueQuantity also as value):
    what the FHIRPath guards decide on."""
    out = set()
    names = _NAMES
    for k in obj:
        got = names.get(k)
        if got is None:
            got = _names_of(k)
        out.update(got)
    return out


_NAMES: dict[str, tuple] = {}


def _names_of(key: str) -> tuple:
    """The names a JSON key stands for (bounded memo: JSON keys are few)."""
    k = key[1:] if key[:1] == "_" else key
    got: tuple = (k,)
    for i, ch in enumerate(k):
        if ch.isupper():
            got = (k, k[:i])
            break
    if len(_NAMES) < 4096:
        _NAMES[key] = got
    return got


_UNREAD = object()


def _root(value, element, run):
    """%resource / %rootResource of a value: the run's resource (a read of the run's context,
    so the value's verdict is not kept), except for a resource walked with a profile's
    element tree (e.g. Bundle.entry.resource of a bundle profile): its own %resource."""
    root = run.root
    if value.__class__ is dict and "resourceType" in value and element.name != "contained":
        return value
    return root


def constraint(value, element, type_code, location, run):
    """Every invariant of the definition the value is walked with and of its type holds (for
    a primitive: on its value)."""
    out = []
    present = None
    root = _UNREAD  # the enclosing resource, read only for an invariant that needs it
    for c in run.defs.invariants(value, element, type_code):
        native = c.native
        if c.key == "dom-3" and run.options.validate_contains == "IGNORE":
            continue  # contained resources are not checked at all (Options)
        res = None
        if c.context and (native is None or native.needs_resource is None or
                          native.needs_resource(value)):
            if root is _UNREAD:
                root = _root(value, element, run)
            res = root
        # the common case (a native invariant) without the guard and fhirpathpy layers
        ok = native.check(value, res) if native is not None else None
        if ok is None and c.context and res is None:
            # left to fhirpathpy: that evaluates the whole expression, with the resource
            if root is _UNREAD:
                root = _root(value, element, run)
            res = root
        if ok is None:
            if present is None and c.guard is not None and value.__class__ is dict:
                present = present_names(value)
            try:
                ok = c.evaluate(value, present, res)
            except NotEvaluable as exc:
                out.append(issue("information", "not-supported",
                                 f"Constraint {c.key} cannot be checked here: {exc}", location,
                                 f"{c.key}|{c.source}", c.expression))
                continue
        if ok:
            continue
        sev = "error" if c.severity == "error" else "warning"
        details = native.explain(value, res) if native and native.explain else None
        for d in details or (None,):
            out.append(issue(sev, "invariant",
                             f"Constraint failed: {c.key}: '{c.human}'" + (f" ({d})" if d else ""),
                             location, f"{c.key}|{c.source}", c.expression))
    return out
