"""Migration 0011 (issue 9): the index's doubles become exact decimals (PostgreSQL NUMERIC,
SQLite the order-preserving key of storage/decimals.py), rows written as doubles before it are
converted in place and a reindex job is queued; downgrade gives the doubles back. Both
databases."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from fhirsvc.storage.decimals import from_key, key
from fhirsvc.storage.dialect import normalise_url
from fhirsvc.storage.migrate import downgrade, upgrade
from tests.conftest import BACKENDS, make_db_url


@pytest.fixture(params=BACKENDS)
def url_at_0010(request, tmp_path_factory):
    pg = request.getfixturevalue("pg_databases") if request.param == "postgresql" else None
    url = make_db_url(request.param, tmp_path_factory, pg)
    upgrade(url, "0010")
    yield url
    if pg is not None:
        pg.drop(url)


def _values(conn, sqlite: bool):
    rows = conn.execute(text("SELECT value FROM idx_quantity ORDER BY value")).scalars().all()
    return [from_key(v) if sqlite else v for v in rows]


def test_upgrade_converts_rows_and_queues_a_reindex(url_at_0010):
    engine = create_engine(normalise_url(url_at_0010))
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO resources (resource_type, resource_id, version, "
                          "last_updated, deleted) VALUES ('Observation', 'o1', 1, 1, :f)"),
                     {"f": False})
        pk = conn.execute(text("SELECT pk FROM resources")).scalar_one()
        for v in (-2.5, 1.1, 0.0, 12345678901234567.0, -0.125):
            conn.execute(text("INSERT INTO idx_quantity (res_pk, resource_type, param, value) "
                              "VALUES (:pk, 'Observation', 'value-quantity', :v)"),
                         {"pk": pk, "v": v})
        conn.execute(text("INSERT INTO idx_number (res_pk, resource_type, param, value) "
                          "VALUES (:pk, 'Observation', 'n', 0.25)"), {"pk": pk})
    engine.dispose()
    upgrade(url_at_0010)
    engine = create_engine(normalise_url(url_at_0010))
    with engine.begin() as conn:
        assert _values(conn, sqlite) == [Decimal("-2.5"), Decimal("-0.125"), Decimal(0),
                                         Decimal("1.1"), Decimal("12345678901234568")]  # the double
        if sqlite:   # the declared type is text now, the stored values keys
            assert conn.execute(text("SELECT value FROM idx_number")).scalar_one() == \
                key(Decimal("0.25"))
            assert conn.execute(text("SELECT typeof(value) FROM idx_quantity")).scalars() \
                .all() == ["text"] * 5
        else:
            assert conn.execute(text(
                "SELECT data_type FROM information_schema.columns WHERE table_name = "
                "'idx_composite' AND column_name = 'v_num'")).scalar_one() == "numeric"
        jobs = conn.execute(text("SELECT kind, state, params FROM jobs")).all()
        assert [(j.kind, j.state) for j in jobs] == [("reindex", "queued")]
    engine.dispose()
    downgrade(url_at_0010, "0010")
    engine = create_engine(normalise_url(url_at_0010))
    with engine.begin() as conn:
        got = conn.execute(text("SELECT value FROM idx_quantity ORDER BY value")).scalars().all()
        assert [float(v) for v in got] == [-2.5, -0.125, 0.0, 1.1, 12345678901234567.0]
    engine.dispose()


def test_upgrade_of_an_empty_database_queues_nothing(url_at_0010):
    upgrade(url_at_0010)
    engine = create_engine(normalise_url(url_at_0010))
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM jobs")).scalar_one() == 0
    engine.dispose()
