"""The MLLP listener on an ephemeral port: python-hl7's client, concurrent connections, a
broken frame answered AR with the connection still usable."""
import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hl7.client import MLLPClient

from fhirsvc.mllp import MllpServer, frame

MSG = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|{cid}|P|2.5.1\r"
       "PID|1||M-{n}^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P{n}^HOSPA-ORD|F{n}^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
       "OBX|1|NM|17861-6^Calcium^LN||9.{n}|mg/dL^^UCUM|||||F\r")


@pytest.fixture(scope="module")
def listener(runtime):
    # The loop runs in its own thread from the start: another module of this worker (the
    # Playwright sync API) may leave an event loop marked running in the main thread.
    loop = asyncio.new_event_loop()
    server = MllpServer(runtime, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    yield port
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def read_frame(sock) -> bytes:
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    return data


def msa(ack: bytes) -> list[str]:
    return [s for s in ack.decode().strip("\x0b\x1c\r").split("\r") if s.startswith("MSA")][0] \
        .split("|")


def test_python_hl7_client(listener):
    with MLLPClient("127.0.0.1", listener) as client:
        ack = client.send_message(MSG.format(cid="mllp-1", n=1))
        assert msa(ack)[1:3] == ["AA", "mllp-1"], ack
        ack = client.send_message(MSG.format(cid="mllp-2", n=2))  # same connection
        assert msa(ack)[1:3] == ["AA", "mllp-2"]


def test_broken_frame_gets_ar_and_connection_survives(listener):
    with socket.create_connection(("127.0.0.1", listener), timeout=30) as sock:
        sock.sendall(b"garbage without a start block\x1c\r")
        assert msa(read_frame(sock))[1] == "AR"
        sock.sendall(frame(b"not an HL7 message"))
        assert msa(read_frame(sock))[1] == "AR"
        sock.sendall(frame(MSG.format(cid="mllp-3", n=3).encode()))
        assert msa(read_frame(sock))[1:3] == ["AA", "mllp-3"]


def test_concurrent_connections(listener, runtime):
    def send(i):
        with MLLPClient("127.0.0.1", listener) as client:
            return msa(client.send_message(MSG.format(cid=f"mllp-c{i}", n=10 + i)))[1]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(send, range(8))) == ["AA"] * 8
    page = runtime.services.hl7v2.messages(runtime.context(door="t"), sender="LAB^HOSPA")
    assert sum(1 for e in page.entries if e.door == "mllp" and e.outcome == "AA") >= 10
    prov = runtime.services.search.search(runtime.context(door="t"), "Provenance",
                                          [("_count", "200")])
    doors = {e["resource"].parse()["meta"]["tag"][0]["code"] if hasattr(e["resource"], "parse")
             else e["resource"]["meta"]["tag"][0]["code"] for e in prov["entry"]}
    assert "mllp" in doors
