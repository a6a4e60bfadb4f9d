"""Copies of one message (same sender, same MSH-10) arriving at the same time, on SQLite and
PostgreSQL: one is stored and logged as accepted, every other copy is answered from the log
with that ACK (as a copy sent later is), whether they race through the service in threads,
over several MLLP connections or through HTTP to a server of two worker processes."""
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hl7.client import MLLPClient

from fhirsvc.mllp import MllpServer
from fhirsvc.storage.hl7v2_log import MessageLog
from tools.server_process import Server

MRN = "http://hospital-a.example.org/fhir/sid/mrn"
ORU = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|{cid}|P|2.5.1\r"
       "PID|1||{pid}^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P{pid}^HOSPA-ORD|F{pid}^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
       "OBX|1|NM|17861-6^Calcium^LN||9.1|mg/dL^^UCUM|||||F\r"
       "OBX|2|NM|2951-2^Sodium^LN||140|mmol/L^^UCUM|||||F\r")
COPIES = 4


def msa(ack: bytes | str) -> list[str]:
    text = ack.decode() if isinstance(ack, bytes) else ack
    return [s for s in text.strip("\x0b\x1c\r").split("\r") if s.startswith("MSA")][0].split("|")


def stored_once(runtime, cid: str, pid: str, copies: int) -> None:
    """One accepted log row that stored the message; the other copies' rows answered from
    it (same ACK, same Provenance); the patient and its results written once."""
    ctx = runtime.context(door="t")
    page = runtime.services.hl7v2.messages(ctx, sender="LAB^HOSPA", control_id=cid)
    assert page.total == copies, [(e.id, e.outcome, e.issues) for e in page.entries]
    (first,) = [e for e in page.entries if e.answered_from is None]
    assert first.outcome == "AA" and first.provenance is not None
    for e in page.entries:
        if e is not first:
            assert (e.answered_from, e.ack, e.provenance) == (first.id, first.ack,
                                                             first.provenance)
            assert '"code":"205"' in e.issues
    found = runtime.services.search.search(ctx, "Patient", [("identifier", f"{MRN}|{pid}")])
    (pat,) = found["entry"]
    obs = runtime.services.search.search(ctx, "Observation", [
        ("subject", f"Patient/{pat['resource']['id']}")])["entry"]
    versions = [e["resource"]["meta"]["versionId"] for e in [pat] + obs]
    assert versions == ["1", "1", "1"]
    provs = runtime.services.search.search(ctx, "Provenance", [
        ("target", f"Patient/{pat['resource']['id']}/_history/1")])["entry"]
    assert [f"Provenance/{p['resource']['id']}" for p in provs] == [first.provenance]


def test_copies_racing_through_the_service_are_stored_once(runtime, monkeypatch):
    """Every copy looks the control id up before any has committed (the barrier): the log's
    unique accepted row decides, and the losers answer from the winner's row."""
    barrier = threading.Barrier(COPIES, timeout=60)
    looked = threading.local()
    look = MessageLog.accepted

    def accepted(self, *args):
        found = look(self, *args)
        if not getattr(looked, "once", False):   # the first look of each copy: all at once
            looked.once = True
            barrier.wait()
        return found
    monkeypatch.setattr(MessageLog, "accepted", accepted)
    hl7 = runtime.services.hl7v2
    raw = ORU.format(cid="race-svc", pid="RC-1")
    with ThreadPoolExecutor(COPIES) as pool:
        acks = list(pool.map(lambda _: hl7.process(runtime.context(door="mllp"), raw),
                             range(COPIES)))
    assert [a.code for a in acks] == ["AA"] * COPIES
    assert sorted(a.duplicate for a in acks) == [False] + [True] * (COPIES - 1)
    assert len({a.ack for a in acks}) == 1
    stored_once(runtime, "race-svc", "RC-1", COPIES)


def test_a_copy_sent_later_is_answered_from_the_log(runtime):
    hl7 = runtime.services.hl7v2
    raw = ORU.format(cid="race-seq", pid="RC-2")
    first = hl7.process(runtime.context(door="mllp"), raw)
    again = hl7.process(runtime.context(door="hl7v2"), raw)
    assert (first.duplicate, again.duplicate, again.ack) == (False, True, first.ack)
    stored_once(runtime, "race-seq", "RC-2", 2)


@pytest.fixture(scope="module")
def listener(runtime):
    loop = asyncio.new_event_loop()
    server = MllpServer(runtime, "127.0.0.1", 0, threads=COPIES)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
    yield port
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_copies_on_several_mllp_connections_are_stored_once(listener, runtime):
    raw = ORU.format(cid="race-mllp", pid="RC-3")
    barrier = threading.Barrier(COPIES, timeout=60)

    def send(_):
        with MLLPClient("127.0.0.1", listener) as client:
            barrier.wait()
            return client.send_message(raw)
    with ThreadPoolExecutor(COPIES) as pool:
        acks = list(pool.map(send, range(COPIES)))
    assert [msa(a)[1:3] for a in acks] == [["AA", "race-mllp"]] * COPIES
    assert len(set(acks)) == 1
    stored_once(runtime, "race-mllp", "RC-3", COPIES)


def test_copies_through_http_to_two_worker_processes_are_stored_once(runtime, db_url,
                                                                    tmp_path):
    srv = Server(db_url, tmp_path, workers=2, env={"FHIRSVC_WORKER": "off"}).start()
    try:
        raw = ORU.format(cid="race-http", pid="RC-4").encode()
        barrier = threading.Barrier(COPIES, timeout=60)

        def send(_):
            with requests.Session() as s:
                s.get(srv.base + "/metadata", timeout=60)   # connected before the race
                barrier.wait()
                return s.post(srv.base + "/$process-hl7v2", data=raw, timeout=120,
                              headers={"Content-Type": "x-application/hl7-v2+er7"})
        with ThreadPoolExecutor(COPIES) as pool:
            answers = list(pool.map(send, range(COPIES)))
    finally:
        srv.stop()
    assert [r.status_code for r in answers] == [200] * COPIES
    assert len({r.content for r in answers}) == 1 and msa(answers[0].text)[1] == "AA"
    stored_once(runtime, "race-http", "RC-4", COPIES)
