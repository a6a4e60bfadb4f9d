"""The JSON form -> FHIR XML: elements in definition order, primitives as value attributes with
id/extension, Element.id and Extension.url as attributes, the div as XHTML, resources inside
their container element (R4 XML representation)."""
from __future__ import annotations

from decimal import Decimal

import orjson
from lxml import etree

from .model import CONTAINER_TYPES, Model, is_attribute, is_primitive
from .reader import FHIR_NS, XHTML_NS, XmlFormatError, parse_document

_F = "{" + FHIR_NS + "}"


class XmlWriteError(ValueError):
    """A JSON resource that has no XML form (an unknown element, a wrong shape)."""


def _text(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        # a decimal read exactly (fhirsvc.jsontext.DecimalText) keeps its text; else the JSON
        # number as JSON writes it (orjson: shortest text that reads back the same)
        text = getattr(value, "text", None)
        return text if isinstance(text, str) else orjson.dumps(float(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


class Writer:
    def __init__(self, state):
        self.model = Model.of(state)

    def resource(self, res: dict, parent=None) -> etree._Element:
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        place = self.model.type_place(rtype) if isinstance(rtype, str) else None
        if place is None:
            raise XmlWriteError(f"Not a FHIR resource (resourceType {rtype!r})")
        el = (etree.SubElement(parent, _F + rtype) if parent is not None
              else etree.Element(_F + rtype, nsmap={None: FHIR_NS}))
        self._complex(el, res, place, rtype, True)
        return el

    def _complex(self, el, obj: dict, place, path: str, root: bool = False) -> None:
        if not isinstance(obj, dict):
            raise XmlWriteError(f"{path} must be an object")
        sd_url, ppath = place
        ordered, by_name = self.model.children(sd_url, ppath)
        for key in obj:
            if key == "resourceType" and root or key == "fhir_comments":
                continue
            name = key[1:] if key.startswith("_") else key
            if name not in by_name:
                raise XmlWriteError(f"Unknown element {key!r} in {path}")
        for name in ("id", "url"):
            if name in obj and is_attribute(name, root, ppath):
                el.set(name, _text(obj[name]))
        for child in ordered:
            for name, code in child.names.items():
                if is_attribute(name, root, ppath):
                    continue
                value, ext = obj.get(name), obj.get("_" + name)
                if value is None and ext is None:
                    continue
                cpath = f"{path}.{name}"
                if child.is_array:
                    values = value if isinstance(value, list) else ([] if value is None else [value])
                    exts = ext if isinstance(ext, list) else ([] if ext is None else [ext])
                    n = max(len(values), len(exts))
                    values = values + [None] * (n - len(values))
                    exts = exts + [None] * (n - len(exts))
                    for i, (v, e) in enumerate(zip(values, exts)):
                        self._value(el, name, code, child, v, e, f"{cpath}[{i}]")
                else:
                    if isinstance(value, list):
                        raise XmlWriteError(f"{cpath} is not a list in FHIR")
                    self._value(el, name, code, child, value, ext, cpath)

    def _value(self, parent, name, code, child, value, ext, path) -> None:
        if value is None and ext is None:
            return
        if code == "xhtml":
            parent.append(_xhtml_element(value, path))
            return
        sub = etree.SubElement(parent, _F + name)
        if is_primitive(code):
            if ext is not None:
                if not isinstance(ext, dict):
                    raise XmlWriteError(f"{path}: the _ part must be an object")
                if "id" in ext:
                    sub.set("id", _text(ext["id"]))
            if value is not None:
                if isinstance(value, (dict, list)):
                    raise XmlWriteError(f"{path} must be a primitive value")
                sub.set("value", _text(value))
            if ext is not None:
                unknown = set(ext) - {"id", "extension", "fhir_comments"}
                if unknown:
                    raise XmlWriteError(f"Unknown element {sorted(unknown)[0]!r} in {path}")
                for i, e in enumerate(ext.get("extension") or ()):
                    x = etree.SubElement(sub, _F + "extension")
                    self._complex(x, e, self.model.type_place("Extension"),
                                  f"{path}.extension[{i}]")
        elif code in CONTAINER_TYPES:
            self.resource(value, sub)
        else:
            place = self.model.place_of(child, code)
            if place is None:
                raise XmlWriteError(f"No definition for type {code!r} at {path}")
            self._complex(sub, value, place, path)


def _xhtml_element(value, path: str):
    if not isinstance(value, str):
        raise XmlWriteError(f"{path} must be XHTML text")
    try:
        div = parse_document(value.encode("utf-8"))
    except XmlFormatError as exc:
        raise XmlWriteError(f"{path} is not well-formed XHTML: {exc.msg}") from None
    if etree.QName(div).namespace != XHTML_NS:
        # JSON written without the namespace declaration: the XHTML namespace is implied
        try:
            div = parse_document(value.replace("<div", f'<div xmlns="{XHTML_NS}"', 1).encode())
        except XmlFormatError as exc:
            raise XmlWriteError(f"{path} is not well-formed XHTML: {exc.msg}") from None
    return div
