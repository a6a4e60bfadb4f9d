"""fhirsvc: a FHIR R4 service for calcinosis in systemic sclerosis.

`create_app(config)` is the one place that wires configuration, database, validator, search,
blueprints and error handlers (through `bootstrap.build`). Nothing runs at import time.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"


def build_service(config):
    """The service object without HTTP (kept for callers that want only the use cases)."""
    from .bootstrap import build
    return build(config).service


def create_app(config=None):
    from flask import Flask

    from .api import bp, register_error_handlers
    from .config import Config

    config = config or Config.from_env()
    app = Flask(__name__)
    app.config["FHIRSVC"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.sort_keys = False
    from .bootstrap import build
    runtime = build(config)
    app.extensions["fhirsvc"] = runtime.service
    app.extensions["fhirsvc.runtime"] = runtime
    app.register_blueprint(bp, url_prefix=config.base_path)
    register_error_handlers(app)
    logging.getLogger("fhirsvc").setLevel(logging.INFO)
    return app
