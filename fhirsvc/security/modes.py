"""FHIRSVC_AUTH=off|smart, and the rule that keeps `off` on loopback."""
from __future__ import annotations

import ipaddress

MODES = ("off", "smart")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_mode(config) -> None:
    """Refuse (ValueError, with what to do) an unknown mode, or auth off on an address other
    machines can reach unless it is forced."""
    if config.auth not in MODES:
        raise ValueError(f"FHIRSVC_AUTH must be one of {', '.join(MODES)}, not "
                         f"{config.auth!r}")
    if config.auth == "off" and not is_loopback(config.host) and not config.auth_force_off:
        raise ValueError(
            f"refusing to serve {config.host}:{config.port} with authorization off: anyone who "
            "can reach it could read and delete every patient. Set FHIRSVC_AUTH=smart (and "
            "register clients: fhirsvc clients add), listen on 127.0.0.1, or, if something in "
            "front of this server does the access control, set FHIRSVC_AUTH_FORCE_OFF=1")
