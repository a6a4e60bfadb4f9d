"""A multi-condition search as one statement whose plan has no join to choose (issue 16).

    rows = probed_keys(driver, others, base, first)   # (res_pk, matches) in key order

The usual shape, `r.pk IN (driver rows) AND EXISTS (other condition) ...`, leaves PostgreSQL
the join order, and it picks it from estimates. On a freshly written database (no ANALYZE
yet) every index range is estimated at one row, and under the mixed load the search
`Observation?patient=X&code=Y` was driven by the code (every Observation with it, which each
of the load's creates adds to) or re-read the patient's whole reference range for each such
Observation, for the page and again for its count (p95 800 ms on a database of 12 Synthea
bundles plus the load's own writes).

Here the driver's index rows are the only relation in FROM (one index range, read once, made
distinct), and each candidate is checked by a correlated scalar subquery: that resource by
its primary key, with the type and deletion checks (skipped when the driver's index rows
imply them), and every other condition probed through the candidate's own index rows
(`ix_idx_<type>_pk`, res_pk first). A scalar subquery is never flattened into a join, and
inside it the candidate key is a constant for the planner, so each probe is a seek whatever
the statistics say. The work is one probe per driver key, in batches of `first` keys: a driver
with more keys goes on batch after batch until the page and the capped count are settled, and
only one whose first PROBE_MAX keys do not settle them is left to the usual shape (a patient
with thousands of Observations under the mixed load's creates fell back after 1,000 keys to
the plan that depends on estimates: p95 580 ms after 300 s).
Same matches, same key order as the usual shape (tests/integration/search/test_probed_plan.py).
"""
from __future__ import annotations

from typing import Callable, Sequence

from sqlalchemy import literal, select

from .search_sql import Cond
from .tables import resources as R


def probed_keys(driver: Cond, others: Sequence[Cond], base: Callable, first: int,
                index_only: bool = False, after: int | None = None) -> object:
    """SELECT (key, matches) of the first `first` distinct keys of `driver.rows()` in key
    order (above `after`, for the next batch of a driver too large for one): each key checked against `base(r)` (type, not deleted) and each of `others` as
    EXISTS on `r`. Every candidate is returned with its verdict, so the caller knows how many
    the driver had (at most `first`) as well as the matches among them: the work is bounded
    by `first` probes whatever the driver's size.

    index_only: the driver's rows are exactly current resources of the searched type
    (Cond.index_only) and every other condition tests index rows by key alone (each has
    rows(): its EXISTS reads only `r.pk`), so the resources row is not read: the probes are
    correlated to the candidate key itself (about half the pages of the check)."""
    drive = driver.rows().subquery("drive")
    above = () if after is None else (drive.c.res_pk > after,)
    if index_only:
        keys = (select(drive.c.res_pk.label("pk")).where(*above).distinct()
                .order_by(drive.c.res_pk).limit(first).subquery("cand"))
        check = (select(literal(1)).where(*[x.as_exists(keys) for x in others])
                 .correlate(keys).scalar_subquery())
        return select(keys.c.pk, check.is_not(None)).order_by(keys.c.pk)
    keys = (select(drive.c.res_pk).where(*above).distinct().order_by(drive.c.res_pk)
            .limit(first).subquery("cand"))
    r = R.alias("probe_r")
    check = (select(r.c.pk)
             .where(r.c.pk == keys.c.res_pk, *base(r), *[x.as_exists(r) for x in others])
             .correlate(keys).scalar_subquery())
    return select(keys.c.res_pk, check.is_not(None)).order_by(keys.c.res_pk)
