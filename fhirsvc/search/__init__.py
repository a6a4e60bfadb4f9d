"""SearchParameter-driven search: index extraction at write time, query building, Bundles.

    registry = SearchRegistry.load()          # R4 core + the guide's SearchParameters
    db = Database(url, indexer=Indexer(registry))
    engine = SearchEngine(registry)
    engine.search(uow, "Observation", [("patient", "Patient/1")], base_url=...)
    reindex(db, registry)                     # after search parameters change
"""
from .engine import SearchEngine
from .indexer import Indexer, reindex
from .registry import SearchParam, SearchRegistry

__all__ = ["Indexer", "SearchEngine", "SearchParam", "SearchRegistry", "reindex"]
