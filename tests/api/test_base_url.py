"""Location, fullUrl and paging links do not follow an arbitrary client Host header: only
allowed hosts, FHIRSVC_PUBLIC_BASE_URL, or forwarded headers from declared proxies."""
from __future__ import annotations

import json

import pytest

from fhirsvc import create_app
from fhirsvc.config import Config

FHIR = "application/fhir+json"


def _location(client, **headers) -> str:
    resp = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient"}),
                       content_type=FHIR, headers=headers)
    assert resp.status_code == 201
    return resp.headers["Location"]


def test_an_unknown_host_header_does_not_choose_the_links(client):
    assert _location(client).startswith("http://localhost/fhir/Patient/")
    loc = _location(client, Host="evil.example")
    assert loc.startswith("http://127.0.0.1:8080/fhir/Patient/"), loc
    bundle = client.get("/fhir/Patient?_count=1", headers={"Host": "evil.example"}).get_json()
    assert all("evil" not in link["url"] for link in bundle["link"])
    assert all("evil" not in e["fullUrl"] for e in bundle["entry"])
    # forwarded headers are ignored without declared proxies
    loc = _location(client, **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert "evil" not in loc and loc.startswith("http://")


@pytest.fixture(scope="module")
def proxied(config):
    app = create_app(config.with_(trusted_proxies=1, allowed_hosts="fhir.example.org"))
    app.testing = False
    yield app.test_client()
    app.extensions["fhirsvc.runtime"].close()


def test_allowed_hosts_and_trusted_proxies(proxied):
    assert _location(proxied, Host="fhir.example.org").startswith(
        "http://fhir.example.org/fhir/")
    loc = _location(proxied, **{"X-Forwarded-Host": "fhir.example.org",
                                "X-Forwarded-Proto": "https"})
    assert loc.startswith("https://fhir.example.org/fhir/"), loc


def test_public_base_url_wins(db_url, tmp_path):
    app = create_app(Config(database_url=db_url, examples_dir=tmp_path,
                            public_base_url="https://registry.example.org/r4/"))
    try:
        loc = _location(app.test_client(), Host="evil.example")
        assert loc.startswith("https://registry.example.org/r4/Patient/")
    finally:
        app.extensions["fhirsvc.runtime"].close()
