"""HTTP to one remote FHIR system: one `requests.Session` per endpoint (pooled connections),
timeouts on every request, TLS verified (the endpoint's CA bundle, else the system's), a rate
limit, retries with exponential backoff, and authentication (fhirsvc.remote.auth).

Retries are decided here by hand rather than by urllib3's `Retry`, because the rule depends on
whether the request can have been applied, which urllib3 ties to the method alone:
- a connection that could not be made (refused, connect timeout): nothing was sent, so every
  method is retried;
- 429 and 503: the server says it did not process the request; every method is retried after
  `Retry-After` (seconds or an HTTP date, capped by the endpoint's `max_retry_after`), else the
  exponential backoff;
- a connection dropped or a read timeout after the request was sent: retried for GET (and
  other idempotent methods) only. A POST (a transaction) may have been applied: it is not
  repeated, the caller gets `MaybeApplied`.

`sleep(seconds)` is injected: a job passes its context's sleep, so a cancel or a worker stop
wakes it; tests record the delays instead of waiting.
"""
from __future__ import annotations

import email.utils
import logging
import threading
import time
from datetime import timezone
from typing import Callable

import requests
from requests.adapters import HTTPAdapter

from .endpoint import Endpoint

log = logging.getLogger("fhirsvc.remote")

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUS = frozenset({429, 503})
FHIR_JSON = "application/fhir+json"


class RemoteError(Exception):
    """A remote request that failed for good (after the retries it was allowed)."""

    def __init__(self, message: str, status: int | None = None, body=None, url: str = "",
                 retry_after: float | None = None):
        super().__init__(message)
        self.status, self.body, self.url = status, body, url
        self.retry_after = retry_after   # the remote's Retry-After on a final 429 / 503


class MaybeApplied(RemoteError):
    """A non-idempotent request whose connection failed after it was sent: it may have been
    applied on the remote, so it is not repeated."""


