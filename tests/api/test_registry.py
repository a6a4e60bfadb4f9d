"""The registry dataset on SQLite and PostgreSQL: export (flat CSV, REDCap dictionary and
records), de-identification, import through the ingestion pipeline, the round trip into an
empty server, bad rows, the HTTP and CLI doors, and the REDCap files of ../shared."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirsvc import create_app
from fhirsvc.cli import main as cli_main
from fhirsvc.config import Config
from fhirsvc.jobs import Worker
from fhirsvc.registry import csvfiles
from fhirsvc.registry.deid import Deidentifier
from fhirsvc.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("case-a.json", "case-b.json", "cohort.json")
REDCAP = ROOT.parent / "shared" / "conformance" / "redcap"
KEY = "registry-test-key"


@pytest.fixture(scope="module")
def config(db_url, tmp_path_factory):
    return Config(database_url=db_url, examples_dir=tmp_path_factory.mktemp("no-examples"),
                  export_dir=tmp_path_factory.mktemp("exports"), pseudonym_key=KEY,
                  bulk_retry_after=1, bulk_max_active=20)


@pytest.fixture(scope="module")
def loaded(app):
    client = app.test_client()
    for name in EXAMPLES:
        r = client.post("/fhir", data=(ROOT / "examples" / name).read_bytes(),
                        content_type="application/fhir+json")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return app


@pytest.fixture()
def empty_app(request, tmp_path, config):
    """A second, empty server on the same backend and key."""
    if config.database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        pg = None
    else:
        pg = request.getfixturevalue("pg_databases")
        url = pg.create()
    upgrade(url)
    app = create_app(config.with_(database_url=url, export_dir=tmp_path / "exports2"))
    yield app
    app.extensions["fhirsvc.runtime"].close()
    if pg is not None:
        pg.drop(url)


def export(app, fmt: str, **params) -> str:
    r = app.test_client().get("/fhir/$registry-export", query_string=dict(format=fmt, **params))
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert r.mimetype == "text/csv"
    return r.get_data(as_text=True)


def import_csv(app, text: str):
    return app.test_client().post("/fhir/$registry-import", data=text.encode(),
                                  content_type="text/csv")


def count_all(app) -> int:
    rt = app.extensions["fhirsvc.runtime"]
    with rt.db.unit_of_work() as uow:
        return uow.resources.count()


def test_round_trip_redcap_records_into_an_empty_server(loaded, empty_app):
    out = export(loaded, "redcap-records")
    header, rows = csvfiles.read_rows(out)
    assert header[:3] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert {"lesion_modality___ct", "lesion_complete", "demographics_complete"} <= set(header)
    forms = {r["redcap_repeat_instrument"] for r in rows}
    assert {"", "lesion", "neuro", "mrc", "lab", "medication", "procedure", "outcome"} <= forms
    assert len({r["record_id"] for r in rows if not r["redcap_repeat_instrument"]}) == 83
    r = import_csv(empty_app, out)
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert "Imported 83 records" in r.get_json()["issue"][0]["details"]["text"]
    assert export(empty_app, "redcap-records") == out
    assert export(empty_app, "csv") == export(loaded, "csv")
    # imported again: refused whole, nothing added
    before = count_all(empty_app)
    again = import_csv(empty_app, out)
    assert again.status_code == 409 and count_all(empty_app) == before


def test_round_trip_flat_csv(loaded, empty_app):
    flat = export(loaded, "csv")
    header, rows = csvfiles.read_rows(flat)
    assert len(rows) == 83 and "lesion_kind_1" in header and "psc" in header
    r = import_csv(empty_app, flat)
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert export(empty_app, "csv") == flat
    assert export(empty_app, "redcap-records") == export(loaded, "redcap-records")


def _identifiers(node, out: set):
    """Every direct identifier in the examples: identifier values, names, telecoms,
    addresses, the patients' ids, birth dates and free-text notes."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "identifier":
                for ident in value if isinstance(value, list) else [value]:
                    if ident.get("value"):
                        out.add(ident["value"])
            elif key in ("name", "telecom", "address"):
                for item in value if isinstance(value, list) else [value]:
                    for v in (item.values() if isinstance(item, dict) else [item]):
                        for s in (v if isinstance(v, list) else [v]):
                            if isinstance(s, str) and len(s) > 3:
                                out.add(s)
            elif key == "note":
                out.update(n["text"][:40] for n in value if n.get("text"))
            elif key == "birthDate":
                out.add(value)
            _identifiers(value, out)
    elif isinstance(node, list):
        for item in node:
            _identifiers(item, out)


