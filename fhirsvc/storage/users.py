"""Every SQL statement of the user directory (people who log in to the pages,
fhirsvc/security/users.py): users, and failed logins for the rate limit. One connection."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select, update

from .security import now_micros
from .tables import ui_login_failures as F
from .tables import ui_users as U


@dataclass(frozen=True)
class UserRow:
    name: str
    password_hash: str
    scope: str
    created: int
    sessions_after: int
    disabled: bool


class Users:
    def __init__(self, conn):
        self.conn = conn

    def put(self, name: str, password_hash: str, scope: str) -> UserRow:
        """Add a user or replace one's password and scopes (their sessions end)."""
        now = now_micros()
        row = {"password_hash": password_hash, "scope": scope, "disabled": False,
               "sessions_after": now}
        done = self.conn.execute(update(U).where(U.c.name == name).values(**row))
        if not done.rowcount:
            self.conn.execute(insert(U).values(name=name, created=now, **row))
        return self.get(name)

    def get(self, name: str) -> UserRow | None:
        r = self.conn.execute(select(U).where(U.c.name == name)).first()
        return UserRow(**r._mapping) if r else None

    def list(self) -> list[UserRow]:
        return [UserRow(**r._mapping) for r in self.conn.execute(select(U).order_by(U.c.name))]

    def remove(self, name: str) -> bool:
        return bool(self.conn.execute(delete(U).where(U.c.name == name)).rowcount)

    def end_sessions(self, name: str, at: int | None = None) -> None:
        """Sessions issued before `at` (now) are no longer accepted (logout)."""
        self.conn.execute(update(U).where(U.c.name == name).values(
            sessions_after=at if at is not None else now_micros()))

    # -- failed logins ---------------------------------------------------------------------
    def fail(self, keys: list[str], keep_since: int) -> None:
        """Record a failed login under each key; failures older than `keep_since` go."""
        self.conn.execute(delete(F).where(F.c.at < keep_since))
        now = now_micros()
        self.conn.execute(insert(F), [{"key": k[:300], "at": now} for k in keys])

    def failures(self, key: str, since: int) -> int:
        return self.conn.execute(select(func.count()).select_from(F).where(
            and_(F.c.key == key[:300], F.c.at >= since))).scalar_one()

    def forget_failures(self, key: str) -> None:
        self.conn.execute(delete(F).where(F.c.key == key[:300]))
