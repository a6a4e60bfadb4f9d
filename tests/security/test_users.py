"""The pages' user directory (fhirsvc/security/users.py): password hashes, the scopes a
person may hold, signed sessions, and the directory with its failure limit on SQLite and
PostgreSQL."""
from __future__ import annotations

import time

import pytest

from fhirsvc.security import users as U


def test_passwords_are_scrypt_hashed_salted_and_checked():
    a, b = U.hash_password("a long passphrase"), U.hash_password("a long passphrase")
    assert a.startswith(f"scrypt${U.SCRYPT_N}${U.SCRYPT_R}${U.SCRYPT_P}$") and a != b
    assert U.verify_password("a long passphrase", a) and U.verify_password("a long passphrase", b)
    assert not U.verify_password("a long passphrasE", a)
    assert not U.verify_password("x", "md5$abc") and not U.verify_password("x", "garbage")


def test_a_person_holds_user_scopes_and_admin_only():
    assert U.check_user_scopes("user/*.rs fhirsvc/admin user/*.rs") == "user/*.rs fhirsvc/admin"
    for bad in ("system/*.rs", "patient/Observation.rs", "openid", "user/Patient.xyz", ""):
        with pytest.raises(ValueError):
            U.check_user_scopes(bad)
    with pytest.raises(ValueError):
        U.check_name("a|b")
    with pytest.raises(ValueError):
        U.check_password("short")


def test_sessions_are_signed_and_expire():
    sessions = U.Sessions(b"k" * 32, lifetime=60)
    cookie, session = sessions.issue(U.User("ann", frozenset({"user/*.rs"})))
    assert sessions.read(cookie) == session and len(session.csrf) >= 24
    assert sessions.read(cookie.replace("ann|", "bob|", 1)) is None        # tampered
    assert U.Sessions(b"j" * 32).read(cookie) is None                     # another secret
    assert sessions.read(cookie[:-2]) is None and sessions.read("") is None
    expired = U.Sessions(b"k" * 32, lifetime=-1).issue(U.User("ann", frozenset()))[0]
    assert sessions.read(expired) is None
    assert sessions.check_csrf(session.csrf, session.csrf)
    assert not sessions.check_csrf(session.csrf, None) and not sessions.check_csrf("a", "b")


@pytest.fixture(scope="module")
def directory(db_url):
    from fhirsvc.storage import Database
    from fhirsvc.storage.migrate import upgrade
    upgrade(db_url)
    db = Database(db_url)
    yield U.UserDirectory(db)
    db.dispose()


def test_directory_login_and_failure_limit(directory):
    user = directory.add("dora", "a long passphrase", "user/Patient.rs")
    assert user.scopes == frozenset({"user/Patient.rs"})
    assert directory.login("dora", "a long passphrase", "10.0.0.1").name == "dora"
    with pytest.raises(U.LoginRefused) as exc:
        directory.login("dora", "wrong", "10.0.0.1")
    assert exc.value.retry_after is None
    for _ in range(U.FAIL_PER_USER - 1):
        with pytest.raises(U.LoginRefused):
            directory.login("dora", "wrong", "10.0.0.2")
    with pytest.raises(U.LoginRefused) as exc:          # past the limit: even the right one
        directory.login("dora", "a long passphrase", "10.0.0.3")
    assert exc.value.retry_after == U.FAIL_WINDOW
    # replacing the password ends older sessions; removing the user ends all
    before = directory.get("dora").sessions_after
    time.sleep(0.002)
    directory.add("dora", "another long one", "user/*.rs")
    assert directory.get("dora").sessions_after > before
    assert directory.remove("dora") and directory.get("dora") is None
    assert not directory.remove("dora")
