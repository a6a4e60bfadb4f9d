"""Fixtures for the search tests: the Synthea bundles stored once per module, on SQLite and on
PostgreSQL (a throwaway database created and dropped here)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthea  # noqa: E402

from fhirsvc.search import Indexer, SearchEngine, SearchRegistry  # noqa: E402
from fhirsvc.storage import Database  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402
from fhirsvc.storage.scratch import ScratchDatabases  # noqa: E402

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


def make_env(backend: str, tmp_path_factory, registry, resources=None) -> tuple:
    scratch = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}"
    else:
        scratch = ScratchDatabases(PG_ADMIN)
        url = scratch.create("fhirsvc_search")
    upgrade(url)
    db = Database(url, indexer=Indexer(registry))
    if resources is None:
        resources = synthea.load()
    with db.unit_of_work(write=True) as uow:
        for rtype, rid, res in resources:
            uow.resources.save(rtype, rid, res, "PUT", None)
        uow.commit()

    def cleanup():
        db.dispose()
        if scratch is not None:
            scratch.drop(url)
            scratch.dispose()
    return Env(db, registry, resources), cleanup


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request, tmp_path_factory, registry):
    if not synthea.available():
        pytest.fail(f"Synthea bundles not found at {synthea.SYNTHEA}; set FHIRSVC_SYNTHEA_DIR")
    e, cleanup = make_env(request.param, tmp_path_factory, registry)
    yield e
    cleanup()
