"""The pages in a real browser (Debian's Chromium, headless, through Playwright) against the
app with examples/ loaded, on SQLite and PostgreSQL: validate a good and a bad resource and
see the right issues; open case A and case B and check the spine map's lesions by their data
attributes; the cohort and feeds pages. Each page leaves a screenshot in build/screenshots/."""
from __future__ import annotations

import json

import pytest

from .conftest import screenshot
from .helpers import patient_id

pytestmark = pytest.mark.browser

GOOD = {"resourceType": "Patient", "id": "p1",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Ann</div>"},
        "identifier": [{"system": "urn:oid:1.2.3", "value": "42"}],
        "gender": "female", "birthDate": "1953-02-01"}
BAD = {"resourceType": "Observation", "status": "bogus",
       "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1234"}]},
       "valueQuantity": {"value": "high"}}


def lesion(page, **attrs):
    selector = "svg.spine g.lesion" + "".join(f'[data-{k.replace("_", "-")}="{v}"]'
                                               for k, v in attrs.items())
    return page.locator(selector)


def download_outcome(page) -> dict:
    """The OperationOutcome the page's download button saves (the input posted again)."""
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the OperationOutcome").click()
    download = info.value
    assert download.suggested_filename == "operationoutcome.json"
    with open(download.path()) as f:
        return json.load(f)


