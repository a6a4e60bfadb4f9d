"""IN1 -> Coverage with its payor Organization, PV1-3 / PV1-6 -> Location hierarchy, stored on
SQLite and PostgreSQL: references resolved, a resend makes no second Location / Organization."""
from fhirsvc.hl7v2 import parse
from fhirsvc.hl7v2.convert import Converter

ADT = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240101120000+0100||ADT^{ev}|{cid}|P|2.5.1\r"
       "PID|1||CL-{pid}^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "PV1|1|{cls}|4W^401^B^HOSPA||||||||||||||||V-{pid}^^^HOSPA-VN^VN\r"
       "IN1|1|PLAN7^Gold plan^HOSPA|INS-1^^^HOSPA^NIIP|Acme Health^^^^^^^^^ACME-1|"
       "1 Payer Rd^^Town^^12345||555-0100^WPN^PH|||||20240101|20241231||HMO^HMO^HL70086||"
       "SEL^Self^HL70063" + "|" * 32 + "M-778\r")
TRANSFER = ("MSH|^~\\&|ADT|HOSPA|FHIRSVC|X|20240102120000+0100||ADT^A02|{cid}|P|2.5.1\r"
            "PID|1||CL-{pid}^^^HOSPA^MR||Doe^Jane\r"
            "PV1|1|I|4W^402^A^HOSPA|||4W^401^B^HOSPA|||||||||||||V-{pid}^^^HOSPA-VN^VN\r")


def bundle(text):
    (msg,) = parse(text)
    return Converter().convert(msg).bundle


def of(b, rtype):
    return [e for e in b["entry"] if e["resource"]["resourceType"] == rtype]


def test_in1_makes_coverage_and_payor():
    b = bundle(ADT.format(ev="A01", cid="x", pid="x", cls="I"))
    (org,) = of(b, "Organization")
    (cov,) = of(b, "Coverage")
    c = cov["resource"]
    assert org["resource"]["name"] == "Acme Health"
    assert org["request"]["url"].startswith("Organization?identifier=")
    assert {"value": "INS-1", "system": "http://hospital-a.example.org/fhir/sid/mrn"}.items() \
        <= org["resource"]["identifier"][0].items()
    assert c["status"] == "active" and c["payor"] == [{"reference": org["fullUrl"]}]
    assert c["beneficiary"]["reference"] == of(b, "Patient")[0]["fullUrl"]
    assert c["period"] == {"start": "2024-01-01", "end": "2024-12-31"}
    assert c["type"]["coding"][0]["code"] == "HMO" and c["subscriberId"] == "M-778"
    assert c["relationship"]["coding"][0]["code"] == "SEL"


def test_pv1_locations_are_a_hierarchy():
    b = bundle(TRANSFER.format(cid="t", pid="t"))
    locs = {e["fullUrl"]: e["resource"] for e in of(b, "Location")}
    # 4W, 401, B and 402, A under one facility HOSPA: facility and unit made once
    names = sorted(r["name"] for r in locs.values())
    assert names == ["401", "402", "4W", "A", "B", "HOSPA"]
    (enc,) = of(b, "Encounter")
    active, done = enc["resource"]["location"]
    assert active["status"] == "active" and done["status"] == "completed"
    bed = locs[active["location"]["reference"]]
    assert bed["name"] == "A" and bed["physicalType"]["coding"][0]["code"] == "bd"
    room = locs[bed["partOf"]["reference"]]
    assert room["name"] == "402" and room["physicalType"]["coding"][0]["code"] == "ro"
    unit = locs[room["partOf"]["reference"]]
    assert unit["name"] == "4W" and "physicalType" not in unit  # point of care: no code
    assert locs[unit["partOf"]["reference"]]["physicalType"]["coding"][0]["code"] == "si"
    prior = locs[done["location"]["reference"]]
    assert prior["name"] == "B" and locs[prior["partOf"]["reference"]]["name"] == "401"
    assert locs[locs[prior["partOf"]["reference"]]["partOf"]["reference"]] is unit


def test_preadmit_location_is_planned():
    b = bundle(ADT.format(ev="A05", cid="p", pid="p", cls="P"))
    (enc,) = of(b, "Encounter")
    assert enc["resource"]["location"][0]["status"] == "planned"


def test_stored_with_references_and_no_duplicates_on_resend(runtime):
    hl7 = runtime.services.hl7v2
    ctx = runtime.context(door="test")
    for cid in ("cl1", "cl2"):   # a new control id with the same content: nothing new
        ack = hl7.process(ctx, ADT.format(ev="A01", cid=cid, pid="s", cls="I"))
        assert ack.code == "AA", ack.ack
    ack = hl7.process(ctx, TRANSFER.format(cid="cl3", pid="s"))
    assert ack.code == "AA", ack.ack
    search = runtime.services.search.search

    def found(rtype, params):
        out = search(ctx, rtype, params).get("entry", [])
        return [e["resource"].parse() if hasattr(e["resource"], "parse") else e["resource"]
                for e in out]

    orgs = found("Organization", [("name", "Acme Health")])
    assert len(orgs) == 1
    (pat,) = found("Patient", [("identifier", "http://hospital-a.example.org/fhir/sid/mrn|CL-s")])
    covs = found("Coverage", [("beneficiary", f"Patient/{pat['id']}")])
    assert len(covs) == 1 and covs[0]["payor"] == [{"reference": f"Organization/{orgs[0]['id']}"}]
    beds = found("Location", [("name", "B")]) + found("Location", [("name", "A")])
    assert len(beds) == 2
    (enc,) = found("Encounter", [("subject", f"Patient/{pat['id']}")])
    refs = [loc["location"]["reference"] for loc in enc["location"]]
    assert [r.split("/")[0] for r in refs] == ["Location", "Location"]
    ids = {b["id"]: b["name"] for b in beds}
    assert [ids.get(r.split("/")[1]) for r in refs] == ["A", "B"]


def test_null_assigned_location_clears_the_stored_ones():
    (msg,) = parse(TRANSFER.format(cid="n", pid="n").replace("|4W^402^A^HOSPA|", '|""|'))
    conv = Converter().convert(msg)
    enc = [m for m in conv.meta if m.rtype == "Encounter"][0]
    assert "location" in enc.cleared
