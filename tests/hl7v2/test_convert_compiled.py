"""The shortcuts the converter takes for speed answer exactly what the general code does:
uuid5 without the UUID object, quote skipped for text it would not change, python-hl7's
separators read once per MSH-2, the component-only split of plain segments, one unit look-up
per OBX-6. tests/hl7v2/test_convert_golden.py checks the whole outputs."""
from __future__ import annotations

import random
import uuid
from urllib.parse import quote

import hl7
import pytest

from fhirsvc.hl7v2 import parse
from fhirsvc.hl7v2.convert import _NS, Converter, _quote, _urn

_ALPHABET = "aZ09-_.~:/|^&é ?%+=#\u00a0\U0001F600"


def _texts(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = ["", "Patient|urn:oid:1.2|x", "http://hospital-a.example.org/fhir/sid/mrn"]
    out += ["".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(1, 24))) for _ in range(n)]
    return out


@pytest.mark.parametrize("key", _texts(300, 1))
def test_urn_is_uuid5(key):
    assert _urn(key) == f"urn:uuid:{uuid.uuid5(_NS, key)}"


@pytest.mark.parametrize("text", _texts(300, 2))
@pytest.mark.parametrize("safe", ["", ":/.-_~"])
def test_quote_shortcut_agrees_with_urllib(text, safe):
    assert _quote(text, safe=safe) == quote(text, safe=safe)


@pytest.mark.parametrize("head", ["MSH|^~\\&", "MSH#^~\\&", "MSH|^~\\&#", "MSH|^~!&", "MSH|*~\\$"])
def test_separators_read_once_per_encoding_are_python_hl7s(head):
    text = head + "|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1"
    sep = head[3]
    msg = parse(text.replace("|", sep) if sep != "|" else text)[0]
    ref = hl7.parse(msg.text.split("\r")[0])
    assert (msg.field_sep, msg.rep_sep, msg.comp_sep, msg.sub_sep) == tuple(ref.separators[1:5])
    assert msg.escape_char == ref.esc


def test_plain_and_general_split_agree():
    """A segment without repetition, subcomponent, escape or null is split on components alone;
    the same fields in a segment that has one of those elsewhere are split the general way."""
    plain = "OBX|1|NM|17861-6^Calcium^LN||9.1|mg/dL^mg/dL^UCUM|8.6-10.3|N|||F"
    msg = parse("MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5.1\r" + plain + "\r" + plain +
                "|||x~y")[0]
    a, b = msg.segments[1], msg.segments[2]
    assert a._plain and not b._plain
    for n in range(1, 12):
        assert a.reps(n) == b.reps(n), n


def test_unit_read_once_per_obx_still_warns_per_quantity():
    """The OBX-6 look-up is shared by the value and both bounds of the range, but each of them
    still says its unit is not UCUM, as before, and another OBX reads its own units."""
    msg = parse("MSH|^~\\&|LAB|H|F|X|20240101120000+0100||ORU^R01^ORU_R01|1|P|2.5.1\r"
                "PID|1||P1^^^HOSPA^MR||Doe^J||19500101|F\r"
                "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Renal^LN|||20240101100000+0100\r"
                "OBX|1|NM|17861-6^Ca^LN||9.1|weird units^^L|8-10|N|||F\r"
                "OBX|2|NM|2160-0^Creat^LN||1.1|mg/dL^mg/dL^UCUM|0.5-1.2|N|||F")[0]
    conv = Converter().convert(msg)
    obs = [e["resource"] for e in conv.bundle["entry"]
           if e["resource"]["resourceType"] == "Observation"]
    assert obs[0]["valueQuantity"] == {"value": 9.1, "unit": "weird units"}
    assert obs[1]["valueQuantity"]["code"] == "mg/dL"
    assert obs[1]["referenceRange"][0]["low"]["code"] == "mg/dL"
    unit_warnings = [w for w in conv.warnings if "weird units" in w.message]
    assert len(unit_warnings) == 3   # the value, the low and the high bound


def test_a_time_read_once_per_message_keeps_its_offset_and_note():
    """Equal times (OBR-7, OBX-14) are read once per message: each gets the default offset,
    the message still says once that it took it, an instant of the same text still needs its
    seconds, and the next message reads its own times."""
    head = ("MSH|^~\\&|LAB|H|F|X|20240101120000||ORU^R01^ORU_R01|{c}|P|2.5.1\r"
            "PID|1||P1^^^HOSPA^MR||Doe^J||19500101|F\r"
            "OBR|1|P1^HOSPA-ORD|F1^HOSPA-ORD|24362-6^Renal^LN|||202401011000|||||||||||||||"
            "202401011000|||F\r")
    obx = "OBX|{i}|NM|17861-6^Ca^LN||9.{i}|mg/dL|8-10|N|||F|||{t}\r"
    conv = Converter(default_offset="+01:00")
    for cid, t in (("1", "202401011000"), ("2", "202401011100")):
        text = head.format(c=cid) + "".join(obx.format(i=i, t=t) for i in (1, 2))
        out = conv.convert(parse(text)[0])
        res = {e["resource"]["resourceType"]: e["resource"] for e in out.bundle["entry"]}
        obs = [e["resource"] for e in out.bundle["entry"]
               if e["resource"]["resourceType"] == "Observation"]
        want = f"2024-01-01T{t[8:10]}:00:00+01:00"
        assert [o["effectiveDateTime"] for o in obs] == [want, want]
        assert res["DiagnosticReport"]["effectiveDateTime"] == "2024-01-01T10:00:00+01:00"
        assert res["DiagnosticReport"]["issued"] == "2024-01-01T10:00:00+01:00"
        notes = [w for w in out.warnings if "without a UTC offset" in w.message]
        assert len(notes) == 1
