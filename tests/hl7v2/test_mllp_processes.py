"""The MLLP listener with worker processes (processes=2), on SQLite and PostgreSQL: python-hl7's
client over concurrent connections, one ACK per message in order on its connection, each
message stored once, a retransmission answered from the log, a dead worker replaced."""
import asyncio
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hl7.client import MLLPClient

from fhirsvc.mllp import MllpServer

MRN = "http://hospital-a.example.org/fhir/sid/mrn"
MSG = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|{cid}|P|2.5.1\r"
       "PID|1||WP-{n}^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P{n}^HOSPA-ORD|F{n}^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
       "OBX|1|NM|17861-6^Calcium^LN||9.{n}|mg/dL^^UCUM|||||F\r")


@pytest.fixture(scope="module")
def server(runtime):
    loop = asyncio.new_event_loop()
    srv = MllpServer(runtime, "127.0.0.1", 0, threads=8, processes=2)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(srv.start(), loop).result(300)
    yield srv
    asyncio.run_coroutine_threadsafe(srv.close(), loop).result(120)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def msa(ack: bytes) -> list[str]:
    return [s for s in ack.decode().strip("\x0b\x1c\r").split("\r") if s.startswith("MSA")][0] \
        .split("|")


def patients(runtime, n):
    found = runtime.services.search.search(runtime.context(door="t"), "Patient",
                                           [("identifier", f"{MRN}|WP-{n}")])
    return found.get("entry") or []


def test_workers_store_concurrent_senders_in_order(server, runtime):
    assert len(server.workers.pids) == 2 and os.getpid() not in server.workers.pids

    def sender(s):
        with MLLPClient("127.0.0.1", server.port) as client:
            return [msa(client.send_message(MSG.format(cid=f"wp-{s}-{i}", n=f"{s}{i}")))[1:3]
                    for i in range(3)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(sender, range(8)))
    assert answers == [[["AA", f"wp-{s}-{i}"] for i in range(3)] for s in range(8)]
    for s in range(8):
        for i in range(3):
            assert len(patients(runtime, f"{s}{i}")) == 1
    page = runtime.services.hl7v2.messages(runtime.context(door="t"), sender="LAB^HOSPA")
    assert sum(1 for e in page.entries if e.control_id.startswith("wp-") and
               e.outcome == "AA" and e.door == "mllp") == 24


def test_a_retransmission_is_answered_from_the_log(server, runtime):
    with MLLPClient("127.0.0.1", server.port) as client:
        first = client.send_message(MSG.format(cid="wp-r", n="91"))
        again = client.send_message(MSG.format(cid="wp-r", n="91"))
    assert msa(first)[1] == "AA" and again == first
    assert len(patients(runtime, "91")) == 1
    entries = runtime.services.hl7v2.messages(runtime.context(door="t"), sender="LAB^HOSPA",
                                              control_id="wp-r").entries
    assert len(entries) == 2 and entries[0].provenance == entries[1].provenance is not None


def test_a_dead_worker_is_replaced(server, runtime):
    before = list(server.workers.pids)
    os.kill(before[0], signal.SIGKILL)
    codes = []
    with MLLPClient("127.0.0.1", server.port) as client:   # the connection stays usable
        for attempt in range(3):
            codes.append(msa(client.send_message(MSG.format(cid="wp-d", n="92")))[1])
            if codes[-1] == "AA":
                break
            time.sleep(0.5)
    assert codes[-1] == "AA" and set(codes) <= {"AR", "AA"}
    assert len(patients(runtime, "92")) == 1
    if "AR" in codes:       # the broken pool was noticed: started anew
        assert server.workers.pids != before and len(server.workers.pids) == 2
