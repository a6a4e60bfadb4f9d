"""People logging in to the pages with auth on (Flask test client, SQLite and PostgreSQL):
the session cookie, CSRF tokens, the user's scopes enforced by the guard like a token's,
failed logins rate-limited and audited, logout, the users CLI and the admin API."""
from __future__ import annotations

import re

import pytest

from .helpers import load_examples, patient_id

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def smart_pages(db_url, tmp_path_factory):
    from fhirsvc import create_app
    from fhirsvc.config import Config
    tmp = tmp_path_factory.mktemp("login")
    app = create_app(Config(database_url=db_url, auth="smart", examples_dir=tmp,
                            auth_signing_key=str(tmp / "key.pem"), audit_flush_interval=0.05))
    app.testing = False
    runtime = app.extensions["fhirsvc.runtime"]
    load_examples(runtime)
    users = runtime.services.users
    users.add("ann", PASSWORD, "user/*.rs")
    users.add("lab", PASSWORD, "user/Observation.rs user/DiagnosticReport.rs")
    users.add("boss", PASSWORD, "user/*.rs fhirsvc/admin")
    yield app
    runtime.close()


@pytest.fixture(scope="module")
def srt(smart_pages):
    return smart_pages.extensions["fhirsvc.runtime"]


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(web, name: str, password: str = PASSWORD, next_: str | None = None):
    token = csrf(web.get("/ui/login").get_data(as_text=True))
    data = {"name": name, "password": password, "csrf_token": token}
    if next_:
        data["next"] = next_
    return web.post("/ui/login", data=data)


def audit_rows(runtime, **equals):
    runtime.services.audit.log.flush()
    with runtime.db.unit_of_work() as uow:
        return uow.audit.find(equals=equals, count=100)[1]


def test_login_sets_a_safe_session_cookie_and_the_pages_open(smart_pages, srt):
    web = smart_pages.test_client()
    assert web.get("/ui/").status_code == 401     # not a browser: the API's answer, as HTML
    r = web.get("/ui/cohort", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 303 and "/ui/login?next=/ui/cohort" in r.headers["Location"]
    r = log_in(web, "ann", next_="/ui/cohort")
    assert r.status_code == 303 and r.headers["Location"].endswith("/ui/cohort")
    cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("fhirsvc_session=")][0]
    for part in ("HttpOnly", "SameSite=Lax", "Path=/ui", "Max-Age="):
        assert part in cookie, cookie
    assert "Secure" not in cookie                 # plain http here; https below
    html = web.get("/ui/").get_data(as_text=True)
    assert "Logged in as <strong>ann</strong>" in html
    pid = patient_id(srt, "A-001")
    case = web.get(f"/ui/patients/{pid}")
    assert case.status_code == 200 and 'data-kind="paraspinal-calcinosis"' in case.get_data(as_text=True)
    rows = audit_rows(srt, interaction="login", user_id="ann")
    assert [r.status for r in rows] == [200]
    # access records of the pages name the person
    assert audit_rows(srt, door="ui", user_id="ann", resource_id=pid)


