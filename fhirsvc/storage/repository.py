"""Repository: versioned resource rows behind a few plain methods.

Knows nothing of HTTP or validation. Every write stamps `id`, `meta.versionId` and
`meta.lastUpdated` on a copy of the caller's resource (the caller's dict is left as it was),
serialises it once and stores the text that reads will serve as is.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import jsontext
from . import dialect
from .errors import ConflictError, NotFoundError
from .tables import resource_aliases as A
from .tables import resource_versions as V
from .tables import resources as R


def micros_to_instant(us: int) -> str:
    dt = datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{us % 1_000_000:06d}Z"


def instant_to_micros(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000)


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored version. `content` is the JSON text exactly as served (None if deleted)."""

    pk: int
    resource_type: str
    resource_id: str
    version: int
    last_updated: int  # microseconds since the epoch, UTC
    deleted: bool
    method: str
    content: str | None

    @property
    def last_updated_instant(self) -> str:
        return micros_to_instant(self.last_updated)

    @property
    def last_updated_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.last_updated / 1_000_000, tz=timezone.utc)

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"

    def resource(self) -> dict:
        return jsontext.loads(self.content) if self.content else {}


# Statements built once: building them per call costs more than executing them.
_INSERT_RESOURCES = insert(R).returning(R.c.pk, sort_by_parameter_order=True)
_INSERT_VERSION = insert(V)
_INSERT_ALIAS: dict[str, object] = {}   # dialect name -> INSERT ... ON CONFLICT DO NOTHING
# guarded by the version read: a concurrent writer that got there first is a conflict, not a
# silently lost update
_UPDATE_CURRENT = update(R).where(R.c.pk == bindparam("b_pk"),
                                  R.c.version == bindparam("b_version")).values(
    version=bindparam("version"), last_updated=bindparam("last_updated"),
    deleted=bindparam("deleted"))

_COLUMNS = (R.c.pk, R.c.resource_type, R.c.resource_id, V.c.version, V.c.last_updated,
            V.c.deleted, V.c.method, V.c.content)
_CURRENT = R.join(V, and_(V.c.res_pk == R.c.pk, V.c.version == R.c.version))
# the reads of every write, built once (SQLAlchemy caches their compiled form by identity)
_READ = select(*_COLUMNS).select_from(_CURRENT).where(
    R.c.resource_type == bindparam("t"), R.c.resource_id == bindparam("i"))
_LOCK_ONE = select(R.c.pk).where(R.c.resource_type == bindparam("t"),
                                 R.c.resource_id == bindparam("i"))
_ALIASES = (select(A.c.alias, R.c.resource_type, R.c.resource_id)
            .select_from(A.join(R, A.c.res_pk == R.c.pk))
            .where(A.c.alias.in_(bindparam("aliases", expanding=True))))
_KEYS_CHUNK = 500           # ids per read of current versions
_CREATE_CHUNK = 100         # rows per multi-row INSERT of resources (5 parameters each)
_READ_KEYS: dict[tuple[int, bool], object] = {}   # (types, lock) -> statement
_INSERT_MANY: dict[tuple[str, int], str] = {}     # (paramstyle, rows) -> SQL


def _keys_statement(types: int, lock: bool):
    """Current versions (or, `lock`, the resource rows alone) of ids of `types` types:
    `(type = :t0 AND id IN :i0) OR ...`, which both databases answer from the unique index
    (a row-value IN is a table scan on SQLite)."""
    stmt = _READ_KEYS.get((types, lock))
    if stmt is None:
        cond = or_(*[and_(R.c.resource_type == bindparam(f"t{n}"),
                          R.c.resource_id.in_(bindparam(f"i{n}", expanding=True)))
                     for n in range(types)])
        stmt = (select(R.c.pk).where(cond).order_by(R.c.pk) if lock
                else select(*_COLUMNS).select_from(_CURRENT).where(cond))
        _READ_KEYS[(types, lock)] = stmt
    return stmt


