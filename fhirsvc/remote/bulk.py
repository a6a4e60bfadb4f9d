"""Bulk Data export, client side (hl7.org/fhir/uv/bulkdata/export.html): kick-off, status
polling (honouring Retry-After), the manifest, NDJSON downloads that resume at a line.

Each step's state is a small JSON dict the caller checkpoints, so a job that dies resumes:
polling the same status URL (no second kick-off), downloading from the file and line it had
reached.
"""
from __future__ import annotations

import orjson
import requests

from .http import RemoteClient, RemoteError, retry_after

NDJSON = "application/fhir+ndjson"


def kick_off(client: RemoteClient, types=(), since: str | None = None, level: str = "system",
             patient_group: str | None = None) -> str:
    """Start an export; returns its status URL (checked to be under the endpoint's base)."""
    path = {"system": "$export", "patient": "Patient/$export",
            "group": f"Group/{patient_group}/$export"}[level]
    params = [("_outputFormat", NDJSON)]
    if types:
        params.append(("_type", ",".join(types)))
    if since:
        params.append(("_since", since))
    resp = client.request("GET", path, params=params, ok=(202,),
                          headers={"Accept": "application/fhir+json",
                                   "Prefer": "respond-async"})
    status = resp.headers.get("Content-Location")
    if not status:
        raise RemoteError(f"{resp.url}: the kick-off answered 202 without Content-Location",
                          202, url=resp.url)
    return client.url(status)


def poll(client: RemoteClient, status_url: str, default_wait: float = 1.0,
         max_polls: int = 10_000, on_progress=None) -> dict:
    """Poll until the manifest; waits as the server's Retry-After says."""
    for _ in range(max_polls):
        resp = client.request("GET", status_url, ok=(200, 202),
                              headers={"Accept": "application/json"})
        if resp.status_code == 200:
            manifest = client.json_of(resp)
            if not isinstance(manifest.get("output"), list):
                raise RemoteError(f"{status_url}: the manifest has no output list", 200,
                                  manifest, status_url)
            return manifest
        if on_progress is not None:
            on_progress(resp.headers.get("X-Progress"))
        wait = retry_after(resp.headers.get("Retry-After"))
        resp.close()
        client.sleep(min(wait if wait is not None else default_wait,
                         client.endpoint.max_retry_after))
    raise RemoteError(f"{status_url}: still not complete after {max_polls} polls", 202,
                      url=status_url)


def lines(client: RemoteClient, url: str, start: int = 0, retries: int | None = None):
    """(line number, parsed JSON or the parse error) for each line of an NDJSON file from
    line `start`. A connection lost mid-file downloads it again and skips what was
    yielded; after `retries` such losses the error propagates (the job resumes later)."""
    retries = client.endpoint.max_retries if retries is None else retries
    done, failures = start, 0
    while True:
        resp = client.request("GET", url, stream=True, headers={"Accept": NDJSON})
        try:
            n = 0
            for raw in resp.iter_lines():
                if n < done:
                    n += 1
                    continue
                n += 1
                done = n
                if not raw.strip():
                    continue
                try:
                    yield n - 1, orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield n - 1, exc
            return
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.Timeout) as exc:
            failures += 1
            if failures > retries:
                raise RemoteError(f"{url}: connection lost at line {done} ({failures} times)",
                                  url=url) from exc
            client.sleep(client.backoff * 2 ** (failures - 1))
        finally:
            resp.close()


def finish(client: RemoteClient, status_url: str) -> None:
    """Tell the server the files may go (a courtesy: failures are ignored)."""
    try:
        client.request("DELETE", status_url, ok=None).close()
    except RemoteError:
        pass
