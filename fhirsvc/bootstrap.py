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
        self.db.dispose()


def build(config: Config | None = None) -> Runtime:
    from .definitions.registry import Registry
    from .ingest import IngestPipeline
    from .search import Indexer, SearchEngine, SearchRegistry
    from .services import (AnalyticsService, CapabilityService, ConformanceSync, LastNService,
                           ResourceService, SearchService, Services, ValidateService)
    from .storage import Database
    from .validation import Validator

    config = config or Config.from_env()
    search_registry = SearchRegistry.load(
        guide_dir=config.profiles_dir / "fsh-generated" / "resources")
    # one paging policy: search, $everything and history share the configured page sizes
    from .search.limits import SearchLimits
    engine = SearchEngine(search_registry, default_count=config.default_page_size,
                          max_count=config.max_page_size, limits=SearchLimits(
                              config.search_max_parameters, config.search_max_values,
                              config.search_max_offset, config.include_max_results,
                              config.include_max_rounds))
    db = Database(config.database_url, indexer=Indexer(search_registry),
                  statement_timeout=config.statement_timeout)
    # A registry per runtime: conformance resources stored in one database never leak into
    # another app in the same process. A broken guide stops the start-up, loudly.
    definitions = Registry()
    definitions.load_guide(config.profiles_dir)
    validator = Validator(registry=definitions)
    sync = ConformanceSync(db, definitions, search_registry)
    pipeline = IngestPipeline(db, validator, engine, before=sync, guard=sync.check_write,
                              max_response_resources=config.bundle_max_response_resources)
    resources = ResourceService(db, pipeline, config)
    services = Services(
        resources=resources,
        search=SearchService(db, engine, sync),
        validate=ValidateService(db, validator, sync),
        capabilities=CapabilityService(search_registry, sync),
        conformance=sync,
        analytics=AnalyticsService(db, engine, resources, sync),
        lastn=LastNService(db, engine, sync, config.lastn_max_candidates))
    return Runtime(config, db, definitions, validator, search_registry, engine, services)
