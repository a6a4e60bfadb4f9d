"""Rate limits shared by every server process (SQLite and PostgreSQL): the bucket is a row of
`rate_buckets` taken from with one statement, so two app processes on one database let a
client through at its rate once, not twice; tokens are leased in blocks (one write per N
requests) within the bound security/limits.py states."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text

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
    assert [g for g, _ in takes] == [1, 1, 0]
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
    assert half == (0, pytest.approx(0.5))
    assert whole[0] == 1 and whole[1] == pytest.approx(0.6, abs=1e-6)
    assert back[0] == 0
    assert other == (1, pytest.approx(1.0))


def test_the_statement_leases_whole_tokens_up_to_what_is_asked(database):
    with database.unit_of_work(write=True) as uow:
        first = uow.rate_limits.take("l1", 10.0, 1e-6, 1_000_000, want=4)    # new bucket
        second = uow.rate_limits.take("l1", 10.0, 1e-6, 1_000_000, want=4)
        # 2 whole tokens left (of 2.0): asked for 4, granted 2, none left
        third = uow.rate_limits.take("l1", 10.0, 1e-6, 1_000_000, want=4)
        # 2.7 s later 2.7 tokens: 2 granted (whole tokens only), 0.7 left
        later = uow.rate_limits.take("l1", 10.0, 1e-6, 3_700_000, want=4)
        empty = uow.rate_limits.take("l1", 10.0, 1e-6, 3_700_000, want=4)
        # a lease is never larger than the burst
        capped = uow.rate_limits.take("l2", 3.0, 1e-6, 1_000_000, want=50)
        uow.commit()
    assert first == (4, pytest.approx(6.0)) and second == (4, pytest.approx(2.0))
    assert third == (2, pytest.approx(0.0, abs=1e-9))
    assert later == (2, pytest.approx(0.7, abs=1e-6))
    assert empty == (0, pytest.approx(0.7, abs=1e-6))
    assert capped == (3, pytest.approx(0.0, abs=1e-9))


def test_leases_spend_locally_and_stay_within_the_bucket(database):
    """Two limiters stand for two processes: a busy client costs one write per lease, and
    together they never let through more than the bucket holds."""
    now, local = [100.0], [0.0]
    klass = ClientClass("t", rate=60.0, burst=20, max_bytes=1, max_entries=1)
    a, b = (SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0], lease=8,
                              lease_seconds=1.0, local_clock=lambda: local[0])
            for _ in range(2))
    client = f"lease-{uuid.uuid4().hex[:8]}"
    waits = [(a if i % 2 else b).take(client, klass) for i in range(40)]
    granted = sum(1 for w in waits if w == 0.0)
    assert granted == 20               # the burst once over both, none beyond it
    # leases of 1, 2, 4, 8 ... per process, and a refusal is remembered until the bucket can
    # have refilled a token: far fewer writes than requests
    assert a.writes + b.writes <= 10, (a.writes, b.writes)
    assert a.take(client, klass) == pytest.approx(1.0)   # refused locally: Retry-After 1 s
    local[0] += 5.0
    now[0] += 5.0                      # 5 tokens refilled at one a second
    # asks for its lease of 8, gets the 5 whole tokens there are: this request and 4 held
    assert a.take(client, klass) == 0.0 and a._leases[client][0] == 4
    assert b.take(client, klass) > 0   # the other process: nothing left in the bucket


def test_an_expired_lease_is_never_spent(database):
    now, local = [100.0], [0.0]
    klass = ClientClass("t", rate=60.0, burst=4, max_bytes=1, max_entries=1)
    a = SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0], lease=4,
                          lease_seconds=1.0, local_clock=lambda: local[0])
    client = f"exp-{uuid.uuid4().hex[:8]}"
    assert [a.take(client, klass) for _ in range(2)] == [0.0, 0.0]  # leases of 1, then 2
    assert a._leases[client][0] == 1                               # one token held
    local[0] += 1.5                    # held past its lease: dropped, the bucket decides
    assert a.take(client, klass) == 0.0                             # the 4th token
    assert a._leases[client][2] == 2   # it expired unspent: the next lease is halved (4 -> 2)
    # the expired token went back to the bucket, not to a request: 3 let through so far, so
    # the burst of 4 has exactly one more
    assert a.take(client, klass) == 0.0
    assert a.take(client, klass) > 0   # bucket empty (no refill: `now` stood still)


def test_two_limiters_share_one_bucket(database):
    now = [10.0]
    klass = ClientClass("t", rate=60.0, burst=3, max_bytes=1, max_entries=1)
    a = SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0],
                          local_clock=lambda: now[0])
    b = SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0],
                          local_clock=lambda: now[0])
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
           "FHIRSVC_CLIENT_CLASSES": '{"limited": {"rate": 1, "burst": 4}, '
                                     '"roomy": {"rate": 1, "burst": 200}}'}
    upgrade(db_url)
    servers = []
    try:
        for _ in range(2):
            servers.append(Server(db_url, tmp, workers=1, env=env).start())
        yield key, servers
    finally:
        for s in servers:
            s.stop() if hasattr(s, "stop") else s.kill()


def token(key, client: str, klass: str = "limited") -> str:
    now = int(time.time())
    return key.issue({"iss": PUBLIC.rsplit("/fhir", 1)[0] + "/auth", "sub": client,
                      "aud": PUBLIC, "exp": now + 300, "iat": now, "nbf": now,
                      "jti": uuid.uuid4().hex, "client_id": client,
                      "scope": "system/Patient.rs", "client_class": klass})


def test_two_processes_allow_the_rate_once(two_servers):
    key, servers = two_servers
    client = f"lim-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {token(key, client)}"}

    def get(i):
        return requests.get(servers[i % 2].base + "/Patient?_count=1", headers=headers,
                            timeout=30)
    # 10 requests, both processes at once: the burst of 4 is let through once overall (at one
    # token a minute, the refill during the test is well under one more); tokens leased by a
    # process and not spent within a second (a slow machine) are lost, so fewer may pass,
    # never more
    with ThreadPoolExecutor(4) as pool:
        statuses = [r.status_code for r in pool.map(get, range(10))]
    assert 2 <= statuses.count(200) <= 4, statuses
    assert statuses.count(200) + statuses.count(429) == 10
    refused = get(0)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # each process answered some of them: the buckets are not per process
    other = {"Authorization": f"Bearer {token(key, client + '-b')}"}
    for s in servers:
        assert requests.get(s.base + "/Patient?_count=1", headers=other,
                            timeout=30).status_code == 200


def test_two_processes_lease_blocks_of_the_shared_bucket(two_servers, db_url):
    """A busy client on two real app processes: tokens are taken from the shared row in
    leases of several (one write per block), and the row has paid for every request let
    through, at most a lease's worth more per process."""
    key, servers = two_servers
    client = f"blk-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {token(key, client, 'roomy')}"}
    statuses = [requests.get(servers[i % 2].base + "/Patient?_count=1", headers=headers,
                             timeout=30).status_code for i in range(40)]
    assert statuses == [200] * 40
    db = Database(db_url)
    try:
        with db.unit_of_work() as uow:
            tokens, granted = uow.conn.execute(text(
                "SELECT tokens, granted FROM rate_buckets WHERE bucket = :b"), {"b": client}).one()
    finally:
        db.dispose()
    taken = 200 - tokens                 # burst 200, one token a minute: no refill to speak of
    assert 40 <= taken <= 40 + 2 * (10 - 1) + 1, taken
    assert granted > 1                   # the last write leased a block, not one token


