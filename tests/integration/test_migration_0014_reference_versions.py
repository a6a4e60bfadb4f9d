"""Migration 0014: idx_reference gets `target_version` (versioned reference search), rows
written before are kept and a reindex job is queued when the database holds resources (it
rebuilds them with their versions); downgrade drops the column. Both databases."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect, text

from fhirsvc.storage.dialect import normalise_url
from fhirsvc.storage.migrate import downgrade, upgrade
from tests.conftest import BACKENDS, make_db_url


@pytest.fixture(params=BACKENDS)
def url_at_0013(request, tmp_path_factory):
    pg = request.getfixturevalue("pg_databases") if request.param == "postgresql" else None
    url = make_db_url(request.param, tmp_path_factory, pg)
    upgrade(url, "0013")
    yield url
    if pg is not None:
        pg.drop(url)


def _columns(url) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return {c["name"] for c in inspect(engine).get_columns("idx_reference")}
    finally:
        engine.dispose()


def test_upgrade_adds_the_column_and_queues_a_reindex(url_at_0013):
    engine = create_engine(normalise_url(url_at_0013))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO resources (resource_type, resource_id, version, "
                          "last_updated, deleted) VALUES ('Provenance', 'pv', 1, 1, :f)"),
                     {"f": False})
        pk = conn.execute(text("SELECT pk FROM resources")).scalar_one()
        conn.execute(text("INSERT INTO idx_reference (res_pk, resource_type, param, "
                          "target_type, target_id) VALUES (:pk, 'Provenance', 'target', "
                          "'Patient', 'p1')"), {"pk": pk})
    engine.dispose()
    assert "target_version" not in _columns(url_at_0013)
    upgrade(url_at_0013)
    assert "target_version" in _columns(url_at_0013)
    engine = create_engine(normalise_url(url_at_0013))
    with engine.begin() as conn:
        # the row written before is kept (searchable unversioned at once)
        assert conn.execute(text("SELECT target_id, target_version FROM idx_reference")
                            ).all() == [("p1", None)]
        jobs = conn.execute(text("SELECT kind, state, requested_by FROM jobs")).all()
        assert [(j.kind, j.state) for j in jobs] == [("reindex", "queued")]
        assert "0014" in jobs[0].requested_by
    engine.dispose()
    downgrade(url_at_0013, "0013")
    assert "target_version" not in _columns(url_at_0013)
    engine = create_engine(normalise_url(url_at_0013))
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM idx_reference")).scalar_one() == 1
    engine.dispose()


def test_a_reindex_already_queued_is_not_queued_twice(url_at_0013):
    """A database upgraded across 0011 and 0014 at once: 0011's queued reindex (run by this
    code) rebuilds the versions too."""
    engine = create_engine(normalise_url(url_at_0013))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO resources (resource_type, resource_id, version, "
                          "last_updated, deleted) VALUES ('Patient', 'p1', 1, 1, :f)"),
                     {"f": False})
        conn.execute(text(
            "INSERT INTO jobs (kind, params, state, cancel_requested, attempts, max_attempts, "
            "run_after, requested_by, progress_done, created) VALUES ('reindex', '{}', "
            "'queued', :f, 0, 3, 1, 'migration 0011', 0, 1)"), {"f": False})
    engine.dispose()
    upgrade(url_at_0013)
    engine = create_engine(normalise_url(url_at_0013))
    with engine.begin() as conn:
        assert conn.execute(text("SELECT requested_by FROM jobs")).scalars().all() == \
            ["migration 0011"]
    engine.dispose()


def test_upgrade_of_an_empty_database_queues_nothing(url_at_0013):
    upgrade(url_at_0013)
    engine = create_engine(normalise_url(url_at_0013))
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == 0
    engine.dispose()


def _store(rt, n: int) -> int:
    """`n` patients with an Observation each (plain references) and, for every third, a
    Provenance naming both versioned; some text holds `/_history/` outside any reference,
    some `_` a LIKE would take for any character. Returns how many hold `/_history/`."""
    with rt.db.unit_of_work(write=True) as uow:
        for i in range(n):
            uow.resources.save("Patient", f"p{i}", {"resourceType": "Patient",
                                                    "name": [{"family": f"Fam{i}"}]}, "PUT", None)
            note = "see /_history/ of the chart" if i % 5 == 0 else "a/Xhistory/b"
            uow.resources.save("Observation", f"o{i}", {
                "resourceType": "Observation", "status": "final", "code": {"text": "c"},
                "note": [{"text": note}], "subject": {"reference": f"Patient/p{i}"},
                "derivedFrom": [{"reference": f"http://other.example/fhir/Observation/x{i}"
                                              "/_history/3"}] if i % 7 == 0 else []},
                "PUT", None)
            if i % 3 == 0:
                uow.resources.save("Provenance", f"v{i}", {
                    "resourceType": "Provenance", "recorded": "2026-01-01T00:00:00Z",
                    "agent": [{"who": {"display": "x"}}],
                    "target": [{"reference": f"Patient/p{i}/_history/1"},
                               {"reference": f"Observation/o{i}/_history/1"}]}, "PUT", None)
        uow.commit()
        return sum(1 for s in uow.resources.iter_current() if "/_history/" in s.content)


def test_upgrade_reindexes_only_what_holds_a_version_and_equals_a_full_reindex(
        url_at_0013, tmp_path):
    """An older database (its rows written before 0014, target_version missing): the upgrade
    queues a reindex of only the resources whose text holds `/_history/`; once it ran, every
    index row equals what a full reindex writes."""
    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.jobs import Worker
    from jobs_support import expected_rows, index_rows

    config = Config(database_url=url_at_0013, examples_dir=tmp_path)
    upgrade(url_at_0013)
    rt = build(config)
    try:
        holding = _store(rt, 30)
        full = index_rows(rt.db)
    finally:
        rt.close()
    assert sum(1 for k in full if k[0] == "idx_reference" and k[-1] is not None) > 0
    downgrade(url_at_0013, "0013")      # the rows as 0013 kept them: no versions
    upgrade(url_at_0013)
    rt = build(config)
    try:
        with rt.db.unit_of_work() as uow:
            (job,) = uow.conn.execute(text("SELECT id, params FROM jobs")).all()
        assert json.loads(job.params) == {"batch": 500, "containing": "/_history/"}
        before = index_rows(rt.db)
        assert before != full      # the versions are missing until the job has run
        Worker(rt, only=["reindex"]).run_one(job_id=job.id)
        with rt.db.unit_of_work() as uow:
            state, result = uow.conn.execute(text("SELECT state, result FROM jobs")).one()
        assert state == "succeeded"
        assert json.loads(result)["resources"] == holding < 30 * 2
        assert index_rows(rt.db) == full == expected_rows(rt)
    finally:
        rt.close()
