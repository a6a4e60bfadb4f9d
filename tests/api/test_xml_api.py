"""FHIR XML over REST (application/fhir+xml, _format=xml): every interaction reads and writes
XML through the one negotiation layer; bad XML (malformed, DTDs, entities) is a 400
OperationOutcome and stores nothing."""
from __future__ import annotations

import json

import pytest
from lxml import etree

XML = "application/fhir+xml"
NS = {"f": "http://hl7.org/fhir"}

PATIENT = """<?xml version="1.0" encoding="UTF-8"?>
<Patient xmlns="http://hl7.org/fhir">
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Jane <b>Doe</b></p></div></text>
  <active value="true"/>
  <name><family value="Doe"/><given value="Jane"/><given id="g2" value="Q"><extension url="http://example.org/x"><valueString value="e"/></extension></given></name>
  <birthDate value="1970-05-01"/>
</Patient>"""


def doc(resp):
    assert resp.mimetype == XML, (resp.status_code, resp.data[:300])
    return etree.fromstring(resp.data)


def val(root, path):
    got = root.xpath(path + "/@value", namespaces=NS)
    return got[0] if got else None


def count(runtime, rtype):
    with runtime.db.unit_of_work() as uow:
        return uow.resources.count(rtype, include_deleted=True)


def test_create_read_vread_update_in_xml(client):
    resp = client.post("/fhir/Patient", data=PATIENT, content_type=XML, headers={"Accept": XML})
    assert resp.status_code == 201
    root = doc(resp)
    rid = val(root, "f:id")
    assert etree.QName(root).localname == "Patient" and rid
    # elements in R4 order: id, meta, text, active, name, birthDate
    names = [etree.QName(e).localname for e in root]
    assert names == ["id", "meta", "text", "active", "name", "birthDate"]
    given = root.xpath("f:name/f:given", namespaces=NS)
    assert [g.get("value") for g in given] == ["Jane", "Q"] and given[1].get("id") == "g2"
    assert given[1].xpath("f:extension/@url", namespaces=NS) == ["http://example.org/x"]
    div = root.xpath("f:text/x:div", namespaces={**NS, "x": "http://www.w3.org/1999/xhtml"})
    assert div and "Doe" in etree.tostring(div[0], encoding="unicode")
    # the JSON form of the same resource
    js = client.get(f"/fhir/Patient/{rid}").get_json()
    assert js["name"][0]["given"] == ["Jane", "Q"]
    assert js["name"][0]["_given"] == [None, {"id": "g2", "extension": [
        {"url": "http://example.org/x", "valueString": "e"}]}]
    assert js["active"] is True
    assert val(doc(client.get(f"/fhir/Patient/{rid}?_format=xml")), "f:birthDate") == "1970-05-01"
    vread = doc(client.get(f"/fhir/Patient/{rid}/_history/1", headers={"Accept": XML}))
    assert val(vread, "f:meta/f:versionId") == "1"
    upd = PATIENT.replace("<text>", f'<id value="{rid}"/><text>').replace('"true"', '"false"')
    resp = client.put(f"/fhir/Patient/{rid}?_format=xml", data=upd, content_type=XML)
    assert resp.status_code == 200
    assert val(doc(resp), "f:active") == "false"
    assert client.get(f"/fhir/Patient/{rid}").get_json()["meta"]["versionId"] == "2"


def test_search_history_and_capabilities_in_xml(client):
    client.post("/fhir/Patient", data=PATIENT, content_type=XML)
    root = doc(client.get("/fhir/Patient?family=Doe&_format=xml"))
    assert etree.QName(root).localname == "Bundle" and val(root, "f:type") == "searchset"
    # a resource inside its container element
    assert root.xpath("f:entry/f:resource/f:Patient", namespaces=NS)
    hist = doc(client.get("/fhir/Patient/_history", headers={"Accept": XML}))
    assert val(hist, "f:type") == "history"
    cap = doc(client.get("/fhir/metadata", headers={"Accept": XML}))
    assert etree.QName(cap).localname == "CapabilityStatement"
    assert "xml" in cap.xpath("f:format/@value", namespaces=NS)


