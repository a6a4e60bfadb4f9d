"""Shared fixtures: a fresh database per test module on SQLite and on PostgreSQL.

PostgreSQL is not optional: if it cannot be reached the tests fail (CI starts it). Each test
module gets its own throwaway PostgreSQL database, created and dropped here.
"""
from __future__ import annotations

import os

import pytest

from fhirsvc.config import Config
from fhirsvc.storage.migrate import upgrade
from fhirsvc.storage.scratch import ScratchDatabases

PG_ADMIN_URL = os.environ.get("FHIRSVC_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_databases():
    dbs = ScratchDatabases(PG_ADMIN_URL)
    try:
        dbs.check()
    except Exception as exc:  # fail loudly: PostgreSQL tests are never silently skipped
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}. Start it (see "
                    "README) or set FHIRSVC_TEST_POSTGRES_URL.")
    yield dbs
    dbs.dispose()


def make_db_url(backend: str, tmp_path_factory, pg_databases) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'fhirsvc.db'}"
    return pg_databases.create()


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request, tmp_path_factory):
    """A migrated, empty database (module scope), once per backend."""
    pg = request.getfixturevalue("pg_databases") if request.param == "postgresql" else None
    url = make_db_url(request.param, tmp_path_factory, pg)
    upgrade(url)
    yield url
    if pg is not None:
        pg.drop(url)


@pytest.fixture(scope="module")
def config(db_url, tmp_path_factory):
    return Config(database_url=db_url, max_request_bytes=2 * 1024 * 1024,
                  examples_dir=tmp_path_factory.mktemp("no-examples"))


@pytest.fixture(scope="module")
def app(config):
    from fhirsvc import create_app
    app = create_app(config)
    app.testing = False  # exercise the real error handlers (no exception propagation)
    yield app
    app.extensions["fhirsvc.runtime"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def runtime(app):
    """The app's runtime: its database, services and a context for calling them directly."""
    return app.extensions["fhirsvc.runtime"]