def test_no_direct_identifier_of_the_examples_in_any_output(loaded):
    found: set[str] = set()
    for name in EXAMPLES:
        _identifiers(json.loads((ROOT / "examples" / name).read_text()), found)
    rt = loaded.extensions["fhirsvc.runtime"]
    with rt.db.unit_of_work() as uow:
        ids = [s.resource_id for s in uow.resources.iter_current("Patient")]
    found.update(ids)
    assert len(found) > 150  # MRNs, cohort ids, names, birth dates, ids, notes
    outputs = {fmt: export(loaded, fmt) for fmt in ("csv", "redcap-records",
                                                     "redcap-dictionary")}
    for fmt, text in outputs.items():
        leaked = sorted(v for v in found if v in text)
        assert leaked == [], (fmt, leaked[:10])
    # free text dropped: the lesion descriptions are empty
    _, rows = csvfiles.read_rows(outputs["redcap-records"])
    assert all(not r["lesion_description"] for r in rows)


def test_pseudonyms_are_keyed_and_stable(loaded):
    ds = loaded.extensions["fhirsvc.runtime"].services.registry.dataset
    patient = {"resourceType": "Patient", "id": "x", "identifier": [{"system": "s", "value": "v"}]}
    a, b = Deidentifier(ds.deid, b"k1"), Deidentifier(ds.deid, b"k1")
    assert a.pseudonym(patient) == b.pseudonym(patient)
    assert a.pseudonym(dict(patient, id="other")) == a.pseudonym(patient)  # server id unused
    assert Deidentifier(ds.deid, b"k2").pseudonym(patient) != a.pseudonym(patient)
    assert a.offset_days("R1") == b.offset_days("R1") and abs(a.offset_days("R1")) <= 365


def test_generated_key_is_kept(tmp_path):
    from fhirsvc.registry.deid import pseudonym_key
    cfg = Config(pseudonym_key=None, pseudonym_key_file=tmp_path / "k" / "pseudonym.key")
    first = pseudonym_key(cfg)
    assert len(first) == 64 and pseudonym_key(cfg) == first
    assert (cfg.pseudonym_key_file.stat().st_mode & 0o777) == 0o600


def test_dates_are_shifted_per_patient(loaded):
    rt = loaded.extensions["fhirsvc.runtime"]
    _, rows = csvfiles.read_rows(export(loaded, "redcap-records"))
    deid = rt.services.registry.deid
    with rt.db.unit_of_work() as uow:
        patients = [s.resource() for s in uow.resources.iter_current("Patient")]
    from fhirsvc.registry.deid import shifted
    base = {r["record_id"]: r for r in rows if not r["redcap_repeat_instrument"]}
    for pat in patients:
        rid, _ = deid.pseudonym(pat)
        assert base[rid]["birth_date"] == shifted(pat["birthDate"], deid.offset_days(rid))


def test_age_mode_replaces_dates_by_ages(loaded):
    runtime = loaded.extensions["fhirsvc.runtime"]
    svc = runtime.services.registry
    saved = svc._deid
    profile = dict(svc.dataset.deid, dates={"mode": "age"})
    svc._deid = Deidentifier(profile, b"k")
    try:
        _, rows = csvfiles.read_rows("".join(svc.export(runtime.context(), "redcap-records")))
    finally:
        svc._deid = saved
    base = [r for r in rows if not r["redcap_repeat_instrument"]]
    assert all(r["birth_date"] == "" for r in base)
    labs = [r["lab_date"] for r in rows if r["redcap_repeat_instrument"] == "lab"]
    assert labs and all(d.isdigit() and 20 <= int(d) <= 100 for d in labs)


