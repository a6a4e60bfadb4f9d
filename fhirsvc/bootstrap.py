"""The one composition root: the app, the CLI, the job worker and (later) the MLLP listener
all build their runtime here.

    runtime = build(config)      # database, definitions, validator, search, services
    runtime.services.resources.read(ctx, "Patient", "1")
    runtime.close()

Nothing here runs at import time; `build` does all the wiring, once per process (or per test).
A guide or definitions file that fails to load stops `build` with a message naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .context import DOOR_CLI, RequestContext


@dataclass
class Runtime:
    """Everything a door (HTTP, CLI, worker, MLLP) needs, wired once."""

    config: Config
    db: object
    definitions: object
    validator: object
    search_registry: object
    search_engine: object
    services: object

    def context(self, door: str = DOOR_CLI, **fields) -> RequestContext:
        """A context for a door that has no HTTP request (CLI, worker, listeners)."""
        base = self.config.public_base_url or (
            f"http://{self.config.host}:{self.config.port}{self.config.base_path}")
        fields.setdefault("require_guide_profiles", self.config.require_guide_profiles)
        return RequestContext(base_url=base, door=door, **fields)

    def close(self) -> None:
        audit = getattr(self.services, "audit", None)
        if audit is not None:
            audit.log.close()  # buffered access records reach the database
        self.db.dispose()


def build(config: Config | None = None) -> Runtime:
    from .definitions.registry import Registry
    from .ingest import IngestPipeline
    from .search import Indexer, SearchEngine, SearchRegistry
    from .services import (AnalyticsService, CapabilityService, ConformanceSync, ExportService,
                           Hl7v2Service, LastNService, RegistryService, RemoteService,
                           ResourceService, SearchService, Services, ValidateService)
    from .services import GuideService, JobsService, PatientRecordService
    from .storage import Database
    from .validation import Validator

    config = config or Config.from_env()
    search_registry = SearchRegistry.load(
        guide_dir=config.profiles_dir / "fsh-generated" / "resources")
    # one paging policy: search, $everything and history share the configured page sizes
    from .search.limits import SearchLimits
    # A registry per runtime: conformance resources stored in one database never leak into
    # another app in the same process. A broken guide stops the start-up, loudly.
    definitions = Registry()
    definitions.load_guide(config.profiles_dir)
    engine = SearchEngine(search_registry, default_count=config.default_page_size,
                          max_count=config.max_page_size, terminology=definitions,
                          limits=SearchLimits(
                              config.search_max_parameters, config.search_max_values,
                              config.search_max_offset, config.include_max_results,
                              config.include_max_rounds,
                              total_cap=config.search_total_cap))
    db = Database(config.database_url, indexer=Indexer(search_registry),
                  replica_url=config.read_replica_url, pgbouncer=config.pgbouncer,
                  pool_size=config.db_pool_size or None,
                  statement_timeout=config.statement_timeout)
    validator = Validator(registry=definitions, unknown_extensions=config.unknown_extensions)
    sync = ConformanceSync(db, definitions, search_registry,
                           interval=config.conformance_check_interval)
    security = build_security(config, db, search_registry, engine)
    pipeline = IngestPipeline(db, validator, engine, before=sync, guard=security["guard"],
                              write_rules=sync.check_write, written=sync.noticed,
                              max_response_resources=config.bundle_max_response_resources)
    resources = ResourceService(db, pipeline, config, audit_events=security["audit"])
    search = SearchService(db, engine, sync, security["guard"], security["audit"])
    services = Services(
        resources=resources,
        search=search,
        validate=ValidateService(db, validator, sync, security["guard"]),
        capabilities=CapabilityService(search_registry, sync, config.auth, config.base_path),
        conformance=sync,
        analytics=AnalyticsService(db, engine, resources, sync),
        hl7v2=Hl7v2Service(db, resources, search, engine, definitions, config),
        export=ExportService(db, engine, config, sync, guard=security["guard"]),
        registry=RegistryService(db, engine, resources, config, sync, guard=security["guard"]),
        patients=PatientRecordService(db, engine, sync, security["guard"]),
        jobs=JobsService(db, security["guard"]),
        guide=GuideService(definitions, sync),
        remote=RemoteService(db, resources, search, lambda: _job_queue(db)),
        lastn=LastNService(db, engine, sync, config.lastn_max_candidates, security["guard"]),
        users=_user_directory(db),  # people who log in to the pages (security/users.py)
        **security)
    return Runtime(config, db, definitions, validator, search_registry, engine, services)


def _user_directory(db):
    from .security.users import UserDirectory
    return UserDirectory(db)


def _job_queue(db):
    from .jobs import JobQueue
    return JobQueue(db)


def build_security(config: Config, db, search_registry, engine) -> dict:
    """The guard, the audit trail and (auth=smart) the token verifier and the built-in
    authorization server with its signing key (fhirsvc/security, docs/security.md)."""
    from pathlib import Path

    from .config import ROOT
    from .security import AuditLog, AuthorizationServer, Guard, Issuer, SigningKey, \
        TokenVerifier
    from .services.audit import AuditService
    guard = Guard(search_registry, engine)
    log = AuditLog(db, read_sample=config.audit_read_sample,
                   flush_interval=config.audit_flush_interval)
    audit = AuditService(db, guard, log, max_count=config.max_page_size)
    auth = verifier = None
    if config.auth == "smart":
        key = SigningKey.load_or_create(Path(config.auth_signing_key) if config.auth_signing_key
                                        else ROOT / "instance" / "auth-signing-key.pem")
        auth = AuthorizationServer(db, key, lifetime=config.auth_token_lifetime,
                                   skew=config.auth_clock_skew)
        verifier = TokenVerifier(key, Issuer.from_config(config.auth_issuers),
                                 skew=config.auth_clock_skew)
    return {"guard": guard, "audit": audit, "auth": auth, "verifier": verifier}
