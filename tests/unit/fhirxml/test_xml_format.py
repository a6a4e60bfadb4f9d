"""FHIR XML reader/writer (fhirsvc.xml): R4 element order, primitives, div, containers, the
hardened parser, and the lossless round trips over the conformance material."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from fhirsvc.xml import (XmlFormatError, XmlWriteError, json_to_xml, resource_to_xml,
                         xml_to_json, xml_to_resource)

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "conformance"
NS = "{http://hl7.org/fhir}"


def test_elements_in_definition_order_with_primitive_parts():
    res = {"resourceType": "Observation", "valueQuantity": {"value": 1.50, "unit": "kg"},
           "status": "final", "code": {"text": "w"}, "id": "o1",
           "_status": {"id": "s1", "extension": [{"url": "http://x/e", "valueBoolean": True}]},
           "extension": [{"url": "http://x/y", "valueCode": "a"}]}
    root = etree.fromstring(resource_to_xml(res))
    assert [etree.QName(e).localname for e in root] == [
        "id", "extension", "status", "code", "valueQuantity"]
    status = root.find(NS + "status")
    assert status.get("value") == "final" and status.get("id") == "s1"
    assert status.find(NS + "extension").get("url") == "http://x/e"
    assert status.find(NS + "extension").find(NS + "valueBoolean").get("value") == "true"
    assert root.find(NS + "extension").get("url") == "http://x/y"  # Extension.url: attribute
    assert xml_to_resource(resource_to_xml(res)) == {**res, "valueQuantity": {
        "value": 1.5, "unit": "kg"}}


def test_decimals_keep_their_text_both_ways():
    raw = b'{"resourceType":"Observation","status":"final","code":{"text":"x"},' \
          b'"valueQuantity":{"value":72.50}}'
    xml = json_to_xml(raw)
    assert b'<value value="72.50"/>' in xml
    assert b'"value":72.50' in xml_to_json(xml)
    assert xml_to_resource(xml, decimal=Decimal)["valueQuantity"]["value"] == Decimal("72.50")


def test_arrays_of_primitives_with_extensions_only_and_nulls():
    res = {"resourceType": "Patient", "name": [{"given": ["A", None],
                                               "_given": [None, {"extension": [
                                                   {"url": "http://x/dar", "valueCode": "unknown"}]}]}]}
    assert xml_to_resource(resource_to_xml(res)) == res


def test_contained_and_bundle_resources_sit_in_their_container():
    res = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0c5e3a9c-1d2b-4f6a-9e8d-7c6b5a4f3e2d", "resource": {
            "resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o"}],
            "managingOrganization": {"reference": "#o"}}}]}
    root = etree.fromstring(resource_to_xml(res))
    pat = root.find(f"{NS}entry/{NS}resource/{NS}Patient")
    assert pat is not None and pat.find(f"{NS}contained/{NS}Organization") is not None
    assert xml_to_resource(resource_to_xml(res)) == res


def test_div_is_xhtml_and_comes_back_as_text():
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>a <b>b</b><!-- c --></p></div>'
    res = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    xml = resource_to_xml(res)
    root = etree.fromstring(xml)
    assert root.find(f"{NS}text/{{http://www.w3.org/1999/xhtml}}div") is not None
    assert xml_to_resource(xml) == res


def test_choice_types_and_content_references():
    q = {"resourceType": "Questionnaire", "status": "active", "item": [
        {"linkId": "1", "type": "group", "item": [
            {"linkId": "1.1", "type": "integer", "initial": [{"valueInteger": 3}],
             "enableWhen": [{"question": "x", "operator": "=", "answerBoolean": False}]}]}]}
    assert xml_to_resource(resource_to_xml(q)) == q


@pytest.mark.parametrize("raw,words", [
    (b"<Patient xmlns='http://hl7.org/fhir'>", "Malformed XML"),
    (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]><Patient '
     b'xmlns="http://hl7.org/fhir"><id value="&e;"/></Patient>', "DOCTYPE"),
    (b"<Patient xmlns='http://hl7.org/fhir'><id value='a'/><id value='b'/></Patient>",
     "repeated"),
    (b"<Patient xmlns='http://hl7.org/fhir'>text</Patient>", "Unexpected text"),
    (b"<Patient xmlns='http://hl7.org/fhir'><active value='true' foo='1'/></Patient>",
     "Unexpected attribute"),
    (b"<Nonsense xmlns='http://hl7.org/fhir'/>", "Unknown resource type"),
    (b"<Patient xmlns='http://hl7.org/fhir'><text><status value='generated'/><div>x</div>"
     b"</text></Patient>", "XHTML"),
    (b"<Patient xmlns='http://hl7.org/fhir'><multipleBirthInteger value='1.5'/></Patient>",
     "not an integer"),
])
def test_the_reader_refuses(raw, words):
    with pytest.raises(XmlFormatError) as exc:
        xml_to_resource(raw)
    assert words in str(exc.value)


def test_the_writer_refuses_what_has_no_xml_form():
    with pytest.raises(XmlWriteError):
        resource_to_xml({"resourceType": "Patient", "nonsense": 1})
    with pytest.raises(XmlWriteError):
        resource_to_xml({"resourceType": "Nope"})


def _xml_files():
    return sorted(SHARED.rglob("*.xml")) if SHARED.is_dir() else []


@pytest.mark.skipif(not _xml_files(), reason="shared conformance material not present")
def test_every_xml_file_of_the_conformance_material_round_trips_losslessly():
    """XML -> JSON -> XML keeps every element, attribute and value; the XML written is stable
    (written again from its own JSON, byte for byte)."""
    for path in _xml_files():
        raw = path.read_bytes()
        first = json.loads(xml_to_json(raw), parse_float=Decimal)
        xml = json_to_xml(xml_to_json(raw))
        assert json.loads(xml_to_json(xml), parse_float=Decimal) == first, path.name
        assert json_to_xml(xml_to_json(xml)) == xml, path.name
        assert _canonical(etree.fromstring(raw)) == _canonical(etree.fromstring(xml)), path.name


def _canonical(el):
    """An element tree as comparable data: FHIR children sorted by nothing but kept in
    document order per name (order between names is the writer's), no comments."""
    kids = {}
    for k in el:
        if isinstance(k.tag, str):
            kids.setdefault(k.tag, []).append(_canonical(k))
    return (el.tag, dict(el.attrib), (el.text or "").strip(), sorted(kids.items()))


@pytest.mark.skipif(not (SHARED / "r4-examples").is_dir(), reason="no shared R4 examples")
def test_official_json_examples_go_to_xml_and_back_unchanged():
    n = 0
    for path in sorted((SHARED / "r4-examples").glob("*.json")):
        raw = path.read_bytes()
        src = json.loads(raw, parse_float=Decimal)
        back = json.loads(xml_to_json(json_to_xml(raw)), parse_float=Decimal)
        _same_divs(src, back)
        assert back == src, path.name
        n += 1
    assert n > 200


def _same_divs(a, b):
    """XHTML written again may spell the same markup differently (&quot; or ", <p></p> or
    <p/>): compare divs as canonical XML, then let the dicts compare equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k == "div" and isinstance(a[k], str) and isinstance(b.get(k), str):
                ca = etree.tostring(etree.fromstring(a[k]), method="c14n")
                cb = etree.tostring(etree.fromstring(b[k]), method="c14n")
                assert ca == cb
                b[k] = a[k]
            elif k in b:
                _same_divs(a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b):
            _same_divs(x, y)
