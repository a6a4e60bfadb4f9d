"""The remote HTTP client against a fault-injecting local server: retries with backoff on
connection errors, 429 and 503 honouring Retry-After, timeouts, no repeat of a POST that may
have been applied, and no URL outside the configured base."""
from __future__ import annotations

import email.utils
import time

import pytest

from fhirsvc.remote import (Endpoint, MaybeApplied, NotAllowed, RemoteClient, RemoteError,
                            retry_after)
from tools.fake_remote import FakeRemote, Reply, free_port_unused


@pytest.fixture()
def srv():
    s = FakeRemote().start()
    s.route("GET", "/Patient", lambda r: Reply(200, {"resourceType": "Bundle",
                                                     "type": "searchset"}))
    s.route("POST", "", lambda r: Reply(200, {"resourceType": "Bundle",
                                              "type": "transaction-response"}))
    yield s
    s.stop()


def client(base, sleeps, **settings):
    settings.setdefault("timeout", [1, 0.5])
    ep = Endpoint.from_settings("t", base, settings)
    return RemoteClient(ep, sleep=sleeps.append, backoff=0.01)


def test_429_and_503_are_retried_after_retry_after(srv):
    srv.faults["GET /fhir/Patient"] = ["429:7", "503:3", "503"]
    sleeps = []
    body = client(srv.base, sleeps).get_json("Patient")
    assert body["type"] == "searchset"
    # Retry-After seconds honoured; the third (no header) falls back to the backoff
    assert sleeps == [7.0, 3.0, 0.04]
    assert len(srv.requests("GET", "/Patient")) == 4


def test_retry_after_is_capped_and_read_as_an_http_date():
    soon = email.utils.format_datetime(
        __import__("datetime").datetime.fromtimestamp(time.time() + 30,
                                                      __import__("datetime").timezone.utc),
        usegmt=True)
    assert 28 <= retry_after(soon) <= 31
    assert retry_after("soon") is None and retry_after(None) is None


def test_retry_after_beyond_the_cap_waits_the_cap(srv):
    srv.faults["GET /fhir/Patient"] = ["429:3600"]
    sleeps = []
    client(srv.base, sleeps, max_retry_after=5).get_json("Patient")
    assert sleeps == [5.0]


def test_a_dropped_connection_is_retried_for_get_with_exponential_backoff(srv):
    srv.faults["GET /fhir/Patient"] = ["drop", "drop", "cut"]
    sleeps = []
    assert client(srv.base, sleeps).get_json("Patient")["type"] == "searchset"
    assert sleeps == [0.01, 0.02, 0.04]


def test_a_stalled_get_times_out_and_gives_up_after_the_retries(srv):
    srv.faults["GET /fhir/Patient"] = ["stall"] * 3
    sleeps = []
    t0 = time.monotonic()
    with pytest.raises(RemoteError, match="read timeout"):
        client(srv.base, sleeps, max_retries=2).get_json("Patient")
    assert len(srv.requests("GET", "/Patient")) == 3
    assert time.monotonic() - t0 < 5  # 3 x 0.5 s read timeout, not the server's stall


def test_a_post_that_may_have_been_applied_is_not_repeated(srv):
    for fault in ("drop", "stall", "cut"):
        srv.faults["POST /fhir"] = [fault]
        before = len(srv.requests("POST", ""))
        with pytest.raises(MaybeApplied, match="may have been applied"):
            client(srv.base, []).post_json("", {"resourceType": "Bundle"})
        assert len(srv.requests("POST", "")) == before + 1, fault


def test_a_post_refused_with_429_or_never_connected_is_retried(srv):
    srv.faults["POST /fhir"] = ["429:1"]
    sleeps = []
    resp = client(srv.base, sleeps).post_json("", {"resourceType": "Bundle"})
    assert resp.status_code == 200 and sleeps == [1.0]
    # nothing listens: the request was never sent, so even a POST is retried
    sleeps = []
    with pytest.raises(RemoteError, match="connection error"):
        client(f"http://127.0.0.1:{free_port_unused()}/fhir", sleeps,
               max_retries=2).post_json("", {})
    assert sleeps == [0.01, 0.02]


def test_only_urls_under_the_configured_base_are_fetched(srv):
    c = client(srv.base, [])
    for url in ("http://169.254.169.254/latest/meta-data", srv.origin + "/admin",
                srv.base + "/../admin", "https://" + srv.base.split("://")[1] + "/Patient",
                srv.base + "x/Patient"):
        with pytest.raises(NotAllowed):
            c.get_json(url)
    assert not srv.requests("GET", "/admin")
    assert c.get_json(srv.base + "/Patient")["type"] == "searchset"


def test_a_rate_limit_spaces_requests(srv):
    sleeps = []
    c = client(srv.base, sleeps, rate_limit=10)
    for _ in range(3):
        c.get_json("Patient")
    # (sleeps are recorded, not slept: the second waits for its slot 0.2 s after the first)
    assert len(sleeps) == 2 and 0 < sleeps[0] <= 0.1 and 0 < sleeps[1] <= 0.2


def test_tls_is_verified_with_the_configured_ca_bundle():
    c = RemoteClient(Endpoint.from_settings("t", "https://x.example/fhir",
                                            {"ca_bundle": "/nonexistent/ca.pem"}))
    assert c.session.verify == "/nonexistent/ca.pem"
    assert RemoteClient(Endpoint.from_settings("t", "https://x.example/fhir", {})
                        ).session.verify is True


def test_an_error_answer_carries_the_remote_operation_outcome(srv):
    srv.route("GET", "/Nope", lambda r: Reply(400, {"resourceType": "OperationOutcome",
                                                    "issue": [{"severity": "error",
                                                               "code": "invalid",
                                                               "diagnostics": "bad param"}]}))
    with pytest.raises(RemoteError, match="bad param") as info:
        client(srv.base, []).get_json("Nope")
    assert info.value.status == 400 and info.value.body["resourceType"] == "OperationOutcome"
