"""Every SQL statement of the security layer: registered clients, used assertion jti and the
append-only audit trail (fhirsvc/security, docs/security.md), bound to one connection."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import and_, delete, func, insert, select, update

from .dialect import insert_new
from .tables import audit_events as AE
from .tables import auth_clients as C
from .tables import auth_used_jti as J


def now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class ClientRow:
    client_id: str
    jwks: str
    scope: str
    client_class: str
    patient: str | None
    created: int
    disabled: bool


AUDIT_COLUMNS = tuple(c.name for c in AE.columns if c.name != "pk")


@dataclass(frozen=True)
class AuditRow:
    pk: int
    recorded: int
    door: str
    interaction: str
    action: str
    outcome: str
    status: int | None
    client_id: str | None
    user_id: str | None
    patient: str | None
    resource_type: str | None
    resource_id: str | None
    version: int | None
    query: str | None
    source: str | None
    request_id: str | None
    detail: str | None


_APPEND_SQL: dict[str, str] = {}


def _append_sql(conn) -> str:
    style = conn.dialect.paramstyle
    if style not in _APPEND_SQL:
        mark = "?" if style == "qmark" else "%s"
        _APPEND_SQL[style] = (f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) VALUES "
                              f"({', '.join([mark] * len(AUDIT_COLUMNS))})")
    return _APPEND_SQL[style]


class Clients:
    def __init__(self, conn):
        self.conn = conn

    def put(self, client_id: str, jwks: str, scope: str, client_class: str,
            patient: str | None = None) -> ClientRow:
        """Register or replace a client (its keys and scopes)."""
        row = {"jwks": jwks, "scope": scope, "client_class": client_class, "patient": patient,
               "disabled": False}
        done = self.conn.execute(update(C).where(C.c.client_id == client_id).values(**row))
        if not done.rowcount:
            self.conn.execute(insert(C).values(client_id=client_id, created=now_micros(), **row))
        return self.get(client_id)

    def get(self, client_id: str) -> ClientRow | None:
        r = self.conn.execute(select(C).where(C.c.client_id == client_id)).first()
        return ClientRow(**r._mapping) if r else None

    def list(self) -> list[ClientRow]:
        return [ClientRow(**r._mapping)
                for r in self.conn.execute(select(C).order_by(C.c.client_id))]

    def remove(self, client_id: str) -> bool:
        return bool(self.conn.execute(delete(C).where(C.c.client_id == client_id)).rowcount)

    def use_jti(self, client_id: str, jti: str, expires: int) -> bool:
        """Record an assertion's jti; False when it was used before (a replay). Expired
        entries are dropped first: an assertion past its exp is refused anyway."""
        self.conn.execute(delete(J).where(J.c.expires < now_micros()))
        done = self.conn.execute(insert_new(self.conn, J).values(
            client_id=client_id, jti=jti, expires=expires).returning(J.c.jti))
        return done.first() is not None  # (rowcount is not reliable here on psycopg)


class AuditTrail:
    """Append and read; there is no update or delete here (and the database refuses them)."""

    def __init__(self, conn):
        self.conn = conn

    def append(self, rows: Iterable[dict]) -> None:
        """One driver-level executemany of plain tuples (a transaction's change records ride
        along with its writes: no per-row SQLAlchemy processing)."""
        rows = [tuple(r.get(k) for k in AUDIT_COLUMNS) for r in rows]
        if rows:
            self.conn.exec_driver_sql(_append_sql(self.conn), rows)

    def get(self, pk: int) -> AuditRow | None:
        r = self.conn.execute(select(AE).where(AE.c.pk == pk)).first()
        return AuditRow(**r._mapping) if r else None

    def find(self, *, since: int | None = None, before: int | None = None,
             equals: dict | None = None, count: int = 50, offset: int = 0
             ) -> tuple[int, list[AuditRow]]:
        """(total, newest first page) of the events matching every filter; `equals` maps
        column names to a value or a tuple of alternatives."""
        conds = []
        if since is not None:
            conds.append(AE.c.recorded >= since)
        if before is not None:
            conds.append(AE.c.recorded < before)
        for col, value in (equals or {}).items():
            column = AE.c[col]
            conds.append(column.in_(value) if isinstance(value, tuple) else column == value)
        where = and_(*conds) if conds else None
        q = select(AE).order_by(AE.c.recorded.desc(), AE.c.pk.desc()).limit(count).offset(offset)
        t = select(func.count()).select_from(AE)
        if where is not None:
            q, t = q.where(where), t.where(where)
        total = self.conn.execute(t).scalar_one()
        return total, [AuditRow(**r._mapping) for r in self.conn.execute(q)]