@pytest.mark.parametrize("pattern", ["one process", "alternating", "random", "moves"])
@pytest.mark.parametrize("arrivals", ["even", "lumpy"])
def test_a_client_under_its_rate_is_never_refused(database, pattern, arrivals):
    """The mixed load's clients (issue 16): each sends 9 requests a second, under its 10, to
    two processes leasing up to 10 tokens for a second, for two simulated minutes, evenly
    spaced or at random (exponential) gaps. Whatever way its requests spread over the
    processes, none may be refused."""
    import random
    now = [1000.0]
    klass = ClientClass("standard", rate=600.0, burst=60, max_bytes=1, max_entries=1)
    procs = [SharedRateLimiter(database, {"standard": klass}, clock=lambda: now[0], lease=10,
                               lease_seconds=1.0, local_clock=lambda: now[0])
             for _ in range(2)]
    client = f"under-{pattern.replace(' ', '-')}-{uuid.uuid4().hex[:8]}"
    rnd = random.Random(16)
    refused = []
    for i in range(9 * 120):
        now[0] += 1 / 9 if arrivals == "even" else rnd.expovariate(9)
        which = {"one process": 0, "alternating": i % 2, "random": rnd.randrange(2),
                 "moves": (i // 90) % 2}[pattern]        # "moves": 10 s on each in turn
        if procs[which].take(client, klass) > 0:
            refused.append(i)
    assert refused == []


def test_a_refusal_of_one_thread_does_not_shadow_tokens_another_leased(database, monkeypatch):
    """Two threads of one process lease for the same client at once: one gets the bucket's
    last tokens, the other is refused. The tokens the first holds are the client's, paid for
    from the bucket: the next request spends one instead of being refused by the other
    thread's remembered refusal (the client is within its burst)."""
    import fhirsvc.storage.rate_limits as rl
    now = [100.0]
    klass = ClientClass("t", rate=60.0, burst=3, max_bytes=1, max_entries=1)
    a = SharedRateLimiter(database, {"t": klass}, clock=lambda: now[0], lease=2,
                          lease_seconds=1.0, local_clock=lambda: now[0])
    client = f"race-{uuid.uuid4().hex[:8]}"
    assert a.take(client, klass) == 0.0          # a lease of 1: 2 tokens left in the bucket
    real, order = rl.take_now, []

    def interleaved(*args, **kw):
        out = real(*args, **kw)                  # thread 1's statement: the 2 tokens
        order.append(out[0])
        if len(order) == 1:                      # thread 2 runs while thread 1 is in here
            order.append(a.take(client, klass))
        return out
    monkeypatch.setattr(rl, "take_now", interleaved)
    assert a.take(client, klass) == 0.0          # thread 1: leased 2, one held
    assert order[0] == 2 and order[-1] > 0       # thread 2: the bucket was empty, refused
    monkeypatch.setattr(rl, "take_now", real)
    assert a._leases[client][0] == 1
    assert a.take(client, klass) == 0.0          # the held token: the burst's third request
    assert a.take(client, klass) > 0             # and nothing beyond the burst
