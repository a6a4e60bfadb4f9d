"""fhirsvc: a FHIR R4 service for calcinosis in systemic sclerosis.

`create_app(config)` builds the runtime through the one composition root
(`bootstrap.build`) and puts the HTTP adapter in front of it. Nothing runs at import time.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"


def create_app(config=None, runtime=None):
    from flask import Flask

    from .api import make_blueprint, register_error_handlers
    from .bootstrap import build
    from .config import Config

    from .api.security import make_auth_blueprint
    from .security import check_mode

    config = config or (runtime.config if runtime is not None else Config.from_env())
    check_mode(config)  # auth off only on loopback unless forced (docs/security.md)
    runtime = runtime or build(config)
    app = Flask(__name__)
    app.config["FHIRSVC"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.sort_keys = False
    app.extensions["fhirsvc.runtime"] = runtime
    from .api.base_url import allowed_hosts
    app.config["FHIRSVC_HOSTS"] = allowed_hosts(config)
    if config.trusted_proxies > 0:
        # forwarded headers are believed only from the proxies the operator declared
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n,
                                x_prefix=n)
    app.register_blueprint(make_blueprint(), url_prefix=config.base_path)
    app.register_blueprint(make_auth_blueprint(config.base_path))
    from .api.users import make_users_blueprint
    app.register_blueprint(make_users_blueprint())  # /auth/users (the pages' users)
    register_error_handlers(app)
    from .ui.pages import register as register_pages
    register_pages(app)  # /ui/ pages for people, and / linking them
    from .api.compression import register_compression
    register_compression(app)
    logging.getLogger("fhirsvc").setLevel(logging.INFO)
    return app
