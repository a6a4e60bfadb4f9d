"""Remote FHIR systems: configure endpoints, pull from them into fhirsvc, push to them.

    remote.add_endpoint(ctx, "hospital-a", "https://...", settings)
    job = remote.start_pull(ctx, "hospital-a", mode="search", query="Observation?code=...")
    remote.run_pull(ctx, params, progress)        # what the `remote-pull` job kind runs
    remote.run_push(ctx, params, progress)        # `remote-push`

Pull: pages of a search (next links only under the endpoint's base), Patient/$everything, or a
Bulk Data export; every page becomes a transaction through the ingestion pipeline with a
Provenance (door `remote-pull`, the endpoint, the page URL), resources keyed by their remote
URL (fhirsvc.remote.transform), unchanged ones skipped: pulling twice stores nothing new. A
resource the pipeline refuses is reported on the job with its issues and left out; the rest of
its page is stored. The endpoint's cursor (the remote's time when the pull began) is saved
when the pull finishes, and the next pull asks only for what changed since.

Push: a patient's compartment, a Group's members or a search result as one transaction (a
batch when the remote does not do transactions), each resource a conditional update on a
business identifier and every reference conditional or to an entry, so pushing again updates.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode

from ..ingest import ProvenanceRecord
from ..outcomes import OperationOutcomeError, fail
from ..remote import (Endpoint, MaybeApplied, NotAllowed, RemoteError, TokenError, Translator,
                      connect, localise)
from ..remote import bulk
from ..resource_types import ELEMENTS, RESOURCE_TYPES
from ..storage.errors import ConflictError

log = logging.getLogger("fhirsvc.remote")

DOOR_REMOTE_PULL = "remote-pull"
PULL_KIND, PUSH_KIND = "remote-pull", "remote-push"
MODES = ("types", "search", "patient", "bulk")
MAX_REPORTED = 200        # per-resource problems kept on a job (the count is exact)
URI_SYSTEM = "urn:ietf:rfc:3986"
# pushed first: what the others refer to (a batch has no entry references to order by)
PUSH_ORDER = {"Organization": 0, "Location": 1, "Practitioner": 2, "PractitionerRole": 3,
              "Patient": 4, "Group": 5, "Encounter": 6}


class RemoteFailure(Exception):
    """A pull or push that cannot go on (bad configuration, a refused token, a request that
    may have been applied): the job fails with this message, it is not retried."""


@dataclass
class Progress:
    """What a door gives a run: the resumable cursor, a checkpoint call and a sleep that a
    cancellation wakes (the job context; plain functions from a test)."""
    cursor: dict | None = None
    checkpoint: object = None            # checkpoint(cursor, done=n, note=...)
    sleep: object = None                 # sleep(seconds)

    def save(self, cursor: dict, note: str | None = None) -> None:
        self.cursor = cursor
        if self.checkpoint is not None:
            self.checkpoint(cursor, done=cursor["stats"]["seen"], note=note)


def _stats() -> dict:
    return {"seen": 0, "stored": 0, "unchanged": 0, "failed": 0, "pages": 0,
            "transactions": 0, "problems": []}


def _problem(stats: dict, where: str, message: str, issues=()) -> None:
    stats["failed"] += 1
    if len(stats["problems"]) < MAX_REPORTED:
        stats["problems"].append({"resource": where, "message": message,
                                  "issues": [_issue_json(i) for i in issues][:20]})


def _instant(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_since(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"since must be an instant such as 2024-01-31T10:00:00Z, not "
                         f"{value!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"since needs a time zone (Z or +hh:mm): {value!r}")
    return _instant(dt)


class RemoteService:
    def __init__(self, db, resources, search, queue_factory):
        self.db = db
        self.resources = resources
        self.search = search
        self._queue = queue_factory      # () -> JobQueue (jobs import services: built late)

    # -- endpoints ---------------------------------------------------------------------------
    def add_endpoint(self, ctx, name: str, base_url: str, settings: dict) -> Endpoint:
        try:
            endpoint = Endpoint.from_settings(name, base_url, settings)
        except ValueError as exc:
            raise fail(400, "invalid", str(exc)) from None
        with self.db.unit_of_work(write=True) as uow:
            uow.endpoints.put(endpoint.name, endpoint.base_url, settings)
            uow.commit()
        return endpoint

    def endpoints(self, ctx) -> list[Endpoint]:
        with self.db.unit_of_work() as uow:
            rows = uow.endpoints.list()
        return [Endpoint.from_settings(r.name, r.base_url, r.settings) for r in rows]

    def endpoint(self, ctx, name: str) -> Endpoint:
        return self._row(name)[0]

    def cursors(self, ctx, name: str) -> dict:
        return self._row(name)[1]

    def _row(self, name: str) -> tuple[Endpoint, dict]:
        with self.db.unit_of_work() as uow:
            row = uow.endpoints.get(name)
        if row is None:
            raise fail(404, "not-found", f"No remote endpoint named {name!r} (fhirsvc "
                       "endpoints add NAME BASE_URL)")
        return Endpoint.from_settings(row.name, row.base_url, row.settings), row.cursors

    # -- starting jobs -----------------------------------------------------------------------
    @staticmethod
    def _administrator(ctx) -> None:
        """Pulling and pushing act for the whole server (every type, another system): a
        caller with a token needs the administrator scope; trusted doors (CLI, worker, auth
        off) pass."""
        from ..security import ADMIN_SCOPE
        from ..security.guard import forbidden
        if ctx.enforce and ADMIN_SCOPE not in ctx.scopes:
            raise forbidden(f"Remote pulls and pushes need the scope {ADMIN_SCOPE}")

    def start_pull(self, ctx, endpoint: str, mode: str = "types", query: str | None = None,
                   patient: str | None = None, since: str | None = None):
        self._administrator(ctx)
        try:
            params = pull_parameters({"endpoint": endpoint, "mode": mode, "query": query,
                                      "patient": patient, "since": since})
        except ValueError as exc:
            raise fail(400, "invalid", str(exc)) from None
        self._row(params["endpoint"])  # 404 for an unknown endpoint now, not in the worker
        return self._queue().enqueue(PULL_KIND, params, requested_by=ctx.caller)

    def start_push(self, ctx, endpoint: str, patient: str | None = None,
                   group: str | None = None, query: str | None = None):
        self._administrator(ctx)
        try:
            params = push_parameters({"endpoint": endpoint, "patient": patient, "group": group,
                                      "query": query})
        except ValueError as exc:
            raise fail(400, "invalid", str(exc)) from None
        self._row(params["endpoint"])
        return self._queue().enqueue(PUSH_KIND, params, requested_by=ctx.caller)

    def job(self, ctx, job_id: int):
        """A pull or push job (its state, progress and result)."""
        self._administrator(ctx)
        job = self._queue().get(job_id)
        if job is None or job.kind not in (PULL_KIND, PUSH_KIND):
            raise fail(404, "not-found", f"No remote pull or push job {job_id}")
        return job

    # -- pull --------------------------------------------------------------------------------
    def run_pull(self, ctx, params: dict, progress: Progress) -> dict:
        endpoint, cursors = self._row(params["endpoint"])
        key = pull_key(params)
        client = connect(endpoint, sleep=progress.sleep)
        try:
            cursor = progress.cursor or {"stats": _stats(), "since": params.get("since")
                                         or cursors.get(key), "started": None}
            run = _PullRun(self, ctx.with_(require_guide_profiles=endpoint.strict
                                           or ctx.require_guide_profiles),
                           endpoint, client, self._translator(ctx, endpoint), cursor, progress,
                           params)
            try:
                if params["mode"] == "bulk":
                    run.bulk()
                else:
                    run.searches()
            except (TokenError, MaybeApplied) as exc:
                raise RemoteFailure(str(exc)) from exc
            stats = cursor["stats"]
            # The cursor moves only when everything was taken: a refused resource (or a page
            # not fetched) is asked for again by the next pull; the rest is found unchanged.
            advanced = bool(cursor["started"]) and not stats["failed"]
            if advanced:
                with self.db.unit_of_work(write=True) as uow:
                    uow.endpoints.set_cursor(endpoint.name, key, cursor["started"])
                    uow.commit()
            log.info("pull from %s (%s): %d seen, %d stored, %d unchanged, %d failed",
                     endpoint.name, key, stats["seen"], stats["stored"], stats["unchanged"],
                     stats["failed"])
            return {"endpoint": endpoint.name, "mode": params["mode"], "since": cursor["since"],
                    "next_since": cursor["started"] if advanced else cursor["since"],
                    "requests": client.requests_sent, **stats}
        finally:
            client.close()

    def _translator(self, ctx, endpoint: Endpoint) -> Translator | None:
        if not endpoint.concept_maps:
            return None
        maps = []
        for url in endpoint.concept_maps:
            bundle = self.search.search(ctx, "ConceptMap", [("url", url)])
            found = [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
            if not found:
                raise RemoteFailure(f"endpoint {endpoint.name}: ConceptMap {url} is not stored "
                                    "here (POST it to /ConceptMap first)")
            maps.extend(_plain(r) for r in found)
        return Translator.from_concept_maps(maps)

    def store_page(self, ctx, endpoint: Endpoint, resources: list[dict], page_url: str,
                   stats: dict, translator: Translator | None = None, activity: str = "") -> None:
        """One page of remote resources: localised, unchanged ones skipped, the rest in one
        transaction with its Provenance. Resources the pipeline refuses are reported and
        left out (their page is stored without them); nothing is half-stored."""
        stats["pages"] += 1
        local: dict[str, tuple[dict, str]] = {}   # Type/localid -> (resource, remote URL)
        for i, res in enumerate(resources):
            stats["seen"] += 1
            if not isinstance(res, dict) or res.get("resourceType") not in RESOURCE_TYPES \
                    or not isinstance(res.get("id"), str) or not res["id"]:
                _problem(stats, f"{page_url} entry {i}", "not a resource with a known "
                         "resourceType and an id: skipped")
                continue
            done = localise(res, endpoint.base_url, translator)
            for code in done.unknown_codes:
                if len(stats["problems"]) < MAX_REPORTED:
                    stats["problems"].append({"resource": done.remote, "message":
                                              f"code {code} is not in the endpoint's "
                                              "ConceptMaps: kept untranslated",
                                              "severity": "warning"})
            ref = f"{res['resourceType']}/{done.resource['id']}"
            local[ref] = (done.resource, done.remote)
        if not local:
            return
        changed = self._changed(local, stats)
        for _ in range(len(changed) + 1):
            if not changed:
                return
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
                {"fullUrl": f"{ctx.base_url}/{ref}", "resource": res,
                 "request": {"method": "PUT", "url": ref}} for ref, (res, _) in changed]}
            record = ProvenanceRecord(
                door=DOOR_REMOTE_PULL, agent=f"{endpoint.name} ({endpoint.base_url})",
                source_id=page_url, source_system=endpoint.base_url,
                activity=activity or f"pulled from {endpoint.name}")
            try:
                self._ingest(ctx, bundle, record)
            except OperationOutcomeError as exc:
                bad = _entries_of(exc.issues, len(changed))
                if not bad:  # not located in an entry: the whole page is refused
                    for _ref, (_res, url) in changed:
                        _problem(stats, url, str(exc), exc.issues)
                    return
                for i in sorted(bad):
                    ref, (_res, url) = changed[i]
                    _problem(stats, url, "refused by validation: left out",
                             [_issue_json(issue, i, ref.split("/")[0]) for issue in bad[i]
                              if issue.is_error])
                changed = [c for i, c in enumerate(changed) if i not in bad]
                continue
            stats["stored"] += len(changed)
            stats["transactions"] += 1
            return

    def _ingest(self, ctx, bundle: dict, record: ProvenanceRecord) -> None:
        for attempt in range(3):
            try:
                self.resources.ingest(ctx.with_(door=DOOR_REMOTE_PULL), bundle, record)
                return
            except ConflictError:  # a concurrent writer of the same resources: run it again
                if attempt == 2:
                    raise

    def _changed(self, local: dict, stats: dict) -> list[tuple[str, tuple[dict, str]]]:
        from ..remote.transform import same_content
        by_type: dict[str, list[str]] = {}
        for ref in local:
            rtype, rid = ref.split("/")
            by_type.setdefault(rtype, []).append(rid)
        with self.db.unit_of_work() as uow:
            current = {f"{rtype}/{rid}": s for rtype, rids in by_type.items()
                       for rid, s in uow.resources.read_keys(rtype, rids).items()}
        out = []
        for ref, item in local.items():
            s = current.get(ref)
            if s is not None and not s.deleted and same_content(s.resource(), item[0]):
                stats["unchanged"] += 1
            else:
                out.append((ref, item))
        return out

    # -- push --------------------------------------------------------------------------------
    def run_push(self, ctx, params: dict, progress: Progress) -> dict:
        endpoint, _ = self._row(params["endpoint"])
        client = connect(endpoint, sleep=progress.sleep)
        try:
            try:
                meta = client.get_json("metadata")
                check_fhir_version(endpoint, meta)
                resources = self._push_set(ctx, params)
                if not resources:
                    raise RemoteFailure("nothing to push: " + _what(params) + " found nothing")
                kind = "transaction" if supports(meta, "transaction") else "batch"
                bundle, skipped = push_bundle(ctx, resources, kind, self._identifier_of(ctx))
                resp = client.post_json("", bundle)
            except (TokenError, MaybeApplied) as exc:
                raise RemoteFailure(str(exc)) from exc
            body = client.json_of(resp) if resp.content else {}
            result = {"endpoint": endpoint.name, "kind": kind, "sent": len(bundle["entry"]),
                      "skipped": skipped, "status": resp.status_code}
            if resp.status_code >= 400:
                result["outcome"] = body
                raise RemoteFailure(f"{endpoint.name} refused the {kind} "
                                    f"({resp.status_code}): {_oo_text(body)}")
            entries = []
            for sent, got in zip(bundle["entry"], body.get("entry", [])):
                r = got.get("response", {})
                item = {"request": sent["request"]["url"], "status": r.get("status"),
                        "location": r.get("location")}
                if r.get("outcome"):
                    item["outcome"] = r["outcome"]
                entries.append(item)
            result["entries"] = entries
            result["failed"] = sum(1 for e in entries if not str(e["status"])[:1] in "23")
            return result
        finally:
            client.close()

    def _push_set(self, ctx, params: dict) -> list[dict]:
        if params.get("patient"):
            return self._everything(ctx, params["patient"])
        if params.get("group"):
            group = self.resources.read(ctx, "Group", params["group"]).stored.resource()
            out, seen = [group], {f"Group/{group['id']}"}
            for member in group.get("member", []):
                ref = (member.get("entity") or {}).get("reference", "")
                if ref.startswith("Patient/"):
                    for r in self._everything(ctx, ref.split("/", 1)[1]):
                        key = f"{r['resourceType']}/{r['id']}"
                        if key not in seen:
                            seen.add(key)
                            out.append(r)
            return out
        rtype, _, query = params["query"].partition("?")
        return self._all_pages(lambda extra: self.search.search(
            ctx, rtype, list(parse_qsl(query, keep_blank_values=True)) + extra))

    def _everything(self, ctx, pid: str) -> list[dict]:
        return self._all_pages(lambda extra: self.search.everything(ctx, pid, extra))

    @staticmethod
    def _all_pages(fetch, page: int = 500) -> list[dict]:
        out, offset = [], 0
        while True:
            bundle = fetch([("_count", str(page)), ("_offset", str(offset))])
            got = [_plain(e["resource"]) for e in bundle.get("entry", [])
                   if "resource" in e and (e.get("search") or {}).get("mode") != "outcome"]
            out.extend(got)
            if not any(link.get("relation") == "next" for link in bundle.get("link", [])):
                return out
            offset += page

    def _identifier_of(self, ctx):
        """Type/id -> the business identifier of a local resource (for references to
        resources outside the pushed set), None if unknown."""
        def lookup(ref: str):
            rtype, _, rid = ref.partition("/")
            if rtype not in RESOURCE_TYPES or not rid or "/" in rid:
                return None
            with self.db.unit_of_work() as uow:
                stored = uow.resources.read(rtype, rid)
            if stored is None or stored.deleted:
                return None
            return business_identifier(ctx, stored.resource())
        return lookup


class _PullRun:
    """One pull: its requests, pages and checkpoints."""

    def __init__(self, service: RemoteService, ctx, endpoint: Endpoint, client, translator,
                 cursor: dict, progress: Progress, params: dict):
        self.service, self.ctx, self.endpoint, self.client = service, ctx, endpoint, client
        self.translator, self.cursor, self.progress, self.params = (translator, cursor,
                                                                    progress, params)

    @property
    def stats(self) -> dict:
        return self.cursor["stats"]

    def _started(self, date_header: str | None) -> None:
        """The remote's clock when the pull began (its Date header, a second early): the
        next pull asks for changes from there."""
        if self.cursor["started"] is not None:
            return
        try:
            dt = parsedate_to_datetime(date_header) if date_header else None
        except (TypeError, ValueError):
            dt = None
        dt = dt or datetime.now(timezone.utc)
        self.cursor["started"] = _instant(dt - timedelta(seconds=1))

    # -- search paging -----------------------------------------------------------------------
    def searches(self) -> None:
        if "queue" not in self.cursor:
            resp = self.client.request("GET", "metadata")
            self._started(resp.headers.get("Date"))
            check_fhir_version(self.endpoint, self.client.json_of(resp))
            self.cursor["queue"] = self._requests()
            self.cursor["next"] = None
            self.progress.save(self.cursor, "started")
        while self.cursor["queue"] or self.cursor["next"]:
            if self.cursor["next"] is None:
                path, query = self.cursor["queue"][0]
                url, params = path, query
            else:
                url, params = self.cursor["next"], None
            try:
                bundle = self.client.get_json(url, params=params)
            except NotAllowed as exc:
                _problem(self.stats, url, f"paging link refused: {exc}; the rest of this "
                         "search is not pulled")
                self._advance(None)
                continue
            except RemoteError as exc:
                if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                    _problem(self.stats, url, f"{exc}; the rest of this search is not pulled")
                    self._advance(None)
                    continue
                raise  # connection problems, 5xx: the job retries from this page
            if bundle.get("resourceType") != "Bundle":
                _problem(self.stats, url, "the answer is not a Bundle; the rest of this search "
                         "is not pulled")
                self._advance(None)
                continue
            resources = [e.get("resource") for e in bundle.get("entry", []) or []
                         if (e.get("search") or {}).get("mode") != "outcome"]
            page_url = url if params is None else f"{self.client.url(url)}?{urlencode(params)}"
            self.service.store_page(self.ctx, self.endpoint, resources, page_url, self.stats,
                                    self.translator, activity=f"pull {_what(self.params)}")
            nxt = next((link.get("url") for link in bundle.get("link", []) or []
                        if link.get("relation") == "next"), None)
            self._advance(nxt)

    def _advance(self, nxt: str | None) -> None:
        """The page is done: follow its next link, or go on to the next search."""
        if nxt is None:
            self.cursor["next"] = None
            self.cursor["queue"] = self.cursor["queue"][1:]
        else:
            self.cursor["next"] = nxt
        self.progress.save(self.cursor, f"{self.stats['stored']} stored, "
                           f"{self.stats['unchanged']} unchanged, {self.stats['failed']} failed")

    def _requests(self) -> list:
        """[(path, query pairs)] for this pull, each asking only for what changed since."""
        since, mode, count = self.cursor["since"], self.params["mode"], self.endpoint.page_size
        if mode == "patient":
            q = [("_count", str(count))] + ([("_since", since)] if since else [])
            return [[f"Patient/{self.params['patient']}/$everything", q]]
        changed = [("_lastUpdated", f"ge{since}")] if since else []
        if mode == "search":
            rtype, _, query = self.params["query"].partition("?")
            pairs = [p for p in parse_qsl(query, keep_blank_values=True) if p[0] != "_count"]
            return [[rtype, pairs + changed + [("_count", str(count))]]]
        return [[t, changed + [("_count", str(count))]] for t in self.endpoint.types]

    # -- bulk --------------------------------------------------------------------------------
    def bulk(self) -> None:
        c = self.cursor
        if "status" not in c:
            resp = self.client.request("GET", "metadata")
            self._started(resp.headers.get("Date"))
            check_fhir_version(self.endpoint, self.client.json_of(resp))
            c["status"] = bulk.kick_off(self.client, self.endpoint.types, c["since"])
            self.progress.save(c, "export started")
        if "manifest" not in c:
            manifest = bulk.poll(self.client, c["status"], on_progress=lambda p: None)
            c["manifest"] = {"transactionTime": manifest.get("transactionTime"),
                             "output": [o for o in manifest["output"] if o.get("url")],
                             "error": [o for o in manifest.get("error", []) if o.get("url")]}
            c["file"], c["line"] = 0, 0
            if manifest.get("transactionTime"):
                # the export's own clock: exactly what the next _since should be
                c["started"] = _check_since(manifest["transactionTime"]) or c["started"]
            self.progress.save(c, "export complete: downloading")
        outputs = c["manifest"]["output"]
        while c["file"] < len(outputs):
            url = outputs[c["file"]]["url"]
            try:
                self.client.url(url)
            except NotAllowed as exc:
                _problem(self.stats, url, f"export file refused: {exc}")
                c["file"], c["line"] = c["file"] + 1, 0
                self.progress.save(c)
                continue
            batch, last = [], c["line"]
            for n, item in bulk.lines(self.client, url, start=c["line"]):
                if isinstance(item, Exception):
                    self.stats["seen"] += 1
                    _problem(self.stats, f"{url} line {n + 1}", f"not JSON: {item}")
                else:
                    batch.append(item)
                last = n + 1
                if len(batch) >= self.endpoint.page_size:
                    self._bulk_batch(url, batch, last)
                    batch = []
            self._bulk_batch(url, batch, last)
            c["file"], c["line"] = c["file"] + 1, 0
            self.progress.save(c, f"file {c['file']} of {len(outputs)} done")
        for err in c["manifest"]["error"]:
            if err.get("reported"):
                continue
            try:
                for n, oo in bulk.lines(self.client, err["url"]):
                    text = _oo_text(oo) if isinstance(oo, dict) else str(oo)
                    _problem(self.stats, f"{err['url']} line {n + 1}",
                             f"the remote export reported: {text}")
            except RemoteError as exc:
                _problem(self.stats, err["url"], f"error file not read: {exc}")
            err["reported"] = True
        bulk.finish(self.client, c["status"])

    def _bulk_batch(self, url: str, batch: list, last: int) -> None:
        if batch:
            self.service.store_page(self.ctx, self.endpoint, batch, f"{url}#lines-to-{last}",
                                    self.stats, self.translator, activity="bulk export pull")
        self.cursor["line"] = last
        self.progress.save(self.cursor, f"file {self.cursor['file'] + 1}: line {last}")


# -- parameters ---------------------------------------------------------------------------------
def pull_parameters(params: dict) -> dict:
    params = {k: v for k, v in params.items() if v not in (None, "")}
    unknown = set(params) - {"endpoint", "mode", "query", "patient", "since"}
    if unknown:
        raise ValueError(f"a pull takes endpoint, mode, query, patient, since; not "
                         f"{', '.join(sorted(unknown))}")
    if not isinstance(params.get("endpoint"), str):
        raise ValueError("a pull needs the endpoint's name")
    mode = params.setdefault("mode", "types")
    if mode not in MODES:
        raise ValueError(f"pull mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "search":
        rtype = str(params.get("query", "")).partition("?")[0]
        if rtype not in RESOURCE_TYPES:
            raise ValueError(f"a search pull takes Type?query with an R4 resource type, not "
                             f"{params.get('query')!r}")
    if mode == "patient" and not params.get("patient"):
        raise ValueError("a patient pull needs the remote patient id")
    if mode == "patient" and not str(params["patient"]).replace("-", "").replace(".", "") \
            .isalnum():
        raise ValueError(f"{params['patient']!r} is not a FHIR id")
    if "since" in params:
        params["since"] = _check_since(params["since"])
    return params


def push_parameters(params: dict) -> dict:
    params = {k: v for k, v in params.items() if v not in (None, "")}
    chosen = [k for k in ("patient", "group", "query") if k in params]
    if len(chosen) != 1 or not isinstance(params.get("endpoint"), str):
        raise ValueError("a push takes an endpoint and exactly one of patient, group, query")
    if "query" in params and params["query"].partition("?")[0] not in RESOURCE_TYPES:
        raise ValueError(f"a search push takes Type?query, not {params['query']!r}")
    return params


def pull_key(params: dict) -> str:
    """Which cursor a pull reads and advances: one per kind of pull."""
    mode = params["mode"]
    if mode == "search":
        return f"search:{params['query']}"
    if mode == "patient":
        return f"patient:{params['patient']}"
    return mode


def _what(params: dict) -> str:
    for k in ("patient", "group", "query"):
        if params.get(k):
            return f"{k} {params[k]}"
    return params.get("mode", "")


# -- remote capability ------------------------------------------------------------------------
def check_fhir_version(endpoint: Endpoint, meta: dict) -> None:
    version = meta.get("fhirVersion", "")
    if meta.get("resourceType") != "CapabilityStatement" or not str(version).startswith("4.0"):
        raise RemoteFailure(f"{endpoint.name} ({endpoint.base_url}) is not a FHIR R4 server: "
                            f"its metadata says fhirVersion {version!r}")


def supports(meta: dict, interaction: str) -> bool:
    return any(i.get("code") == interaction for rest in meta.get("rest", [])
               for i in rest.get("interaction", []))


# -- push Bundles -------------------------------------------------------------------------------
def business_identifier(ctx, resource: dict) -> tuple[str, str] | None:
    """(system, value) a remote can match this resource by: its first identifier with both,
    else its local URL as a URI identifier (added to what is sent); None for types without
    identifiers."""
    for ident in resource.get("identifier", []) if isinstance(resource.get("identifier"),
                                                              list) else []:
        if ident.get("system") and ident.get("value"):
            return ident["system"], ident["value"]
    rtype = resource.get("resourceType")
    if rtype in ELEMENTS and "identifier" in ELEMENTS[rtype]["summary"]:
        return URI_SYSTEM, f"{ctx.base_url}/{rtype}/{resource['id']}"
    return None


def push_bundle(ctx, resources: list[dict], kind: str, identifier_of) -> tuple[dict, list]:
    """The Bundle to send, and what cannot be sent (types without an identifier)."""
    import uuid

    from ..ingest.references import rewritten
    keyed, skipped = [], []
    for r in resources:
        if r.get("resourceType") == "Provenance":
            continue  # our own record of how data came in, not case data
        ident = business_identifier(ctx, r)
        if ident is None:
            skipped.append(f"{r['resourceType']}/{r['id']}: no identifier element to match on")
            continue
        keyed.append((r, ident))
    if kind == "batch":
        keyed.sort(key=lambda item: PUSH_ORDER.get(item[0]["resourceType"], 10))
    full = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ctx.base_url + '/' + r['resourceType'] + '/' + r['id'])}"
            for r, _ in keyed}
    conditional = {f"{r['resourceType']}/{r['id']}": _conditional(r["resourceType"], ident)
                   for r, ident in keyed}
    entries = []
    for r, (system, value) in keyed:
        mapping: dict[str, str] = {}
        from ..ingest.references import iter_references
        for ref in set(iter_references(r)):
            if ref in full:
                # a transaction resolves entry references; a batch has none: conditional
                mapping[ref] = full[ref] if kind == "transaction" else conditional[ref]
            elif "/" in ref and "://" not in ref and "?" not in ref:
                ident = identifier_of(ref)
                if ident is not None:
                    mapping[ref] = _conditional(ref.split("/")[0], ident)
        body = rewritten(r, mapping) if mapping else r
        body = {k: v for k, v in body.items() if k != "id"}
        meta = {k: v for k, v in (body.get("meta") or {}).items()
                if k not in ("versionId", "lastUpdated")}
        body.pop("meta", None)
        if meta:
            body["meta"] = meta
        idents = list(body.get("identifier") or [])
        if not any(i.get("system") == system and i.get("value") == value for i in idents):
            body["identifier"] = idents + [{"system": system, "value": value}]
        key = f"{r['resourceType']}/{r['id']}"
        entries.append({"fullUrl": full[key], "resource": body,
                        "request": {"method": "PUT", "url": conditional[key]}})
    return {"resourceType": "Bundle", "type": kind, "entry": entries}, skipped


def _conditional(rtype: str, ident: tuple[str, str]) -> str:
    return f"{rtype}?" + urlencode([("identifier", f"{ident[0]}|{ident[1]}")])


# -- helpers -------------------------------------------------------------------------------------
def _plain(resource) -> dict:
    """A resource from a search Bundle (its entries may hold raw stored JSON text)."""
    import orjson
    if isinstance(resource, dict):
        return resource
    text = getattr(resource, "text", None) or str(resource)
    return orjson.loads(text)


def _entries_of(issues, n: int) -> dict[int, list]:
    import re
    out: dict[int, list] = {}
    for issue in issues:
        if not issue.is_error:
            continue  # warnings do not stop an entry
        for expr in issue.expression or ():
            m = re.match(r"Bundle\.entry\[(\d+)\]", expr)
            if m and int(m.group(1)) < n:
                out.setdefault(int(m.group(1)), []).append(issue)
                break
    return out


def _issue_json(issue, i: int | None = None, rtype: str | None = None) -> dict:
    """An issue as plain data for the job; located in the pulled resource itself (not in
    the Bundle this service built) when its entry is known."""
    if isinstance(issue, dict):
        return issue
    prefix = f"Bundle.entry[{i}].resource"
    where = [rtype + e[len(prefix):] if i is not None and e.startswith(prefix) else e
             for e in issue.expression]
    return {"severity": issue.severity, "code": issue.code, "message": issue.message,
            "expression": where}


def _oo_text(body) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(i.get("diagnostics") or (i.get("details") or {}).get("text", "")
                         or i.get("code", "") for i in body.get("issue", []))
    return str(body)[:300]


__all__ = ["DOOR_REMOTE_PULL", "Progress", "RemoteFailure", "RemoteService", "pull_parameters",
           "push_parameters"]
