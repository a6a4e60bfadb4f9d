"""Search results compared with values computed directly from the Synthea input bundles.

The expected sets are computed here in plain Python from the resources as loaded (not from the
index), on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import BASE
from fhirsvc.outcomes import OperationOutcomeError

UTC = timezone.utc


# -- independent helpers ---------------------------------------------------------------------------

def ref_id(ref: dict | None, rtype: str) -> str | None:
    if isinstance(ref, dict) and str(ref.get("reference", "")).startswith(rtype + "/"):
        return ref["reference"].split("/", 1)[1]
    return None


def codings(cc: dict | None):
    return [(c.get("system"), c.get("code")) for c in (cc or {}).get("coding", [])]


def fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s)
                   if not unicodedata.combining(c)).casefold()


def rng(text: str) -> tuple[datetime, datetime]:
    """[start, end) of a FHIR date/dateTime, as aware datetimes (UTC when no zone)."""
    if len(text) == 4:
        y = int(text)
        return datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)
    if len(text) == 7:
        y, m = int(text[:4]), int(text[5:7])
        end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
        return datetime(y, m, 1, tzinfo=UTC), end
    if len(text) == 10:
        d = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return d, d + timedelta(days=1)
    d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    frac = text.split(".", 1)[1][:6] if "." in text else ""
    frac = "".join(ch for ch in frac if ch.isdigit())
    step = timedelta(microseconds=10 ** (6 - len(frac))) if frac else timedelta(seconds=1)
    return d, d + step


def target_range(value) -> tuple[datetime, datetime] | None:
    if isinstance(value, str):
        return rng(value)
    if isinstance(value, dict) and ("start" in value or "end" in value):
        lo = rng(value["start"])[0] if "start" in value else datetime.min.replace(tzinfo=UTC)
        hi = rng(value["end"])[1] if "end" in value else datetime.max.replace(tzinfo=UTC)
        return lo, hi
    return None


def date_match(prefix: str, target: tuple, search: tuple) -> bool:
    (lo, hi), (slo, shi) = target, search
    contained = lo >= slo and hi <= shi
    return {
        "eq": contained,
        "ne": not contained,
        "gt": hi > shi,
        "lt": lo < slo,
        "ge": hi > shi or contained,
        "le": lo < slo or contained,
        "sa": lo >= shi,
        "eb": hi <= slo,
    }[prefix]


def obs_effective(o: dict):
    return o.get("effectiveDateTime") or o.get("effectivePeriod") or o.get("effectiveInstant")


# -- token ---------------------------------------------------------------------------------------

def test_token_system_code(env):
    obs = env.by_type["Observation"]
    system, code = "http://loinc.org", "8302-2"
    expected = {o["id"] for o in obs if (system, code) in codings(o.get("code"))}
    assert expected
    assert env.ids("Observation", [("code", f"{system}|{code}")]) == expected
    assert env.ids("Observation", [("code", code)]) == expected
    assert env.ids("Observation", [("code", f"|{code}")]) == set()


def test_token_or_and_not(env):
    obs = env.by_type["Observation"]
    a, b = "8302-2", "29463-7"
    expected = {o["id"] for o in obs if {a, b} & {c for _s, c in codings(o.get("code"))}}
    assert env.ids("Observation", [("code", f"{a},{b}")]) == expected
    cats = {o["id"] for o in obs
            if ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")
            in [cc for cat in o.get("category", []) for cc in codings(cat)]}
    got = env.ids("Observation", [("code", f"{a},{b}"), ("category", "vital-signs")])
    assert got == expected & cats
    not_final = {o["id"] for o in obs if o.get("status") != "final"}
    assert env.ids("Observation", [("status:not", "final")]) == not_final


def test_token_text(env):
    conds = env.by_type["Condition"]
    target = conds[0]["code"]
    word = (target.get("text") or target["coding"][0]["display"])[:6]

    def texts(cc):
        out = [cc.get("text")] if cc.get("text") else []
        if not out:
            out = [c.get("display") for c in cc.get("coding", []) if c.get("display")]
        return out
    expected = {c["id"] for c in conds
                if any(fold(t).startswith(fold(word)) for t in texts(c.get("code", {})))}
    assert expected
    assert env.ids("Condition", [("code:text", word.upper())]) == expected


def test_identifier_and_of_type(env):
    pats = env.by_type["Patient"]
    p = pats[3]
    ident = next(i for i in p["identifier"] if i.get("type", {}).get("coding"))
    tc = ident["type"]["coding"][0]
    assert env.ids("Patient", [("identifier", f"{ident['system']}|{ident['value']}")]) == {p["id"]}
    assert env.ids("Patient", [("identifier", ident["value"])]) == {p["id"]}
    got = env.ids("Patient", [("identifier:of-type", f"{tc['system']}|{tc['code']}|"
                                                     f"{ident['value']}")])
    assert got == {p["id"]}
    assert env.ids("Patient", [("identifier:of-type", f"{tc['system']}|XX|{ident['value']}")]) \
        == set()


def test_meta_tag_and_id(env):
    obs = env.by_type["Observation"]
    tagged = {o["id"] for o in obs
              if ("https://smarthealthit.org/tags", "synthea-5-2019")
              in [(t.get("system"), t.get("code")) for t in o.get("meta", {}).get("tag", [])]}
    assert env.ids("Observation", [("_tag", "https://smarthealthit.org/tags|synthea-5-2019")]) \
        == tagged
    some = sorted(o["id"] for o in obs)[:3]
    assert env.ids("Observation", [("_id", ",".join(some))]) == set(some)


# -- string --------------------------------------------------------------------------------------

def test_string_default_exact_contains(env):
    pats = env.by_type["Patient"]
    fam = pats[0]["name"][0]["family"]

    def families(p):
        return [n.get("family", "") for n in p.get("name", [])]
    prefix = fam[:3]
    expected = {p["id"] for p in pats if any(fold(f).startswith(fold(prefix))
                                              for f in families(p))}
    assert env.ids("Patient", [("family", prefix.upper())]) == expected
    assert env.ids("Patient", [("family:exact", fam)]) == {p["id"] for p in pats
                                                            if fam in families(p)}
    assert env.ids("Patient", [("family:exact", fam.upper())]) == set()
    mid = fam[1:4]
    assert env.ids("Patient", [("family:contains", mid)]) == {
        p["id"] for p in pats if any(fold(mid) in fold(f) for f in families(p))}
    given = pats[1]["name"][0]["given"][0]
    assert pats[1]["id"] in env.ids("Patient", [("name", given.lower())])


def test_string_accents(env, registry):
    # Address city search is accent-insensitive: compare with the folded values
    pats = env.by_type["Patient"]
    city = pats[0]["address"][0]["city"]
    expected = {p["id"] for p in pats
                if any(fold(a.get("city", "")).startswith(fold(city)) for a in p.get("address", []))}
    assert env.ids("Patient", [("address-city", city)]) == expected


# -- date ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"])
@pytest.mark.parametrize("value", ["2015", "2016-03", "2014-11-20", "2015-06-01T10:00:00Z"])
def test_observation_date(env, prefix, value):
    obs = env.by_type["Observation"]
    search = rng(value)
    expected = set()
    for o in obs:
        t = target_range(obs_effective(o))
        if t and date_match(prefix, t, search):
            expected.add(o["id"])
    assert env.ids("Observation", [("date", prefix + value)]) == expected


@pytest.mark.parametrize("prefix", ["ge", "lt", "eq", "sa"])
def test_encounter_period(env, prefix):
    encs = env.by_type["Encounter"]
    value = "2012-05"
    expected = {e["id"] for e in encs
                if e.get("period") and date_match(prefix, target_range(e["period"]), rng(value))}
    assert env.ids("Encounter", [("date", prefix + value)]) == expected


def test_date_range_and(env):
    obs = env.by_type["Observation"]
    expected = set()
    for o in obs:
        t = target_range(obs_effective(o))
        if t and date_match("ge", t, rng("2014")) and date_match("lt", t, rng("2016")):
            expected.add(o["id"])
    assert expected
    assert env.ids("Observation", [("date", "ge2014"), ("date", "lt2016")]) == expected


def test_birthdate_timezone(env):
    pats = env.by_type["Patient"]
    p = pats[2]
    bd = p["birthDate"]
    assert p["id"] in env.ids("Patient", [("birthdate", bd)])
    assert p["id"] in env.ids("Patient", [("birthdate", f"ap{bd}")])
    # the whole birth day, expressed in another timezone, overlaps but does not contain it
    d = datetime.fromisoformat(bd)
    inst = (d + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%S") + "+05:00"
    assert p["id"] not in env.ids("Patient", [("birthdate", "eq" + inst)])
    assert p["id"] in env.ids("Patient", [("birthdate", "ge" + bd[:4])])


def test_lastupdated(env):
    total = len(env.by_type["Encounter"])
    assert len(env.ids("Encounter", [("_lastUpdated", "gt2000")])) == total
    assert env.ids("Encounter", [("_lastUpdated", "lt2000")]) == set()


# -- reference -----------------------------------------------------------------------------------

def test_reference_forms(env):
    obs = env.by_type["Observation"]
    pid = env.by_type["Patient"][0]["id"]
    expected = {o["id"] for o in obs if ref_id(o.get("subject"), "Patient") == pid}
    assert expected
    assert env.ids("Observation", [("subject", f"Patient/{pid}")]) == expected
    assert env.ids("Observation", [("subject:Patient", pid)]) == expected
    assert env.ids("Observation", [("patient", pid)]) == expected
    assert env.ids("Observation", [("subject", f"{BASE}/Patient/{pid}")]) == expected
    assert env.ids("Observation", [("subject:Group", pid)]) == set()


def test_missing(env):
    obs = env.by_type["Observation"]
    with_q = {o["id"] for o in obs if "valueQuantity" in o}
    all_ids = {o["id"] for o in obs}
    assert env.ids("Observation", [("value-quantity:missing", "false")]) == with_q
    assert env.ids("Observation", [("value-quantity:missing", "true")]) == all_ids - with_q


# -- quantity, number, composite -----------------------------------------------------------------

@pytest.mark.parametrize("query,op", [
    ("gt100", lambda v: v > 100), ("le70", lambda v: v <= 70),
    ("ge100|http://unitsofmeasure.org|cm", None), ("75", lambda v: 74.5 <= v < 75.5),
    ("75.0", lambda v: 74.95 <= v < 75.05), ("ap100", lambda v: 90 <= v <= 110)])
def test_value_quantity(env, query, op):
    obs = env.by_type["Observation"]
    expected = set()
    for o in obs:
        q = o.get("valueQuantity")
        if not q:
            continue
        if op is None:
            ok = q["value"] >= 100 and q.get("system") == "http://unitsofmeasure.org" \
                and q.get("code") == "cm"
        else:
            ok = op(q["value"])
        if ok:
            expected.add(o["id"])
    assert env.ids("Observation", [("value-quantity", query)]) == expected


def test_composite_code_value_quantity(env):
    obs = env.by_type["Observation"]
    expected = {o["id"] for o in obs if ("http://loinc.org", "8302-2") in codings(o.get("code"))
                and o.get("valueQuantity", {}).get("value", 0) > 160}
    assert expected
    assert env.ids("Observation", [("code-value-quantity",
                                    "http://loinc.org|8302-2$gt160")]) == expected
    # component composites (blood pressure)
    comp = set()
    for o in obs:
        for c in o.get("component", []):
            if ("http://loinc.org", "8480-6") in codings(c.get("code")) and \
                    c.get("valueQuantity", {}).get("value", 0) >= 120:
                comp.add(o["id"])
    assert env.ids("Observation", [("component-code-value-quantity", "8480-6$ge120")]) == comp


# -- chaining, _has, includes ----------------------------------------------------------------------

def test_chain(env):
    pats = env.by_type["Patient"]
    fam = pats[4]["name"][0]["family"]
    pids = {p["id"] for p in pats if any(fold(n.get("family", "")).startswith(fold(fam))
                                         for n in p["name"])}
    expected = {o["id"] for o in env.by_type["Observation"]
                if ref_id(o.get("subject"), "Patient") in pids}
    assert expected
    assert env.ids("Observation", [("subject:Patient.family", fam)]) == expected
    assert env.ids("Observation", [("patient.family", fam)]) == expected
    assert env.ids("Observation", [("subject.family", fam)]) == expected


def test_has(env):
    obs = env.by_type["Observation"]
    code = "29463-7"
    expected = {ref_id(o.get("subject"), "Patient") for o in obs
                if code in {c for _s, c in codings(o.get("code"))}} - {None}
    assert expected
    assert env.ids("Patient", [("_has:Observation:patient:code", code)]) == expected


def test_include_revinclude_iterate(env):
    pid = env.by_type["Patient"][0]["id"]
    b = env.search("Encounter", [("patient", pid), ("_include", "Encounter:subject"),
                                 ("_revinclude", "Observation:encounter"), ("_count", "500")])
    matches = [e for e in b["entry"] if e["search"]["mode"] == "match"]
    includes = [e for e in b["entry"] if e["search"]["mode"] == "include"]
    enc_ids = {e["resource"]["id"] for e in matches}
    assert enc_ids == {e["id"] for e in env.by_type["Encounter"]
                       if ref_id(e.get("subject"), "Patient") == pid}
    exp_obs = {o["id"] for o in env.by_type["Observation"]
               if ref_id(o.get("encounter"), "Encounter") in enc_ids}
    got = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in includes}
    assert got == {("Patient", pid)} | {("Observation", i) for i in exp_obs}
    for e in b["entry"]:
        assert e["fullUrl"] == f"{BASE}/{e['resource']['resourceType']}/{e['resource']['id']}"
    # iterate: Observations -> Encounter -> serviceProvider Organization
    b = env.search("Observation", [("patient", pid), ("_include", "Observation:encounter"),
                                   ("_include:iterate", "Encounter:service-provider"),
                                   ("_count", "500")])
    inc_types = {e["resource"]["resourceType"] for e in b["entry"]
                 if e["search"]["mode"] == "include"}
    assert inc_types == {"Encounter", "Organization"}


# -- control parameters --------------------------------------------------------------------------

def test_sort_and_paging(env):
    pats = env.by_type["Patient"]
    b = env.search("Patient", [("_sort", "birthdate")])
    got = [e["resource"]["id"] for e in b["entry"]]
    assert got == [p["id"] for p in sorted(pats, key=lambda p: (p["birthDate"]))]
    b = env.search("Patient", [("_sort", "-birthdate")])
    assert [e["resource"]["id"] for e in b["entry"]] == list(reversed(got))
    b = env.search("Patient", [("_sort", "gender,-birthdate")])
    exp = sorted(pats, key=lambda p: p["birthDate"], reverse=True)
    exp = sorted(exp, key=lambda p: p["gender"])
    assert [e["resource"]["id"] for e in b["entry"]] == [p["id"] for p in exp]

    # follow next links; every match once, total stable
    seen: list[str] = []
    params = [("code", "8302-2,29463-7"), ("_count", "7"), ("_sort", "-date")]
    expected = env.ids("Observation", [("code", "8302-2,29463-7")])
    pages = 0
    while True:
        b = env.search("Observation", params)
        assert b["total"] == len(expected)
        seen.extend(e["resource"]["id"] for e in b["entry"])
        links = {link["relation"]: link["url"] for link in b["link"]}
        assert links["self"].startswith(f"{BASE}/Observation?")
        if pages:
            assert "previous" in links
        pages += 1
        if "next" not in links:
            break
        params = parse_qsl(urlsplit(links["next"]).query)
    assert len(seen) == len(set(seen)) and set(seen) == expected
    assert pages == -(-len(expected) // 7)


def test_total_summary_elements(env):
    b = env.search("Observation", [("_total", "none"), ("_count", "2")])
    assert "total" not in b and len(b["entry"]) == 2
    b = env.search("Observation", [("_summary", "count")])
    assert b["total"] == len(env.by_type["Observation"]) and "entry" not in b
    b = env.search("Patient", [("_elements", "gender,birthDate"), ("_count", "1")])
    res = b["entry"][0]["resource"]
    assert set(res) == {"resourceType", "id", "meta", "gender", "birthDate"}
    assert any(t["code"] == "SUBSETTED" for t in res["meta"]["tag"])


def test_unknown_and_malformed(env):
    b = env.search("Patient", [("nosuchparam", "x")])
    assert b["total"] == len(env.by_type["Patient"])
    outcome = [e for e in b["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and "nosuchparam" in outcome[0]["resource"]["issue"][0]["expression"]
    assert "nosuchparam" not in b["link"][0]["url"]
    with pytest.raises(OperationOutcomeError) as err:
        env.search("Patient", [("nosuchparam", "x")], strict=True)
    assert err.value.status == 400
    for name, value in [("date", "notadate"), ("value-quantity", "gtabc"), ("_count", "x"),
                        ("birthdate", "2020-13-45")]:
        rtype = "Patient" if name == "birthdate" else "Observation"
        with pytest.raises(OperationOutcomeError) as err:
            env.search(rtype, [(name, value)])
        assert err.value.status == 400
        assert err.value.issues[0].expression == (name,)
    with pytest.raises(OperationOutcomeError) as err:
        env.search("Patient", [("family:below", "x")])
    assert err.value.status == 400


def test_compartment_and_everything(env):
    pid = env.by_type["Patient"][0]["id"]
    exp = {o["id"] for o in env.by_type["Observation"]
           if ref_id(o.get("subject"), "Patient") == pid}
    assert env.ids("Observation", [], compartment=("Patient", pid)) == exp
    assert env.ids("Patient", [], compartment=("Patient", pid)) == {pid}
    with env.db.unit_of_work() as uow:
        b = env.engine.everything(uow, pid, [("_count", "1000")], BASE)
    ids = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in b["entry"]}
    expected = {("Patient", pid)}
    for rtype, _rid, res in env.resources:
        for key in ("subject", "patient"):
            if ref_id(res.get(key), "Patient") == pid:
                expected.add((rtype, res["id"]))
    assert expected <= ids
    assert b["total"] == len(b["entry"])


def test_match_for_conditional_operations(env):
    p = env.by_type["Patient"][5]
    ident = p["identifier"][0]
    with env.db.unit_of_work() as uow:
        got = env.engine.match(uow, "Patient", [("identifier",
                                                  f"{ident['system']}|{ident['value']}")])
        assert [s.resource_id for s in got] == [p["id"]]
        with pytest.raises(OperationOutcomeError):
            env.engine.match(uow, "Patient", [("unknown", "1")])


def test_post_style_params_with_system_search(env):
    # system-level search (no type) with Resource parameters
    pid = env.by_type["Patient"][0]["id"]
    assert env.ids(None, [("_id", pid)]) == {pid}
    b = env.search(None, [("_type", "Patient,Practitioner"), ("_summary", "count")])
    assert b["total"] == len(env.by_type["Patient"]) + len(env.by_type["Practitioner"])


def test_token_implied_system_of_primitive_codes(env):
    pats = env.by_type["Patient"]
    females = {p["id"] for p in pats if p.get("gender") == "female"}
    assert env.ids("Patient", [("gender", "female")]) == females
    assert env.ids("Patient", [("gender", "http://hl7.org/fhir/administrative-gender|female")]) \
        == females
    assert env.ids("Patient", [("gender", "|female")]) == females


def test_system_search_with_one_type(env):
    fam = env.by_type["Patient"][0]["name"][0]["family"]
    assert env.ids(None, [("_type", "Patient"), ("family:exact", fam)]) == \
        env.ids("Patient", [("family:exact", fam)])


@pytest.mark.parametrize("large", [1, 10**9])
def test_chain_with_other_conditions(env, monkeypatch, large):
    """A large chained driver is intersected with the next condition as a set (PostgreSQL);
    forced here with a threshold of 1, and compared with the per-row plan."""
    from fhirsvc.storage import search_repository as repo_mod
    monkeypatch.setattr(repo_mod, "FANOUT_LARGE", large)
    monkeypatch.setattr(repo_mod, "PARTNER_FACTOR", 10**6)
    chosen = []
    pick = repo_mod.SearchRepository._intersect_pair
    monkeypatch.setattr(repo_mod.SearchRepository, "_intersect_pair",
                        lambda self, o: chosen.append(pick(self, o)) or chosen[-1])
    pats = env.by_type["Patient"]
    fam = pats[4]["name"][0]["family"]
    pids = {p["id"] for p in pats if any(fold(n.get("family", "")).startswith(fold(fam))
                                         for n in p["name"])}
    obs = [o for o in env.by_type["Observation"] if ref_id(o.get("subject"), "Patient") in pids]
    code = next(c for o in obs for _s, c in codings(o.get("code")))
    by_code = {o["id"] for o in obs if code in {c for _s, c in codings(o.get("code"))}}
    final = {o["id"] for o in obs if o.get("status") == "final"}
    assert by_code and final
    assert env.ids("Observation", [("subject:Patient.family", fam), ("code", code)]) == by_code
    assert env.ids("Observation", [("code", code), ("subject:Patient.family", fam)]) == by_code
    assert env.ids("Observation", [("subject:Patient.family", fam), ("status", "final"),
                                   ("code", code)]) == by_code & final
    assert env.ids("Observation", [("subject:Patient.family", fam),
                                   ("code:not", code)]) == {o["id"] for o in obs} - by_code
    used = any(p[0] is not None for p in chosen)  # (pair, walk)
    assert used == (large == 1 and env.db.dialect == "postgresql")
