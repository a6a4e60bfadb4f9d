"""An app with FHIRSVC_AUTH=smart on each database, seeded through the services (trusted
door), and a helper that sends requests with a token of given scopes."""
from __future__ import annotations

import pytest

from fhirsvc import create_app
from fhirsvc.config import Config

from .smart_support import mint

BASE = "http://localhost/fhir"
TOKEN_URL = "http://localhost/auth/token"

SEED = [
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "One"}]},
    {"resourceType": "Patient", "id": "p2", "name": [{"family": "Two"}]},
    {"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Doc"}]},
    {"resourceType": "Observation", "id": "o1", "status": "final",
     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                               "observation-category", "code": "laboratory"}]}],
     "code": {"text": "lab"}, "subject": {"reference": "Patient/p1"},
     "performer": [{"reference": "Practitioner/pr1"}]},
    {"resourceType": "Observation", "id": "o2", "status": "final",
     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                               "observation-category", "code": "vital-signs"}]}],
     "code": {"text": "vital"}, "subject": {"reference": "Patient/p2"}},
    {"resourceType": "Observation", "id": "o3", "status": "final",
     "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                               "observation-category", "code": "vital-signs"}]}],
     "code": {"text": "vital"}, "subject": {"reference": "Patient/p1"}},
    {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
     "code": {"text": "SSc"}},
]


@pytest.fixture(scope="module")
def smart_app(db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smart")
    config = Config(database_url=db_url, examples_dir=tmp, auth="smart",
                    auth_signing_key=str(tmp / "signing.pem"), audit_flush_interval=0.05,
                    client_classes='{"tiny": {"rate": 0.6, "burst": 2, "max_entries": 2, '
                                   '"max_bytes": 2000}, '
                                   '"standard": {"rate": 1e6, "burst": 100000}}')
    app = create_app(config)
    app.testing = False
    rt = app.extensions["fhirsvc.runtime"]
    ctx = rt.context()
    for res in SEED:
        rt.services.resources.update(ctx, res["resourceType"], res["id"], res)
    yield app
    rt.close()


@pytest.fixture(scope="module")
def smart_runtime(smart_app):
    return smart_app.extensions["fhirsvc.runtime"]


class Caller:
    """Requests with a bearer token of the given scopes (patient context optional)."""

    def __init__(self, app, runtime):
        self.client = app.test_client()
        self.runtime = runtime

    def token(self, scope: str, patient: str | None = None, **kw) -> str:
        return mint(self.runtime, scope, aud=BASE, patient=patient, **kw)

    def __call__(self, method: str, path: str, scope: str | None = None,
                 patient: str | None = None, token: str | None = None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if token is None and scope is not None:
            token = self.token(scope, patient)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if "json" in kw:
            headers.setdefault("Content-Type", "application/fhir+json")
        return self.client.open("/fhir" + path if not path.startswith("/auth") else path,
                                method=method, headers=headers, **kw)


@pytest.fixture()
def call(smart_app, smart_runtime):
    return Caller(smart_app, smart_runtime)
