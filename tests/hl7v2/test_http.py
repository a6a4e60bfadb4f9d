"""$convert-hl7v2 and $process-hl7v2 over HTTP, on SQLite and PostgreSQL: statuses, ACKs,
idempotency, the log, A08 updates, A40 merges, nothing stored on errors."""
import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hl7v2"
ER7 = "x-application/hl7-v2+er7"
ADT = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240101120000+0100||ADT^A01|{cid}|P|2.5.1\r"
       "PID|1||H-{pid}^^^HOSPA^MR||Doe^Jane||19520915|F|||1 Main St^^Town\r"
       "PV1|1|I|||||||||||||||||V-{pid}^^^HOSPA-VN^VN\r")


def post(client, op, body, ctype=ER7):
    return client.post(f"/fhir/$%s-hl7v2" % op, data=body, content_type=ctype)


def msa(resp):
    return [s for s in resp.data.decode().split("\r") if s.startswith("MSA")][0].split("|")


def count(client, query):
    return client.get(f"/fhir/{query}&_summary=count").get_json()["total"]


def test_convert_answers_the_bundle_and_stores_nothing(client):
    resp = post(client, "convert", (EXAMPLES / "case-a-labs.oru-r01.hl7").read_bytes())
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    assert bundle["type"] == "transaction"
    assert count(client, "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|A-001") == 0


def test_convert_422_names_the_segment(client):
    raw = ADT.format(cid="c1", pid="c1") + "DG1|1||\r"
    resp = post(client, "convert", raw.replace("19520915", "1952x915"))
    assert resp.status_code == 422
    exprs = [e for i in resp.get_json()["issue"] for e in i.get("expression", ())]
    assert "PID[1]-7" in exprs and "PID[1].7[1]" in exprs


def test_process_aa_resend_and_log(client, runtime):
    raw = ADT.format(cid="p1", pid="p1")
    first = post(client, "process", raw)
    assert first.status_code == 200 and msa(first)[1] == "AA", first.data
    assert first.mimetype == ER7
    again = post(client, "process", raw)
    assert again.data == first.data  # answered from the log
    assert count(client, "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-p1") == 1
    # a new control id with the same content changes nothing (conditional updates)
    post(client, "process", ADT.format(cid="p1b", pid="p1"))
    assert count(client, "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-p1") == 1
    assert count(client, "Encounter?identifier=http://hospital-a.example.org/fhir/sid/visit|V-p1") == 1
    ctx = runtime.context(door="test")
    page = runtime.services.hl7v2.messages(ctx, sender="ADT^HOSPA", control_id="p1")
    assert page.total == 2 and {e.outcome for e in page.entries} == {"AA"}
    assert page.entries[0].provenance is not None or page.entries[1].provenance is not None
    assert runtime.services.hl7v2.messages(ctx, message_type="ADT", outcome="AA").total >= 3
    prov = client.get("/fhir/Provenance?_count=100").get_json()
    assert any(p["resource"]["meta"]["tag"][0]["code"] == "hl7v2" for p in prov["entry"])


def test_process_ae_and_ar_store_nothing(client):
    bad = ADT.format(cid="e1", pid="e1").replace("PV1|1|I", "PV1|1|I||||||||||||||||||\r"
                                                  "OBX|1|NM|x^y^LN||nine")
    bad = bad.replace("19520915", "19521399")
    resp = post(client, "process", bad)
    assert resp.status_code == 422 and msa(resp)[1] == "AE"
    errs = [s for s in resp.data.decode().split("\r") if s.startswith("ERR")]
    assert errs and errs[0].split("|")[2] == "PID^1^7^1" and "^HL70357" in errs[0]
    assert count(client, "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-e1") == 0
    resp = post(client, "process", b"this is not HL7")
    assert resp.status_code == 400 and msa(resp)[1] == "AR"
    resp = post(client, "process", b"{}", ctype="application/json")
    assert resp.status_code == 415


def test_a08_updates_same_patient_and_null_clears(client):
    post(client, "process", ADT.format(cid="u1", pid="u1"))
    upd = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240102120000+0100||ADT^A08|u2|P|2.5.1\r"
           "PID|1||H-u1^^^HOSPA^MR||Doe^Janet||\"\"|F\r")
    resp = post(client, "process", upd)
    assert msa(resp)[1] == "AA", resp.data
    found = client.get("/fhir/Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-u1"
                       ).get_json()["entry"]
    assert len(found) == 1
    p = found[0]["resource"]
    assert p["name"][0]["given"] == ["Janet"] and "birthDate" not in p
    assert p["address"][0]["city"] == "Town"  # empty in the A08: kept


def test_a40_merge_keeps_both(client):
    post(client, "process", ADT.format(cid="m1", pid="old"))
    post(client, "process", ADT.format(cid="m2", pid="new"))
    merge = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240103120000+0100||ADT^A40|m3|P|2.5.1\r"
             "PID|1||H-new^^^HOSPA^MR||Doe^Jane||19520915|F\rMRG|H-old^^^HOSPA^MR\r")
    resp = post(client, "process", merge)
    assert msa(resp)[1] == "AA", resp.data
    old = client.get("/fhir/Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-old"
                     ).get_json()["entry"][0]["resource"]
    new = client.get("/fhir/Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-new"
                     ).get_json()["entry"][0]["resource"]
    assert old["active"] is False and old["link"][0]["other"]["reference"] == f"Patient/{new['id']}"
    assert old["address"][0]["city"] == "Town" and old["name"][0]["family"] == "Doe"
    assert new["link"][0]["type"] == "replaces"


