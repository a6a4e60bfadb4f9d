"""OBX with an R4 vital-sign LOINC code: the vital-signs category the core profiles require
(issue 10), on SQLite and PostgreSQL through $convert-hl7v2 (validated, nothing stored)."""
from pathlib import Path

from fhirsvc.hl7v2 import parse
from fhirsvc.hl7v2.convert import Converter
from fhirsvc.hl7v2.vitals import from_package

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "hl7v2"
ER7 = "x-application/hl7-v2+er7"
VS = ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")
ADT = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240101120000+0100||ADT^A01|v1|P|2.5.1\r"
       "PID|1||V-001^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "PV1|1|I|||||||||||||||||VV-1^^^HOSPA-VN^VN\r"
       "OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM|||||F|||20240101110000+0100\r")
ORU = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|v2|P|2.5.1\r"
       "PID|1||V-002^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P9^HOSPA-ORD|F9^HOSPA-ORD|29463-7^Body weight^LN|||20240101100000+0100\r"
       "OBX|1|NM|29463-7^Body weight^LN||61.5|kg^^UCUM|||||F\r"
       "OBX|2|NM|17861-6^Calcium^LN||9.0|mg/dL^^UCUM|8.6-10.3|N|||F\r")


def categories(res):
    return [(c["system"], c["code"]) for cc in res.get("category", ()) for c in cc["coding"]]


def observations(raw):
    (msg,) = parse(raw)
    b = Converter().convert(msg).bundle
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]


def test_codes_come_from_the_r4_package():
    v = from_package()
    assert {"8867-4", "29463-7", "8302-2", "39156-5", "85354-9", "8310-5"} <= v.codes
    assert v.category["coding"][0]["code"] == "vital-signs"
    assert v.category["coding"][0]["display"] == "Vital Signs"


def test_vital_sign_gets_the_category_and_a_lab_result_does_not():
    weight, calcium = observations(ORU)
    assert categories(weight) == [VS]                      # not `laboratory` too
    assert categories(calcium) == [(VS[0], "laboratory")]
    (hr,) = observations(ADT)
    assert categories(hr) == [VS]


def convert(client, raw):
    return client.post("/fhir/$convert-hl7v2", data=raw, content_type=ER7)


def test_adt_with_heart_rate_validates(client):
    resp = convert(client, ADT)
    assert resp.status_code == 200, resp.get_json()


def test_oru_with_body_weight_validates(client):
    resp = convert(client, ORU)
    assert resp.status_code == 200, resp.get_json()


def test_heart_rate_sent_as_rp_is_kept_with_a_data_absent_reason(client):
    # a heart rate sent as a picture (RP): before, AE for vs-2 (no value[x]); now the picture is
    # kept in the valueAttachment extension and dataAbsentReason says R4 value[x] cannot hold it
    raw = ADT.replace("OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM",
                      "OBX|1|RP|8867-4^Heart rate^LN||https://x.example/p^^image^PICT|")
    resp = convert(client, raw)
    assert resp.status_code == 200, resp.get_json()
    (hr,) = [e["resource"] for e in resp.get_json()["entry"]
             if e["resource"]["resourceType"] == "Observation"]
    assert hr["dataAbsentReason"]["coding"][0]["code"] == "unsupported"
    assert hr["extension"][0]["valueAttachment"]["url"] == "https://x.example/p"


def test_wrong_vital_sign_unit_is_an_ae_located_at_obx_6(client):
    raw = ADT.replace("72|/min^^UCUM", "72|kg^^UCUM")
    ack = client.post("/fhir/$process-hl7v2", data=raw, content_type=ER7)
    assert ack.status_code == 422
    segs = ack.data.decode().split("\r")
    assert [s.split("|")[1] for s in segs if s.startswith("MSA")] == ["AE"]
    errs = [s.split("|") for s in segs if s.startswith("ERR")]
    assert [(e[2], e[3].split("^")[0], e[4]) for e in errs] == [("OBX^1^6^1", "103", "E")], errs


def test_snomed_vital_sign_translated_by_a_stored_conceptmap(client, runtime):
    raw = ADT.replace("8867-4^Heart rate^LN", "364075005^Heart rate^SCT")
    resp = convert(client, raw)
    assert resp.status_code == 422
    assert [i["expression"][0] for i in resp.get_json()["issue"]
            if i["severity"] == "error"] == ["OBX[1]-3"]
    cm = {"resourceType": "ConceptMap", "url": "http://example.org/ConceptMap/sct-vitals",
          "status": "active", "group": [{
              "source": "http://snomed.info/sct", "target": "http://loinc.org",
              "element": [{"code": "364075005", "target": [{"code": "8867-4",
                                                            "equivalence": "equivalent"}]}]}]}
    created = client.post("/fhir/ConceptMap", json=cm)
    assert created.status_code == 201
    runtime.services.hl7v2._maps_loaded = 0.0  # its copy is refreshed every few seconds
    try:
        resp = convert(client, raw)
        assert resp.status_code == 200, resp.get_json()
        (hr,) = [e["resource"] for e in resp.get_json()["entry"]
                 if e["resource"]["resourceType"] == "Observation"]
        assert [c["code"] for c in hr["code"]["coding"]] == ["8867-4", "364075005"]
        assert categories(hr) == [VS]
    finally:   # the module's other tests convert without it
        where = created.headers["Location"].split("/fhir/")[1].split("/_history")[0]
        assert client.delete(f"/fhir/{where}").status_code in (200, 204)
        runtime.services.hl7v2._maps_loaded = 0.0


def test_shared_conformance_messages_accepted(client):
    """How many of the shared messages $convert-hl7v2 accepts (validated): 21 before the
    vital-signs category (the ADT A01/A02/A03/A08/A31 heart rates were AE), 26 with it, 27
    with dataAbsentReason (ms-ORU-R01-01's RP heart rate)."""
    paths = sorted((SHARED / "messages").glob("*.hl7"))
    assert paths, "the conformance messages are missing"
    ok = [p.name for p in paths if convert(client, p.read_bytes()).status_code == 200]
    assert len(ok) >= 27, ok
