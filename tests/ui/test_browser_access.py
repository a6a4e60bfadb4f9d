"""The pages in Chromium (Playwright), second part: FHIR XML and HL7 v2 on the validate page,
missing elements on placeholder lines, logging in with auth on (see a case, be refused a page
outside the scopes, log out), and accessibility: the validate form used with the keyboard
alone, the focus always visible, text contrast at WCAG AA. Screenshots in build/screenshots/."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import screenshot
from .helpers import load_examples, patient_id

pytestmark = pytest.mark.browser

# Every wait is for a condition, never a time: a click that submits a form returns before the
# answer has loaded (Playwright no longer waits for navigations after actions), so reading the
# page at once read the old page or none (a count of 0, an old "Not valid", the login URL) on
# a loaded machine. WAIT only bounds how long a condition may take there.
WAIT = 60_000


@pytest.fixture(autouse=True)
def generous_timeouts(page):
    page.set_default_timeout(WAIT)
    page.set_default_navigation_timeout(WAIT)
    return page


def submit(page, action) -> None:
    """Run `action` (a click or key press that submits a form) and wait until the page it
    navigates to has loaded."""
    with page.expect_navigation(wait_until="load", timeout=WAIT):
        action()

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PASSWORD = "correct horse battery"
SSC_PATIENT = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/ssc-patient"

XML_BAD = """<Observation xmlns="http://hl7.org/fhir">
  <status value="bogus"/>
  <code><text value="calcium"/></code>
  <valueQuantity><value value="2.41"/><unit value="mmol/L"/></valueQuantity>
</Observation>"""

# WCAG 2.1 contrast of every visible text element against the background it is drawn on
CONTRAST_JS = """() => {
  const lum = (c) => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 :
                        Math.pow((x + 0.055) / 1.055, 2.4); });
                       return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const rgba = (s) => { const m = s.match(/[\\d.]+/g); if (!m) return null;
                        return m.map(Number).concat(m.length === 3 ? [1] : []); };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || el.closest('svg') || el.closest('.visually-hidden')
        || el.closest('.skip')) continue;
    const fg = rgba(st.color).slice(0, 3), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) bad.push(`${el.tagName}.${el.className} "${el.textContent.trim()
      .slice(0, 30)}" ${ratio.toFixed(2)} < ${need}`);
  }
  return bad;
}"""

FOCUS_JS = """() => { const e = document.activeElement; const s = getComputedStyle(e);
  return {tag: e.tagName, id: e.id, name: e.getAttribute('name'), text: (e.textContent || '').trim().slice(0, 40),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }"""


def focus(page) -> dict:
    return page.evaluate(FOCUS_JS)


def tab_to(page, predicate, limit: int = 60) -> dict:
    """Press Tab until the focused element satisfies `predicate`; each stop has a visible
    focus indicator."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focus(page)
        assert now["outline"], f"no visible focus on {now}"
        if predicate(now):
            return now
    raise AssertionError("the keyboard never reached it")


def test_validate_xml_in_the_browser(page, live_url, backend):
    page.goto(f"{live_url}/ui/validate")
    page.get_by_label("Resource or Bundle").fill(XML_BAD)
    submit(page, page.get_by_role("button", name="Validate").click)
    assert page.locator(".summary strong").inner_text() == "Not valid"
    status = page.locator('.issue[data-severity="error"][data-expression="Observation.status"]')
    assert status.count() == 1
    target = status.get_by_role("link").get_attribute("href")
    assert page.locator(f"{target} code").inner_text().strip() == '<status value="bogus"/>'
    assert "sev-error" in page.locator(target).get_attribute("class")
    screenshot(page, backend, "validate-xml")


def test_validate_hl7v2_in_the_browser(page, live_url, backend):
    text = (EXAMPLES / "hl7v2" / "case-b-lumbar-mri.oru-r01.hl7").read_text()
    lines = [x for x in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if x]
    obx = next(i for i, x in enumerate(lines) if x.startswith("OBX"))
    fields = lines[obx].split("|")
    fields[2], fields[5] = "NM", "lots"
    lines[obx] = "|".join(fields)
    page.goto(f"{live_url}/ui/validate")
    page.get_by_label("Resource or Bundle").fill("\n".join(lines))
    submit(page, page.get_by_role("button", name="Validate").click)
    issue = page.locator('.issue[data-severity="error"][data-expression^="OBX[1]-5"]')
    assert issue.count() == 1
    target = issue.get_by_role("link").first.get_attribute("href")
    assert page.locator(f"{target} code").inner_text() == lines[obx]
    assert "sev-error" in page.locator(target).get_attribute("class")
    screenshot(page, backend, "validate-hl7v2-error")
    # the message as it came: converted, the Bundle validated and listed below
    page.get_by_label("Resource or Bundle").fill(text)
    submit(page, page.get_by_role("button", name="Validate").click)   # the old page said
    assert page.locator(".summary strong").inner_text() == "Valid"     # "Not valid"
    assert page.get_by_role("heading", name="The converted transaction Bundle").count() == 1
    screenshot(page, backend, "validate-hl7v2")


def test_missing_elements_on_placeholder_lines(page, live_url, backend):
    page.goto(f"{live_url}/ui/validate")
    page.get_by_label("Resource or Bundle").fill('{"resourceType": "Patient", '
                                                  '"name": [{"family": "Doe"}]}')
    page.locator("details.profiles summary").click()
    page.locator(f'input[name="profile"][value="{SSC_PATIENT}"]').check()
    submit(page, page.get_by_role("button", name="Validate").click)
    holes = page.locator(".ln.placeholder")
    expect(holes).to_have_count(3, timeout=WAIT)
    assert [holes.nth(i).get_attribute("data-expression") for i in range(holes.count())] == [
        "Patient.identifier", "Patient.gender", "Patient.birthDate"]
    assert all(holes.nth(i).get_attribute("data-severity") == "error"
               for i in range(holes.count()))
    listed = page.locator('.issue[data-expression="Patient"]').filter(has_text="minimum required")
    assert listed.count() == 3                                              # still listed
    screenshot(page, backend, "validate-placeholders")


def test_validate_form_with_the_keyboard_alone(page, live_url, backend):
    page.goto(f"{live_url}/ui/validate")
    first = tab_to(page, lambda f: True)
    assert first["text"] == "Skip to content"
    tab_to(page, lambda f: f["id"] == "format")
    page.keyboard.press("ArrowDown")            # "Detect" -> FHIR JSON, chosen by keyboard
    assert page.locator("#format").input_value() == "json"
    tab_to(page, lambda f: f["id"] == "file")
    tab_to(page, lambda f: f["id"] == "resource")
    page.keyboard.type('{"resourceType": "Observation", "status": "bogus", '
                       '"code": {"text": "x"}}')
    tab_to(page, lambda f: f["tag"] == "SUMMARY")
    page.keyboard.press("Enter")                # opens the profiles
    expect(page.locator("details.profiles")).to_have_attribute("open", re.compile(".*"),
                                                              timeout=WAIT)
    tab_to(page, lambda f: f["tag"] == "INPUT" and f["name"] == "profile")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Validate")
    submit(page, lambda: page.keyboard.press("Enter"))
    assert page.locator(".summary strong").inner_text() == "Not valid"
    # on to the first issue's line link, and through it to the marked line
    now = tab_to(page, lambda f: f["tag"] == "A" and f["text"].startswith("line "), 120)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#" + re.escape(now["text"].replace("line ", "L"))
                                        + "$"), timeout=WAIT)
    assert page.evaluate("getComputedStyle(document.querySelector(location.hash)).outlineStyle") \
        != "none"
    screenshot(page, backend, "validate-keyboard")