def test_seed_examples_process(client):
    for name in ("case-a-admission.adt-a01.hl7", "case-a-labs.oru-r01.hl7",
                 "case-b-lumbar-mri.oru-r01.hl7"):
        resp = post(client, "process", (EXAMPLES / name).read_bytes())
        assert resp.status_code == 200 and msa(resp)[1] in ("AA", "CA"), resp.data
    obs = client.get("/fhir/Observation?code=http://loinc.org|17861-6").get_json()["entry"]
    assert obs[0]["resource"]["valueQuantity"]["value"] == 9.0
    assert "ssc-lab" in obs[0]["resource"]["meta"]["profile"][0]
    rep = client.get("/fhir/DiagnosticReport?code=http://loinc.org|24968-0").get_json()["entry"]
    assert "L4-L5" in rep[0]["resource"]["conclusion"]


def test_log_search_by_time_type_and_outcome(client, runtime):
    import time
    svc, ctx = runtime.services.hl7v2, runtime.context(door="test")
    before = time.time_ns() // 1000
    post(client, "process", ADT.format(cid="s1", pid="s1").replace("ADT^A01", "ADT^A04"))
    post(client, "process", b"MSH|^~\\&|ADT|HOSPA|F|X|2024||ADT^A01|s2|P|2.5\rPID|1||\r")
    page = svc.messages(ctx, since=before)
    assert page.total == 2
    assert [e.outcome for e in svc.messages(ctx, since=before, outcome="AE").entries] == ["AE"]
    assert svc.messages(ctx, since=before, message_type="ADT^A04").entries[0].control_id == "s1"
    entry = svc.message(ctx, page.entries[0].id)
    assert entry.raw.startswith("MSH|") and entry.ack.startswith("MSH|")
    assert svc.messages(ctx, until=before, control_id="s1").total == 0


def test_enhanced_mode_and_batch_over_http(client):
    enhanced = ADT.format(cid="en1", pid="en1").replace("|P|2.5.1\r", "|P|2.5.1|||AL|NE\r")
    resp = post(client, "process", enhanced)
    assert resp.status_code == 200 and msa(resp)[1] == "CA"
    bad = enhanced.replace("en1|P", "en2|P").replace("19520915", "19529999")
    resp = post(client, "process", bad)
    assert resp.status_code == 422 and msa(resp)[1] == "CE"
    batch = ("BHS|^~\\&|ADT|HOSPA\r" + ADT.format(cid="b1", pid="b1") +
             ADT.format(cid="b2", pid="b2") + "BTS|2\r")
    resp = post(client, "process", batch)
    acks = [s for s in resp.data.decode().split("\r") if s.startswith("MSA")]
    assert resp.status_code == 200 and [a.split("|")[2] for a in acks] == ["b1", "b2"]


def test_conceptmap_stored_in_the_server_translates(client, runtime):
    cm = {"resourceType": "ConceptMap", "url": "http://example.org/ConceptMap/xlab", "status":
          "active", "group": [{"source": "http://fhirsvc.org/fhir/sid/hl7v2-local/HOSPA/XLAB",
                               "target": "http://loinc.org", "element": [{"code": "CAX", "target": [
                                   {"code": "17861-6", "equivalence": "equivalent"}]}]}]}
    assert client.post("/fhir/ConceptMap", json=cm).status_code == 201
    runtime.services.hl7v2._maps_loaded = 0.0  # its copy is refreshed every few seconds
    raw = ("MSH|^~\\&|LAB|HOSPA|F|X|20240101120000+0100||ORU^R01|cm1|P|2.5.1\r"
           "PID|1||H-cm^^^HOSPA^MR||Doe\rOBR|1||F-cm^HOSPA-ORD|24362-6^Panel^LN|||20240101\r"
           "OBX|1|NM|CAX^Calcium^XLAB||9.1|mg/dL|||||F\rOBX|2|NM|CAY^Other^XLAB||1|mg/dL|||||F\r")
    bundle = post(client, "convert", raw).get_json()
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert obs[0]["code"]["coding"][0] == {"system": "http://loinc.org", "code": "17861-6"}
    assert obs[0]["code"]["coding"][1]["code"] == "CAX"  # the local code is kept beside it
    assert [c["code"] for c in obs[1]["code"]["coding"]] == ["CAY"]  # untranslated, kept
    ack = post(client, "process", raw)
    assert msa(ack)[1] == "AA"
    assert "|W|" in ack.data.decode() and "CAY" in ack.data.decode()  # the warning travels


