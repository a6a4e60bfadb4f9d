"""Throwaway PostgreSQL databases (tests, benchmarks): CREATE / DROP DATABASE through an
administrative connection.

    scratch = ScratchDatabases("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    url = scratch.create("fhirsvc_t")        # a new, empty database beside the admin one
    scratch.drop(url)
"""
from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

from .dialect import normalise_url


class ScratchDatabases:
    def __init__(self, admin_url: str):
        self.admin_url = normalise_url(admin_url)
        self.engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def check(self) -> None:
        """Raises when the server cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def create(self, prefix: str = "fhirsvc_t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def dispose(self) -> None:
        self.engine.dispose()
