"""The pages over HTTP (Flask test client) on SQLite and PostgreSQL with examples/ loaded:
every page answers, validation stores nothing, profiles apply, errors under /ui/ are HTML
while the API keeps its OperationOutcomes, and the pages keep to their layer."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from .helpers import patient_id

UI = Path(__file__).resolve().parents[2] / "fhirsvc" / "ui"
SSC_PATIENT = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/ssc-patient"


@pytest.fixture()
def web(loaded):
    return loaded.test_client()


def issues(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="issue[^"]*"[^>]*data-severity="([^"]+)" '
                      r'data-expression="([^"]*)"', html)


def placeholders(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<div class="ln placeholder[^"]*" id="L\d+" data-severity="([^"]+)" '
                      r'data-expression="([^"]*)"', html)


def listing(html: str) -> list[str]:
    """The texts of the first listing's lines, in order."""
    import html as h
    return [h.unescape(t) for t in re.findall(r'<div class="ln[^"]*" id="L\d+"[^>]*>'
                                              r'<span class="no"[^>]*>[^<]*</span><code>'
                                              r'([^<]*)</code>', html)]


def resource_count(runtime) -> int:
    with runtime.db.unit_of_work() as uow:
        return uow.resources.count(include_deleted=True)


def test_root_links_the_pages_and_the_api(web):
    r = web.get("/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    for href in ("/ui/", "/ui/validate", "/ui/cohort", "/ui/feeds", "/fhir/metadata"):
        assert f'href="{href}' in html or f'{href}"' in html, href


def test_pages_load_nothing_from_elsewhere(web, runtime):
    pid = patient_id(runtime, "A-001")
    for path in ("/", "/ui/", "/ui/validate", f"/ui/patients/{pid}", "/ui/cohort", "/ui/feeds"):
        html = web.get(path).get_data(as_text=True)
        assert "<script" not in html  # plain HTML: works without JavaScript
        for tag in re.findall(r"<(?:link|img|script|iframe)\b[^>]*>", html):
            assert "http://" not in tag and "https://" not in tag, (path, tag)
    css = web.get("/ui/static/ui.css")
    assert css.status_code == 200 and "text/css" in css.content_type
    assert "url(" not in css.get_data(as_text=True) and "@import" not in css.get_data(as_text=True)


def test_index_lists_cases_and_cohort(web):
    html = web.get("/ui/").get_data(as_text=True)
    assert "Case A (seed 001)" in html and "Case B (seed 004)" in html
    assert "SSC-01" in html


def test_validate_form_fields(web):
    html = web.get("/ui/validate").get_data(as_text=True)
    assert '<textarea id="resource" name="resource"' in html
    assert '<label for="resource">' in html and '<label for="file">' in html
    assert f'name="profile" value="{SSC_PATIENT}"' in html
    # every input format is offered, with auto-detection first
    for key in ("auto", "json", "xml", "hl7v2"):
        assert re.search(rf'<option value="{key}"(?![^>]*disabled)', html), key


def test_validate_bad_resource_lists_issues_and_stores_nothing(web, runtime):
    before = resource_count(runtime)
    body = {"resourceType": "Observation", "status": "bogus", "code": {"text": "x"}}
    r = web.post("/ui/validate", data={"resource": json.dumps(body)})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert ("error", "Observation.status") in issues(html)
    assert 'name="download" value="outcome"' in html
    r = web.post("/ui/validate", data={"resource": json.dumps(body), "download": "outcome"})
    assert r.mimetype == "application/fhir+json"
    assert r.headers["Content-Disposition"] == 'attachment; filename="operationoutcome.json"'
    outcome = r.get_json()
    assert [i for i in outcome["issue"] if i.get("expression") == ["Observation.status"]]
    assert resource_count(runtime) == before


def test_validate_upload_and_chosen_profile(web):
    patient = {"resourceType": "Patient", "name": [{"family": "Doe"}]}
    r = web.post("/ui/validate", data={"resource": "", "profile": [SSC_PATIENT],
                                       # saved by an editor that writes a BOM
                                       "file": (io.BytesIO(b"\xef\xbb\xbf" +
                                                           json.dumps(patient).encode()),
                                                "patient.json")},
                 content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    # the SSc patient profile makes identifier, gender and birthDate required (reported on
    # the resource, and listed so); each is marked on a placeholder line where it would go
    assert ("error", "Patient") in issues(html)
    for element in ("Patient.identifier", "Patient.gender", "Patient.birthDate"):
        assert f"{element}: minimum required = 1" in html
    assert placeholders(html) == [("error", "Patient.identifier"), ("error", "Patient.gender"),
                                  ("error", "Patient.birthDate")]
    # in R4 order around what is there: identifier before name, gender and birthDate after
    lines = listing(html)
    assert [t.split(":")[0].strip().strip('"') for t in lines] == [
        "{", "resourceType", "identifier", "name", "{", "family", "}", "]", "gender",
        "birthDate", "}"]
    assert not re.search(r'<div class="ln mark sev-error" id="L1">', html)
    without = issues(web.post("/ui/validate", data={"resource": json.dumps(patient)})
                     .get_data(as_text=True))
    assert not [e for s, e in without if s == "error"]


def test_validate_bundle_with_profile_checks_its_entries(web):
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:6f1e1a52-2b52-4a7e-9d8c-4f1a2b3c4d5e",
                         "resource": {"resourceType": "Patient"}}]}
    found = issues(web.post("/ui/validate", data={"resource": json.dumps(bundle),
                                                  "profile": SSC_PATIENT}).get_data(as_text=True))
    assert ("error", "Bundle.entry[0].resource") in found