def test_text_contrast_meets_wcag_aa(page, live_url, loaded, runtime, backend):
    pid = patient_id(runtime, "A-001")
    page.goto(f"{live_url}/ui/validate")
    page.get_by_label("Resource or Bundle").fill(XML_BAD)
    submit(page, page.get_by_role("button", name="Validate").click)
    low = {}
    for path in (None, "/ui/", f"/ui/patients/{pid}", "/ui/cohort", "/ui/feeds",
                 "/ui/nowhere"):
        if path:
            page.goto(live_url + path)
        found = page.evaluate(CONTRAST_JS)
        if found:
            low[path or "/ui/validate (result)"] = found
    assert low == {}


# -- logging in with auth on ----------------------------------------------------------------
@pytest.fixture(scope="module")
def smart_url(db_url, tmp_path_factory):
    from werkzeug.serving import make_server

    from fhirsvc import create_app
    from fhirsvc.config import Config
    tmp = tmp_path_factory.mktemp("browser-login")
    app = create_app(Config(database_url=db_url, auth="smart", examples_dir=tmp,
                            auth_signing_key=str(tmp / "key.pem")))
    runtime = app.extensions["fhirsvc.runtime"]
    load_examples(runtime)
    runtime.services.users.add("clinician", PASSWORD, "user/*.rs")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", runtime
    server.shutdown()
    thread.join(timeout=10)
    runtime.close()


def test_log_in_see_a_case_be_refused_outside_the_scopes_log_out(page, smart_url, backend):
    url, runtime = smart_url
    pid = patient_id(runtime, "B-004")
    page.goto(f"{url}/ui/patients/{pid}")       # not logged in: to the login page
    assert "/ui/login" in page.url
    page.get_by_label("User name").fill("clinician")
    page.get_by_label("Password").fill("not the password")
    submit(page, page.get_by_role("button", name="Log in").click)
    assert "not right" in page.get_by_role("alert").inner_text()
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, page.get_by_role("button", name="Log in").click)
    assert f"/ui/patients/{pid}" in page.url    # back where they were going
    lesion = page.locator('svg.spine g.lesion[data-compartment="intraspinal"]'
                          '[data-level-start="L4"][data-level-end="L5"][data-laterality="left"]')
    assert lesion.count() == 1
    assert "clinician" in page.locator("header .who").inner_text()
    screenshot(page, backend, "login-case-b")
    response = page.goto(f"{url}/ui/feeds")     # the feeds need fhirsvc/admin
    assert response.status == 403 and "fhirsvc/admin" in page.inner_text("main")
    screenshot(page, backend, "login-refused")
    submit(page, page.get_by_role("button", name="Log out").click)
    assert "/ui/login" in page.url
    response = page.goto(f"{url}/ui/patients/{pid}")
    assert "/ui/login" in page.url             # the session is gone
    cookies = [c["name"] for c in page.context.cookies()]
    assert "fhirsvc_session" not in cookies
