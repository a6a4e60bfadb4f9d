"""fhirsvc: a FHIR R4 service for calcinosis in systemic sclerosis.

`create_app(config)` is the one place that wires configuration, database, validator, search,
blueprints and error handlers. Nothing runs at import time.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"


def build_service(config):
    """The service object without HTTP (CLI commands and tests use it directly)."""
    from .services import FhirService
    from .storage import Database
    from .validation import Validator

    from .search import Indexer, SearchEngine, SearchRegistry

    registry = SearchRegistry.load(guide_dir=config.profiles_dir / "fsh-generated" / "resources")
    search = SearchEngine(registry)
    indexer = Indexer(registry)
    db = Database(config.database_url, indexer=indexer)
    from .definitions.registry import Registry

    # A registry per service: conformance resources stored in one database never leak into
    # another app in the same process. A broken guide stops the start-up, loudly.
    definitions = Registry()
    definitions.load_guide(config.profiles_dir)
    validator = Validator(strict_profiles=config.require_guide_profiles, registry=definitions)
    return FhirService(db, validator, search=search, config=config)


def create_app(config=None):
    from flask import Flask

    from .api import bp, register_error_handlers
    from .config import Config

    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["FHIRSVC"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.sort_keys = False
    app.extensions["fhirsvc"] = build_service(config)
    app.register_blueprint(bp, url_prefix=config.base_path)
    register_error_handlers(app)
    logging.getLogger("fhirsvc").setLevel(logging.INFO)
    return app
