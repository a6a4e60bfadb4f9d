"""Where export files live, behind a small interface so an object store can replace the local
folder later.

    store = LocalFileStore(Path("instance/exports"))
    with store.append(job_id, "Patient.ndjson", offset) as out:   # resumes at a checkpoint
        out.write(b"...\\n")
        out.offset                                               # bytes written so far
    for chunk in store.read(job_id, "Patient.ndjson"): ...       # constant memory
    store.remove(job_id)

An append handle starts at the byte offset of the last committed checkpoint and cuts off
whatever a crashed attempt wrote after it, so a resumed job never duplicates a line.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

CHUNK = 256 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


class FileStore(Protocol):
    def append(self, job_id: int, name: str, offset: int) -> "AppendHandle": ...
    def read(self, job_id: int, name: str) -> Iterator[bytes]: ...
    def size(self, job_id: int, name: str) -> int | None: ...
    def remove(self, job_id: int) -> None: ...


class AppendHandle:
    def __init__(self, fh: BinaryIO, offset: int):
        self._fh = fh
        self.offset = offset

    def write(self, data: bytes) -> None:
        self._fh.write(data)
        self.offset += len(data)

    def flush(self) -> None:
        """Data written so far reaches the OS: it survives the worker process dying."""
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "AppendHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_name(name: str) -> str:
    """File names come from resource types and fixed words; anything else (a path) is refused
    so a URL can never reach outside a job's folder."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"not an export file name: {name!r}")
    return name


class LocalFileStore:
    """One folder per job under `root` (default instance/exports)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, job_id: int) -> Path:
        return self.root / f"job-{int(job_id)}"

    def _path(self, job_id: int, name: str) -> Path:
        return self._dir(job_id) / check_name(name)

    def append(self, job_id: int, name: str, offset: int) -> AppendHandle:
        path = self._path(job_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "r+b" if path.exists() else "w+b")
        fh.truncate(offset)  # drop what an interrupted attempt wrote after its checkpoint
        fh.seek(offset)
        return AppendHandle(fh, offset)

    def read(self, job_id: int, name: str) -> Iterator[bytes]:
        path = self._path(job_id, name)
        fh = open(path, "rb")  # opened now: a missing file fails before the response starts

        def chunks() -> Iterator[bytes]:
            with fh:
                while True:
                    block = fh.read(CHUNK)
                    if not block:
                        return
                    yield block
        return chunks()

    def size(self, job_id: int, name: str) -> int | None:
        try:
            return os.path.getsize(self._path(job_id, name))
        except (OSError, ValueError):
            return None

    def remove(self, job_id: int) -> None:
        shutil.rmtree(self._dir(job_id), ignore_errors=True)

    def exists(self, job_id: int) -> bool:
        return self._dir(job_id).exists()
