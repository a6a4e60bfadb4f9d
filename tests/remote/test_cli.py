"""`fhirsvc endpoints add|list`, `pull ... --wait` and `push ... --wait` against the second
fhirsvc process, on a database of the test's backend; `pull` with SMART Backend Services
against the verifying local token server."""
from __future__ import annotations

import json

from fhirsvc import cli
from tools.fake_remote import Reply, SmartServer, searchset

from .test_smart import keypair


def fhirsvc(capsys, db_url, *argv) -> tuple[int, str, str]:
    code = cli.main([argv[0], "--database-url", db_url, *argv[1:]])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_endpoints_add_list_and_pull_wait(capsys, db_url, remote_fhir, tmp_path):
    code, out, err = fhirsvc(capsys, db_url, "endpoints", "add", "cli-remote", remote_fhir,
                             "--token", "s3cret-token", "--settings",
                             '{"types": ["Patient"], "page_size": 5}')
    assert code == 0, err
    assert "cli-remote" in out and "bearer" in out
    code, out, err = fhirsvc(capsys, db_url, "endpoints", "list")
    listed = [json.loads(line) for line in out.splitlines()]
    mine = next(e for e in listed if e["name"] == "cli-remote")
    assert mine["auth"] == {"type": "bearer"} and "s3cret" not in out
    code, out, err = fhirsvc(capsys, db_url, "pull", "cli-remote", "--wait")
    assert code == 0, err
    assert "pulled from cli-remote" in out and "0 problems" in out
    code, out, err = fhirsvc(capsys, db_url, "pull", "cli-remote", "--search", "Nope?x=1")
    assert code == 2 and "Type?query" in err
    code, out, err = fhirsvc(capsys, db_url, "pull", "no-such-endpoint")
    assert code == 2 and "No remote endpoint named" in err
    code, out, err = fhirsvc(capsys, db_url, "endpoints", "add", "bad name!", remote_fhir)
    assert code == 2 and "endpoint name" in err
    code, out, err = fhirsvc(capsys, db_url, "endpoints", "add", "x", "ftp://host/fhir")
    assert code == 2 and "http(s) URL" in err


def test_pull_with_smart_backend_services(capsys, db_url, tmp_path):
    private, public, alg = keypair("ES384")
    srv = SmartServer(public, "fhirsvc-cli", alg).start()
    patient = {"resourceType": "Patient", "id": "smart-1", "gender": "female"}
    srv.route("GET", "/Patient", lambda r: Reply(200, searchset([patient])))
    try:
        jwk = tmp_path / "key.jwk"
        jwk.write_text(json.dumps({"keys": [public, private]}))  # a JWK Set: the private one
        code, out, err = fhirsvc(capsys, db_url, "endpoints", "add", "smart-remote", srv.base,
                                 "--smart-client-id", "fhirsvc-cli", "--smart-jwk", str(jwk),
                                 "--scope", "system/Patient.read", "--settings",
                                 '{"types": ["Patient"]}')
        assert code == 0, err
        code, out, err = fhirsvc(capsys, db_url, "endpoints", "list")
        assert private["d"] not in out
        code, out, err = fhirsvc(capsys, db_url, "pull", "smart-remote", "--wait")
        assert code == 0, err
        assert "1 stored" in out
        assert srv.assertions and srv.assertions[0]["iss"] == "fhirsvc-cli"
        assert all(r.headers.get("authorization", "").startswith("Bearer ")
                   for r in srv.requests("GET", "/Patient"))
    finally:
        srv.stop()
