"""Remote FHIR systems: endpoints as data, HTTP done right, SMART Backend Services (client
side), Bulk Data (client side) and the mapping of remote resources to local ones.

    endpoint = Endpoint.from_settings(name, base_url, settings)   # endpoint.py
    client = connect(endpoint, sleep=ctx.sleep)                  # http.py + auth.py
    for page in search_pages(client, "Observation", [...]): ...   # paging.py
    BulkExport(client, ...)                                     # bulk.py
    localise(resource, endpoint.base_url, translator)            # transform.py

Nothing here writes to the database: the remote service (fhirsvc/services/remote.py) hands
what it pulls to the ingestion pipeline.
"""
from .auth import BearerAuth, NoAuth, SmartBackendAuth, TokenError, make_auth
from .endpoint import Auth, DEFAULT_TYPES, Endpoint
from .http import MaybeApplied, NotAllowed, RemoteClient, RemoteError, retry_after
from .transform import Localised, Translator, local_id, local_reference, localise, remote_url


def connect(endpoint: Endpoint, sleep=None, backoff: float = 0.5) -> RemoteClient:
    """A client (one pooled Session) for the endpoint, with its authentication."""
    import time
    return RemoteClient(endpoint, make_auth(endpoint.auth), sleep=sleep or time.sleep,
                        backoff=backoff)


__all__ = ["Auth", "BearerAuth", "DEFAULT_TYPES", "Endpoint", "Localised", "MaybeApplied",
           "NoAuth", "NotAllowed", "RemoteClient", "RemoteError", "SmartBackendAuth",
           "TokenError", "Translator", "connect", "local_id", "local_reference", "localise",
           "make_auth", "remote_url", "retry_after"]
