"""gzip for clients that ask (`Accept-Encoding: gzip`): the CapabilityStatement is 400 KB of
JSON and search Bundles are large; both shrink about tenfold. Small bodies are sent as they
are (compressing them costs more than it saves). Behind a proxy that compresses, this does
nothing: the proxy asks without gzip, or sees Content-Encoding already set."""
from __future__ import annotations

import gzip

from flask import Flask, Response, request

MIN_BYTES = 1024


def register_compression(app: Flask) -> None:
    @app.after_request
    def _gzip(resp: Response) -> Response:
        if (resp.direct_passthrough or resp.is_streamed or resp.status_code < 200
                or resp.status_code in (204, 304) or "Content-Encoding" in resp.headers
                or request.accept_encodings["gzip"] <= 0):
            return resp
        data = resp.get_data()
        resp.vary.add("Accept-Encoding")
        if len(data) < MIN_BYTES:
            return resp
        resp.set_data(gzip.compress(data, compresslevel=5, mtime=0))
        resp.headers["Content-Encoding"] = "gzip"
        return resp
