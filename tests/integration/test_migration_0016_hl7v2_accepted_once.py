"""Migration 0016: the HL7 v2 log's accepted rows unique per (sender, type, control id), rows
logged before marked (a later accepted row of a key is an answer from the first), the index
refusing a second stored copy; downgrade. Both databases."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from fhirsvc.storage.dialect import normalise_url
from fhirsvc.storage.migrate import downgrade, upgrade
from tests.conftest import BACKENDS, make_db_url

ROW = ("INSERT INTO hl7v2_messages (received, door, sender, message_type, control_id, "
       "outcome, raw, ack{extra}) VALUES (1, 'mllp', :s, 'ORU^R01', :c, :o, 'raw', :a{values})")


@pytest.fixture(params=BACKENDS)
def url_at_0015(request, tmp_path_factory):
    pg = request.getfixturevalue("pg_databases") if request.param == "postgresql" else None
    url = make_db_url(request.param, tmp_path_factory, pg)
    upgrade(url, "0015")
    yield url
    if pg is not None:
        pg.drop(url)


def test_rows_logged_before_are_marked_and_a_second_stored_copy_is_refused(url_at_0015):
    engine = create_engine(normalise_url(url_at_0015))
    try:
        with engine.begin() as conn:
            for s, c, o in [("LAB^A", "1", "AE"), ("LAB^A", "1", "AA"), ("LAB^A", "1", "AA"),
                            ("LAB^A", "1", "AA"), ("LAB^B", "1", "AA"), ("LAB^A", "2", "CA"),
                            ("LAB^A", None, "AR")]:
                conn.execute(text(ROW.format(extra="", values="")),
                             {"s": s, "c": c, "o": o, "a": f"ack of {s} {c} {o}"})
        upgrade(url_at_0015)
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT id, answered_from FROM hl7v2_messages ORDER BY id")
                                ).all()
        ids = [r.id for r in rows]
        # the two later AAs of LAB^A 1 answer from the first; the rest stored or refused
        assert [r.answered_from for r in rows] == [None, None, ids[1], ids[1], None, None, None]
        with engine.begin() as conn:   # a resend's row beside it is fine ...
            conn.execute(text(ROW.format(extra=", answered_from", values=", :f")),
                         {"s": "LAB^A", "c": "2", "o": "CA", "a": "x", "f": ids[5]})
            conn.execute(text(ROW.format(extra="", values="")),   # ... and so is a refusal
                         {"s": "LAB^A", "c": "2", "o": "AE", "a": "x"})
        with pytest.raises(IntegrityError):   # ... a second stored copy is not
            with engine.begin() as conn:
                conn.execute(text(ROW.format(extra="", values="")),
                             {"s": "LAB^A", "c": "2", "o": "AA", "a": "x"})
        downgrade(url_at_0015, "0015")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM hl7v2_messages")).scalar_one() == 9
            conn.execute(text(ROW.format(extra="", values="")),
                         {"s": "LAB^A", "c": "2", "o": "AA", "a": "x"})
    finally:
        engine.dispose()