def test_bad_rows_rejected_with_row_and_field_nothing_stored(loaded, empty_app):
    out = export(loaded, "redcap-records")
    lines = out.split("\r\n")
    header = lines[0].split(",")
    base_idx = next(i for i, line in enumerate(lines[1:], 2) if ",,," in line[:40])
    cells = lines[base_idx - 1].split(",")
    cells[header.index("sex")] = "robot"
    cells[header.index("birth_date")] = "1950-13-45"
    lines[base_idx - 1] = ",".join(cells)
    mrc_idx = next(i for i, line in enumerate(lines[1:], 2) if ",mrc," in line)
    cells = lines[mrc_idx - 1].split(",")
    cells[header.index("mrc_grade")] = "9"
    lines[mrc_idx - 1] = ",".join(cells)
    before = count_all(empty_app)
    r = import_csv(empty_app, "\r\n".join(lines))
    assert r.status_code == 400
    issues = r.get_json()["issue"]
    where = {i["expression"][0] for i in issues}
    assert {f"row[{base_idx}].sex", f"row[{base_idx}].birth_date",
            f"row[{mrc_idx}].mrc_grade"} <= where, where
    assert any("robot" not in i["details"]["text"] and "Must be one of" in i["details"]["text"]
               for i in issues)
    assert count_all(empty_app) == before == 0


def test_rows_the_guide_refuses_store_nothing(loaded, empty_app):
    """Valid for the schema, but a spinal lesion without its level breaks the guide's
    invariant: the pipeline refuses the transaction and nothing is stored."""
    head = "record_id,redcap_repeat_instrument,redcap_repeat_instance,sex,lesion_kind," \
           "lesion_location,lesion_compartment\r\n"
    rows = "R1,,,female,,,\r\nR1,lesion,1,,paraspinal_calcinosis,thoracic_spine," \
           "intervertebral_space\r\n"
    r = import_csv(empty_app, head + rows)
    assert r.status_code == 422, r.get_data(as_text=True)[:500]
    assert count_all(empty_app) == 0
    r = import_csv(empty_app, "record_id,nonsense\r\nR1,x\r\n")
    assert r.status_code == 400 and "nonsense" in r.get_data(as_text=True)
    assert import_csv(empty_app, "").status_code == 400
    bad = empty_app.test_client().post("/fhir/$registry-import", data=b"x",
                                       content_type="application/json")
    assert bad.status_code == 415


def test_dictionary_has_redcaps_18_columns(loaded):
    text = export(loaded, "redcap-dictionary")
    ours = csvfiles.read_rows(text)[0]
    theirs = csvfiles.read_rows((REDCAP / "redcapr-simple" / "dictionary.csv").read_bytes())[0]
    assert ours == theirs and len(ours) == 18
    rows = csvfiles.read_dictionary(text)
    by = {r["field_name"]: r for r in rows}
    assert by["record_id"]["form_name"] == "demographics"
    assert by["lesion_modality"]["field_type"] == "checkbox"
    assert ("ct", "Computed Tomography") in csvfiles.parse_choices(
        by["lesion_modality"]["select_choices_or_calculations"])
    assert by["mrc_grade"]["text_validation_min"] == "0"
    assert by["psc"]["field_type"] == "yesno"
    ds = loaded.extensions["fhirsvc.runtime"].services.registry.dataset
    assert list(by) == list(ds.variables)


