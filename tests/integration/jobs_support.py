"""Job kinds and data for the job tests, and (as a script) a worker process running them:

    python tests/integration/jobs_support.py DATABASE_URL [--poll SECONDS]

`probe` writes one row per step into `probe_runs` in the transaction of the step's
checkpoint, so the rows say exactly which steps ran, how often and in which worker. The
reindex helpers compare the index tables with indexing every current resource from scratch.
"""
from __future__ import annotations

import sys
from pathlib import Path

from collections import Counter

from sqlalchemy import (BigInteger, Column, Integer, MetaData, String, Table, delete, insert,
                        select)

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fhirsvc.jobs import JobError, JobKind, Kinds, RetryLater, builtin_kinds  # noqa: E402
from fhirsvc.storage.tables import INDEX_TABLES  # noqa: E402

ALL_TABLES = tuple(INDEX_TABLES.values())

probe_meta = MetaData()
probe_runs = Table("probe_runs", probe_meta, Column("job_id", BigInteger, nullable=False),
                   Column("step", Integer, nullable=False), Column("owner", String(200)))
cleaned: list[int] = []  # ids of jobs whose expired result `expiring` cleaned up


def create_probe_table(engine) -> None:
    probe_meta.create_all(engine)


def probe_rows(db, job_id=None) -> list[tuple]:
    q = select(probe_runs.c.job_id, probe_runs.c.step, probe_runs.c.owner)
    if job_id is not None:
        q = q.where(probe_runs.c.job_id == job_id)
    with db.unit_of_work() as uow:
        return [tuple(r) for r in uow.conn.execute(q.order_by(probe_runs.c.job_id,
                                                               probe_runs.c.step))]


class Probe(JobKind):
    """params: steps (default 1), sleep (seconds after each step), fail (a message: raise
    ValueError after the steps)."""

    name = "probe"
    retry_backoff = 0.0

    def run(self, job, ctx):
        steps = job.params.get("steps", 1)
        for step in range(ctx.cursor or 0, steps):
            with ctx.step() as uow:
                uow.conn.execute(insert(probe_runs).values(job_id=job.id, step=step,
                                                           owner=ctx.owner))
                ctx.checkpoint(step + 1, done=step + 1, total=steps)
            if job.params.get("sleep"):
                ctx.sleep(job.params["sleep"])
        if job.params.get("fail"):
            raise ValueError(job.params["fail"])
        return {"owner": ctx.owner, "steps": steps}


class Broken(JobKind):
    name = "broken"

    def run(self, job, ctx):
        raise JobError("the input file is gone")


class Later(JobKind):
    name = "later"

    def run(self, job, ctx):
        ctx.checkpoint({"page": 2})
        raise RetryLater(30, "the remote server said 429")


class Expiring(JobKind):
    name = "expiring"
    result_ttl = 0.0

    def run(self, job, ctx):
        return {"files": ["a.ndjson"]}

    def cleanup(self, job, runtime):
        cleaned.append(job.id)


def test_kinds() -> Kinds:
    kinds = builtin_kinds()
    for kind in (Probe(), Broken(), Later(), Expiring()):
        kinds.register(kind)
    return kinds


test_kinds.__test__ = False  # not a test, whatever pytest thinks of the name


# -- reindex test data ------------------------------------------------------------------------

def patient(n: int) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": "urn:reindex", "value": str(n)}],
            "name": [{"family": f"Reindex{n}", "given": ["Ada"]}], "gender": "female",
            "birthDate": f"19{50 + n % 40}-01-0{1 + n % 9}",
            "extension": [{"url": "http://example.org/calcinosis-site",
                           "valueCode": ["hand", "elbow", "knee"][n % 3]}]}


SITE_PARAM = {"resourceType": "SearchParameter", "id": "calcinosis-site",
              "url": "http://example.org/SearchParameter/calcinosis-site", "name": "site",
              "status": "active", "code": "calcinosis-site", "base": ["Patient"],
              "type": "token", "description": "test",
              "expression": "Patient.extension('http://example.org/calcinosis-site').value"}


def index_rows(db) -> Counter:
    out: Counter = Counter()
    with db.unit_of_work() as uow:
        for table in ALL_TABLES:
            out.update((table.name,) + tuple(r) for r in uow.conn.execute(select(table)))
    return out


def expected_rows(runtime) -> Counter:
    """What indexing every current resource from scratch gives."""
    runtime.services.conformance(force=True)
    with runtime.db.unit_of_work() as uow:
        items = [(s.pk, s.resource_type, s.resource()) for s in uow.resources.iter_current()]
    out: Counter = Counter()
    for pk, rtype, resource in items:
        for kind, rs in runtime.db.indexer.rows(rtype, resource).items():
            if kind not in INDEX_TABLES:  # the full-text words (storage.fulltext)
                continue
            out.update((INDEX_TABLES[kind].name, pk, rtype) + tuple(r) for r in rs)
    return out


def wipe_index(runtime, above_pk: int = 0) -> None:
    with runtime.db.unit_of_work(write=True) as uow:
        for table in ALL_TABLES:
            uow.conn.execute(delete(table).where(table.c.res_pk > above_pk))
        uow.commit()


def store_site_param(runtime) -> None:
    with runtime.db.unit_of_work(write=True) as uow:
        current = uow.resources.read("SearchParameter", "calcinosis-site")
        uow.resources.save("SearchParameter", "calcinosis-site", dict(SITE_PARAM), "PUT",
                           current)
        uow.commit()



def main(argv: list[str]) -> int:
    import argparse
    import logging
    import signal

    from fhirsvc.bootstrap import build
    from fhirsvc.config import Config
    from fhirsvc.jobs import Worker
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--poll", type=float, default=0.05)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = build(Config(database_url=args.url))
    worker = Worker(runtime, test_kinds(), only=["probe"], poll=args.poll)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    worker.run()
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
