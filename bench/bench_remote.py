"""Remote pull benchmark: the Synthea set pulled from a local remote fhirsvc (a real server
process, SQLite) into a fresh local database, through search paging and through a remote Bulk
Data export (tools/fake_remote.BulkServer serving the same resources as NDJSON), beside loading
the same bundles directly (the baseline, same run, interleaved rounds).

Every variant goes through the same ingestion pipeline (validation and indexing on); a pull
adds the HTTP, the paging, the look-up of unchanged resources and the reference rewriting.

    .venv/bin/python bench/bench_remote.py [--rounds 3] [--page-size 100]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SYNTHEA = ROOT.parent / "shared" / "conformance" / "synthea"

from fhirsvc.bootstrap import build  # noqa: E402
from fhirsvc.config import Config  # noqa: E402
from fhirsvc.services.remote import Progress  # noqa: E402
from fhirsvc.storage.migrate import upgrade  # noqa: E402
from tools.fake_remote import BulkServer  # noqa: E402
from tools.server_process import Server  # noqa: E402

TYPES = ["Organization", "Practitioner", "Patient", "Encounter", "Condition", "Observation",
         "Procedure", "Immunization", "DiagnosticReport", "MedicationRequest", "CarePlan",
         "Goal", "Claim", "ExplanationOfBenefit"]


def files() -> list[Path]:
    return sorted(SYNTHEA.glob("*.json"),
                  key=lambda p: (not p.name.startswith(("hospital", "practitioner")), p.name))


def fresh_runtime(work: Path, name: str):
    url = f"sqlite:///{work / (name + '.db')}"
    upgrade(url)
    return build(Config(database_url=url, examples_dir=work / "none"))


def direct(work: Path, n: int) -> tuple[float, int]:
    rt = fresh_runtime(work, f"direct-{n}")
    try:
        ctx, count = rt.context(), 0
        t0 = time.perf_counter()
        for p in files():
            resp = rt.services.resources.bundle(ctx, p.read_bytes())
            count += len(resp["entry"])
        return time.perf_counter() - t0, count
    finally:
        rt.close()


def pull(work: Path, n: int, base: str, mode: str, page: int, types, again: list
         ) -> tuple[float, int]:
    """The pull into a fresh database; then the same pull again from the beginning (`since`
    long ago: every resource fetched, all unchanged), timed into `again`."""
    rt = fresh_runtime(work, f"{mode}-{n}")
    try:
        ctx = rt.context()
        rt.services.remote.add_endpoint(ctx, "bench", base, {"types": types, "page_size": page})
        t0 = time.perf_counter()
        result = rt.services.remote.run_pull(ctx, {"endpoint": "bench", "mode": mode},
                                             Progress())
        elapsed = time.perf_counter() - t0
        assert result["failed"] == 0, result["problems"][:3]
        t1 = time.perf_counter()
        second = rt.services.remote.run_pull(ctx, {"endpoint": "bench", "mode": mode,
                                                   "since": "2000-01-01T00:00:00Z"}, Progress())
        assert second["stored"] == 0 and second["unchanged"] == result["stored"], second
        again.append(second["unchanged"] / (time.perf_counter() - t1))
        return elapsed, result["stored"]
    finally:
        rt.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--page-size", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "none").mkdir()
        srv = Server(f"sqlite:///{work / 'remote.db'}", work, workers=2,
                     env={"FHIRSVC_WORKER": "off"}).start()
        try:
            for p in files():
                assert requests.post(srv.base, data=p.read_bytes(), timeout=300, headers={
                    "Content-Type": "application/fhir+json"}).status_code == 200
            exported = []
            for t in TYPES:
                b = requests.get(f"{srv.base}/{t}", params={"_count": 1000}, timeout=60).json()
                exported += [e["resource"] for e in b.get("entry", [])]
            bulk_srv = BulkServer(exported, polls=0, per_file=1000).start()
            rows: dict[str, list[float]] = {"direct load": [], "pull, search paging": [],
                                            "pull, bulk export": [],
                                            "re-pull, search (0 new)": [],
                                            "re-pull, bulk (0 new)": []}
            counts = {}
            try:
                for n in range(args.rounds):  # interleaved: each round runs all three
                    for label, fn in (
                            ("direct load", lambda: direct(work, n)),
                            ("pull, search paging", lambda: pull(
                                work, n, srv.base, "types", args.page_size, TYPES,
                                rows["re-pull, search (0 new)"])),
                            ("pull, bulk export", lambda: pull(
                                work, n, bulk_srv.base, "bulk", args.page_size, TYPES,
                                rows["re-pull, bulk (0 new)"]))):
                        elapsed, count = fn()
                        rows[label].append(count / elapsed)
                        counts[label] = count
                counts["re-pull, search (0 new)"] = counts["re-pull, bulk (0 new)"] = \
                    counts["direct load"]
            finally:
                bulk_srv.stop()
        finally:
            srv.stop()
    print(f"Synthea set ({counts['direct load']} resources), {args.rounds} interleaved rounds, "
          f"page size {args.page_size}, SQLite local and remote")
    print(f"{'variant':<24} {'resources':>9} {'min/s':>8} {'median/s':>9} {'max/s':>8}")
    for label, rates in rows.items():
        print(f"{label:<24} {counts[label]:>9} {min(rates):>8.0f} "
              f"{statistics.median(rates):>9.0f} {max(rates):>8.0f}")
    print(json.dumps({k: [round(r) for r in v] for k, v in rows.items()}))


if __name__ == "__main__":
    main()
