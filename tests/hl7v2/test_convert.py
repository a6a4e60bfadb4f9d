"""Parsing and conversion, pure (no database): separators, escapes, nulls, bad messages."""
import json
from pathlib import Path

import pytest

from fhirsvc.hl7v2 import Hl7v2Error, parse
from fhirsvc.hl7v2.ack import acknowledgement_code, build_ack
from fhirsvc.hl7v2.convert import Converter

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "hl7v2"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hl7v2"

ORU = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|C1|P|2.5.1\r"
       "PID|1||A-001^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100||||||||||||||||"
       "|LAB|F\r"
       "OBX|1|NM|17861-6^Calcium^LN||9.0|mg/dL^^UCUM|8.6-10.3|N|||F\r"
       "OBX|2|SN|5048-4^ANA^LN||^1^:^2560|||H|||F\r"
       "OBX|3|ST|X1^Comment \\T\\ note^LN||a \\F\\ b||||||F\r")


@pytest.fixture(scope="module")
def conv():
    return Converter()


def resources(c, rtype):
    return [e["resource"] for e in c.bundle["entry"] if e["resource"]["resourceType"] == rtype]


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_separators_bom_and_escapes(conv, sep):
    raw = b"\xef\xbb\xbf" + ORU.replace("\r", sep).encode()
    (msg,) = parse(raw)
    c = conv.convert(msg)
    obs = resources(c, "Observation")
    assert obs[0]["valueQuantity"] == {"value": 9.0, "unit": "mg/dL", "system":
                                       "http://unitsofmeasure.org", "code": "mg/dL"}
    assert obs[0]["referenceRange"][0]["low"]["value"] == 8.6
    assert obs[1]["valueQuantity"]["code"] == "{titer}" and obs[1]["valueQuantity"]["value"] == 2560
    assert obs[2]["valueString"] == "a | b"
    assert obs[2]["code"]["coding"][0]["display"] == "Comment & note"
    report = resources(c, "DiagnosticReport")[0]
    assert [r["reference"] for r in report["result"]] == [
        e["fullUrl"] for e in c.bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    # conditional entries: resending the same message targets the same resources
    urls = [e["request"]["url"] for e in c.bundle["entry"]]
    assert urls[0] == "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|A-001"
    assert all(e["request"]["method"] == "PUT" for e in c.bundle["entry"])


def test_mixed_separators_and_escape_cases():
    cases = json.loads((SHARED / "escape_cases.json").read_text())
    for escaped, plain in cases["unescape"][:5]:
        (msg,) = parse(f"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\nPID|1||{escaped}\r\n")
        assert msg.first("PID").value(3) == plain


def test_explicit_null_is_recorded(conv):
    (msg,) = parse("MSH|^~\\&|A|HOSPA|C|D|2024||ADT^A08|1|P|2.5\rPID|1||A-1^^^HOSPA||Doe||\"\"|F")
    c = conv.convert(msg)
    assert "birthDate" in c.meta[0].cleared and "birthDate" not in c.bundle["entry"][0]["resource"]


@pytest.mark.parametrize("raw,reject,where", [
    (b"hello world", True, "MSH[1]"),
    (b"PID|1||X\r", True, "MSH[1]"),
    (b"MSH;^~\\&;A;B;C;D;2024;;ADT^A01;1;P;2.5\rPID|1||X", True, "PID[1]"),
    (b"MSH|^~\\&|A|B|C|D|2024||ZZZ^Z99|1|P|2.5\rPID|1||X", True, "MSH[1]-9"),
    (b"MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|P|2.5\rPID|1||X^^^HOSPA\rOBR|1||F1|X^Y^LN\r"
     b"OBX|1|NM|17861-6^Ca^LN||nine|mg/dL", False, "OBX[1]-5"),
    (b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1||\rPV1|1|I", False, "PID[1]-3"),
    (b"MSH|^~\\&|A|B|C|D|2024||ADT^A01", True, "MSH[1]-10"),
    # truncated in the middle of the order: no OBR-4, no OBX
    (b"MSH|^~\\&|A|B|C|D|2024||ORU^R01|1|P|2.5\rPID|1||X^^^HOSPA\rOBR|1|", False, "OBR[1]-4"),
])
def test_bad_messages_are_located(conv, raw, reject, where):
    with pytest.raises(Hl7v2Error) as exc:
        for m in parse(raw):
            conv.convert(m)
    assert exc.value.reject is reject
    assert any(str(p.location) == where for p in exc.value.problems), exc.value.problems


def test_local_code_kept_with_warning_and_translated_when_mapped():
    from fhirsvc.hl7v2.conceptmaps import ConceptMapIndex
    from fhirsvc.hl7v2.mappings import Mappings
    maps = Mappings.load()
    c = Converter(maps, translate=ConceptMapIndex(maps.conceptmaps).translate)
    (msg,) = parse((EXAMPLES / "case-a-labs.oru-r01.hl7").read_bytes())
    out = c.convert(msg)
    pth = [o for o in resources(out, "Observation") if o["code"]["coding"][-1]["code"] == "IPTH"][0]
    assert pth["code"]["coding"][0] == {"system": "http://loinc.org", "code": "2731-8",
                                        "display": "Parathyrin.intact [Mass/volume] in Serum or "
                                                   "Plasma"}
    (msg,) = parse(ORU.replace("17861-6^Calcium^LN", "CAX^Calcium^XLAB"))
    out = c.convert(msg)
    ca = resources(out, "Observation")[0]
    assert ca["code"]["coding"] == [{"system": "http://fhirsvc.org/fhir/sid/hl7v2-local/HOSPA/XLAB",
                                     "code": "CAX", "display": "Calcium"}]
    assert any("no translation" in w.message and str(w.location) == "OBX[1]-3.1"
               for w in out.warnings)


def test_batch_envelope_and_a40(conv):
    msgs = parse((SHARED / "messages" / "pyhl7-sample_batch.hl7").read_bytes())
    assert len(msgs) == 1 and msgs[0].message_type == "ADT^A04"
    (msg,) = parse((SHARED / "messages" / "ms-ADT-A40-01.hl7").read_bytes())
    c = conv.convert(msg)
    survivor, merged = [e["resource"] for e in c.bundle["entry"]]
    assert merged["active"] is False and merged["link"][0]["type"] == "replaced-by"
    assert merged["link"][0]["other"]["reference"] == c.bundle["entry"][0]["fullUrl"]
    assert survivor["link"][0]["type"] == "replaces"


def test_ack_original_and_enhanced_mode():
    (msg,) = parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X1|P|2.5\rPID|1||1")
    ack = build_ack(msg, "AE", [])
    assert ack.split("\r")[1] == "MSA|AE|X1|"
    assert acknowledgement_code("AE", msg) == "AE"
    (enh,) = parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X1|P|2.5|||AL|NE\rPID|1||1")
    assert acknowledgement_code("AA", enh) == "CA"
    (er,) = parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X1|P|2.5|||AL|ER\rPID|1||1")
    assert acknowledgement_code("AE", er) == "AE" and acknowledgement_code("AA", er) == "CA"


def test_z_segments_ignored_or_kept():
    raw = "MSH|^~\\&|A|HOSPA|C|D|2024||ADT^A01|1|P|2.5\rPID|1||A-1^^^HOSPA||Doe\rZPI|1|extra\r"
    (msg,) = parse(raw)
    ignored = Converter(z_segments="ignore").convert(msg)
    assert "extension" not in ignored.bundle["entry"][0]["resource"]
    assert any("ZPI" in w.message for w in ignored.warnings)
    kept = Converter(z_segments="keep").convert(msg)
    ext = kept.bundle["entry"][0]["resource"]["extension"]
    assert ext == [{"url": "http://fhirsvc.org/fhir/StructureDefinition/hl7v2-z-segment",
                    "valueString": "ZPI|1|extra"}]


def test_msh18_character_set_decodes_latin1(conv):
    raw = ("MSH|^~\\&|A|HOSPA|C|D|2024||ADT^A01|1|P|2.5||||||8859/1\r"
           "PID|1||A-1^^^HOSPA||M\u00fcller^J\u00fcrgen\r").encode("latin-1")
    (msg,) = parse(raw)
    assert msg.charset == "8859/1"
    name = conv.convert(msg).bundle["entry"][0]["resource"]["name"][0]
    assert name == {"family": "M\u00fcller", "given": ["J\u00fcrgen"]}


def test_hex_escape_and_repetitions(conv):
    (msg,) = parse("MSH|^~\\&|A|HOSPA|C|D|2024||ADT^A01|1|P|2.5\r"
                   "PID|1||A-1^^^HOSPA~B-2^^^HOSPB||Doe\\X41\\^Ann||||||||555-1^PRN^PH~"
                   "a@b.org^NET^Internet\r")
    p = conv.convert(msg).bundle["entry"][0]["resource"]
    assert [i["value"] for i in p["identifier"]] == ["A-1", "B-2"]
    assert p["name"][0]["family"] == "DoeA"
    assert {t["system"] for t in p["telecom"]} == {"phone", "email"}


def test_every_shared_message_converts_or_is_located(conv):
    """Each message of the shared folder: a Bundle, or AE/AR naming a segment."""
    for path in sorted((SHARED / "messages").glob("*.hl7")):
        try:
            for m in parse(path.read_bytes()):
                out = conv.convert(m)
                assert out.bundle["entry"], path.name
        except Hl7v2Error as exc:
            assert all(p.location is not None for p in exc.problems), (path.name, exc.problems)


def test_issue_of_names_a_segment_only_location_once():
    from fhirsvc.hl7v2.errors import Location, Problem
    from fhirsvc.services.hl7v2 import issue_of
    seg = issue_of(Problem("E", "100", "MSH missing", Location("MSH")))
    assert seg.expression == ("MSH[1]",)
    field = issue_of(Problem("E", "102", "bad", Location("OBX", 3, 5, 1, 1)))
    assert field.expression == ("OBX[3]-5.1", "OBX[3].5[1].1")
    assert issue_of(Problem("W", "207", "no place")).expression == ()
