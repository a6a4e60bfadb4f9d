"""Every SQL statement of the HL7 v2 message log, bound to one connection (`uow.hl7v2`).

    with db.unit_of_work(write=True) as uow:
        uow.hl7v2.add(LogEntry(...)); uow.commit()
    with db.unit_of_work() as uow:
        uow.hl7v2.accepted("LAB^HOSPA", "MSG0001")     # the earlier AA of a resend, or None
        uow.hl7v2.find(sender=..., message_type=..., outcome=..., since=..., limit=50)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, func, insert, select

from .tables import hl7v2_messages as M

ACCEPTED = ("AA", "CA")


@dataclass(frozen=True)
class LogEntry:
    door: str
    sender: str
    message_type: str
    control_id: str | None
    outcome: str
    raw: str
    ack: str
    receiver: str | None = None
    provenance: str | None = None
    issues: str | None = None        # JSON text
    received: int = 0                # microseconds since the epoch, UTC (0: now)
    id: int | None = None
    answered_from: int | None = None  # a resend: the accepted row its answer was taken from


_COLUMNS = ("id", "received", "door", "sender", "receiver", "message_type", "control_id",
            "outcome", "raw", "ack", "provenance", "issues", "answered_from")


# the statements of every message, built once (a statement built per call is compiled again)
_ADD = insert(M).returning(M.c.id)
_ACCEPTED = (select(*[M.c[c] for c in _COLUMNS])
             .where(M.c.sender == bindparam("sender"), M.c.control_id == bindparam("cid"),
                    M.c.message_type == bindparam("mtype"), M.c.outcome.in_(ACCEPTED),
                    M.c.answered_from.is_(None))
             .order_by(M.c.id).limit(1))


class MessageLog:
    def __init__(self, conn):
        self.conn = conn

    def add(self, entry: LogEntry) -> LogEntry:
        received = entry.received or time.time_ns() // 1000
        values = {c: getattr(entry, c) for c in _COLUMNS if c != "id"}
        values["received"] = received
        pk = self.conn.execute(_ADD, values).scalar_one()
        return replace(entry, id=pk, received=received)

    def accepted(self, sender: str, control_id: str, message_type: str) -> LogEntry | None:
        """The accepted message with this control id and type from this sender that was
        stored (one at most: unique index ux_hl7v2_accepted), not a resend answered from it."""
        row = self.conn.execute(_ACCEPTED, {"sender": sender, "cid": control_id,
                                            "mtype": message_type}).first()
        return LogEntry(**row._mapping) if row else None

    def get(self, entry_id: int) -> LogEntry | None:
        row = self.conn.execute(select(*[M.c[c] for c in _COLUMNS])
                                .where(M.c.id == entry_id)).first()
        return LogEntry(**row._mapping) if row else None

    def find(self, sender: str | None = None, message_type: str | None = None,
             control_id: str | None = None, outcome: str | None = None,
             since: int | None = None, until: int | None = None, limit: int = 50,
             offset: int = 0) -> tuple[int, list[LogEntry]]:
        """(total, newest first page). `message_type` 'ADT' matches every ADT event."""
        conds = []
        if sender:
            conds.append(M.c.sender == sender)
        if message_type:
            conds.append(M.c.message_type == message_type if "^" in message_type
                         else M.c.message_type.like(f"{message_type}^%"))
        if control_id:
            conds.append(M.c.control_id == control_id)
        if outcome:
            conds.append(M.c.outcome == outcome)
        if since is not None:
            conds.append(M.c.received >= since)
        if until is not None:
            conds.append(M.c.received < until)
        total = self.conn.execute(select(func.count()).select_from(M).where(*conds)).scalar_one()
        rows = self.conn.execute(select(*[M.c[c] for c in _COLUMNS]).where(*conds)
                                 .order_by(M.c.received.desc(), M.c.id.desc())
                                 .limit(limit).offset(offset)).all()
        return total, [LogEntry(**r._mapping) for r in rows]
