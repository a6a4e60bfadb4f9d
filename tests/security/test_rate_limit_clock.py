"""Rate limits (issue 16 follow-up), SQLite and PostgreSQL: the bucket refills by the database's
clock, never counts an interval twice, and over HTTP two app processes serving one client from
many threads never refuse it under its rate, refuse it over, and say when to come back."""
from __future__ import annotations

import math
import random
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import text

from fhirsvc.security.tokens import SigningKey
from fhirsvc.storage import Database
from fhirsvc.storage.migrate import upgrade
from fhirsvc.storage.rate_limits import take_now
from tools.server_process import Server

PUBLIC = "http://fhir.test/fhir"


@pytest.fixture(scope="module")
def database(db_url):
    upgrade(db_url)
    db = Database(db_url)
    yield db
    db.dispose()


def database_now_us(db) -> int:
    sql = ("SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
           if db.engine.dialect.name == "sqlite" else
           "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)")
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar())


def set_bucket(db, bucket: str, tokens: float, at: int) -> None:
    with db.unit_of_work(write=True) as uow:
        uow.conn.execute(text("UPDATE rate_buckets SET tokens = :t, at = :a WHERE bucket = :b"),
                         {"t": tokens, "a": at, "b": bucket})
        uow.commit()


def test_the_bucket_refills_by_the_database_clock(database):
    """No clock from the app: the row's time is the database's, and a refill is the database
    time passed since (two app machines whose clocks disagree count one bucket alike)."""
    bucket = f"dbclock-{uuid.uuid4().hex[:8]}"
    before = database_now_us(database)
    assert take_now(database, bucket, 60.0, 1e-5, None, want=60) == (60, pytest.approx(0.0))
    with database.engine.connect() as conn:
        at = conn.execute(text("SELECT at FROM rate_buckets WHERE bucket = :b"),
                          {"b": bucket}).scalar()
    assert before - 5_000 <= at <= database_now_us(database) + 5_000
    # empty, last counted 2 s ago by the database's clock: 20 tokens at 10 a second
    set_bucket(database, bucket, 0.0, database_now_us(database) - 2_000_000)
    granted, left = take_now(database, bucket, 60.0, 1e-5, None, want=60)
    assert 20 <= granted <= 21 and 0 <= left < 1
    # a row counted ahead of the database's clock (a clock stepped back) refills nothing
    set_bucket(database, bucket, 0.0, database_now_us(database) + 60_000_000)
    assert take_now(database, bucket, 60.0, 1e-5, None, want=5)[0] == 0


def test_a_late_take_never_moves_the_bucket_time_back(database):
    """A take that read the clock earlier but got the row later (it waited for the lock) must
    not set the bucket's time back: the next take would refill that interval a second time."""
    bucket = f"late-{uuid.uuid4().hex[:8]}"
    one_a_second = 1e-6
    assert take_now(database, bucket, 10.0, one_a_second, 10_000_000, want=10)[0] == 10
    assert take_now(database, bucket, 10.0, one_a_second, 12_000_000, want=1) == (
        1, pytest.approx(1.0))
    assert take_now(database, bucket, 10.0, one_a_second, 11_000_000, want=1) == (
        1, pytest.approx(0.0, abs=1e-9))                  # the late one: no refill
    # half a second after the latest time counted: half a token, refused
    assert take_now(database, bucket, 10.0, one_a_second, 12_500_000, want=1) == (
        0, pytest.approx(0.5))