def _insert_many_sql(conn, rows: int) -> str:
    """One multi-row INSERT of resource rows answering (pk, type, id) of each: a single
    statement where an executemany with RETURNING runs one per row on SQLite."""
    key = (conn.dialect.paramstyle, rows)
    sql = _INSERT_MANY.get(key)
    if sql is None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        one = f"({', '.join([mark] * 5)})"
        sql = (f"INSERT INTO {R.name} (resource_type, resource_id, version, last_updated, "
               f"deleted) VALUES {', '.join([one] * rows)} "
               "RETURNING pk, resource_type, resource_id")
        _INSERT_MANY[key] = sql
    return sql


def _stored(row) -> Stored:
    return Stored(row.pk, row.resource_type, row.resource_id, row.version, row.last_updated,
                  bool(row.deleted), row.method, row.content)


class Repository:
    def __init__(self, conn, on_change=None):
        self.conn = conn
        # on_change(pk, resource_type, resource_or_None): called for every new current version,
        # so search indexes are written inside the same transaction.
        self._on_change = on_change

    # -- reads -------------------------------------------------------------------------------
    def read(self, rtype: str, rid: str, for_update: bool = False) -> Stored | None:
        """The current version (a deleted one too: callers answer 410 for it)."""
        key = {"t": rtype, "i": rid}
        if for_update and self.conn.dialect.name == "postgresql":
            # Lock the resource row alone first, then read the join in a new statement: a
            # FOR UPDATE on the join that waited for a concurrent writer re-checks the newer
            # row against the older version row, finds no match and returns nothing (which
            # looked like "not stored yet" and ended in a spurious 409).
            self.conn.execute(dialect.for_update(_LOCK_ONE, self.conn, of=R), key)
        row = self.conn.execute(_READ, key).first()
        return _stored(row) if row else None

    def vread(self, rtype: str, rid: str, version: int) -> Stored | None:
        q = (select(*_COLUMNS).select_from(R.join(V, V.c.res_pk == R.c.pk))
             .where(R.c.resource_type == rtype, R.c.resource_id == rid, V.c.version == version))
        row = self.conn.execute(q).first()
        return _stored(row) if row else None

    def read_many(self, pks: Iterable[int]) -> dict[int, Stored]:
        """Current versions by primary key (for search results)."""
        pks = list(pks)
        out: dict[int, Stored] = {}
        for start in range(0, len(pks), 500):
            chunk = pks[start:start + 500]
            q = (select(*_COLUMNS).select_from(R.join(V, and_(V.c.res_pk == R.c.pk,
                                                              V.c.version == R.c.version)))
                 .where(R.c.pk.in_(chunk)))
            for row in self.conn.execute(q):
                out[row.pk] = _stored(row)
        return out

    def read_keys(self, rtype: str, rids: Iterable[str], for_update: bool = False
                  ) -> dict[str, Stored]:
        """Current versions of one type by id, in chunks (a remote pull's look-up of what it
        stored before; `for_update`: a transaction's updates, locked as `read` locks one)."""
        rids = list(rids)
        out: dict[str, Stored] = {}
        for start in range(0, len(rids), 500):
            if for_update and self.conn.dialect.name == "postgresql":
                # the resource rows alone first, then the join (see read)
                self.conn.execute(dialect.for_update(
                    select(R.c.pk).where(R.c.resource_type == rtype,
                                         R.c.resource_id.in_(rids[start:start + 500]))
                    .order_by(R.c.pk), self.conn, of=R))
            q = (select(*_COLUMNS).select_from(R.join(V, and_(V.c.res_pk == R.c.pk,
                                                              V.c.version == R.c.version)))
                 .where(R.c.resource_type == rtype, R.c.resource_id.in_(rids[start:start + 500])))
            for row in self.conn.execute(q):
                out[row.resource_id] = _stored(row)
        return out

    def read_keys_many(self, keys: dict[str, Iterable[str]], for_update: bool = False
                       ) -> dict[tuple[str, str], Stored]:
        """`read_keys` of several types in one statement (per 500 ids): {type: ids} ->
        {(type, id): current version}. `for_update` (PostgreSQL): the resource rows of all of
        them are locked first, in key order (one order for every writer)."""
        pairs = [(t, i) for t in sorted(keys) for i in dict.fromkeys(keys[t])]
        out: dict[tuple[str, str], Stored] = {}
        lock = for_update and self.conn.dialect.name == "postgresql"
        for start in range(0, len(pairs), _KEYS_CHUNK):
            by_type: dict[str, list[str]] = {}
            for t, i in pairs[start:start + _KEYS_CHUNK]:
                by_type.setdefault(t, []).append(i)
            params = {}
            for n, (t, ids) in enumerate(by_type.items()):
                params[f"t{n}"], params[f"i{n}"] = t, ids
            if lock:
                self.conn.execute(dialect.for_update(_keys_statement(len(by_type), True),
                                                     self.conn, of=R), params)
            for row in self.conn.execute(_keys_statement(len(by_type), False), params):
                out[(row.resource_type, row.resource_id)] = _stored(row)
        return out

    def exists(self, rtype: str, rid: str) -> bool:
        q = select(R.c.deleted).where(R.c.resource_type == rtype, R.c.resource_id == rid)
        row = self.conn.execute(q).first()
        return row is not None and not row.deleted

    def history(self, rtype: str | None = None, rid: str | None = None,
                since: int | None = None, at: int | None = None, count: int = 50,
                offset: int = 0) -> tuple[int, list[Stored]]:
        """Versions newest first, with the total count."""
        cond = []
        if rtype:
            cond.append(V.c.resource_type == rtype)
        if rid is not None:
            cond.append(R.c.resource_id == rid)
        if since is not None:
            cond.append(V.c.last_updated >= since)
        if at is not None:
            cond.append(V.c.last_updated <= at)
        base = select(*_COLUMNS).select_from(V.join(R, V.c.res_pk == R.c.pk)).where(*cond)
        total = self.conn.execute(
            select(func.count()).select_from(V.join(R, V.c.res_pk == R.c.pk)).where(*cond)
        ).scalar_one()
        q = base.order_by(V.c.last_updated.desc(), V.c.res_pk.desc(), V.c.version.desc())
        rows = self.conn.execute(q.limit(count).offset(offset)).all()
        return total, [_stored(r) for r in rows]

    def count(self, rtype: str | None = None, include_deleted: bool = False) -> int:
        q = select(func.count()).select_from(R)
        if rtype:
            q = q.where(R.c.resource_type == rtype)
        if not include_deleted:
            q = q.where(R.c.deleted.is_(False))
        return self.conn.execute(q).scalar_one()

    def latest_change(self, types: Iterable[str]) -> int:
        """The newest lastUpdated among resources of these types (0 when there are none)."""
        q = select(func.max(R.c.last_updated)).where(R.c.resource_type.in_(list(types)))
        return self.conn.execute(q).scalar() or 0

    def changed_since(self, types: Iterable[str], since: int) -> list[Stored]:
        """Current versions of these types changed after `since` (oldest first)."""
        q = (select(*_COLUMNS).select_from(R.join(V, and_(V.c.res_pk == R.c.pk,
                                                          V.c.version == R.c.version)))
             .where(R.c.resource_type.in_(list(types)), R.c.last_updated > since)
             .order_by(R.c.last_updated))
        return [_stored(row) for row in self.conn.execute(q)]

    def iter_current(self, rtype: str | None = None, batch: int = 1000) -> Iterator[Stored]:
        """Every current, non-deleted resource (reindex, export)."""
        last = 0
        while True:
            q = (select(*_COLUMNS).select_from(R.join(V, and_(V.c.res_pk == R.c.pk,
                                                              V.c.version == R.c.version)))
                 .where(R.c.pk > last, R.c.deleted.is_(False)).order_by(R.c.pk).limit(batch))
            if rtype:
                q = q.where(R.c.resource_type == rtype)
            rows = self.conn.execute(q).all()
            if not rows:
                return
            for row in rows:
                yield _stored(row)
            last = rows[-1].pk

    # -- writes ------------------------------------------------------------------------------
    @staticmethod
    def _stamp(rtype: str, rid: str, resource: dict | None, version: int, now: int
               ) -> tuple[dict | None, str | None]:
        """The stored copy (id and meta set: versionId, lastUpdated) and its text; (None, None)
        for a delete. A shallow copy with a new meta: the caller's dict is not changed."""
        if resource is None:
            return None, None
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = str(version)
        meta["lastUpdated"] = micros_to_instant(now)
        # resourceType, id and meta lead, as in the specification's examples
        stored = {"resourceType": resource.get("resourceType", rtype), "id": rid, "meta": meta}
        stored.update((k, v) for k, v in resource.items() if k not in stored)
        return stored, jsontext.dumps_text(stored)   # decimals exactly as received

    def save(self, rtype: str, rid: str, resource: dict | None, method: str,
             current: Stored | None = None) -> Stored:
        """Store a new version (resource None = logical delete) and make it current.

        `current` is the caller's already-read current version (read inside this transaction),
        or None when the resource does not exist yet. ConflictError when another transaction
        changed the resource since `current` was read; NotFoundError when it is gone.
        """
        if current is None:
            return self.create_many([(rtype, rid, resource, method)])[0]
        now = max(time.time_ns() // 1000, current.last_updated + 1)  # never goes backwards
        version = current.version + 1
        stored, content = self._stamp(rtype, rid, resource, version, now)
        deleted = resource is None
        done = self.conn.execute(_UPDATE_CURRENT, {
            "b_pk": current.pk, "b_version": current.version, "version": version,
            "last_updated": now, "deleted": deleted}).rowcount
        if done != 1:
            if self.conn.execute(select(R.c.pk).where(R.c.pk == current.pk)).first() is None:
                raise NotFoundError(f"{rtype}/{rid} is no longer stored")
            raise ConflictError(f"{rtype}/{rid} was changed by a concurrent request after "
                                f"version {current.version} was read; retry the request")
        self.conn.execute(_INSERT_VERSION, {"res_pk": current.pk, "version": version,
                                            "resource_type": rtype, "last_updated": now,
                                            "deleted": deleted, "method": method,
                                            "content": content})
        if self._on_change is not None:
            self._on_change(current.pk, rtype, stored)
        return Stored(current.pk, rtype, rid, version, now, deleted, method, content)

    def save_many(self, items: list[tuple[str, str, dict | None, str, Stored]]) -> list[Stored]:
        """`save` for many resources that exist (read inside this transaction): (type, id,
        resource or None, method, current) each. One executemany for the guarded updates of
        the resource rows and one for the versions; ConflictError when any of them was changed
        by a concurrent transaction since it was read (NotFoundError when one is gone)."""
        if not items:
            return []
        clock = time.time_ns() // 1000
        rows, versions, out = [], [], []
        for rtype, rid, resource, method, current in items:
            now = max(clock, current.last_updated + 1)   # never goes backwards
            version = current.version + 1
            stored, content = self._stamp(rtype, rid, resource, version, now)
            deleted = resource is None
            rows.append({"b_pk": current.pk, "b_version": current.version, "version": version,
                         "last_updated": now, "deleted": deleted})
            versions.append({"res_pk": current.pk, "version": version, "resource_type": rtype,
                             "last_updated": now, "deleted": deleted, "method": method,
                             "content": content})
            out.append((stored, Stored(current.pk, rtype, rid, version, now, deleted, method,
                                       content)))
        done = self.conn.execute(_UPDATE_CURRENT, rows).rowcount
        if done != len(rows):
            for (rtype, rid, _r, _m, current), row in zip(items, rows):
                now = self.conn.execute(select(R.c.version, R.c.last_updated)
                                        .where(R.c.pk == current.pk)).first()
                if now is None:
                    raise NotFoundError(f"{rtype}/{rid} is no longer stored")
                if (now[0], now[1]) != (row["version"], row["last_updated"]):  # not ours
                    raise ConflictError(f"{rtype}/{rid} was changed by a concurrent request "
                                        f"after version {current.version} was read; retry "
                                        "the request")
            raise ConflictError("A resource was changed by a concurrent request; retry")
        self.conn.execute(_INSERT_VERSION, versions)
        if self._on_change is not None:
            for stored, s in out:
                self._on_change(s.pk, s.resource_type, stored)
        return [s for _, s in out]

    def create_many(self, items: list[tuple[str, str, dict | None, str]]) -> list[Stored]:
        """Version 1 of new resources, in bulk: (type, id, resource, method) each.

        One multi-row INSERT ... RETURNING for the resource rows and one executemany for the
        versions. A unique violation means a concurrent create of the same id: ConflictError,
        and the whole transaction fails (no savepoint; PostgreSQL aborts it anyway).
        """
        if not items:
            return []
        now = time.time_ns() // 1000
        stamped = [self._stamp(t, i, r, 1, now) for t, i, r, _ in items]
        conn = self.conn
        keys: dict[tuple[str, str], int] = {}
        try:
            for start in range(0, len(items), _CREATE_CHUNK):
                chunk = items[start:start + _CREATE_CHUNK]
                flat = [v for t, i, r, _ in chunk for v in (t, i, 1, now, r is None)]
                for pk, t, i in conn.exec_driver_sql(_insert_many_sql(conn, len(chunk)),
                                                     tuple(flat)):
                    keys[(t, i)] = pk
        except IntegrityError:
            ids = ", ".join(f"{t}/{i}" for t, i, _, _ in items[:5])
            raise ConflictError(f"A resource among {ids} was created by a concurrent "
                                "request; retry the request") from None
        pks = [keys[(t, i)] for t, i, _, _ in items]   # RETURNING's order is not promised
        dialect.bulk_insert(conn, V, [(pk, 1, t, now, r is None, m, c)
                                      for pk, (t, _, r, m), (_s, c) in zip(pks, items, stamped)])
        out = []
        for pk, (t, i, r, m), (s, c) in zip(pks, items, stamped):
            if self._on_change is not None:
                self._on_change(pk, t, s, True)
            out.append(Stored(pk, t, i, 1, now, r is None, m, c))
        return out

    # -- aliases (urn:uuid / urn:oid fullUrls) -----------------------------------------------
    def resolve_aliases(self, aliases: Iterable[str]) -> dict[str, str]:
        """alias -> `Type/id` for the aliases recorded by earlier transactions."""
        aliases = list(dict.fromkeys(aliases))
        out: dict[str, str] = {}
        for start in range(0, len(aliases), 500):
            for row in self.conn.execute(_ALIASES, {"aliases": aliases[start:start + 500]}):
                out[row.alias] = f"{row.resource_type}/{row.resource_id}"
        return out

    def add_aliases(self, pairs: list[tuple[str, int]]) -> None:
        """Record alias -> resource; an alias already recorded keeps its first target."""
        if not pairs:
            return
        # ON CONFLICT DO NOTHING: one statement, where a look-up first took two
        stmt = _INSERT_ALIAS.get(self.conn.dialect.name)
        if stmt is None:
            stmt = _INSERT_ALIAS[self.conn.dialect.name] = dialect.insert_new(self.conn, A)
        self.conn.execute(stmt, [{"alias": a, "res_pk": pk} for a, pk in dict(pairs).items()])