def test_validate_good_resource(page, live_url, backend):
    page.goto(f"{live_url}/ui/validate")
    page.get_by_label("Resource or Bundle").fill(json.dumps(GOOD))
    page.get_by_role("button", name="Validate").click()
    summary = page.locator(".summary")
    assert summary.locator("strong").inner_text() == "Valid"
    assert page.locator('.issue[data-severity="error"]').count() == 0
    outcome = download_outcome(page)
    assert outcome["resourceType"] == "OperationOutcome"
    assert not [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
    screenshot(page, backend, "validate-good")


def test_validate_bad_resource_marks_issues_at_their_lines(page, live_url, backend):
    page.goto(f"{live_url}/ui/validate")
    page.locator('textarea[name="resource"]').fill(json.dumps(BAD))
    page.get_by_role("button", name="Validate").click()
    assert page.locator(".summary strong").inner_text() == "Not valid"
    status = page.locator('.issue[data-severity="error"][data-expression="Observation.status"]')
    value = page.locator('.issue[data-severity="error"]'
                         '[data-expression="Observation.valueQuantity.value"]')
    assert status.count() == 1 and "bogus" in status.inner_text()
    assert value.count() == 1 and "decimal" in value.inner_text()
    # the issue links to its line in the pretty-printed input, and that line is marked
    link = value.get_by_role("link")
    target = link.get_attribute("href")
    line = page.locator(target)
    assert '"value": "high"' in line.inner_text()
    assert "sev-error" in line.get_attribute("class")
    link.focus()
    page.keyboard.press("Enter")  # keyboard reaches the marked line
    assert page.evaluate("location.hash") == target
    outcome = download_outcome(page)
    assert {"Observation.status", "Observation.valueQuantity.value"} <= {
        e for i in outcome["issue"] for e in i.get("expression", [])}
    screenshot(page, backend, "validate-bad")


def test_validate_malformed_json_marks_the_line(page, live_url, backend):
    page.goto(f"{live_url}/ui/validate")
    page.locator('textarea[name="resource"]').fill('{\n  "resourceType": "Patient",\n  "gender": \n}')
    page.get_by_role("button", name="Validate").click()
    issue = page.locator('.issue[data-severity="error"]')
    assert issue.count() == 1 and "line 4" in issue.inner_text()
    assert "sev-error" in page.locator("#L4").get_attribute("class")


def test_case_a_spine_map(loaded, runtime, page, live_url, backend):
    pid = patient_id(runtime, "A-001")
    page.goto(f"{live_url}/ui/patients/{pid}")
    assert "Case A" in page.locator("h1").inner_text()
    # the T4-T5 paraspinal calcinosis, concentrated in the intervertebral space
    para = lesion(page, kind="paraspinal-calcinosis", level_start="T4", level_end="T5")
    assert para.count() == 1
    assert para.get_attribute("data-compartment") == "intervertebral-space"
    # tumoral calcinosis of the T4-T5, T5-T6 and T7-T8 facet joints
    facets = lesion(page, compartment="facet-joint")
    assert sorted((facets.nth(i).get_attribute("data-level-start"),
                   facets.nth(i).get_attribute("data-level-end"))
                  for i in range(facets.count())) == [("T4", "T5"), ("T5", "T6"), ("T7", "T8")]
    assert lesion(page, compartment="facet-joint", level_start="T4", level_end="T5").count() == 1
    assert lesion(page, compartment="intraspinal", level_start="T3", level_end="T8").count() == 1
    # the lesions are drawn (boxes with a size), the absent findings are outlines
    box = para.locator("rect").first.bounding_box()
    assert box["width"] > 10 and box["height"] > 3
    assert page.locator("svg.spine rect.absent").count() == 2
    # timeline, labs with reference ranges, MRC chart
    assert page.locator('.event[data-category="medications"]').filter(
        has_text="Diltiazem").count() == 1
    assert page.locator('.event[data-category="neuro"]').count() >= 2
    pth = page.locator("tr.lab", has_text="intact")
    assert "10" in pth.inner_text() and "65" in pth.inner_text()
    points = page.locator('svg.mrc .point[data-side="left"][data-grade]')
    assert points.count() == 8
    screenshot(page, backend, "case-a")


def test_case_b_spine_map(loaded, runtime, page, live_url, backend):
    pid = patient_id(runtime, "B-004")
    page.goto(f"{live_url}/ui/patients/{pid}")
    left = lesion(page, compartment="intraspinal", level_start="L4", level_end="L5",
                  laterality="left")
    assert left.count() == 1
    # drawn in the canal's left half: on the viewer's right of the midline
    canal = page.locator("svg.spine rect.canal").bounding_box()
    box = left.locator("rect").first.bounding_box()
    assert box["x"] >= canal["x"] + canal["width"] / 2 - 1
    assert page.locator('.event[data-category="procedures"]').count() >= 1
    screenshot(page, backend, "case-b")


def test_cohort_page_flags_the_misprint(loaded, page, live_url, backend):
    page.goto(f"{live_url}/ui/cohort")
    misprint = page.locator('tr.test[data-verdict="misprint"]')
    assert misprint.count() == 1
    assert "SSc vs SLE" in misprint.inner_text() and "0.005" in misprint.inner_text()
    bar = page.locator('svg.bars g.bar[data-finding="paraspinal-calcinosis"][data-group="SSc"]')
    assert bar.get_attribute("data-count") == "24" and bar.get_attribute("data-n") == "41"
    assert bar.locator("line.ci").count() == 3
    screenshot(page, backend, "cohort")


def test_feeds_page_shows_jobs(loaded, runtime, page, live_url, backend):
    from fhirsvc.jobs.queue import JobQueue
    job = JobQueue(runtime.db).enqueue("reindex", {})
    page.goto(f"{live_url}/ui/feeds")
    row = page.locator(f'tr.job[data-job="{job.id}"]')
    assert row.get_attribute("data-state") == "queued"
    assert page.locator('section.feed[data-feed="hl7v2"]:not(.pending)').count() == 1
    screenshot(page, backend, "feeds")


def test_index_and_error_pages(loaded, page, live_url, backend):
    page.goto(f"{live_url}/")
    page.keyboard.press("Tab")  # the first stop is the skip link, and it leads to the content
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    screenshot(page, backend, "root")
    page.get_by_role("link", name="Patients").first.click()
    assert page.locator("h1").inner_text() == "Patients"
    screenshot(page, backend, "patients")
    page.get_by_role("link", name="Case A (seed 001)").click()
    assert "/ui/patients/" in page.url
    screenshot(page, backend, "case-a-from-index")
    resp = page.goto(f"{live_url}/ui/patients/does-not-exist")
    assert resp.status == 404 and "text/html" in resp.headers["content-type"]
    assert "Patient/does-not-exist is not known" in page.inner_text("main")
    screenshot(page, backend, "error-404")
