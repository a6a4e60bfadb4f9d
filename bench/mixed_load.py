"""Mixed load against real servers: N clients, 70% reads and searches / 30% writes, bounded.

    python bench/mixed_load.py --db postgresql --clients 16 --seconds 120
    python bench/mixed_load.py --db postgresql --servers 2        # two app processes, one DB
    python bench/mixed_load.py --db sqlite --seconds 30
    FHIRSVC_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (admin URL)

A fresh database gets the Synthea bundles (not timed), then `--servers` `fhirsvc serve`
processes (production settings: gunicorn, `--workers` each, the job worker off) take the load
from `--clients` threads, each server in turn. Operations (weights): read Patient / Observation
by id, search Observation by patient + code, by date range, by chained family + code, Patient
by family prefix (70 together); create an Observation, update a Patient (30). Printed: requests
per second, p50 / p95 per operation and overall, errors, and each gunicorn worker's resident
memory at the start and end of the timed run (sampled every 5 s; flat = no growth); on
PostgreSQL also the CPU of the database's own backends per request (from /proc: unlike the
figure for every PostgreSQL process, other databases of a shared server do not move it).

`--auth smart`: the servers verify bearer tokens (FHIRSVC_AUTH=smart), so every request also
takes its client's shared rate limit (the `rate_buckets` row) and is checked against its
scopes; each load client is a SMART client of its own (class standard: 600 requests a minute),
with a token signed by the servers' key (what /auth/token would issue).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.server_process import Server  # noqa: E402

H = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}
READS = [("read Patient", 15), ("read Observation", 15), ("search patient+code", 15),
         ("search date range", 10), ("search chained family+code", 5),
         ("search family prefix", 10)]
WRITES = [("create Observation", 20), ("update Patient", 10)]
# --auth smart: the load clients' classes (requests a minute, burst); the servers' own
# standard class, and two for the bench: seed (a rate no client reaches) and paced (2 a
# second: clients of a loaded machine outrun it too, so the limiter refuses)
CLASSES = {"standard": (600, 60), "seed": (1e6, 100000), "paced": (120, 12)}
LEASE = 10     # FHIRSVC_RATE_LIMIT_LEASE's default (security/limits.py)


def pct(values, p):
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))]


def children_rss(pid: int) -> dict[int, int]:
    """Resident KiB of each gunicorn worker (the children of `fhirsvc serve`, the master)."""
    out = {}
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            text = Path(status).read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(pid):
            out[int(fields["Pid"].strip())] = int(fields.get("VmRSS", "0 kB").split()[0])
    return out


def children_cpu(pid: int) -> float:
    """CPU seconds (user + system) the gunicorn workers of `fhirsvc serve` have used so far."""
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):          # fields after the name: state, ppid, ...
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def database_cpu() -> float:
    """CPU seconds of every PostgreSQL process on this machine so far (the server is local)."""
    total = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        if "(postgres)" in text[:40] or "(postmaster)" in text[:40]:
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each backend connected to the database of `url` (pid -> s): the
    database's own share, which other databases on a shared server do not move."""
    import psycopg
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        pids = [r[0] for r in c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND application_name <> 'mixed_load_sampler'",
            (url.rsplit("/", 1)[1],))]
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


