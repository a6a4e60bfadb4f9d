"""FHIR XML -> the JSON form (R4 XML and JSON representations), with a hardened parser.

lxml parses; the definitions (fhirsvc.xml.model) say what each element is. Refused, with an
`XmlFormatError` naming line and reason: malformed XML, any DOCTYPE (so no DTD, no entity
expansion, no external entity: no XXE and no entity bombs), elements outside the FHIR
namespace (except the XHTML div), unknown elements and attributes, text where FHIR has none,
primitive values that are not of their type.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from .model import CONTAINER_TYPES, Model, is_attribute, is_primitive

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_F = "{" + FHIR_NS + "}"
_INT_TYPES = ("integer", "positiveInt", "unsignedInt")


_ROOT_START = re.compile(rb"<[A-Za-z_]")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


class XmlFormatError(ValueError):
    """XML that is not a FHIR resource; `line` where it went wrong (0 when unknown)."""

    def __init__(self, msg: str, line: int = 0, path: str = ""):
        super().__init__(f"{msg} (line {line})" if line else msg)
        self.msg, self.line, self.path = msg, line, path


def _parser() -> etree.XMLParser:
    # no entity resolution, no DTD loading, no network, no huge-tree limits lifted
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                           dtd_validation=False, remove_comments=False, remove_pis=False,
                           huge_tree=False, collect_ids=False)


def parse_document(raw: bytes | str) -> etree._Element:
    """The root element of well-formed XML without a DOCTYPE; XmlFormatError otherwise."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not raw.strip():
        raise XmlFormatError("The XML document is empty")
    root_at = _ROOT_START.search(raw)
    if _DOCTYPE.search(raw, 0, root_at.start() if root_at else len(raw)):
        # refused before parsing: FHIR XML has no DTD, and a DTD is where entity expansion
        # (billion laughs) and external entities (XXE) come from
        raise XmlFormatError("A DOCTYPE (DTD) is not allowed in FHIR XML (entities and "
                             "external references are refused)", 1)
    try:
        tree = etree.fromstring(raw, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise XmlFormatError(f"Malformed XML: {exc.msg}", line) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlFormatError("A DOCTYPE (DTD) is not allowed in FHIR XML (entities and "
                             "external references are refused)", 1)
    return tree.getroot()


def _local(el) -> tuple[str | None, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


class Reader:
    def __init__(self, state, decimal=float):
        self.model = Model.of(state)
        self.decimal = decimal  # float for validation; Decimal keeps the text of a number

    def resource(self, el, path: str = "") -> dict:
        ns, rtype = _local(el)
        if ns != FHIR_NS:
            raise XmlFormatError(f"Element {rtype!r} is not in the FHIR namespace "
                                 f"({FHIR_NS})", el.sourceline or 0, path)
        place = self.model.type_place(rtype)
        if place is None or not self.model.state.is_resource_type(rtype):
            raise XmlFormatError(f"Unknown resource type {rtype!r}", el.sourceline or 0, path)
        out = {"resourceType": rtype}
        self._complex(el, place, out, path + rtype if not path else path, True)
        return out

    def _complex(self, el, place, out: dict, path: str, root: bool = False) -> None:
        sd_url, ppath = place
        for name, value in el.attrib.items():
            if name.startswith("{"):
                continue  # xsi:schemaLocation and other foreign attributes carry no FHIR data
            if is_attribute(name, root, ppath):
                out[name] = value
            else:
                raise XmlFormatError(f"Unexpected attribute {name!r} on {path}",
                                     el.sourceline or 0, path)
        if el.text and el.text.strip():
            raise XmlFormatError(f"Unexpected text {el.text.strip()[:40]!r} in {path}",
                                 el.sourceline or 0, path)
        _ordered, by_name = self.model.children(sd_url, ppath)
        arrays: dict[str, tuple[list, list]] = {}
        for sub in el:
            if not isinstance(sub.tag, str):
                continue
            if sub.tail and sub.tail.strip():
                raise XmlFormatError(f"Unexpected text {sub.tail.strip()[:40]!r} in {path}",
                                     sub.sourceline or 0, path)
            ns, name = _local(sub)
            cpath = f"{path}.{name}"
            child = by_name.get(name)
            if child is None or is_attribute(name, root, ppath):
                raise XmlFormatError(f"Unknown element {name!r} in {path}",
                                     sub.sourceline or 0, cpath)
            code = child.names[name]
            if code == "xhtml":
                if ns != XHTML_NS:
                    raise XmlFormatError(f"{cpath} must be an XHTML div ({XHTML_NS})",
                                         sub.sourceline or 0, cpath)
                value, ext = _xhtml(sub), None
            else:
                if ns != FHIR_NS:
                    raise XmlFormatError(f"Element {name!r} in {path} is not in the FHIR "
                                         "namespace", sub.sourceline or 0, cpath)
                if is_primitive(code):
                    value, ext = self._primitive(sub, code, cpath)
                elif code in CONTAINER_TYPES:
                    value, ext = self._contained(sub, cpath), None
                else:
                    cplace = self.model.place_of(child, code)
                    if cplace is None:
                        raise XmlFormatError(f"No definition for type {code!r} at {cpath}",
                                             sub.sourceline or 0, cpath)
                    value, ext = {}, None
                    self._complex(sub, cplace, value, cpath)
            if child.is_array:
                vals, exts = arrays.setdefault(name, ([], []))
                vals.append(value)
                exts.append(ext)
            else:
                if name in out or "_" + name in out:
                    raise XmlFormatError(f"{cpath} is repeated but is not a list",
                                         sub.sourceline or 0, cpath)
                if value is not None:
                    out[name] = value
                if ext is not None:
                    out["_" + name] = ext
        for name, (vals, exts) in arrays.items():
            if any(v is not None for v in vals):
                out[name] = vals
            if any(e is not None for e in exts):
                out["_" + name] = exts

    def _primitive(self, el, code: str, path: str):
        ext: dict = {}
        value = None
        for name, raw in el.attrib.items():
            if name.startswith("{"):
                continue
            if name == "value":
                value = self._convert(raw, code, path, el.sourceline or 0)
            elif name == "id":
                ext["id"] = raw
            else:
                raise XmlFormatError(f"Unexpected attribute {name!r} on {path}",
                                     el.sourceline or 0, path)
        if el.text and el.text.strip():
            raise XmlFormatError(f"Unexpected text in {path} (a primitive's value is its "
                                 "value attribute)", el.sourceline or 0, path)
        exts = []
        for k in el:
            if not isinstance(k.tag, str):
                continue
            ns, name = _local(k)
            if ns != FHIR_NS or name != "extension":
                raise XmlFormatError(f"Unknown element {name!r} in {path} (a primitive has "
                                     "only extensions)", k.sourceline or 0, f"{path}.{name}")
            one: dict = {}
            self._complex(k, self.model.type_place("Extension"), one, f"{path}.extension")
            exts.append(one)
        if exts:
            ext["extension"] = exts
        if value is None and not ext:
            raise XmlFormatError(f"{path} has neither a value nor extensions",
                                 el.sourceline or 0, path)
        return value, (ext or None)

    def _convert(self, raw: str, code: str, path: str, line: int):
        if code == "boolean":
            if raw not in ("true", "false"):
                raise XmlFormatError(f"{path}: {raw!r} is not a boolean (true or false)", line, path)
            return raw == "true"
        if code in _INT_TYPES:
            try:
                return int(raw)
            except ValueError:
                raise XmlFormatError(f"{path}: {raw!r} is not an integer", line, path) from None
        if code == "decimal":
            try:
                d = Decimal(raw)
            except InvalidOperation:
                raise XmlFormatError(f"{path}: {raw!r} is not a decimal", line, path) from None
            if not d.is_finite():
                raise XmlFormatError(f"{path}: {raw!r} is not a decimal", line, path)
            if self.decimal is Decimal:
                return d
            return int(raw) if raw.lstrip("+-").isdigit() else float(raw)
        return raw

    def _contained(self, el, path: str) -> dict:
        kids = [k for k in el if isinstance(k.tag, str)]
        if el.attrib or len(kids) != 1 or (el.text and el.text.strip()):
            raise XmlFormatError(f"{path} must hold exactly one resource element",
                                 el.sourceline or 0, path)
        return self.resource(kids[0], path)


def _xhtml(el) -> str:
    from copy import deepcopy
    div = deepcopy(el)
    div.tail = None
    etree.cleanup_namespaces(div)
    return etree.tostring(div, encoding="unicode")