# -- two real app processes, many threads ----------------------------------------------------
@pytest.fixture(scope="module")
def servers(db_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rate-clock")
    key = SigningKey.load_or_create(tmp / "signing.pem")
    env = {"FHIRSVC_AUTH": "smart", "FHIRSVC_AUTH_SIGNING_KEY": str(tmp / "signing.pem"),
           "FHIRSVC_PUBLIC_BASE_URL": PUBLIC, "FHIRSVC_WORKER": "off",
           "FHIRSVC_CLIENT_CLASSES": '{"tight": {"rate": 60, "burst": 5}}'}
    upgrade(db_url)
    running = []
    try:
        for _ in range(2):
            running.append(Server(db_url, tmp, workers=1, env=env).start())
        yield key, running
    finally:
        for s in running:
            s.kill()


def bearer(key, klass: str) -> dict:
    now, client = int(time.time()), f"rl-{uuid.uuid4().hex[:8]}"
    return {"Authorization": "Bearer " + key.issue({
        "iss": PUBLIC.rsplit("/fhir", 1)[0] + "/auth", "sub": client, "aud": PUBLIC,
        "exp": now + 300, "iat": now, "nbf": now, "jti": uuid.uuid4().hex,
        "client_id": client, "scope": "system/Patient.rs", "client_class": klass})}


def hammer(servers, headers, threads: int, seconds: float, gap: float) -> list:
    """`threads` threads of one client, each sending to either process at random, `gap`
    seconds apart (0: closed loop), for `seconds`: every response."""
    out, errors, lock = [], [], threading.Lock()
    stop = time.monotonic() + seconds

    def run(i):
        try:
            send(i)
        except Exception as exc:  # noqa: BLE001 - a thread's failure fails the test
            errors.append(exc)

    def send(i):
        rnd, s = random.Random(i), requests.Session()
        s.headers.update(headers)
        while time.monotonic() < stop:
            t = time.monotonic()
            url = rnd.choice(servers).base + "/Patient?_count=1"
            try:
                r = s.get(url, timeout=60)
            except requests.ConnectionError:
                # a keep-alive connection the server closed as it was reused (idle past
                # gunicorn's keep-alive): not an answer, send it again on a new one
                r = s.get(url, timeout=60)
            with lock:
                out.append(r)
            time.sleep(max(0.0, gap - (time.monotonic() - t)))
    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    [t.start() for t in pool]
    [t.join() for t in pool]
    assert errors == []
    return out


def test_a_client_under_its_rate_is_never_refused(servers):
    """Class standard (10 a second, bursts of 60): 6 threads at one request every 0.75 s each,
    8 a second together, over two processes leasing from the shared bucket: no 429."""
    key, procs = servers
    got = hammer(procs, bearer(key, "standard"), threads=6, seconds=12, gap=0.75)
    assert len(got) >= 30
    assert [r.status_code for r in got if r.status_code != 200] == []


def test_over_its_rate_a_client_is_refused_and_told_when_to_come_back(servers):
    """Class tight (1 a second, bursts of 5): 6 closed-loop threads over two processes get the
    burst and the refill, never more; each 429 says when (Retry-After, RateLimit-*), and a
    client that waits that long is let through."""
    key, procs = servers
    headers = bearer(key, "tight")
    t0 = time.monotonic()
    got = hammer(procs, headers, threads=6, seconds=3, gap=0)
    elapsed = time.monotonic() - t0
    ok = [r for r in got if r.status_code == 200]
    refused = [r for r in got if r.status_code == 429]
    assert len(ok) + len(refused) == len(got)
    assert 1 <= len(ok) <= 5 + math.ceil(elapsed) + 1, (len(ok), elapsed)
    assert refused
    for r in refused:
        retry = int(r.headers["Retry-After"])
        assert 1 <= retry <= 2
        assert r.headers["RateLimit-Limit"] == "5" and r.headers["RateLimit-Remaining"] == "0"
        assert r.headers["RateLimit-Reset"] == r.headers["Retry-After"]
        assert r.headers["RateLimit-Policy"] == "5;w=5"
        assert r.json()["issue"][0]["code"] == "throttled"
    last = refused[-1]
    time.sleep(int(last.headers["Retry-After"]))
    assert requests.get(procs[0].base + "/Patient?_count=1", headers=headers,
                        timeout=60).status_code == 200
