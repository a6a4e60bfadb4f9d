"""Read replicas: searches may run on a PostgreSQL streaming replica, with read-your-writes.

The rule: a search runs on the replica only if the replica has replayed the primary's WAL up
to the position the primary had when the search began (`pg_current_wal_insert_lsn()`), which is
past the commit record of every transaction committed before, on any app node. Otherwise it
runs on the primary. So a client (or any other client) never misses a write that was
acknowledged before its search was sent, with no token passed around; the price is one small
query on the primary per search (the replica does the search's work).

A "replica" that is not in recovery (`pg_last_wal_replay_lsn()` is NULL: the same server, or a
PgBouncer alias of the primary) is treated as caught up.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection


def lsn_value(lsn: str) -> int:
    """'16/B374D848' -> the 64-bit WAL position."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def primary_position(conn: Connection) -> int:
    return lsn_value(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one())


def replayed_position(conn: Connection) -> int | None:
    """How far a standby has replayed; None when the server is not in recovery."""
    got = conn.execute(text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
    return None if got is None else lsn_value(got)


def caught_up(replica: Connection, primary_lsn: int) -> bool:
    replayed = replayed_position(replica)
    return replayed is None or replayed >= primary_lsn
