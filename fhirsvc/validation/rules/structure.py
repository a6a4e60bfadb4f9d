"""Cardinality (element scope) and type (value scope)."""
from __future__ import annotations

from ..primitives import CHECKERS, check_id
from ..run import STOP, issue


def cardinality(values, element, type_code, location, run):
    """min / max of an element's values in its parent (a choice counts per JSON name, and
    may be given under one name only). A property given as null counts as present (the walker
    reports the null)."""
    if not values.names:
        if element.min > 0:
            return (issue("error", "required",
                          f"{element.path}: minimum required = {element.min}, but only found 0",
                          location, element.source()),)
        return ()
    out = []
    if element.choice and len(values.names) > 1:
        out.append(issue("error", "structure",
                         f"Only one choice of {element.name}[x] is allowed, found "
                         f"{', '.join(values.names)}", location))
    for n in values.counts:
        if element.max is not None and n > element.max:
            out.append(issue("error", "structure",
                             f"{element.path}: max allowed = {element.max}, but found {n}",
                             location, element.source()))
        if 0 < n < element.min:
            out.append(issue("error", "structure",
                             f"{element.path}: minimum required = {element.min}, but only "
                             f"found {n}", location, element.source()))
    return out


def type_(value, element, type_code, location, run):
    """The value is of the element's type: the JSON kind and format of a primitive (a
    resource's id is an `id`), an object for a complex type, an allowed resource type for a
    resource, and the type's profiles usable. A value of the wrong kind or format is checked
    no further (STOP)."""
    checker = CHECKERS.get(type_code)
    if checker is not None:
        if value is None:
            return ()
        if value.__class__ is dict or value.__class__ is list:
            return (issue("error", "structure",
                          f"The property must be a JSON primitive ({type_code}), not "
                          f"{'an Object' if value.__class__ is dict else 'an Array'}",
                          location), STOP)
        msg = checker(value)
        id_msg = check_id(value) if element.name == "id" and value.__class__ is str and \
            _is_resource_id(element) else None
        if msg is None and id_msg is None:
            return ()
        out = [issue("error", "invalid", m, location) for m in (msg, id_msg) if m]
        if msg:
            out.append(STOP)
        return out
    if value.__class__ is dict:
        if "resourceType" in value:
            return _resource_type(value, element, type_code, location, run)
        for t in element.types:
            if t.profiles and t.code == type_code:
                return _type_profiles(t.profiles, element, location, run)
        return ()
    if type_code is None:
        if element.content_ref:
            return (issue("error", "structure", "The property must be an Object", location), STOP)
        return ()
    if _is_resource_type(type_code, run):
        return ()  # the walker reports a resource that is not an object
    return (issue("error", "structure",
                  f"The property must be an Object, not a primitive ({value!r})", location), STOP)


def _type_profiles(profiles, element, location, run):
    out = []
    for p in profiles:
        reason = run.defs.broken(p)
        if reason:
            out.append(issue("error", "invalid", f"The profile {p} (for {element.path}) cannot "
                             f"be used: its snapshot cannot be generated: {reason}", location,
                             source=p))
    return out


def _is_resource_type(type_code, run) -> bool:
    return type_code in ("Resource", "DomainResource") or run.reg.is_resource_type(type_code)


def _is_resource_id(element) -> bool:
    return element.path.count(".") == 1 and element.model is not None and \
        element.model.sd.get("kind") == "resource"


def _resource_type(value, element, type_code, location, run):
    if type_code is None or not _is_resource_type(type_code, run):
        return ()  # a resourceType in a data type: the walker reports the property
    rt = value.get("resourceType")
    if not isinstance(rt, str) or not run.reg.is_resource_type(rt):
        return ()  # the walker reports a missing or unknown resourceType
    allowed = element.type_codes
    if allowed and rt not in allowed and "Resource" not in allowed \
            and "DomainResource" not in allowed:
        return (issue("error", "structure",
                      f"The type '{rt}' is not allowed here (allowed: {', '.join(allowed)})",
                      location),)
    return ()
