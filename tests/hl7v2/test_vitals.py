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


def test_what_the_message_lacks_is_refused_at_its_obx(client):
    # a heart rate sent as a picture (RP): no value[x] for the profile, nothing invented
    raw = ADT.replace("OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM",
                      "OBX|1|RP|8867-4^Heart rate^LN||https://x.example/p^^image^PICT|")
    resp = convert(client, raw)
    assert resp.status_code == 422
    bad = [i for i in resp.get_json()["issue"] if i["severity"] == "error"]
    assert bad and all("OBX[1]" in i.get("expression", ()) for i in bad), bad
    assert any("vs-2" in i["details"]["text"] for i in bad), bad


def test_shared_conformance_messages_accepted(client):
    """How many of the shared messages $convert-hl7v2 accepts (validated): 21 before the
    vital-signs category (the ADT A01/A02/A03/A08/A31 heart rates were AE), 26 with it."""
    paths = sorted((SHARED / "messages").glob("*.hl7"))
    assert paths, "the conformance messages are missing"
    ok = [p.name for p in paths if convert(client, p.read_bytes()).status_code == 200]
    assert len(ok) >= 26, ok
