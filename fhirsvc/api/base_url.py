"""The base URL of fullUrl, Location, Content-Location and paging links.

A client's `Host` header must not choose where other clients' links point (a cache in front
would serve them to everyone). So: FHIRSVC_PUBLIC_BASE_URL when set; else the request's host
only when it is one this server answers as (FHIRSVC_ALLOWED_HOSTS, by default the loopback
names and the configured host), and the configured host and port for any other. Forwarded
headers (X-Forwarded-Host / -Proto / -Prefix) count only behind proxies the operator declared
(FHIRSVC_TRUSTED_PROXIES = how many; Werkzeug's ProxyFix applies them, see `create_app`).
"""
from __future__ import annotations

LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")


def allowed_hosts(config) -> frozenset[str]:
    names = {h.strip().lower() for h in (config.allowed_hosts or "").split(",") if h.strip()}
    return frozenset(names | set(LOOPBACK) | {config.host.lower()})


def base_url(config, scheme: str, host_header: str, allowed: frozenset[str],
             script_root: str = "") -> str:
    if config.public_base_url:
        return config.public_base_url.rstrip("/")
    host = (host_header or "").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name not in allowed:
        host = f"{config.host}:{config.port}"
    return f"{scheme}://{host}{script_root}{config.base_path}"