def test_validate_unknown_profile_and_formats(web):
    found = issues(web.post("/ui/validate", data={
        "resource": '{"resourceType": "Basic", "code": {"text": "x"}}',
        "profile": "http://example.org/nope"}).get_data(as_text=True))
    assert ("error", "") in found


XML_BAD = """<?xml version="1.0" encoding="UTF-8"?>
<Observation xmlns="http://hl7.org/fhir">
  <status value="bogus"/>
  <code><text value="x"/></code>
  <valueQuantity><value value="1.50"/><unit value="mg"/></valueQuantity>
</Observation>"""


def _marked_lines(html: str) -> dict[int, str]:
    """line number -> its text, for the listing's marked lines."""
    return {int(n): t for n, t in re.findall(
        r'<div class="ln mark sev-\w+" id="L(\d+)"><span class="no"[^>]*>\d+</span>'
        r'<code>([^<]*)</code>', html)}


def test_validate_xml_marks_issues_at_the_element_lines(web, runtime):
    before = resource_count(runtime)
    r = web.post("/ui/validate", data={"resource": XML_BAD})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Result: Observation" in html
    assert ("error", "Observation.status") in issues(html)
    marked = _marked_lines(html)
    # the listing is the XML, re-indented: the status element's line is the one marked
    assert any("&lt;status value=&#34;bogus&#34;/&gt;" in t for t in marked.values()), marked
    assert "lang-xml" in html and "&#34;status&#34;" not in html
    assert resource_count(runtime) == before
    # the same input, forced as JSON, is a JSON syntax error; auto-detect took XML
    forced = web.post("/ui/validate", data={"resource": XML_BAD, "format": "json"})
    assert "not valid JSON" in forced.get_data(as_text=True)


def test_validate_xml_agrees_with_the_api(web, client):
    """The page and POST [type]/$validate (XML body) find the same issues."""
    page = sorted(issues(web.post("/ui/validate", data={"resource": XML_BAD})
                         .get_data(as_text=True)))
    r = web.post("/fhir/Observation/$validate", data=XML_BAD.encode(),
                 headers={"Content-Type": "application/fhir+xml",
                          "Accept": "application/fhir+json"})
    api = sorted((i["severity"], ", ".join(i.get("expression", [])))
                 for i in r.get_json()["issue"]
                 if i["severity"] != "information" or i.get("expression"))
    assert [p for p in page if p[0] == "error"] == [a for a in api if a[0] == "error"]


def test_validate_xml_missing_required_elements_get_placeholders(web):
    text = ('<Patient xmlns="http://hl7.org/fhir"><name><family value="Doe"/></name>'
            '</Patient>')
    html = web.post("/ui/validate", data={"resource": text, "profile": SSC_PATIENT}) \
        .get_data(as_text=True)
    assert ("error", "Patient") in issues(html)          # the issue stays listed
    assert ("error", "Patient.identifier") in placeholders(html)
    lines = [t.strip() for t in listing(html)]
    ident = next(i for i, t in enumerate(lines) if t.startswith("<identifier"))
    assert "missing: required" in lines[ident] and lines[ident + 1] == "<name>"
    birth = next(i for i, t in enumerate(lines) if t.startswith("<birthDate"))
    assert lines[birth - 1].startswith("<gender") and lines[birth + 1] == "</Patient>"


def test_validate_malformed_xml_marks_its_line(web):
    bad = '<Patient xmlns="http://hl7.org/fhir">\n  <gender value="female">\n</Patient>'
    html = web.post("/ui/validate", data={"resource": bad}).get_data(as_text=True)
    assert "The input is not FHIR XML" in html and "Malformed XML" in html
    assert 3 in _marked_lines(html) or 2 in _marked_lines(html)
    dtd = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><Patient xmlns="http://hl7.org/fhir"/>'
    assert "DOCTYPE" in web.post("/ui/validate", data={"resource": dtd}).get_data(as_text=True)


