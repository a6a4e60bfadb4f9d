"""FHIR XML (application/fhir+xml): reading into and writing from the JSON form.

    from fhirsvc.xml import xml_to_resource, resource_to_xml, xml_to_json, json_to_xml

The JSON form is the service's internal representation: an XML request body becomes JSON
bytes before anything else sees it, and a JSON response becomes XML last
(fhirsvc.api.negotiation). Element order and types come from the R4 core definitions
(fhirsvc.xml.model). The parser is hardened (fhirsvc.xml.reader): malformed XML, a DOCTYPE,
entities and external references are refused with XmlFormatError.
"""
from __future__ import annotations

import json
from decimal import Decimal

import orjson
from lxml import etree

from .reader import FHIR_NS, XHTML_NS, Reader, XmlFormatError, parse_document
from .writer import Writer, XmlWriteError

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _state(state):
    if state is None:
        from ..definitions.registry import default_registry
        state = default_registry().state
    return state


def looks_like_xml(raw: bytes | str) -> bool:
    head = raw[:200].lstrip()
    return head[:1] in (b"<", "<")


def xml_to_resource(raw: bytes | str, state=None, *, decimal=float) -> dict:
    """FHIR XML text -> resource dict; XmlFormatError for anything that is not FHIR XML."""
    root = parse_document(raw)
    return Reader(_state(state), decimal).resource(root)


def _decimal_fragment(obj):
    if isinstance(obj, Decimal):
        return orjson.Fragment(str(obj).encode())
    raise TypeError(type(obj).__name__)


def xml_to_json(raw: bytes | str, state=None) -> bytes:
    """FHIR XML -> JSON text; decimals keep their exact text (1.50 stays 1.50)."""
    res = xml_to_resource(raw, state, decimal=Decimal)
    return orjson.dumps(res, default=_decimal_fragment)


def resource_to_xml(resource: dict, state=None, *, pretty: bool = False) -> bytes:
    """Resource dict -> FHIR XML text (UTF-8, with declaration); XmlWriteError if impossible."""
    el = Writer(_state(state)).resource(resource)
    return XML_DECLARATION + etree.tostring(el, encoding="utf-8", pretty_print=pretty)


def json_to_xml(raw: bytes | str, state=None, *, pretty: bool = False) -> bytes:
    """JSON text -> FHIR XML text; decimals are written with the text they have in the JSON."""
    resource = json.loads(raw, parse_float=Decimal)
    return resource_to_xml(resource, state, pretty=pretty)


__all__ = ["xml_to_resource", "xml_to_json", "resource_to_xml", "json_to_xml",
           "looks_like_xml", "XmlFormatError", "XmlWriteError", "parse_document",
           "FHIR_NS", "XHTML_NS"]
