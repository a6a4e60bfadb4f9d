"""Searches on a read replica with read-your-writes (storage.replica), PgBouncer settings.

No streaming standby runs on the test machine, so the "replica" is a second database: the
routing is real (a search sees the replica's rows exactly when the WAL rule lets it run there),
and the WAL-position check runs for real against servers not in recovery."""
from __future__ import annotations

import os

import pytest

from fhirsvc.config import Config
from fhirsvc.search import Indexer, SearchEngine, SearchRegistry
from fhirsvc.storage import Database, replica
from fhirsvc.storage.migrate import upgrade
from fhirsvc.storage.scratch import ScratchDatabases

PG_ADMIN = os.environ.get("FHIRSVC_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def test_lsn_values_order_as_wal_positions():
    assert replica.lsn_value("0/10") == 16
    assert replica.lsn_value("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert replica.lsn_value("1/0") > replica.lsn_value("0/FFFFFFFF")


def test_settings_from_the_environment():
    cfg = Config.from_env({"FHIRSVC_READ_REPLICA_URL": "postgresql://r/db",
                           "FHIRSVC_PGBOUNCER": "true", "FHIRSVC_DB_POOL_SIZE": "4"})
    assert (cfg.read_replica_url, cfg.pgbouncer, cfg.db_pool_size) == \
        ("postgresql://r/db", True, 4)
    assert Config.from_env({}).read_replica_url is None


def test_sqlite_has_no_replica(tmp_path):
    with pytest.raises(ValueError, match="PostgreSQL"):
        Database(f"sqlite:///{tmp_path / 'x.db'}", replica_url=f"sqlite:///{tmp_path / 'y.db'}")


@pytest.fixture(scope="module")
def two_databases():
    scratch = ScratchDatabases(PG_ADMIN)
    urls = [scratch.create("fhirsvc_replica"), scratch.create("fhirsvc_replica")]
    for url in urls:
        upgrade(url)
    yield urls
    for url in urls:
        scratch.drop(url)
    scratch.dispose()


def test_searches_run_on_the_replica_only_when_it_has_caught_up(two_databases, monkeypatch):
    primary_url, replica_url = two_databases
    registry = SearchRegistry.load()
    only_on_replica = Database(replica_url, indexer=Indexer(registry))
    with only_on_replica.unit_of_work(write=True) as uow:
        uow.resources.save("Patient", "r1", {"resourceType": "Patient", "id": "r1"}, "PUT")
        uow.commit()
    only_on_replica.dispose()
    db = Database(primary_url, indexer=Indexer(registry), replica_url=replica_url,
                  pgbouncer=True, pool_size=2)
    engine = SearchEngine(registry)

    def found() -> list[str]:
        with db.unit_of_work(replica=True) as uow:
            bundle = engine.search(uow, "Patient", [], base_url="http://x")
        return [e["resource"]["id"] for e in bundle.get("entry", [])]
    try:
        # servers not in recovery count as caught up: the search ran on the "replica"
        assert found() == ["r1"] and db.replica_reads == 1
        monkeypatch.setattr(replica, "caught_up", lambda conn, lsn: False)
        assert found() == [] and db.replica_fallbacks == 1      # the primary answered
        with db.unit_of_work() as uow:                          # plain reads: the primary
            assert uow.resources.read("Patient", "r1") is None
        with db.unit_of_work(write=True, replica=True) as uow:  # writes never go to it
            assert uow.conn.engine is db.engine
    finally:
        db.dispose()


def test_wal_positions_are_read_from_the_servers(two_databases):
    db = Database(two_databases[0], pgbouncer=True)
    try:
        with db.engine.connect() as conn:
            first = replica.primary_position(conn)
            assert replica.replayed_position(conn) is None     # not in recovery
            assert replica.caught_up(conn, first)
            # PgBouncer transaction mode: psycopg never prepares statements server-side
            assert conn.connection.driver_connection.prepare_threshold is None
            for _ in range(8):
                conn.exec_driver_sql("SELECT 1")
        with db.unit_of_work(write=True) as uow:
            uow.resources.save("Patient", "w1", {"resourceType": "Patient", "id": "w1"}, "PUT")
            uow.commit()
        with db.engine.connect() as conn:
            assert replica.primary_position(conn) > first
    finally:
        db.dispose()