HL7 = Path(__file__).resolve().parents[2] / "examples" / "hl7v2"


def test_validate_hl7v2_converts_and_validates_the_bundle(web, runtime):
    before = resource_count(runtime)
    text = (HL7 / "case-a-labs.oru-r01.hl7").read_text()
    html = web.post("/ui/validate", data={"resource": text}).get_data(as_text=True)
    assert "lang-hl7v2" in html and "The converted transaction Bundle" in html
    assert "Result: ORU^R01" in html
    assert not [e for s, e in issues(html) if s == "error"], issues(html)
    assert '"resourceType": "Bundle"' in html.replace("&#34;", '"')
    assert resource_count(runtime) == before      # converted, not stored


def test_validate_hl7v2_marks_issues_on_their_segments(web):
    text = (HL7 / "case-a-labs.oru-r01.hl7").read_text().replace("\r\n", "\n").replace("\r", "\n")
    lines = [line for line in text.split("\n") if line]
    obx = [i for i, line in enumerate(lines) if line.startswith("OBX")]
    # the third OBX's value is not a number for a numeric result
    fields = lines[obx[2]].split("|")
    fields[2], fields[5] = "NM", "high"
    lines[obx[2]] = "|".join(fields)
    html = web.post("/ui/validate", data={"resource": "\r\n".join(lines)}).get_data(as_text=True)
    found = issues(html)
    located = [(s, e) for s, e in found if "OBX[3]" in e]
    assert located == [("error", "OBX[3]-5, OBX[3].5[1]")], found
    marked = _marked_lines(html)
    assert obx[2] + 1 in marked and marked[obx[2] + 1].startswith("OBX|")
    # a message that is not HL7 v2 at all, forced as HL7 v2
    html = web.post("/ui/validate", data={"resource": "hello", "format": "hl7v2"}) \
        .get_data(as_text=True)
    assert "it has no MSH segment" in html
    assert [e for s, e in issues(html) if s == "error"] == ["MSH[1]"]   # once
    html = web.post("/ui/validate", data={"resource": "   "}).get_data(as_text=True)
    assert "Nothing to check" in html
    found = issues(web.post("/ui/validate", data={"resource": '{"resourceType": "Nope"}'})
                   .get_data(as_text=True))
    assert found == [("error", "resourceType")]


def test_every_form_control_has_a_label(web):
    html = web.get("/ui/validate").get_data(as_text=True)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="checkbox"' in tag:
            continue  # wrapped in its label
        assert re.search(r'id="([^"]+)"', tag).group(1) in labelled, tag
    assert html.count('<label class="check"><input type="checkbox"') == html.count('type="checkbox"')


def test_case_pages(web, runtime):
    assert web.get("/ui/patients/").status_code == 302
    html = web.get(f"/ui/patients/{patient_id(runtime, 'B-004')}").get_data(as_text=True)
    assert re.search(r'data-level-start="L4" data-level-end="L5" data-compartment="intraspinal" '
                     r'data-laterality="left"', html)
    assert "Surgical" in html or "laminectomy" in html.lower()


def test_cohort_and_feeds(web, runtime):
    html = web.get("/ui/cohort").get_data(as_text=True)
    assert html.count('data-verdict="misprint"') == 1
    from fhirsvc.jobs.queue import JobQueue
    job = JobQueue(runtime.db).enqueue("reindex", {})
    html = web.get("/ui/feeds").get_data(as_text=True)
    assert f'data-job="{job.id}" data-state="queued" data-kind="reindex"' in html
    assert 'data-feed="hl7v2"' in html and "feed pending" not in html
    # a message through the HL7 v2 door shows in the feed with its sender, control id and ACK
    msg = ("MSH|^~\\&|LAB|UIHOSP|FHIRSVC|X|20240101120000+0100||ORU^R01|ui-feed-1|P|2.5.1\r"
           "PID|1||UI-1^^^UIHOSP^MR||Doe^Jane||19520915|F\r"
           "OBR|1|P1^UIHOSP|F1^UIHOSP|24362-6^Panel^LN|||20240101100000+0100\r"
           "OBX|1|NM|17861-6^Calcium^LN||9.1|mg/dL^^UCUM|||||F\r")
    web.post("/fhir/$process-hl7v2", data=msg, content_type="x-application/hl7-v2+er7")
    html = web.get("/ui/feeds").get_data(as_text=True)
    assert "ui-feed-1" in html and "LAB" in html


