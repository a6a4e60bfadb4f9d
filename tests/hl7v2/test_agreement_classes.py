"""The classes of disagreement with the reference converter worked on, each pinned to the
v2-to-FHIR guide's table it follows (pure, no database)."""
import pytest

from fhirsvc.hl7v2 import parse
from fhirsvc.hl7v2.convert import Converter

MSH = "MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240101120000+0100||ADT^{ev}|c1|P|2.5.1\r"


@pytest.fixture(scope="module")
def conv():
    return Converter()


def convert(conv, text):
    (msg,) = parse(text)
    return conv.convert(msg)


def one(c, rtype):
    return [e["resource"] for e in c.bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_xtn_value_follows_the_guide(conv):
    """XTN[ContactPoint]: XTN-12 before XTN-1 for phones; XTN-4 only for Internet / X.400;
    PID-40 is telecom too."""
    c = convert(conv, MSH.format(ev="A01") +
                "PID|1||A-1^^^HOSPA^MR||Doe^Ann||||||||78788788^^CP^x@y.org^^^1111^^^^^2222~"
                "^^PH^^1^555^1234567^89~4444^^PH|7777^^TDD||||||||||||||||||||||||||"
                "89898989^WPN^Internet~^NET^Internet^a@b.org\r")
    t = one(c, "Patient")[0]["telecom"]
    assert [x["value"] for x in t] == ["2222", "+1 555 1234567 X89", "4444", "7777",
                                       "89898989", "a@b.org"]
    assert t[0]["use"] == "mobile" and t[-1]["system"] == "email" and t[4]["system"] == "email"


def test_xpn_called_by_is_a_nickname_and_professional_suffix_kept(conv):
    c = convert(conv, MSH.format(ev="A01") +
                "PID|1||A-1^^^HOSPA^MR||Everyman^Adam^A^III^Dr.^MD^L^^^^^20000101^^PF^Addy\r")
    names = one(c, "Patient")[0]["name"]
    assert names[0] == {"family": "Everyman", "given": ["Adam", "A"], "prefix": ["Dr."],
                        "suffix": ["III", "MD", "PF"], "use": "official",
                        "period": {"start": "2000-01-01"}}
    assert names[1] == {"use": "nickname", "given": ["Addy"]}


@pytest.mark.parametrize("code,status", [("F", "final"), ("P", "preliminary"),
                                         ("C", "corrected"), ("S", "unknown"),
                                         ("I", "unknown"), ("R", "unknown"), ("", "unknown")])
def test_obx11_result_status_table(conv, code, status):
    c = convert(conv, MSH.format(ev="A01") + "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r"
                f"OBX|1|NM|8867-4^Heart rate^LN||60|/min^^UCUM|||||{code}\r")
    (obs,) = one(c, "Observation")
    assert obs["status"] == status
    assert not [w for w in c.warnings if w.location and w.location.field == 11]


@pytest.mark.parametrize("event,pv1,status", [
    ("A01", "PV1|1|I", "in-progress"), ("A01", "PV1|1|P", "planned"),
    ("A04", "PV1|1|O", "in-progress"), ("A04", "PV1|1|U", "unknown"),
    ("A01", "PV1|1|I" + "|" * 43 + "20240102", "finished"),   # PV1-45 valued
    ("A03", "PV1|1|I", "finished"), ("A11", "PV1|1|I", "cancelled")])
def test_encounter_status_from_patient_class_and_discharge(conv, event, pv1, status):
    c = convert(conv, MSH.format(ev=event) + "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r" + _pv1(pv1))
    (enc,) = one(c, "Encounter")
    assert enc["status"] == status


def _pv1(head: str) -> str:
    """PV1 with the visit number in PV1-19, whatever fields `head` sets."""
    fields = head.split("|")
    fields += [""] * max(0, 20 - len(fields))
    fields[19] = "V1^^^HOSPA-VN^VN"
    return "|".join(fields) + "\r"


def test_a02_keeps_its_observations(conv):
    c = convert(conv, MSH.format(ev="A02") + "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r" +
                _pv1("PV1|1|I|W1^R2^B3") + "OBX|1|NM|8867-4^Heart rate^LN||60|/min^^UCUM|||||F\r")
    (obs,) = one(c, "Observation")
    assert obs["code"]["coding"][0]["code"] == "8867-4"
    assert obs["subject"]["reference"] == next(
        e["fullUrl"] for e in c.bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def test_oru_order_document_group_is_not_taken_for_a_result(conv):
    """v2.8 ORU_R01 ORDER_DOCUMENT (ORC, OBX + TXA, before the OBR): unmapped in the guide, so
    its OBX (no OBX-3, an ED document) neither fails the message nor becomes an Observation."""
    c = convert(conv, "MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|d1|P|2.8\r"
                "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r"
                "ORC|NW|P1^HOSPA-ORD\r"
                "OBX||ED|||App^NS^Octet-stream^Base64^QUJD\r"
                "TXA|1|DIS\r"
                "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
                "OBX|1|NM|17861-6^Calcium^LN||9.0|mg/dL^^UCUM|||||F\r")
    (obs,) = one(c, "Observation")
    assert obs["code"]["coding"][0]["code"] == "17861-6"
    assert any("ORDER_DOCUMENT" in w.message and w.location.segment == "OBX" for w in c.warnings)
    # an OBX without OBX-3 outside that group is still an error (AE)
    from fhirsvc.hl7v2 import Hl7v2Error
    with pytest.raises(Hl7v2Error):
        convert(conv, "MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|d2|P|2.8\r"
                "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r"
                "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Panel^LN\r"
                "OBX|1|NM|||9.0|mg/dL^^UCUM|||||F\r")


ORU = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|o1|P|2.5.1\r"
       "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r"
       "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100|||||||||||||||"
       "||LAB|F\r")


def spms(c):
    """The Specimens of SPM segments (the OBR's own has no type in these messages)."""
    return [s for s in one(c, "Specimen") if s.get("type")]


def test_repeating_obx5_makes_components_not_a_first_value(conv):
    """OBX[Observation-Component]: OBX-5 repeating (OBX-2 not NA) -> one component per value,
    each with OBX-3 as its code and OBX-7 as its range; before, only the first value was kept."""
    c = convert(conv, ORU + "OBX|1|NM|8867-4^Heart rate^LN||60~120|/min^^UCUM|70-80|A|||F\r"
                "OBX|2|NM|17861-6^Calcium^LN||9.0|mg/dL^^UCUM|8.6-10.3|N|||F\r")
    hr, ca = one(c, "Observation")
    assert "valueQuantity" not in hr and "referenceRange" not in hr
    assert [x["valueQuantity"]["value"] for x in hr["component"]] == [60, 120]
    assert all(x["code"] == hr["code"] for x in hr["component"])
    assert hr["component"][1]["referenceRange"][0]["text"] == "70-80"
    assert hr["interpretation"][0]["coding"][0]["code"] == "A"   # stays on the Observation
    assert ca["valueQuantity"]["value"] == 9.0 and "component" not in ca


def test_reference_range_keeps_its_text(conv):
    """OBX-7 -> referenceRange.text (ST) always; a range or bound is also read into low/high."""
    c = convert(conv, ORU + "OBX|1|NM|17861-6^Ca^LN||9.0|mg/dL^^UCUM|8.6-10.3|||||F\r"
                "OBX|2|NM|2160-0^Creat^LN||0.8|mg/dL^^UCUM|<1.2|||||F\r"
                "OBX|3|NM|2777-1^Phos^LN||2.8|mg/dL^^UCUM|see report|||||F\r")
    ranges = [o["referenceRange"][0] for o in one(c, "Observation")]
    assert [r["text"] for r in ranges] == ["8.6-10.3", "<1.2", "see report"]
    assert ranges[0]["low"]["value"] == 8.6 and ranges[1]["high"]["value"] == 1.2
    assert "low" not in ranges[2]


def test_ed_and_rp_values_are_the_attachment_extension(conv):
    """R4 Observation.value[x] has no Attachment (an ED value made the Bundle invalid, AE): the
    guide puts ED (Base64) and RP in the R5 valueAttachment extension."""
    c = convert(conv, ORU + "OBX|1|ED|11502-2^Report^LN||^AP^PDF^Base64^SGVsbG8=||||||F\r"
                "OBX|2|RP|11502-2^Report^LN||https://lab.example/r.pdf^^AP^PDF||||||F\r")
    ed, rp = one(c, "Observation")
    url = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment"
    assert ed["extension"] == [{"url": url, "valueAttachment": {
        "contentType": "application/pdf", "data": "SGVsbG8="}}]
    assert rp["extension"] == [{"url": url, "valueAttachment": {
        "url": "https://lab.example/r.pdf", "contentType": "application/pdf"}}]
    assert not any(k.startswith("value") for k in ed) and "valueString" not in rp


def test_spm17_with_an_end_is_a_period(conv):
    """SPM-17 (DR): collectedPeriod when SPM-17.2 is valued, else collectedDateTime."""
    c = convert(conv, ORU + "OBX|1|NM|17861-6^Ca^LN||9.0|mg/dL^^UCUM|||||F\r"
                "SPM|1|S1||BLD|||||||P||||||202401010900+0100^202401010930+0100\r"
                "OBR|2|P2^HOSPA-ORD|F2^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
                "OBX|1|NM|17861-6^Ca^LN||9.1|mg/dL^^UCUM|||||F\r"
                "SPM|1|S2||BLD|||||||P||||||202401010900+0100\r")
    first, second = (s["collection"] for s in spms(c))
    assert first == {"collectedPeriod": {"start": "2024-01-01T09:00:00+01:00",
                                         "end": "2024-01-01T09:30:00+01:00"}}
    assert second == {"collectedDateTime": "2024-01-01T09:00:00+01:00"}


def test_obx_after_spm_observes_the_specimen_not_the_report(conv):
    """ORU_R01 SPECIMEN.SPECIMEN_OBSERVATION.OBX: an Observation with focus the Specimen, not a
    result of the report; set ids restarting in that group make no identity clash."""
    c = convert(conv, ORU + "OBX|1|NM|17861-6^Ca^LN||9.0|mg/dL^^UCUM|||||F\r"
                "SPM|1|S1||BLD\r"
                "OBX|1|CWE|35659-2^Specimen condition^LN||HEM^Hemolyzed^HL70493||||||F\r")
    (report,) = one(c, "DiagnosticReport")
    (spm,) = spms(c)
    result, specimen_obs = one(c, "Observation")
    url = {id(e["resource"]): e["fullUrl"] for e in c.bundle["entry"]}
    assert report["result"] == [{"reference": url[id(result)]}]
    assert specimen_obs["focus"] == [{"reference": url[id(spm)]}]
    assert "specimen" not in specimen_obs and result["specimen"]["reference"] == url[id(spm)]
    assert {"reference": url[id(spm)]} in report["specimen"]
    queries = [e["request"]["url"] for e in c.bundle["entry"]]
    assert len(set(queries)) == len(queries)


def test_obr_makes_the_order_specimen(conv):
    """ORU_R01 OBR -> Specimen (OBR[Specimen]): OBR-7 collected (a period's start with OBR-8),
    OBR-9 volume, OBR-14 received, OBR-15 SPS type and site; the report references it and the
    results do when no SPM is sent. An imaging study makes none."""
    c = convert(conv, "MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|s1|P|2.3\r"
                "PID|1||A-1^^^HOSPA^MR||Doe^Ann\r"
                "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Panel^LN|||202401010900+0100|"
                "202401010930+0100|150^mL&mL&UCUM|||||202401011000+0100|BLD&Blood&HL70070"
                "^^^LA&Left arm&HL70163||||||||||F\r"
                "OBX|1|NM|17861-6^Calcium^LN||9.0|mg/dL^^UCUM|||||F\r"
                "OBR|2|P2^HOSPA-ORD|F2^HOSPA-ORD|24968-0^Lumbar MRI^LN|||202401011100+0100|||||"
                "||||||||||||MR|F\r")
    (spec,) = one(c, "Specimen")
    assert spec["type"]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v2-0070",
                                         "code": "BLD", "display": "Blood"}
    assert spec["collection"]["bodySite"]["coding"][0]["code"] == "LA"
    assert spec["collection"]["collectedPeriod"] == {"start": "2024-01-01T09:00:00+01:00",
                                                     "end": "2024-01-01T09:30:00+01:00"}
    assert spec["collection"]["quantity"] == {"value": 150, "unit": "mL", "system":
                                              "http://unitsofmeasure.org", "code": "mL"}
    assert spec["receivedTime"] == "2024-01-01T10:00:00+01:00"
    url = {id(e["resource"]): e["fullUrl"] for e in c.bundle["entry"]}
    lab, mri = one(c, "DiagnosticReport")
    assert lab["specimen"] == [{"reference": url[id(spec)]}] and "specimen" not in mri
    assert one(c, "Observation")[0]["specimen"] == {"reference": url[id(spec)]}
    assert "category" not in spec   # the report's rules (imaging category) are not applied
