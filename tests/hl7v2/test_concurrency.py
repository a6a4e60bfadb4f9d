"""Concurrent A08s for one patient, on SQLite and PostgreSQL: each update is merged with the
version stored before it inside the ingest transaction (under the row lock), so no field one
message set is lost to another message merged from a stale read."""
from concurrent.futures import ThreadPoolExecutor

from fhirsvc.services.hl7v2 import merged
from fhirsvc.hl7v2.convert import EntryMeta
from fhirsvc.hl7v2.errors import Location

MRN = "http://hospital-a.example.org/fhir/sid/mrn"
A01 = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240101120000+0100||ADT^A01|cc-a01|P|2.5.1\r"
       "PID|1||C-1^^^HOSPA^MR||Doe^Jane||19520915|F|||1 Main St^^Town\r")
# each A08 names the MRN and a second identifier of its own, and values one more element
A08 = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240102120000+0100||ADT^A08|cc-a08-{i}|P|2.5.1\r"
       "PID|1||C-1^^^HOSPA^MR~X-{i}^^^FEED{i}^PI||Doe^Jane{extra}\r")
EXTRAS = ["", "|" * 8 + "555-010{i}", "|" * 11 + "M^Married^HL70002", "", "", "", "", ""]


def test_concurrent_a08s_lose_no_field(runtime):
    hl7 = runtime.services.hl7v2
    ctx = runtime.context(door="test")
    assert hl7.process(ctx, A01).code == "AA"
    n = 8

    def send(i):
        return hl7.process(ctx, A08.format(i=i, extra=EXTRAS[i].format(i=i))).code

    with ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(send, range(n)))
    assert codes == ["AA"] * n
    found = runtime.services.search.search(ctx, "Patient", [("identifier", f"{MRN}|C-1")])
    (entry,) = found["entry"]
    p = entry["resource"]
    p = p.parse() if hasattr(p, "parse") else p
    values = {i["value"] for i in p["identifier"]}
    assert values == {"C-1"} | {f"X-{i}" for i in range(n)}, values
    assert p["address"][0]["city"] == "Town" and p["birthDate"] == "1952-09-15"
    assert p["maritalStatus"]["coding"][0]["code"] == "M"
    assert p["telecom"][0]["value"] == "555-0101"
    # A01 + eight updates: one version each, none skipped
    assert p["meta"]["versionId"] == str(n + 1)


def test_merged_is_pure_and_follows_v2_update_rules():
    meta = EntryMeta(Location("PID", 1), "Patient", None, True, {"birthDate"})
    current = {"resourceType": "Patient", "id": "p", "meta": {"versionId": "3"},
               "identifier": [{"system": MRN, "value": "1"}, {"system": "s", "value": "2"}],
               "birthDate": "1950", "gender": "female", "name": [{"family": "Old"}]}
    new = {"resourceType": "Patient", "identifier": [{"system": MRN, "value": "1"}],
           "name": [{"family": "New"}]}
    out = merged(current, new, meta)
    assert out == {"resourceType": "Patient", "gender": "female", "name": [{"family": "New"}],
                   "identifier": [{"system": MRN, "value": "1"}, {"system": "s", "value": "2"}]}
    assert current["birthDate"] == "1950" and new == {
        "resourceType": "Patient", "identifier": [{"system": MRN, "value": "1"}],
        "name": [{"family": "New"}]}


def test_concurrent_first_messages_make_one_patient_with_every_identifier(runtime):
    """No version stored yet: the conditional update's lock serialises the writers, so the
    first creates the Patient and the others merge into it (one Patient, nothing lost)."""
    hl7 = runtime.services.hl7v2
    ctx = runtime.context(door="test")
    n = 6
    first = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240102120000+0100||ADT^A08|cn-{i}|P|2.5.1\r"
             "PID|1||C-2^^^HOSPA^MR~Y-{i}^^^FEED{i}^PI||Roe^Ann\r")
    with ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(lambda i: hl7.process(ctx, first.format(i=i)).code, range(n)))
    assert codes == ["AA"] * n
    found = runtime.services.search.search(ctx, "Patient", [("identifier", f"{MRN}|C-2")])
    (entry,) = found["entry"]
    p = entry["resource"]
    p = p.parse() if hasattr(p, "parse") else p
    assert {i["value"] for i in p["identifier"]} == {"C-2"} | {f"Y-{i}" for i in range(n)}
