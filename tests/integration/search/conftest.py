"""Fixtures for the search tests: the Synthea bundles stored once per module, on SQLite and on
PostgreSQL (a throwaway database created and dropped here)."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthea  # noqa: E402

from fhirsvc.search import Indexer, SearchEngine, SearchRegistry  # noqa: E402
from fhirsvc.storage import Database  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402

PG_ADMIN = os.environ.get("FHIRSVC_TEST_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BASE = "http://test.example/fhir"


class Env:
    def __init__(self, db: Database, registry: SearchRegistry, resources: list):
        self.db = db
        self.registry = registry
        self.engine = SearchEngine(registry)
        self.resources = resources
        self.by_type: dict[str, list[dict]] = {}
        for rtype, _rid, res in resources:
            self.by_type.setdefault(rtype, []).append(res)

    def search(self, rtype, params, **kw) -> dict:
        with self.db.unit_of_work() as uow:
            return self.engine.search(uow, rtype, list(params), base_url=BASE, **kw)

    def ids(self, rtype, params, **kw) -> set[str]:
        """Every matching id, following next links."""
        params = list(params) + [("_count", "1000")]
        bundle = self.search(rtype, params, **kw)
        return {e["resource"]["id"] for e in bundle.get("entry", [])
                if e["search"]["mode"] == "match"}


@pytest.fixture(scope="session")
def registry():
    return SearchRegistry.load()


def _pg_url():
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"fhirsvc_search_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin, name, PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def make_env(backend: str, tmp_path_factory, registry, resources=None) -> tuple:
    admin = name = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}"
    else:
        admin, name, url = _pg_url()
    upgrade(url)
    db = Database(url, indexer=Indexer(registry))
    if resources is None:
        resources = synthea.load()
    with db.unit_of_work(write=True) as uow:
        for rtype, rid, res in resources:
            uow.resources.save(rtype, rid, dict(res), "PUT", None)
        uow.commit()

    def cleanup():
        db.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return Env(db, registry, resources), cleanup


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory, registry):
    if not synthea.available():
        pytest.fail(f"Synthea bundles not found at {synthea.SYNTHEA}; set FHIRSVC_SYNTHEA_DIR")
    e, cleanup = make_env(request.param, tmp_path_factory, registry)
    yield e
    cleanup()
