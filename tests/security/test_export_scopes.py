"""Scopes on the doors that hand whole types out (Bulk Data and registry exports) and on the
HL7 v2 message log: a limited or missing scope is a 403 naming what is needed; a polling URL
belongs to the client that started the export."""
from __future__ import annotations

import pytest

ASYNC = {"Prefer": "respond-async"}

CASES = [
    ("/$export", "system/*.rs", None, 202),
    ("/$export?_type=Patient", "system/Patient.rs", None, 202),
    ("/$export?_type=Patient,Observation", "system/Patient.rs", None, 403),
    ("/$export", "patient/*.rs", "p1", 403),                       # limited: refused
    ("/$export?_type=Observation", "system/Observation.rs?category=laboratory", None, 403),
    ("/$registry-export?format=csv", "system/*.rs", None, 200),
    ("/$registry-export?format=csv", "patient/*.rs", "p1", 403),
    ("/$registry-export?format=csv", "system/Patient.rs", None, 403),
    ("/$registry-export?format=redcap-dictionary", "system/Patient.rs", None, 200),
]


@pytest.mark.parametrize("path,scope,patient,expected", CASES,
                         ids=[f"{p} [{s}]->{e}" for p, s, _, e in CASES])
def test_export_needs_unrestricted_read(call, path, scope, patient, expected):
    resp = call("GET", path, scope, patient, headers=ASYNC if "$export" in path else {})
    assert resp.status_code == expected, resp.get_data(as_text=True)[:400]
    if expected == 403:
        issue = resp.get_json()["issue"][0]
        assert issue["code"] == "forbidden"
        assert "scope" in str(issue)


def test_export_status_belongs_to_its_client(call, smart_runtime):
    kick = call("GET", "/$export?_type=Patient", "system/Patient.rs", headers=ASYNC)
    assert kick.status_code == 202, kick.get_data(as_text=True)
    status_path = kick.headers["Content-Location"].split("/fhir", 1)[1]
    # the same client (the minted tokens share one client id) may poll; another may not
    assert call("GET", status_path, "system/Patient.rs").status_code in (200, 202)
    other = call.token("system/*.rs", client="another-client")
    resp = call("GET", status_path, token=other)
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert call("DELETE", status_path, token=other).status_code == 403

def test_hl7v2_message_log_needs_admin(smart_runtime):
    from dataclasses import replace

    from fhirsvc.outcomes import OperationOutcomeError
    ctx = smart_runtime.context(door="rest")
    limited = replace(ctx, enforce=True, scopes=frozenset({"system/*.cruds"}), caller="c1")
    with pytest.raises(OperationOutcomeError) as exc:
        smart_runtime.services.hl7v2.messages(limited)
    assert exc.value.status == 403
    admin = replace(limited, scopes=frozenset({"fhirsvc/admin"}))
    assert smart_runtime.services.hl7v2.messages(admin).total >= 0
