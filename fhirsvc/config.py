"""Configuration: defaults (embedded SQLite under instance/) overridden by FHIRSVC_* variables."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Config:
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'fhirsvc.db'}"
    host: str = "127.0.0.1"
    port: int = 8080
    base_path: str = "/fhir"
    # Public base URL for fullUrl / Location; None = derived from each request.
    public_base_url: str | None = None
    # Without it, Host headers naming one of these (comma separated; loopback names and
    # `host` always) make the links; any other Host gets http://host:port (FHIRSVC_HOST/PORT).
    allowed_hosts: str | None = None
    # How many reverse proxies in front are trusted to set X-Forwarded-* (0: none).
    trusted_proxies: int = 0
    max_request_bytes: int = 50 * 1024 * 1024
    # Strict mode for registries: resources of types the guide profiles must claim its profiles.
    require_guide_profiles: bool = False
    # An extension whose definition is unknown: "warning" accepts it (data from other systems,
    # e.g. Synthea's), "error" rejects it as the HL7 reference validator does.
    unknown_extensions: str = "warning"
    # one paging policy for search, history and $everything
    default_page_size: int = 20
    max_page_size: int = 1000
    # Limits of one request (issue 9): a clear 400 / 413 instead of a runaway worker.
    search_max_parameters: int = 100      # name=value pairs in one search
    search_max_values: int = 500          # OR-ed values over all parameters of one search
    search_max_offset: int = 1_000_000    # _offset beyond this is a 400 (follow next links)
    include_max_results: int = 2000       # resources _include/_revinclude add to one page
    include_max_rounds: int = 4           # _include:iterate rounds
    search_total_cap: int = 1000          # matches counted when _total=accurate is not asked
    bundle_max_entries: int = 10_000      # entries of one transaction / batch (413 beyond)
    bundle_max_response_resources: int = 10_000  # resources a Bundle's searches return together
    statement_timeout: float = 30.0       # seconds one database statement may run (0 = none)
    lastn_max_candidates: int = 10_000    # Observations one $lastn may group (400 beyond)
    request_body_timeout: float = 30.0    # seconds a client may take to send a body (408)
    request_header_timeout: float = 10.0  # seconds for the request line and headers (408)
    cancel_abandoned: bool = True         # cancel the database work of a client that hung up
    profiles_dir: Path = field(default=ROOT / "profiles")
    examples_dir: Path = field(default=ROOT / "examples")
    load_examples: bool = True            # `serve` loads examples/ into an empty database
    workers: int = 2
    threads: int = 4
    # compile the validator's definitions and the search extractors before the workers fork
    # (fhirsvc/warm.py), instead of on each worker's first requests
    warm: bool = True
    # gunicorn's control socket (gunicornc). Off unless a path is given: its default path
    # ($HOME/.gunicorn/gunicorn.ctl) is one per user, so every server on a host would take it.
    control_socket: str = ""
    # Background jobs (docs/jobs.md): `serve` starts a job worker beside the web server unless
    # FHIRSVC_WORKER=off; every worker must share the heartbeat expiry.
    worker: bool = True
    job_poll: float = 1.0               # seconds between looks at an empty queue
    job_heartbeat_expiry: float = 60.0  # seconds of silence before another worker takes over
    # Scaling out (docs/deployment.md): searches on a PostgreSQL streaming replica when it has
    # caught up with the primary (read-your-writes), PgBouncer transaction-mode settings, and
    # the connection pool of each process (0: the default, 10 plus 20 overflow).
    read_replica_url: str | None = None
    pgbouncer: bool = False
    db_pool_size: int = 0
    # HL7 v2 (docs/hl7v2.md): `serve` starts the MLLP listener unless the port is 0.
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    mllp_threads: int = 8               # messages converted and stored at the same time
    # worker processes storing MLLP messages (fhirsvc/mllp_pool.py); 1: in the listener
    mllp_processes: int = 1
    # who may send over MLLP (docs/security.md): JSON rules mapping source addresses / client
    # certificates (+ MSH-3^MSH-4) to registered clients; TLS with PEM files, mutual TLS when
    # a client CA is set. No policy: the listener starts on a loopback address only.
    mllp_senders: str | None = None
    mllp_tls_cert: str | None = None
    mllp_tls_key: str | None = None
    mllp_tls_client_ca: str | None = None
    hl7v2_z_segments: str = "ignore"    # ignore | keep (as extensions on the first resource)
    hl7v2_default_offset: str = "Z"     # UTC offset for times sent without one
    # Bulk Data export (docs/export.md): files under export_dir, deleted bulk_file_ttl seconds
    # after the export finished; at most bulk_max_active exports queued or running (429 beyond)
    export_dir: Path = field(default=ROOT / "instance" / "exports")
    bulk_file_ttl: float = 3600.0
    bulk_max_active: int = 4
    bulk_retry_after: int = 2           # seconds a client is told to wait between polls
    bulk_requires_access_token: bool = False  # true once SMART authorisation guards the files
    # Registry dataset (registry/*.yaml): keyed-hash pseudonyms; without a key the server
    # generates one and keeps it in pseudonym_key_file
    registry_file: Path = field(default=ROOT / "registry" / "calcinosis.yaml")
    pseudonym_key: str | None = None
    pseudonym_key_file: Path = field(default=ROOT / "instance" / "pseudonym.key")
    # Security (docs/security.md). auth: off | smart. "off" is refused on a non-loopback
    # host unless auth_force_off (FHIRSVC_AUTH_FORCE_OFF=1).
    auth: str = "off"
    auth_force_off: bool = False
    # further trusted issuers: JSON list of {"issuer", "jwks_uri" | "jwks_file"}
    auth_issuers: str | None = None
    auth_signing_key: str | None = None     # PEM path; default instance/auth-signing-key.pem
    auth_token_lifetime: int = 300          # seconds (SMART: at most 300)
    auth_clock_skew: int = 60               # seconds of leeway on exp / nbf / iat
    audit_read_sample: float = 1.0          # share of successful reads and searches recorded
    audit_flush_interval: float = 1.0       # seconds between writes of buffered read records
    cors_origins: str = ""                  # comma-separated origins, "*" for any; "" = off
    # limits per client class, JSON {"class": {"rate": per minute, "burst": n,
    # "max_bytes": n, "max_entries": n}}; merged over security.limits.DEFAULT_CLASSES
    client_classes: str | None = None
    rate_limit_store: str = "database"      # database (shared by all workers) | process
    # tokens one database write of the shared store leases to a process at most (spent within
    # 1 s, security/limits.py states the bound); 1: one write per request
    rate_limit_lease: int = 10
    # Provenance of REST writes (docs/security.md): on | transactions (Bundles only) | off
    rest_provenance: str = "on"
    # Conformance catch-up (services/conformance.py): writes through this server reach all its
    # workers at once; another server's within this many seconds (0: ask before every request)
    conformance_check_interval: float = 1.0

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Config":
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get("FHIRSVC_" + f.name.upper())
            if raw is None or raw == "":
                continue
            if f.type in ("int",):
                values[f.name] = int(raw)
            elif f.type in ("float",):
                values[f.name] = float(raw)
            elif f.type in ("bool",):
                values[f.name] = _bool(raw)
            elif f.type in ("Path",):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> "Config":
        return replace(self, **changes)
