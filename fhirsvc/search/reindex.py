"""Rebuild the search index from the stored current versions (after SearchParameters change).

    reindex(db, registry) -> resources indexed          (every batch its own transaction)
    with db.unit_of_work(write=True) as uow:            (one batch, e.g. from a background job)
        count, last_pk = reindex_batch(uow, after_pk, 1000, registry)
        uow.commit()

A batch replaces the index rows of the next `limit` current resources after `after_pk`;
`count` 0 means nothing is left. Searches between batches see old rows for the resources not
reached yet, which were right under the previous parameters.
"""
from __future__ import annotations

from .extract import Indexer
from .registry import SearchRegistry


def reindex_batch(uow, after_pk: int, limit: int, registry: SearchRegistry | None = None
                  ) -> tuple[int, int]:
    """(resources indexed, last pk) for the next batch; `registry` None: the database's own
    indexer (the one writes use)."""
    return uow.index.rebuild(after_pk, limit, Indexer(registry) if registry else None)


def reindex(db, registry: SearchRegistry, batch: int = 1000) -> int:
    """Every current resource, `batch` per write transaction; returns how many were indexed."""
    indexer = Indexer(registry)
    total, after = 0, 0
    while True:
        with db.unit_of_work(write=True) as uow:
            count, after = uow.index.rebuild(after, batch, indexer)
            uow.commit()
        if count == 0:
            return total
        total += count
