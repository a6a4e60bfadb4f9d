"""Rate limits shared by every server process (SQLite and PostgreSQL): the bucket is a row of
`rate_buckets` taken from with one statement, so two app processes on one database let a
client through at its rate once, not twice."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fhirsvc.security.limits import ClientClass, SharedRateLimiter, limiter, RateLimiter
from fhirsvc.security.tokens import SigningKey
from fhirsvc.storage import Database
from fhirsvc.storage.migrate import upgrade
from tools.server_process import Server

PUBLIC = "http://fhir.test/fhir"


@pytest.fixture(scope="module")
def database(db_url):
    upgrade(db_url)
    db = Database(db_url)
    yield db
    db.dispose()


def test_the_statement_refills_and_takes(database):
    with database.unit_of_work(write=True) as uow:
        takes = [uow.rate_limits.take("b1", 2.0, 1e-6, 1_000_000) for _ in range(3)]
        uow.commit()
    assert [g for g, _ in takes] == [True, True, False]
    assert takes[1][1] == pytest.approx(0.0)
    with database.unit_of_work(write=True) as uow:
        # half a second at one token a second: half a token, still refused
        half = uow.rate_limits.take("b1", 2.0, 1e-6, 1_500_000)
        # 1.1 s later 1.6 tokens: let through, 0.6 left
        whole = uow.rate_limits.take("b1", 2.0, 1e-6, 2_600_000)
        # a clock stepping back refills nothing
        back = uow.rate_limits.take("b1", 2.0, 1e-6, 100)
        # another bucket is its own
        other = uow.rate_limits.take("b2", 2.0, 1e-6, 100)
        uow.commit()
    assert half == (False, pytest.approx(0.5))
    assert whole[0] is True and whole[1] == pytest.approx(0.6, abs=1e-6)
    assert back[0] is False
    assert other == (True, pytest.approx(1.0))


def test_two_limiters_share_one_bucket(database):
    now = [10.0]
    klass = ClientClass("t", rate=60.0, burst=3, max_bytes=1, max_entries=1)
    a = SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0])
    b = SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0])
    waits = [(a if i % 2 else b).take("shared", klass) for i in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0] and all(w > 0 for w in waits[3:])
    assert waits[3] == pytest.approx(1.0)          # Retry-After: one token a second
    now[0] += 1.0
    assert a.take("shared", klass) == 0.0 and b.take("shared", klass) > 0


def test_store_setting():
    class C:
        rate_limit_store = "process"
    assert isinstance(limiter(C, None, {}), RateLimiter)
    C.rate_limit_store = "memcached"
    with pytest.raises(ValueError, match="database or process"):
        limiter(C, None, {})


# -- two real app processes on one database -------------------------------------------------
@pytest.fixture(scope="module")
def two_servers(db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shared-limits")
    key_path = tmp / "signing.pem"
    key = SigningKey.load_or_create(key_path)
    env = {"FHIRSVC_AUTH": "smart", "FHIRSVC_AUTH_SIGNING_KEY": str(key_path),
           "FHIRSVC_PUBLIC_BASE_URL": PUBLIC, "FHIRSVC_AUDIT_FLUSH_INTERVAL": "0.2",
           "FHIRSVC_CLIENT_CLASSES": '{"limited": {"rate": 1, "burst": 4}}'}
    upgrade(db_url)
    servers = []
    try:
        for _ in range(2):
            servers.append(Server(db_url, tmp, workers=1, env=env).start())
        yield key, servers
    finally:
        for s in servers:
            s.stop() if hasattr(s, "stop") else s.kill()


def token(key, client: str) -> str:
    now = int(time.time())
    return key.issue({"iss": PUBLIC.rsplit("/fhir", 1)[0] + "/auth", "sub": client,
                      "aud": PUBLIC, "exp": now + 300, "iat": now, "nbf": now,
                      "jti": uuid.uuid4().hex, "client_id": client,
                      "scope": "system/Patient.rs", "client_class": "limited"})


def test_two_processes_allow_the_rate_once(two_servers):
    key, servers = two_servers
    client = f"lim-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {token(key, client)}"}

    def get(i):
        return requests.get(servers[i % 2].base + "/Patient?_count=1", headers=headers,
                            timeout=30)
    # 10 requests, both processes at once: the burst of 4 is let through once overall (at one
    # token a minute, the refill during the test is well under one more)
    with ThreadPoolExecutor(4) as pool:
        statuses = [r.status_code for r in pool.map(get, range(10))]
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 6
    refused = get(0)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # each process answered some of them: the buckets are not per process
    other = {"Authorization": f"Bearer {token(key, client + '-b')}"}
    for s in servers:
        assert requests.get(s.base + "/Patient?_count=1", headers=other,
                            timeout=30).status_code == 200