def test_strict_mode_accepts_every_shipped_example(runtime):
    """Strict mode (the guide's profiles required for the types it profiles): each message of
    examples/hl7v2 is stored (AA, or CA in enhanced mode) and what it makes claims a guide
    profile: the SSc labs ssc-lab, the lab panel lab-report, the MRI report
    imaging-text-report, the DG1 diagnosis encounter-diagnosis."""
    ctx = runtime.context(door="hl7v2", require_guide_profiles=True)
    hl7 = runtime.services.hl7v2
    claimed = {}
    for path in sorted(EXAMPLES.glob("*.hl7")):
        raw = path.read_bytes()
        bundle = hl7.convert(ctx, raw).bundle       # raises (422) if strict mode refuses it
        for e in bundle["entry"]:
            r = e["resource"]
            for p in r.get("meta", {}).get("profile", ()):
                claimed.setdefault(r["resourceType"], set()).add(p.rsplit("/", 1)[1])
        ack = hl7.process(ctx, raw)
        assert ack.code in ("AA", "CA") and ack.status == 200, (path.name, ack.ack)
    assert {"ssc-lab"} <= claimed["Observation"]
    assert "lab-report" in claimed["DiagnosticReport"]
    assert "imaging-text-report" in claimed["DiagnosticReport"]
    assert claimed["Condition"] == {"encounter-diagnosis"}


def test_strict_mode_refuses_a_lab_panel_that_does_not_conform(runtime):
    """The lab-report profile is checked, not only claimed: a LAB report without a code is
    refused in strict mode, located at the DiagnosticReport entry."""
    conv = runtime.services.hl7v2.convert(
        runtime.context(door="hl7v2"), (EXAMPLES / "case-a-labs.oru-r01.hl7").read_bytes())
    bundle = conv.bundle
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    i = types.index("DiagnosticReport")
    assert bundle["entry"][i]["resource"]["meta"]["profile"][0].endswith("/lab-report")
    del bundle["entry"][i]["resource"]["code"]
    issues = runtime.services.resources.pipeline.validator.validate(bundle, strict=True)
    errors = [x for x in issues if x.is_error]
    assert errors and all(e.expression[0].startswith(f"Bundle.entry[{i}]") for e in errors)


def test_pid3_with_an_authority_never_attaches_to_a_patient_without_a_system(client):
    """Patient safety: PID-3 `H-sl1^^^HOSPA^MR` is `http://hospital-a.example.org/fhir/sid/mrn|
    H-sl1`; a Patient whose identifier H-sl1 has no system is someone else. The A01 creates a
    new Patient, the A08 updates that one, the $convert-hl7v2 preview merges with that one,
    and the systemless Patient is never touched."""
    other = client.post("/fhir/Patient", data=json.dumps({
        "resourceType": "Patient", "identifier": [{"value": "H-sl1"}],
        "name": [{"family": "Other", "given": ["Person"]}], "gender": "male"}),
        content_type="application/fhir+json")
    assert other.status_code == 201
    other_id = other.get_json()["id"]
    mrn = "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|H-sl1"

    resp = post(client, "process", ADT.format(cid="sl1", pid="sl1"))
    assert msa(resp)[1] == "AA", resp.data
    (made,) = [e["resource"] for e in client.get(f"/fhir/{mrn}").get_json()["entry"]]
    assert made["id"] != other_id and made["name"][0]["family"] == "Doe"

    upd = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240102120000+0100||ADT^A08|sl2|P|2.5.1\r"
           "PID|1||H-sl1^^^HOSPA^MR||Doe^Janet||\"\"|F\r")
    preview = post(client, "convert", upd).get_json()
    (pat,) = [e["resource"] for e in preview["entry"]
              if e["resource"]["resourceType"] == "Patient"]
    assert pat["name"][0]["family"] == "Doe" and pat.get("gender") == "female"
    assert msa(post(client, "process", upd))[1] == "AA"
    (again,) = [e["resource"] for e in client.get(f"/fhir/{mrn}").get_json()["entry"]]
    assert again["id"] == made["id"] and again["name"][0]["given"] == ["Janet"]

    untouched = client.get(f"/fhir/Patient/{other_id}").get_json()
    assert untouched["meta"]["versionId"] == "1"
    assert untouched["name"][0]["family"] == "Other" and untouched["gender"] == "male"


def test_attachment_and_repeating_results_validate(client):
    """ED / RP values (the R5 valueAttachment extension) and a repeating OBX-5 (components)
    make a Bundle the validator accepts; an ED value was refused (422) before."""
    raw = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|att1|P|2.5.1\r"
           "PID|1||H-att^^^HOSPA^MR||Doe^Jane||19520915|F\r"
           "OBR|1|P-att^HOSPA-ORD|F-att^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
           "OBX|1|ED|11502-2^Lab report^LN||^AP^PDF^Base64^SGVsbG8=||||||F\r"
           "OBX|2|RP|11502-2^Lab report^LN||https://lab.example/r.pdf^^AP^PDF||||||F\r"
           "OBX|3|NM|17861-6^Calcium^LN||9.0~9.2|mg/dL^^UCUM|8.6-10.3|N|||F\r"
           "SPM|1|S-att||BLD|||||||P||||||202401010900+0100^202401010930+0100\r")
    resp = post(client, "convert", raw)
    assert resp.status_code == 200, resp.get_json()
