"""Every SQL statement about configured remote FHIR systems (fhirsvc/remote), bound to one
connection. An endpoint's configuration is plain JSON (`settings`, checked by
fhirsvc.remote.endpoint); its pull cursors (`cursors`: pull key -> the remote instant the next
pull asks changes from) are written only when a pull finishes."""
from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import delete, insert, select, update

from .jobs import now_micros
from .tables import endpoints as E


@dataclass(frozen=True)
class EndpointRow:
    id: int
    name: str
    base_url: str
    settings: dict
    cursors: dict
    created: int
    updated: int


def _row(r) -> EndpointRow:
    return EndpointRow(r.id, r.name, r.base_url, orjson.loads(r.settings),
                       orjson.loads(r.cursors), r.created, r.updated)


class Endpoints:
    def __init__(self, conn):
        self.conn = conn

    def get(self, name: str) -> EndpointRow | None:
        r = self.conn.execute(select(E).where(E.c.name == name)).first()
        return None if r is None else _row(r)

    def list(self) -> list[EndpointRow]:
        return [_row(r) for r in self.conn.execute(select(E).order_by(E.c.name))]

    def put(self, name: str, base_url: str, settings: dict) -> EndpointRow:
        """Create the endpoint, or replace its configuration (its cursors are kept)."""
        now = now_micros()
        text = orjson.dumps(settings).decode()
        done = self.conn.execute(update(E).where(E.c.name == name).values(
            base_url=base_url, settings=text, updated=now))
        if not done.rowcount:  # a concurrent add of the same name: a unique violation, which
            # the unit of work raises as ConflictError
            self.conn.execute(insert(E).values(name=name, base_url=base_url, settings=text,
                                               cursors="{}", created=now, updated=now))
        return self.get(name)

    def set_cursor(self, name: str, key: str, value: str) -> None:
        """Record where the next pull of `key` starts; read-modify-write under the row lock."""
        r = self.conn.execute(select(E.c.cursors).where(E.c.name == name)
                              .with_for_update()).first()
        if r is None:
            return
        cursors = orjson.loads(r.cursors)
        cursors[key] = value
        self.conn.execute(update(E).where(E.c.name == name).values(
            cursors=orjson.dumps(cursors).decode(), updated=now_micros()))

    def remove(self, name: str) -> bool:
        return bool(self.conn.execute(delete(E).where(E.c.name == name)).rowcount)
