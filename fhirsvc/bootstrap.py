"""The one composition root: app, CLI, worker and (later) the MLLP listener build here.

    runtime = build(config)      # database, definitions, validator, search, services
    runtime.service.read(ctx, "Patient", "1")
    runtime.close()

Nothing here runs at import time; `build` does all the wiring, once per process (or per test).
A guide or definitions file that fails to load stops `build` with a message naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import Config


@dataclass
class Runtime:
    """Everything a door (HTTP, CLI, worker, MLLP) needs, wired once."""

    config: Config
    db: object
    definitions: object
    validator: object
    search_registry: object
    search: object
    service: object

    def close(self) -> None:
        self.db.dispose()


def build(config: Config | None = None) -> Runtime:
    from .definitions.registry import Registry
    from .search import Indexer, SearchEngine, SearchRegistry
    from .services import FhirService
    from .storage import Database
    from .validation import Validator

    config = config or Config.from_env()
    search_registry = SearchRegistry.load(
        guide_dir=config.profiles_dir / "fsh-generated" / "resources")
    search = SearchEngine(search_registry)
    db = Database(config.database_url, indexer=Indexer(search_registry))
    # A registry per runtime: conformance resources stored in one database never leak into
    # another app in the same process. A broken guide stops the start-up, loudly.
    definitions = Registry()
    definitions.load_guide(config.profiles_dir)
    validator = Validator(registry=definitions)  # strictness is per call (the services pass it)
    service = FhirService(db, validator, search=search, config=config)
    return Runtime(config, db, definitions, validator, search_registry, search, service)
