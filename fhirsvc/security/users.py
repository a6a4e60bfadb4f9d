"""The user directory: people who log in to the pages (/ui/login) when auth is on.

    users = UserDirectory(db)
    users.add("ann", password, "user/*.rs")          # scopes: user/ resource scopes (+ admin)
    user = users.login(ctx, "ann", password)         # a User, or LoginRefused (rate-limited)
    cookie = sessions.issue(user); sessions.read(cookie) -> Session | None

A user holds `user/` scopes (SMART App Launch: what a person may see), plus `fhirsvc/admin`
for administrators. A page then runs with exactly these scopes in its RequestContext, as a
token with them would (the guard decides; nothing here does). Passwords are hashed with
hashlib.scrypt (n=2^14, r=8, p=1, 16 random bytes of salt) and compared in constant time;
failed logins count per user name and per source address in the database (every worker sees
them) and are refused past the limit for the window. Sessions are signed cookies (an HMAC
key derived from the server's signing key, so every process of one server accepts them),
with an expiry, and end at logout (the user's `sessions_after`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from .scopes import ADMIN_SCOPE, parse_scope

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
FAIL_WINDOW = 15 * 60            # seconds over which failed logins count
FAIL_PER_USER = 5                # failures of one user name in the window, then refused
FAIL_PER_ADDRESS = 20            # failures from one address in the window, then refused
SESSION_LIFETIME = 8 * 3600      # seconds a login lasts


class LoginRefused(Exception):
    """A login refused; `retry_after` (seconds) when it is the rate limit."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    name: str
    scopes: frozenset[str]
    sessions_after: int = 0

    @property
    def administrator(self) -> bool:
        return ADMIN_SCOPE in self.scopes


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32)
    return "scrypt${}${}${}${}${}".format(SCRYPT_N, SCRYPT_R, SCRYPT_P,
                                          base64.b64encode(salt).decode(),
                                          base64.b64encode(digest).decode())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# a hash to check against when the user does not exist: the answer takes as long either way
_NOBODY = hash_password(secrets.token_hex(16))


def check_user_scopes(scope: str) -> str:
    """The scopes a person may hold: `user/` resource scopes and fhirsvc/admin (ValueError
    otherwise: a system/ or patient/ scope is a client's, not a person's)."""
    out = []
    for s in scope.split():
        if s == ADMIN_SCOPE:
            out.append(s)
            continue
        parsed = parse_scope(s)   # ValueError for a malformed resource scope
        if parsed is None or parsed.context != "user":
            raise ValueError(f"{s!r}: a user holds user/ scopes (user/Patient.rs, user/*.rs) "
                             f"and {ADMIN_SCOPE}")
        out.append(s)
    if not out:
        raise ValueError("give the user at least one scope, e.g. --scope \"user/*.rs\"")
    return " ".join(dict.fromkeys(out))


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise ValueError(f"{name!r} is not a user name (letters, digits, . _ @ -; at most 64)")
    return name


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"the password is too short (at least {MIN_PASSWORD} characters)")
    return password


def _micros() -> int:
    return time.time_ns() // 1000


class UserDirectory:
    """Users in the database (storage/users.py through the unit of work)."""

    def __init__(self, db):
        self.db = db

    def add(self, name: str, password: str, scope: str) -> User:
        check_name(name)
        check_password(password)
        scope = check_user_scopes(scope)
        with self.db.unit_of_work(write=True) as uow:
            row = uow.users.put(name, hash_password(password), scope)
            uow.commit()
        return _user(row)

    def list(self) -> list:
        with self.db.unit_of_work() as uow:
            return uow.users.list()

    def entry(self, name: str):
        """The stored row (name, scope, created, disabled; the hash stays here)."""
        with self.db.unit_of_work() as uow:
            return uow.users.get(name)

    def get(self, name: str) -> User | None:
        with self.db.unit_of_work() as uow:
            row = uow.users.get(name)
        return _user(row) if row is not None and not row.disabled else None

    def remove(self, name: str) -> bool:
        with self.db.unit_of_work(write=True) as uow:
            done = uow.users.remove(name)
            uow.commit()
        return done

    def end_sessions(self, name: str) -> None:
        with self.db.unit_of_work(write=True) as uow:
            uow.users.end_sessions(name)
            uow.commit()

    def login(self, name: str, password: str, source: str | None) -> User:
        """The user whose password this is; LoginRefused for a wrong name or password (one
        message for both) or past the failure limit (checked before the password)."""
        keys = [f"user:{name.lower()}", f"addr:{source or '-'}"]
        since = _micros() - FAIL_WINDOW * 1_000_000
        with self.db.unit_of_work() as uow:
            row = uow.users.get(name)
            over = (uow.users.failures(keys[0], since) >= FAIL_PER_USER or
                    uow.users.failures(keys[1], since) >= FAIL_PER_ADDRESS)
        if over:
            raise LoginRefused("Too many failed logins: wait a few minutes and try again",
                               retry_after=FAIL_WINDOW)
        ok = verify_password(password, row.password_hash if row is not None else _NOBODY)
        if not ok or row is None or row.disabled:
            with self.db.unit_of_work(write=True) as uow:
                uow.users.fail(keys, keep_since=since)
                uow.commit()
            raise LoginRefused("The user name or the password is not right")
        with self.db.unit_of_work(write=True) as uow:
            uow.users.forget_failures(keys[0])
            uow.commit()
        return _user(row)


def _user(row) -> User:
    return User(row.name, frozenset(row.scope.split()), row.sessions_after)


@dataclass(frozen=True)
class Session:
    name: str
    issued: int          # microseconds since the epoch
    expires: int         # seconds since the epoch
    csrf: str            # the token every POST form of this session carries


class Sessions:
    """Signed session cookies: `name|issued|expires|csrf|mac` (HMAC-SHA256, base64url)."""

    def __init__(self, secret: bytes, lifetime: int = SESSION_LIFETIME):
        self.key = hmac.new(secret, b"fhirsvc ui session v1", hashlib.sha256).digest()
        self.lifetime = lifetime

    def _mac(self, payload: str) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, payload.encode("utf-8"),
                                                 hashlib.sha256).digest()).decode().rstrip("=")

    def issue(self, user: User) -> tuple[str, Session]:
        session = Session(user.name, _micros(), int(time.time()) + self.lifetime,
                          secrets.token_urlsafe(24))
        payload = f"{session.name}|{session.issued}|{session.expires}|{session.csrf}"
        return f"{payload}|{self._mac(payload)}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie this server signed and that has not expired, else None."""
        if not cookie or cookie.count("|") != 4:
            return None
        payload, _, mac = cookie.rpartition("|")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        name, issued, expires, csrf = payload.split("|")
        try:
            session = Session(name, int(issued), int(expires), csrf)
        except ValueError:
            return None
        return session if session.expires > time.time() else None

    def csrf_for_anonymous(self, nonce: str) -> str:
        """The login form's token, bound to a random nonce cookie (double submit)."""
        return self._mac(f"login|{nonce}")

    def check_csrf(self, expected: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(expected, given)


def session_secret(signing_key) -> bytes:
    """The sessions' HMAC secret, derived from the server's token-signing key (one file
    every process of a server reads: sessions work across workers and restarts)."""
    from cryptography.hazmat.primitives import serialization
    der = signing_key.private_key.private_bytes(serialization.Encoding.DER,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())
    return hashlib.sha256(b"fhirsvc ui sessions\0" + der).digest()