def test_secure_cookie_over_https_and_no_open_redirect(smart_pages):
    web = smart_pages.test_client()
    page = web.get("/ui/login", base_url="https://localhost")
    token = csrf(page.get_data(as_text=True))
    r = web.post("/ui/login", base_url="https://localhost",
                 data={"name": "ann", "password": PASSWORD, "csrf_token": token,
                       "next": "//evil.example/ui/"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/ui/")
    assert "evil" not in r.headers["Location"]
    cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("fhirsvc_session=")][0]
    assert "Secure" in cookie


def test_wrong_password_is_refused_audited_and_rate_limited(smart_pages, srt):
    web = smart_pages.test_client()
    r = log_in(web, "lab", "not the password")
    assert r.status_code == 401 and "not right" in r.get_data(as_text=True)
    # the same answer for a user that does not exist
    r = log_in(web, "nobody", "not the password")
    assert r.status_code == 401 and "not right" in r.get_data(as_text=True)
    assert [x.status for x in audit_rows(srt, interaction="login", user_id="lab")] == [401]
    for _ in range(4):
        assert log_in(web, "lab", "still wrong").status_code == 401
    r = log_in(web, "lab")                        # the right password, past the limit
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Too many failed logins" in r.get_data(as_text=True)
    assert 429 in [x.status for x in audit_rows(srt, interaction="login", user_id="lab")]
    with srt.db.unit_of_work(write=True) as uow:    # the window passes
        uow.users.forget_failures("user:lab")
        uow.commit()
    assert log_in(web, "lab").status_code == 303


def test_every_post_form_needs_its_csrf_token(smart_pages):
    web = smart_pages.test_client()
    # the login form without the token of its nonce cookie
    r = web.post("/ui/login", data={"name": "ann", "password": PASSWORD})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    log_in(web, "ann")
    page = web.get("/ui/validate").get_data(as_text=True)
    token = csrf(page)
    body = '{"resourceType": "Basic", "code": {"text": "x"}}'
    assert web.post("/ui/validate", data={"resource": body}).status_code == 400
    assert web.post("/ui/validate", data={"resource": body, "csrf_token": "x" + token}) \
        .status_code == 400
    r = web.post("/ui/validate", data={"resource": body, "csrf_token": token})
    assert r.status_code == 200 and "Result: Basic" in r.get_data(as_text=True)
    # the logout form in the header carries it too
    assert re.search(r'action="/ui/logout">\s*<input type="hidden" name="csrf_token"', page)


def test_the_users_scopes_are_enforced_like_a_tokens(smart_pages, srt):
    lab = smart_pages.test_client()
    log_in(lab, "lab")
    pid = patient_id(srt, "A-001")
    r = lab.get(f"/ui/patients/{pid}")
    assert r.status_code == 403 and r.mimetype == "text/html"
    assert "user/Patient" in r.get_data(as_text=True) or "scope" in r.get_data(as_text=True)
    assert lab.get("/ui/feeds").status_code == 403         # fhirsvc/admin needed
    # an HL7 v2 message is merged with the stored patient: not for a caller who may not read it
    from pathlib import Path
    message = (Path(__file__).resolve().parents[2] / "examples" / "hl7v2" /
               "case-a-admission.adt-a01.hl7").read_text()
    token = csrf(lab.get("/ui/validate").get_data(as_text=True))
    r = lab.post("/ui/validate", data={"resource": message, "csrf_token": token})
    assert r.status_code == 403 and "Insufficient scope" in r.get_data(as_text=True)
    ann = smart_pages.test_client()
    log_in(ann, "ann")
    token = csrf(ann.get("/ui/validate").get_data(as_text=True))
    r = ann.post("/ui/validate", data={"resource": message, "csrf_token": token})
    assert r.status_code == 200 and "The converted transaction Bundle" in r.get_data(as_text=True)
    boss = smart_pages.test_client()
    log_in(boss, "boss")
    assert boss.get("/ui/feeds").status_code == 200
    assert ann.get("/ui/feeds").status_code == 403


def test_logout_ends_the_session_even_a_copied_cookie(smart_pages):
    web = smart_pages.test_client()
    r = log_in(web, "ann")
    stolen = re.match(r"fhirsvc_session=([^;]+)", [c for c in r.headers.getlist("Set-Cookie")
                                                   if c.startswith("fhirsvc_session=")][0])
    token = csrf(web.get("/ui/").get_data(as_text=True))
    assert web.post("/ui/logout", data={}).status_code == 400      # no CSRF token
    r = web.post("/ui/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/ui/login")
    assert web.get("/ui/").status_code == 401
    other = smart_pages.test_client()
    other.set_cookie("fhirsvc_session", stolen.group(1), path="/ui")
    assert other.get("/ui/").status_code == 401


def test_a_forged_or_tampered_cookie_is_no_session(smart_pages, srt):
    from fhirsvc.security.users import Sessions, User
    web = smart_pages.test_client()
    forged, _ = Sessions(b"not the server's secret").issue(User("boss", frozenset()))
    web.set_cookie("fhirsvc_session", forged, path="/ui")
    assert web.get("/ui/").status_code == 401
    r = log_in(smart_pages.test_client(), "lab")
    good = re.match(r"fhirsvc_session=([^;]+)", [c for c in r.headers.getlist("Set-Cookie")
                                                 if c.startswith("fhirsvc_session=")][0])
    tampered = good.group(1).replace("lab|", "boss|", 1)
    web.set_cookie("fhirsvc_session", tampered, path="/ui")
    assert web.get("/ui/feeds").status_code == 401


def test_removed_user_loses_the_session(smart_pages, srt):
    users = srt.services.users
    users.add("temp", PASSWORD, "user/*.rs")
    web = smart_pages.test_client()
    log_in(web, "temp")
    assert web.get("/ui/").status_code == 200
    assert users.remove("temp")
    assert web.get("/ui/").status_code == 401


def test_login_is_not_offered_with_auth_off(web_off):
    assert web_off.get("/ui/login").status_code == 404
    html = web_off.get("/ui/validate").get_data(as_text=True)
    assert "csrf_token" not in html and "Log in" not in html


@pytest.fixture()
def web_off(app):
    return app.test_client()


def test_users_admin_api(smart_pages, srt):
    from tests.security.smart_support import mint
    web = smart_pages.test_client()
    base = "http://localhost/fhir"
    admin = {"Authorization": "Bearer " + mint(srt, "fhirsvc/admin", aud=base)}
    other = {"Authorization": "Bearer " + mint(srt, "system/*.rs", aud=base)}
    assert web.get("/auth/users").status_code == 401
    assert web.get("/auth/users", headers=other).status_code == 403
    listed = web.get("/auth/users", headers=admin).get_json()
    assert {"ann", "lab", "boss"} <= {u["name"] for u in listed}
    assert all("password" not in str(u) and "scrypt" not in str(u) for u in listed)
    r = web.post("/auth/users", headers=admin, json={"name": "api-user", "password": PASSWORD,
                                                      "scope": "user/Patient.rs"})
    assert r.status_code == 201 and r.get_json()["scope"] == "user/Patient.rs"
    assert log_in(smart_pages.test_client(), "api-user").status_code == 303
    bad = web.post("/auth/users", headers=admin, json={"name": "x", "password": PASSWORD,
                                                        "scope": "system/*.rs"})
    assert bad.status_code == 400 and "user/ scopes" in bad.get_data(as_text=True)
    short = web.post("/auth/users", headers=admin, json={"name": "y", "password": "short",
                                                          "scope": "user/*.rs"})
    assert short.status_code == 400
    assert web.delete("/auth/users/api-user", headers=admin).status_code == 204
    assert web.delete("/auth/users/api-user", headers=admin).status_code == 404


def test_users_cli(db_url, tmp_path, capsys):
    from fhirsvc.cli import main
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    db = ["--database-url", db_url]
    assert main(["users", "add", "cli-user", *db, "--scope", "user/*.rs",
                 "--password-file", str(pw)]) == 0
    assert main(["users", "list", *db]) == 0
    assert "cli-user  scope='user/*.rs'" in capsys.readouterr().out
    assert main(["users", "add", "cli-bad", *db, "--scope", "system/*.rs",
                 "--password-file", str(pw)]) == 2
    assert "user/ scopes" in capsys.readouterr().err
    # the password file's content (without its line break) is the password
    from fhirsvc.security.users import verify_password
    from fhirsvc.storage import Database
    database = Database(db_url)
    try:
        with database.unit_of_work() as uow:
            stored = uow.users.get("cli-user").password_hash
        assert stored.startswith("scrypt$") and PASSWORD not in stored
        assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "\n", stored)
    finally:
        database.dispose()
    assert main(["users", "remove", "cli-user", *db]) == 0
    assert main(["users", "remove", "cli-user", *db]) == 1


def test_every_control_of_the_login_pages_has_a_label(smart_pages):
    web = smart_pages.test_client()
    html = web.get("/ui/login").get_data(as_text=True)
    log_in(web, "ann")
    pages = [html] + [web.get(p).get_data(as_text=True) for p in ("/ui/validate", "/ui/logout")]
    for page in pages:
        labelled = set(re.findall(r'<label for="([^"]+)"', page))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
            if 'type="checkbox"' in tag or 'type="hidden"' in tag:
                continue
            assert re.search(r'id="([^"]+)"', tag).group(1) in labelled, tag
    assert 'autocomplete="current-password"' in html and 'autocomplete="username"' in html