def test_errors_are_html_under_ui_and_outcomes_for_the_api(web):
    for path, status in (("/ui/nope", 404), ("/ui/patients/nope", 404),
                         ("/ui/patients/bad!id", 400)):
        r = web.get(path)
        assert (r.status_code, r.mimetype) == (status, "text/html"), path
        assert "<h1>" in r.get_data(as_text=True)
    r = web.post("/ui/cohort")
    assert (r.status_code, r.mimetype) == (405, "text/html")
    r = web.get("/fhir/nope/x/y/z")
    assert r.status_code == 404 and r.mimetype == "application/fhir+json"
    assert r.get_json()["resourceType"] == "OperationOutcome"
    r = web.get("/fhir/Patient/nope")
    assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


def test_too_large_input_is_an_html_413(web, loaded):
    limit = loaded.config["MAX_CONTENT_LENGTH"]
    r = web.post("/ui/validate", data={"resource": "x" * (limit + 1)})
    assert (r.status_code, r.mimetype) == (413, "text/html")
    assert f"({limit} bytes)" in r.get_data(as_text=True)
    r = web.post("/fhir/Patient", data=b"x" * (limit + 1),
                 headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 413 and r.get_json()["resourceType"] == "OperationOutcome"


def test_a_failing_page_is_an_html_500_without_a_trace(web, runtime, monkeypatch):
    from fhirsvc.ui import pages

    def broken(resources):
        raise RuntimeError("secret detail")
    monkeypatch.setattr(pages.spine, "spine_map", broken)
    r = web.get(f"/ui/patients/{patient_id(runtime, 'A-001')}")
    html = r.get_data(as_text=True)
    assert (r.status_code, r.mimetype) == (500, "text/html")
    assert "secret detail" not in html and "Traceback" not in html


def test_pages_keep_to_their_layer():
    """Pages call services: no database, SQL, search engine or validator of their own (the
    storage errors are imported only to answer them, as api/errors.py does)."""
    import ast
    for path in UI.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [f"{'.' * node.level}{node.module or ''}"]
                for name in names:
                    assert not name.startswith(("sqlalchemy", "fhirsvc.storage", "fhirsvc.search",
                                                "fhirsvc.validation", "..search",
                                                "..validation")), (path.name, name)
                    if name.startswith("..storage"):
                        assert name in ("..storage.errors", "..storage_outcomes"), (path.name, name)
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("db", "unit_of_work", "validator", "engine",
                                         "search_engine"), (path.name, node.attr)
    services = UI.parent / "services"
    for name in ("patients.py", "jobs.py", "guide.py"):
        text = (services / name).read_text()
        assert "flask" not in text and "select(" not in text, name


def test_with_auth_on_a_page_needs_a_token_like_any_other_door(db_url, tmp_path):
    """auth=smart: no bearer token, no page (an HTML 401 with the API's challenge); the style
    sheet stays public so the error page is readable."""
    from fhirsvc import create_app
    from fhirsvc.config import Config
    app = create_app(Config(database_url=db_url, auth="smart",
                            auth_signing_key=str(tmp_path / "key.pem"),
                            examples_dir=tmp_path))
    app.testing = False
    try:
        web = app.test_client()
        for path in ("/ui/", "/ui/validate", "/ui/cohort", "/ui/feeds", "/ui/patients/x"):
            r = web.get(path)
            assert (r.status_code, r.mimetype) == (401, "text/html"), path
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert "access token" in r.get_data(as_text=True)
        assert web.get("/ui/static/ui.css").status_code == 200
        r = web.get("/fhir/Patient")
        assert r.status_code == 401 and r.mimetype == "application/fhir+json"
    finally:
        app.extensions["fhirsvc.runtime"].close()


def test_jobs_need_the_admin_scope_when_enforced(runtime):
    from fhirsvc.security.scopes import ADMIN_SCOPE
    ctx = runtime.context().with_(enforce=True, scopes=frozenset({"system/*.rs"}))
    with pytest.raises(Exception) as exc:
        runtime.services.jobs.list(ctx)
    assert exc.value.status == 403 and ADMIN_SCOPE in str(exc.value)
    assert runtime.services.jobs.list(ctx.with_(scopes=frozenset({ADMIN_SCOPE}))) is not None


def test_case_record_keeps_to_the_patient_scope(loaded, runtime):
    a, b = patient_id(runtime, "A-001"), patient_id(runtime, "B-004")
    ctx = runtime.context().with_(enforce=True, patient=a,
                                  scopes=frozenset({"patient/*.rs"}))
    record = runtime.services.patients.record(ctx, a)
    assert record.patient["id"] == a and len(record.resources) > 50
    with pytest.raises(Exception) as exc:
        runtime.services.patients.record(ctx, b)
    assert exc.value.status == 403