class ActivitySampler(threading.Thread):
    """Samples pg_stat_activity of one database: (state, wait event, statement start) of every
    backend of the app, every 50 ms. A backend `active` with no wait event is running on a
    CPU (or waiting for one); `Lock`, `LWLock`, `IO`, `Client` waits say what else holds it."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        import psycopg
        self.name_ = url.rsplit("/", 1)[1]
        self.conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"),
                                    autocommit=True, application_name="mixed_load_sampler")
        self.samples: dict[tuple, int] = {}
        self.ticks = 0
        self._halt = threading.Event()

    def run(self):
        q = ("SELECT state, coalesce(wait_event_type, '-'), coalesce(wait_event, '-'), "
             "left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_activity "
             "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        while not self._halt.wait(0.05):
            self.ticks += 1
            for row in self.conn.execute(q, (self.name_,)):
                if row[0] in ("idle",):
                    continue
                self.samples[row] = self.samples.get(row, 0) + 1

    def stop(self):
        self._halt.set()
        self.join()
        self.conn.close()

    def report(self, top: int = 15):
        busy = sum(self.samples.values())
        print(f"pg_stat_activity: {self.ticks} samples, {busy / max(1, self.ticks):.2f} backends "
              "busy on average (idle ones not counted); by state / wait / statement:")
        by_wait: dict[tuple, int] = {}
        for (state, wtype, wevent, _q), n in self.samples.items():
            by_wait[(state, wtype, wevent)] = by_wait.get((state, wtype, wevent), 0) + n
        for k, n in sorted(by_wait.items(), key=lambda x: -x[1])[:8]:
            print(f"  {n / max(1, busy) * 100:5.1f}%  {' / '.join(k)}")
        for (state, wtype, wevent, q), n in sorted(self.samples.items(),
                                                   key=lambda x: -x[1])[:top]:
            print(f"  {n / max(1, busy) * 100:5.1f}%  {state} {wtype}/{wevent}: {q}")


def bearer(key, base: str, client: str, klass: str = "standard") -> dict:
    """Authorization for `client` at the server of `base` (its audience and issuer)."""
    import uuid
    now = int(time.time())
    return {"Authorization": "Bearer " + key.issue({
        "iss": base.rsplit("/fhir", 1)[0] + "/auth", "sub": client, "aud": base,
        "exp": now + 300, "iat": now, "nbf": now, "jti": uuid.uuid4().hex,
        "client_id": client, "scope": "system/*.cruds", "client_class": klass})}


def seed(base: str, auth: dict | None = None) -> dict:
    files = sorted(glob.glob(str(ROOT.parent / "shared" / "conformance" / "synthea" / "*.json")))
    if not files:
        files = sorted(glob.glob("../shared/conformance/synthea/*.json"))
    bodies = [open(f, "rb").read() for f in files]
    bodies.sort(key=lambda b: 0 if b'"Patient"' not in b[:5000] else 1)
    for b in bodies:
        requests.post(base, data=b, headers=dict(H, **(auth or {})),
                      timeout=300).raise_for_status()
    facts = {"patients": [], "observations": [], "families": [], "months": []}
    s = requests.Session()
    s.headers.update(auth or {})
    for rtype, key in (("Patient", "patients"), ("Observation", "observations")):
        url = f"{base}/{rtype}?_count=1000&_elements=id"
        while url and len(facts[key]) < 5000:
            b = s.get(url, timeout=60).json()
            for e in b.get("entry", []):
                r = e["resource"]
                facts[key].append(r["id"])
            url = next((link["url"] for link in b.get("link", []) if link["relation"] == "next"),
                       None)
    for pid in facts["patients"][:50]:
        p = s.get(f"{base}/Patient/{pid}", timeout=60).json()
        for n in p.get("name", []):
            if n.get("family"):
                facts["families"].append(n["family"])
    facts["months"] = [f"{y}-{m:02d}" for y in range(2010, 2021) for m in range(1, 13)]
    return facts


def operation(name: str, s: requests.Session, base: str, facts: dict, rnd: random.Random):
    pats, obs = facts["patients"], facts["observations"]
    if name == "read Patient":
        return s.get(f"{base}/Patient/{rnd.choice(pats)}", timeout=60)
    if name == "read Observation":
        return s.get(f"{base}/Observation/{rnd.choice(obs)}", timeout=60)
    if name == "search patient+code":
        return s.get(f"{base}/Observation", params={"patient": rnd.choice(pats),
                                                     "code": "http://loinc.org|8302-2"},
                     timeout=60)
    if name == "search date range":
        m = rnd.choice(facts["months"])
        return s.get(f"{base}/Observation", params=[("date", f"ge{m}-01"),
                                                    ("date", f"lt{m}-15")], timeout=60)
    if name == "search chained family+code":
        return s.get(f"{base}/Observation", params={
            "subject:Patient.family": rnd.choice(facts["families"]), "code": "8302-2",
            "_total": "none"}, timeout=60)
    if name == "search family prefix":
        return s.get(f"{base}/Patient", params={"family": rnd.choice(facts["families"])[:4]},
                     timeout=60)
    if name == "create Observation":
        body = {"resourceType": "Observation", "status": "final",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                "subject": {"reference": f"Patient/{rnd.choice(pats)}"},
                "effectiveDateTime": "2020-05-06",
                "valueQuantity": {"value": rnd.randint(140, 200), "unit": "cm",
                                  "system": "http://unitsofmeasure.org", "code": "cm"}}
        return s.post(f"{base}/Observation", data=json.dumps(body), headers=H, timeout=60)
    if name == "update Patient":
        pid = rnd.choice(pats)
        got = s.get(f"{base}/Patient/{pid}", timeout=60)
        if got.status_code == 429:
            return got
        cur = got.json()
        cur.setdefault("extension", [])
        cur["extension"] = [{"url": "http://example.org/load", "valueInteger": rnd.randint(0, 9)}]
        return s.put(f"{base}/Patient/{pid}", data=json.dumps(cur), headers=H, timeout=60)
    raise AssertionError(name)


def refusals_within_rate(log: list[tuple[float, float, int]], t0: float, rate: float,
                         burst: float, slack: float) -> int:
    """The 429s of one client (`log`: each HTTP request's start, end and status) that came
    while its token bucket, by the client's own admitted requests, still held more than
    `slack` tokens: refusals within its rate. The bucket is replayed from full at `t0`, each
    admitted request taking its token at its start (the earliest it can have been taken: an
    upper bound of the level) and each refusal judged at its end (the most refill).

    (The check before this one bounded the level over windows starting at each admitted
    request, each assuming a full bucket at its start, and counted only the last 60 s: a
    client held at exactly its rate for over a minute looked a burst short of empty, so every
    refusal after its first minute counted as wrongful.)"""
    events = sorted([(s, 0) for s, _e, st in log if st != 429]
                    + [(e, 1) for _s, e, st in log if st == 429])
    level, at, out = burst, t0, 0
    for t, refused in events:
        level = min(burst, level + rate * max(0.0, t - at))
        at = max(at, t)
        if refused:
            out += level >= 1 + slack
        else:
            level -= 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--servers", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    ap.add_argument("--replica", help="FHIRSVC_READ_REPLICA_URL for the servers")
    ap.add_argument("--checkout", help="run the servers from another checkout (a baseline)")
    ap.add_argument("--auth", choices=["off", "smart"], default="off",
                    help="smart: bearer tokens, scopes and the shared rate limit on every "
                    "request")
    ap.add_argument("--client-class", default="standard", choices=sorted(CLASSES),
                    help="--auth smart: the load clients' class (standard: 600 requests a "
                    "minute each, which closed-loop clients faster than 10 requests/s exceed, "
                    "so the run measures the limiter; paced: 120 a minute, bursts of 12, which "
                    "clients of a loaded machine outrun too; seed: the bucket is still taken "
                    "on every "
                    "request, with a rate no client reaches)")
    ap.add_argument("--ignore-retry-after", action="store_true",
                    help="--auth smart: a client refused (429) sends its next request at once "
                    "instead of waiting the Retry-After seconds (a misbehaving client)")
    ap.add_argument("--pg-activity", action="store_true",
                    help="PostgreSQL: sample pg_stat_activity of the database every 50 ms and "
                    "print where its backends spend the run (running / waiting on what, by "
                    "statement): where the time goes without pg_stat_statements")
    args = ap.parse_args()
    from fhirsvc.storage.migrate import upgrade
    from fhirsvc.storage.scratch import ScratchDatabases
    work = Path(tempfile.mkdtemp(prefix="fhirsvc_mixed_"))
    scratch = None
    if args.db == "sqlite":
        url = f"sqlite:///{work / 'mixed.db'}"
    else:
        scratch = ScratchDatabases(os.environ.get(
            "FHIRSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
        url = scratch.create("fhirsvc_mixed")
    if args.checkout:  # that checkout's own migrations (it may not know this one's)
        import subprocess
        subprocess.run([sys.executable, "-m", "fhirsvc", "migrate", "--database-url", url],
                       cwd=args.checkout, check=True)
    else:
        upgrade(url)
    env = {"FHIRSVC_WORKER": "off"}
    if args.replica:
        env["FHIRSVC_READ_REPLICA_URL"] = args.replica
    key = None
    if args.auth == "smart":
        from fhirsvc.security.tokens import SigningKey
        key = SigningKey.load_or_create(work / "signing.pem")
        env.update(FHIRSVC_AUTH="smart", FHIRSVC_AUTH_SIGNING_KEY=str(work / "signing.pem"),
                   FHIRSVC_CLIENT_CLASSES=json.dumps({
                       n: {"rate": r, "burst": b} for n, (r, b) in CLASSES.items()
                       if n != "standard"}))
    if args.checkout:
        import tools.server_process as sp
        sp.ROOT = Path(args.checkout).resolve()
    servers = [Server(url, work, workers=args.workers, env=env).start()
               for _ in range(args.servers)]
    try:
        facts = seed(servers[0].base, key and bearer(key, servers[0].base, "bench-seed", "seed"))
        ops = [(n, w) for n, w in READS + WRITES]
        names = [n for n, _ in ops]
        weights = [w for _, w in ops]
        stop = time.perf_counter() + args.seconds
        lat: dict[str, list[float]] = {n: [] for n in names}
        errors: dict[str, int] = {}
        conflicts: dict[str, int] = {}   # 409 / 412: a concurrent write got there first
        lock = threading.Lock()
        http_log: dict[int, list] = {}

        def client(i: int):
            rnd = random.Random(i)
            s = requests.Session()
            base = servers[i % len(servers)].base
            if key is not None:
                s.headers.update(bearer(key, base, f"bench-{i}", args.client_class))
                log = http_log[i] = []

                def record(r, *_a, **_k):      # every HTTP request (an update sends two)
                    t = time.perf_counter()
                    log.append((t - r.elapsed.total_seconds(), t, r.status_code))
                s.hooks["response"].append(record)
            while time.perf_counter() < stop:
                name = rnd.choices(names, weights)[0]
                t = time.perf_counter()
                pause = 0.0
                try:
                    r = operation(name, s, base, facts, rnd)
                    ok = r.status_code < 400
                    if r.status_code == 429 and not args.ignore_retry_after:
                        # as a real client would: wait what the server says (after the
                        # latency is taken), no spinning
                        pause = float(r.headers.get("Retry-After", "1"))
                    if r.status_code in (409, 412):
                        with lock:
                            conflicts[name] = conflicts.get(name, 0) + 1
                    elif not ok and name not in errors:
                        print(name, r.status_code, r.text[:300], file=sys.stderr)
                except requests.RequestException:
                    ok = False
                dt = time.perf_counter() - t
                with lock:
                    lat[name].append(dt)
                    if not ok:
                        errors[name] = errors.get(name, 0) + 1
                if pause:
                    time.sleep(max(0.0, min(pause, stop - time.perf_counter())))
        sampler = None
        if args.pg_activity and args.db == "postgresql":
            sampler = ActivitySampler(url)
            sampler.start()
        mem_start = {k: v for srv in servers for k, v in children_rss(srv.proc.pid).items()}
        mem_max = dict(mem_start)
        series: list[tuple[float, dict]] = [(0.0, dict(mem_start))]   # RSS over the run
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        cpu0 = sum(children_cpu(srv.proc.pid) for srv in servers)
        db_cpu0 = database_cpu()
        own0 = backends_cpu(url) if args.db == "postgresql" else {}
        t0 = time.perf_counter()
        [t.start() for t in threads]
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            now = {k: v for srv in servers for k, v in children_rss(srv.proc.pid).items()}
            series.append((time.perf_counter() - t0, now))
            for k, v in now.items():
                mem_max[k] = max(mem_max.get(k, 0), v)
        [t.join() for t in threads]
        wall = time.perf_counter() - t0
        app_cpu = sum(children_cpu(srv.proc.pid) for srv in servers) - cpu0
        db_cpu = database_cpu() - db_cpu0
        own1 = backends_cpu(url) if args.db == "postgresql" else {}
        own_cpu = sum(v - own0.get(p, 0.0) for p, v in own1.items())
        if sampler is not None:
            sampler.stop()
        mem_end = {k: v for srv in servers for k, v in children_rss(srv.proc.pid).items()}
        every = [x for v in lat.values() for x in v]
        print(f"{args.db}: {args.servers} server(s) x {args.workers} workers, {args.clients} "
              f"clients, {wall:.0f} s: {len(every) / wall:.0f} requests/s, p50 "
              f"{statistics.median(every) * 1000:.1f} ms, p95 {pct(every, 95) * 1000:.1f} ms, "
              f"errors {sum(errors.values())} (of which conflicts 409/412 "
              f"{sum(conflicts.values())})")
        print(f"CPU per request: app workers {app_cpu / max(1, len(every)) * 1000:.1f} ms, "
              f"PostgreSQL (all its processes) {db_cpu / max(1, len(every)) * 1000:.1f} ms; "
              f"load average at the end {os.getloadavg()[0]:.1f}")
        if args.db == "postgresql":
            gone = len([p for p in own0 if p not in own1])
            print(f"PostgreSQL backends of this database only: "
                  f"{own_cpu / max(1, len(every)) * 1000:.2f} ms CPU per request "
                  f"({len(own1)} backends" + (f", {gone} gone during the run, not counted)"
                                              if gone else ")"))
        if http_log:
            # tokens that may sit in the workers' leases and a second of lease time are the
            # slack (security/limits.py)
            per_minute, burst = CLASSES[args.client_class]
            refused = sum(1 for v in http_log.values() for x in v if x[2] == 429)
            slack = args.workers * args.servers * (min(LEASE, burst) - 1) + per_minute / 60
            within = sum(refusals_within_rate(v, t0, per_minute / 60, burst, slack)
                         for v in http_log.values())
            admitted = sum(1 for v in http_log.values() for x in v if x[2] != 429)
            # of what its bucket allowed over the run (burst + rate x time), how much each
            # refused client got: near 100% means its refusals were its own doing
            use = sorted(sum(1 for x in v if x[2] != 429) / (burst + per_minute / 60 * wall)
                         for v in http_log.values() if any(x[2] == 429 for x in v))
            if use:
                print(f"refused clients' admitted requests of what their bucket allowed: "
                      f"min {use[0]:.0%}, median {statistics.median(use):.0%}")
            print(f"429s: {refused}; of which while the client's bucket held more than "
                  f"{slack:g} of its {burst} tokens by its own admitted requests: {within}; "
                  f"HTTP requests admitted {admitted} ({admitted / wall / len(http_log):.2f}/s "
                  f"a client, class rate {per_minute / 60:g}/s); clients refused: "
                  f"{sum(1 for v in http_log.values() if any(x[2] == 429 for x in v))}")
        print(f"{'operation':30} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7} "
              f"{'conflicts':>9}")
        for n in names:
            if lat[n]:
                print(f"{n:30} {len(lat[n]):6} {statistics.median(lat[n]) * 1000:8.1f} "
                      f"{pct(lat[n], 95) * 1000:8.1f} {errors.get(n, 0):7} "
                      f"{conflicts.get(n, 0):9}")
        step = max(1, len(series) // 8)
        print("worker RSS MiB over the run (s: each worker): " + "; ".join(
            f"{t:.0f}: " + " ".join(f"{rss.get(k, 0) / 1024:.0f}" for k in sorted(mem_start))
            for t, rss in series[::step] + ([series[-1]] if (len(series) - 1) % step else [])))
        if sampler is not None:
            sampler.report()
        print("worker RSS MiB (start -> max -> end): " + ", ".join(
            f"{mem_start.get(k, 0) / 1024:.0f}->{mem_max.get(k, 0) / 1024:.0f}->"
            f"{mem_end.get(k, 0) / 1024:.0f}" for k in sorted(mem_start)))
    finally:
        for srv in servers:
            srv.kill()
        if scratch is not None:
            scratch.drop(url)
            scratch.dispose()


if __name__ == "__main__":
    main()