def test_transaction_in_xml(client):
    bundle = """<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/>
      <entry><fullUrl value="urn:uuid:7d9bd6a0-1b0a-4c1f-8a6e-2b1b1b1b1b1b"/>
        <resource><Patient><name><family value="Tx"/></name></Patient></resource>
        <request><method value="POST"/><url value="Patient"/></request></entry>
      <entry><resource><Observation><status value="final"/>
          <code><text value="x"/></code>
          <subject><reference value="urn:uuid:7d9bd6a0-1b0a-4c1f-8a6e-2b1b1b1b1b1b"/></subject>
          <valueQuantity><value value="72.50"/><unit value="/min"/></valueQuantity>
        </Observation></resource>
        <request><method value="POST"/><url value="Observation"/></request></entry>
    </Bundle>"""
    resp = client.post("/fhir", data=bundle, content_type=XML, headers={"Accept": XML})
    assert resp.status_code == 200, resp.data[:500]
    root = doc(resp)
    assert val(root, "f:type") == "transaction-response"
    assert [s.startswith("201") for s in root.xpath("f:entry/f:response/f:status/@value",
                                                      namespaces=NS)] == [True, True]


def test_validate_and_outcomes_in_xml(client):
    bad = PATIENT.replace('<birthDate value="1970-05-01"/>', '<birthDate value="1970-13-01"/>')
    resp = client.post("/fhir/Patient/$validate", data=bad, content_type=XML,
                       headers={"Accept": XML})
    root = doc(resp)
    assert etree.QName(root).localname == "OperationOutcome"
    assert "error" in root.xpath("f:issue/f:severity/@value", namespaces=NS)
    # an error answered in XML: unknown resource
    nf = client.get("/fhir/Patient/does-not-exist?_format=xml")
    assert nf.status_code == 404 and etree.QName(doc(nf)).localname == "OperationOutcome"


@pytest.mark.parametrize("body,words", [
    ("<Patient xmlns='http://hl7.org/fhir'><active value='true'/>", "Malformed XML"),
    ("""<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
        <Patient xmlns="http://hl7.org/fhir"><name><family value="&xxe;"/></name></Patient>""",
     "DOCTYPE"),
    ("""<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>
        <Patient xmlns="http://hl7.org/fhir"><name><family value="&b;"/></name></Patient>""",
     "DOCTYPE"),
    ("<Patient xmlns='http://hl7.org/fhir'><nonsense value='1'/></Patient>", "Unknown element"),
    ("<Patient><active value='true'/></Patient>", "FHIR namespace"),
    ("<Patient xmlns='http://hl7.org/fhir'><active value='yes'/></Patient>", "not a boolean"),
])
def test_bad_xml_is_a_400_and_stores_nothing(client, runtime, body, words):
    before = count(runtime, "Patient")
    resp = client.post("/fhir/Patient", data=body, content_type=XML)
    assert resp.status_code == 400
    out = resp.get_json()
    assert out["resourceType"] == "OperationOutcome" and out["issue"][0]["code"] == "structure"
    assert words in out["issue"][0]["details"]["text"]
    assert "root:" not in resp.get_data(as_text=True)  # no file content leaked
    assert count(runtime, "Patient") == before


def test_json_and_xml_stored_forms_agree(client):
    js = {"resourceType": "Patient", "active": True, "name": [{"family": "Same"}],
          "multipleBirthInteger": 2}
    a = client.post("/fhir/Patient", data=json.dumps(js), content_type="application/fhir+json")
    rid = a.get_json()["id"]
    x = client.get(f"/fhir/Patient/{rid}?_format=xml&_pretty=true")
    assert b"\n  <" in x.data
    back = client.post("/fhir/Patient", data=x.data, content_type=XML).get_json()
    for k in ("active", "name", "multipleBirthInteger"):
        assert back[k] == js[k]