class NotAllowed(RemoteError):
    """A URL outside the endpoint's base (a paging link or file URL from remote data)."""


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RemoteClient:
    def __init__(self, endpoint: Endpoint, auth=None, sleep: Callable[[float], None] = time.sleep,
                 backoff: float = 0.5, pool: int = 4):
        self.endpoint = endpoint
        self.auth = auth             # fhirsvc.remote.auth: header(client) / invalidate()
        self.sleep = sleep
        self.backoff = backoff       # first retry delay; doubles each attempt
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # TLS verification is always on: the endpoint's CA bundle, else the system store
        self.session.verify = endpoint.ca_bundle or True
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": "fhirsvc-remote"})
        self._rate_lock = threading.Lock()
        self._next_slot = 0.0
        self.requests_sent = 0       # attempts actually made (tests, benchmarks)

    def close(self) -> None:
        self.session.close()

    # -- URLs ----------------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """A path relative to the base, or an absolute URL that must be under the base."""
        if "://" in path_or_url:
            url = path_or_url
        elif not path_or_url.strip("/"):
            url = self.endpoint.base_url  # the base itself (transactions, batches)
        else:
            url = f"{self.endpoint.base_url}/{path_or_url.lstrip('/')}"
        if not self.endpoint.allows(url):
            raise NotAllowed(f"{url} is not under the configured base {self.endpoint.base_url} "
                             f"of endpoint {self.endpoint.name}: not fetched", url=url)
        return url

    # -- requests ------------------------------------------------------------------------------
    def get_json(self, path_or_url: str, params=None, headers=None, authenticate=True) -> dict:
        resp = self.request("GET", path_or_url, params=params, headers=headers,
                            authenticate=authenticate)
        return self.json_of(resp)

    def post_json(self, path_or_url: str, body: dict, headers=None) -> requests.Response:
        import orjson
        h = {"Content-Type": FHIR_JSON, **(headers or {})}
        return self.request("POST", path_or_url, data=orjson.dumps(body), headers=h,
                            ok=None)

    @staticmethod
    def json_of(resp: requests.Response) -> dict:
        try:
            body = resp.json()
        except ValueError:
            raise RemoteError(f"{resp.url} answered {resp.status_code} with a body that is not "
                              "JSON", resp.status_code, resp.text[:500], resp.url) from None
        if not isinstance(body, dict):
            raise RemoteError(f"{resp.url} answered JSON that is not an object",
                              resp.status_code, url=resp.url)
        return body

    def request(self, method: str, path_or_url: str, *, params=None, data=None, headers=None,
                stream: bool = False, ok=(200,), authenticate: bool = True
                ) -> requests.Response:
        """One request with the retry rules above. `ok`: the statuses returned (others raise
        RemoteError with the remote's body); None returns any status that is not retried."""
        url = self.url(path_or_url)
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            self._wait_for_rate_limit()
            h = dict(headers or {})
            if self.auth is not None and authenticate:
                h.update(self.auth.header(self))
            self.requests_sent += 1
            try:
                resp = self.session.request(method, url, params=params, data=data, headers=h,
                                            timeout=self.endpoint.timeout, stream=stream,
                                            allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                sent = not _not_sent(exc)
                if sent and method not in IDEMPOTENT:
                    raise MaybeApplied(f"{method} {url}: {_reason(exc)} after the request was "
                                       "sent; it may have been applied, so it is not repeated",
                                       url=url) from exc
                if attempt > self.endpoint.max_retries:
                    raise RemoteError(f"{method} {url}: {_reason(exc)} ({attempt} attempts)",
                                      url=url) from exc
                delay = self.backoff * 2 ** (attempt - 1)
                log.info("%s %s: %s; retry %d in %.2f s", method, url, _reason(exc), attempt,
                         delay)
                self.sleep(delay)
                continue
            if resp.status_code in RETRY_STATUS and attempt <= self.endpoint.max_retries:
                wait = retry_after(resp.headers.get("Retry-After"))
                delay = min(wait if wait is not None else self.backoff * 2 ** (attempt - 1),
                            self.endpoint.max_retry_after)
                resp.close()
                log.info("%s %s: %d; retry %d in %.2f s", method, url, resp.status_code,
                         attempt, delay)
                self.sleep(delay)
                continue
            if resp.status_code == 401 and self.auth is not None and authenticate and \
                    not refreshed and self.auth.refreshable:
                # a token the remote no longer takes (revoked, clock skew): one fresh token
                refreshed = True
                resp.close()
                self.auth.invalidate()
                attempt -= 1
                continue
            if ok is not None and resp.status_code not in ok:
                raise self._error(method, url, resp)
            if resp.status_code in RETRY_STATUS:
                raise self._error(method, url, resp)
            return resp

    @staticmethod
    def _error(method: str, url: str, resp: requests.Response) -> RemoteError:
        try:
            body = resp.json()
        except ValueError:
            body = resp.text[:500]
        detail = ""
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            detail = "; ".join(i.get("diagnostics") or (i.get("details") or {}).get("text", "")
                               for i in body.get("issue", []))
        return RemoteError(f"{method} {url} answered {resp.status_code}"
                           + (f": {detail}" if detail else ""), resp.status_code, body, url,
                           retry_after(resp.headers.get("Retry-After")))

    def _wait_for_rate_limit(self) -> None:
        rate = self.endpoint.rate_limit
        if not rate:
            return
        with self._rate_lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + 1.0 / rate
        if wait > 0:
            self.sleep(wait)


def _not_sent(exc: Exception) -> bool:
    """True when the request certainly never reached the server (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    import urllib3.exceptions as u3
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", cause)
    return isinstance(reason, (u3.NewConnectionError, u3.NameResolutionError)) or \
        isinstance(cause, (u3.NewConnectionError, u3.NameResolutionError))


def _reason(exc: Exception) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout"
    return f"connection error ({type(exc).__name__}: {str(exc)[:160]})"