def test_shared_redcap_files_parse():
    dictionaries = sorted(REDCAP.glob("*/dictionary.csv")) + [REDCAP / "redcapr-simple" /
                                                             "metadata.csv"]
    assert len(dictionaries) >= 7
    for path in dictionaries:
        rows = csvfiles.read_dictionary(path.read_bytes())
        assert rows[0]["field_name"] in ("record_id", "study_id"), path
        assert all(r["field_type"] for r in rows), path
    odd = csvfiles.read_dictionary(
        (REDCAP / "redcapr-potentially-problematic-dictionary" / "dictionary.csv").read_bytes())
    labels = {r["field_name"]: r["field_label"] for r in odd}
    assert labels["curly_quote_double_left"] == 'Maybe I don\'t "look the part"'
    assert "\u2212or even" in labels["long_dash"] or "or even" in labels["long_dash"]
    assert labels["v1"].startswith("Is the laser mounted on the shark?")
    assert csvfiles.parse_choices(odd[1]["select_choices_or_calculations"]) == [
        ("0", "No"), ("1", "Yes"), ("3", "I should find out")]
    checks = {r["field_name"]: r for r in csvfiles.read_dictionary(
        (REDCAP / "redcapr-checkboxes-1" / "dictionary.csv").read_bytes())}
    assert csvfiles.parse_choices(checks["check_two"]["select_choices_or_calculations"])[0] \
        == ("a", "A")
    header, rows = csvfiles.read_rows((REDCAP / "redcapr-repeating-instruments" / "data.csv")
                                      .read_bytes())
    assert csvfiles.is_redcap_records(header)
    assert [(r["redcap_repeat_instrument"], r["redcap_repeat_instance"]) for r in rows][:2] == \
        [("", ""), ("bp", "1")]
    header, rows = csvfiles.read_rows((REDCAP / "redcapr-simple" / "data.csv").read_bytes())
    assert "race___1" in header and any("\n" in v for r in rows for v in r.values())


def test_group_and_since_filters(loaded):
    client = loaded.test_client()
    pat = client.get("/fhir/Patient?identifier=A-001").get_json()["entry"][0]["resource"]
    g = client.post("/fhir/Group", json={"resourceType": "Group", "type": "person",
                                         "actual": True, "member": [
                                             {"entity": {"reference": f"Patient/{pat['id']}"}}]})
    _, rows = csvfiles.read_rows(export(loaded, "csv", group=g.get_json()["id"]))
    assert len(rows) == 1
    _, rows = csvfiles.read_rows(export(loaded, "csv", _since="2999-01-01T00:00:00Z"))
    assert rows == []
    assert client.get("/fhir/$registry-export?format=xml").status_code == 400
    assert client.get("/fhir/$registry-export?group=nope").status_code == 404


def test_large_export_as_a_job(loaded):
    client = loaded.test_client()
    r = client.get("/fhir/$registry-export?format=redcap-records",
                   headers={"Prefer": "respond-async"})
    assert r.status_code == 202
    status = r.headers["Content-Location"].split("http://localhost")[1]
    assert client.get(status).status_code == 202
    Worker(loaded.extensions["fhirsvc.runtime"], poll=0.01).run(once=True)
    manifest = client.get(status).get_json()
    out = manifest["output"][0]
    assert out["type"] == "redcap-records"
    f = client.get(out["url"].split("http://localhost")[1], headers={"Accept": "text/csv"})
    assert f.status_code == 200 and f.mimetype == "text/csv"
    assert f.get_data(as_text=True) == export(loaded, "redcap-records")
    rt = loaded.extensions["fhirsvc.runtime"]
    jobs = rt.services.export.jobs(rt.context())
    mine = next(j for j in jobs if j.kind == "registry-export")
    assert mine.state == "succeeded" and mine.files[0][1] == out["url"].replace(
        "http://localhost/fhir", mine.status_url.split("/$")[0])


def test_cli_export_and_import(loaded, empty_app, tmp_path, monkeypatch):
    monkeypatch.setenv("FHIRSVC_PSEUDONYM_KEY", KEY)
    src = loaded.extensions["fhirsvc.runtime"].config.database_url
    dst = empty_app.extensions["fhirsvc.runtime"].config.database_url
    out = tmp_path / "records.csv"
    assert cli_main(["registry", "export", "--database-url", src, "--format",
                     "redcap-records", "-o", str(out)]) == 0
    assert out.read_bytes().decode() == export(loaded, "redcap-records")
    assert cli_main(["registry", "import", str(out), "--database-url", dst]) == 0
    assert export(empty_app, "redcap-records") == out.read_bytes().decode()


def test_export_in_pages_of_patients_gives_the_same_files(loaded, monkeypatch):
    """Patients are read a page at a time (memory constant in their number): any page size,
    even one patient, gives the same rows in the same order (by record id)."""
    from fhirsvc.services import registry as service
    whole = {fmt: export(loaded, fmt) for fmt in ("csv", "redcap-records")}
    _, rows = csvfiles.read_rows(whole["csv"])
    assert len(rows) >= 3
    ids = [r["record_id"] for r in rows]
    assert ids == sorted(ids)
    from fhirsvc.storage.export_queries import ExportReader
    pages = []
    real = ExportReader.compartments

    def counted(self, ids, params, until):
        pages.append(len(ids))
        return real(self, ids, params, until)
    monkeypatch.setattr(ExportReader, "compartments", counted)
    for size in (1, 2):
        monkeypatch.setattr(service, "PAGE", size)
        pages.clear()
        for fmt, text in whole.items():
            assert export(loaded, fmt) == text, (fmt, size)
        assert pages and max(pages) == size


def test_unknown_export_parameters_are_a_400_when_strict_else_a_warning(loaded):
    """issue: `$registry-export?formt=redcap-records` (a typo) answered the default CSV and
    said nothing. Under `Prefer: handling=strict` each unknown parameter is a 400 naming it;
    otherwise it is ignored with a warning: a Warning header on the CSV, an OperationOutcome
    in the job's error file (as the Bulk Data kick-off)."""
    client = loaded.test_client()
    strict = client.get("/fhir/$registry-export?formt=redcap-records&group_id=1",
                        headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    issues = strict.get_json()["issue"]
    assert [i["expression"] for i in issues] == [["formt"], ["group_id"]]
    assert all(i["severity"] == "error" and i["code"] == "not-supported" for i in issues)
    strict_async = client.get("/fhir/$registry-export?formt=x",
                              headers={"Prefer": "respond-async, handling=strict"})
    assert strict_async.status_code == 400
    # known parameters are fine under strict handling
    ok = client.get("/fhir/$registry-export?format=redcap-dictionary&_since=2000-01-01"
                    "&_pretty=true", headers={"Prefer": "handling=strict"})
    assert ok.status_code == 200 and "Warning" not in ok.headers

    lenient = client.get("/fhir/$registry-export?format=redcap-dictionary&formt=x")
    assert lenient.status_code == 200 and lenient.mimetype == "text/csv"
    assert lenient.headers.getlist("Warning") == [
        '299 fhirsvc "formt is not a $registry-export parameter; it was ignored"']
    assert lenient.get_data(as_text=True) == export(loaded, "redcap-dictionary")

    r = client.get('/fhir/$registry-export?format=redcap-dictionary&a%22b=1',
                   headers={"Prefer": "respond-async"})
    assert r.status_code == 202
    status = r.headers["Content-Location"].split("http://localhost")[1]
    Worker(loaded.extensions["fhirsvc.runtime"], poll=0.01).run(once=True)
    manifest = client.get(status).get_json()
    (err,) = manifest["error"]
    assert err["type"] == "OperationOutcome" and err["count"] == 1
    body = client.get(err["url"].split("http://localhost")[1],
                      headers={"Accept": "application/fhir+ndjson"})
    assert body.status_code == 200
    (outcome,) = [json.loads(line) for line in body.get_data(as_text=True).splitlines()]
    assert outcome["issue"][0]["severity"] == "warning"
    assert outcome["issue"][0]["details"]["text"] == \
        'a"b is not a $registry-export parameter; it was ignored'
    quoted = client.get('/fhir/$registry-export?format=redcap-dictionary&a%22b=1')
    assert quoted.headers["Warning"] == \
        '299 fhirsvc "a\\"b is not a $registry-export parameter; it was ignored"'
