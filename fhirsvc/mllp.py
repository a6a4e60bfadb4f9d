"""The MLLP listener: `python -m fhirsvc mllp [--host H] [--port P]` (a door, like the HTTP app).

Framing (MLLP release 2): start block 0x0B, the message, end block 0x1C 0x0D. One ACK per
message, written on the same connection in the order the messages came; many connections at
once (asyncio), each message converted and stored on a thread pool (the pipeline is
synchronous), or with `processes` > 1 by worker processes (`mllp_pool.py`, to use more than
one core). A broken frame (bytes before the start block, a start block inside a message, a
frame over the size limit) is answered with an AR and the connection stays open.

The framing is written here rather than with python-hl7's `hl7.mllp` server: that reader
raises `InvalidBlockError` out of the connection's read loop and its handler model gives no
place to answer a broken frame with an AR and go on reading; the frame rules are a few lines.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor

from .hl7v2.ack import build_ack
from .hl7v2.errors import SEGMENT_SEQUENCE, Location, problem

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
log = logging.getLogger("fhirsvc.mllp")


def frame(payload: bytes) -> bytes:
    return SB + payload + EB + CR


class MllpServer:
    def __init__(self, runtime, host: str = "127.0.0.1", port: int = 2575, threads: int = 8,
                 max_bytes: int | None = None, processes: int = 1):
        self.runtime = runtime
        self.host, self.port = host, port
        self.max_bytes = max_bytes or runtime.config.max_request_bytes
        self.processes = max(1, int(processes))
        # processes > 1: messages are stored by worker processes (mllp_pool), started by
        # start(); the threads then only admit messages and wait for their ACKs
        self.workers = None
        self.pool = ThreadPoolExecutor(max_workers=max(threads, self.processes),
                                       thread_name_prefix="mllp")
        from .security.mllp_policy import MllpPolicy   # who may send (docs/security.md)
        self.policy = MllpPolicy.load(runtime, host)
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (an ephemeral one when port is 0)."""
        if self.processes > 1 and self.workers is None:
            from .mllp_pool import WorkerPool
            self.workers = await asyncio.get_running_loop().run_in_executor(
                self.pool, WorkerPool, self.runtime.config, self.processes)
        self.server = await asyncio.start_server(self._connection, self.host, self.port,
                                                 limit=self.max_bytes + 16,
                                                 ssl=self.policy.ssl_context())
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        if self.server is None:
            await self.start()
        async with self.server:
            await self.server.serve_forever()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        self.pool.shutdown(wait=True)
        if self.workers is not None:
            self.workers.shutdown()

    def _process(self, payload: bytes, peer=None) -> bytes:
        ctx, refusal = self.policy.admit(payload, peer)
        if refusal is not None:
            return refusal
        try:
            if self.workers is not None:
                return self.workers.store(ctx, payload)
            ack = self.runtime.services.hl7v2.process(ctx, payload)
            return ack.ack.encode("utf-8")
        except Exception:  # never leave a sender without an answer
            log.exception("MLLP message not processed")
            return build_ack(None, "AR", [problem("207", "The message could not be processed "
                                                  "(server error); send it again")]).encode()

    @staticmethod
    def _broken(reason: str) -> bytes:
        return build_ack(None, "AR", [problem(SEGMENT_SEQUENCE, f"Broken MLLP frame: {reason}",
                                              Location("MSH"))]).encode()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        loop = asyncio.get_running_loop()
        peer = self.policy.peer(writer)
        try:
            while True:
                try:
                    block = await reader.readuntil(EB + CR)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        log.info("connection closed inside a frame (%d bytes)", len(exc.partial))
                    return
                except asyncio.LimitOverrunError:
                    # discard up to the next end block, answer AR, keep the connection
                    while True:
                        try:
                            await reader.readuntil(EB + CR)
                            break
                        except asyncio.LimitOverrunError as exc:
                            await reader.readexactly(exc.consumed)
                    writer.write(frame(self._broken(f"the message is over {self.max_bytes} "
                                                    "bytes")))
                    await writer.drain()
                    continue
                body = block[:-2]
                start = body.find(SB)
                if start < 0 or body[:start].strip(b"\r\n \t"):
                    what = ("no start block (0x0B)" if start < 0 else
                            f"{start} bytes before the start block")
                    writer.write(frame(self._broken(what)))
                    if start < 0:
                        await writer.drain()
                        continue
                body = body[start + 1:]
                if SB in body:  # a start block inside: the earlier frame was cut short
                    writer.write(frame(self._broken("a start block inside a message (the "
                                                    "frame before it was not ended)")))
                    body = body[body.rfind(SB) + 1:]
                ack = await loop.run_in_executor(self.pool, self._process, body, peer)
                writer.write(frame(ack))
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            return
        finally:
            writer.close()


def settle() -> None:
    """The loaded definitions live as long as the listener: move them out of the collector's
    generations (as `serve` does before gunicorn starts), so a full collection no longer walks
    them. Unfrozen, one took about 240 ms here, with every sender waiting for its ACK. What the
    first messages build lazily is frozen after the next full collections (gc_warmup)."""
    gc.collect()
    gc.freeze()
    from .gc_warmup import freeze_after_full_collections
    freeze_after_full_collections()


def run(runtime, host: str, port: int, threads: int = 8, processes: int = 1) -> None:
    server = MllpServer(runtime, host, port, threads, processes=processes)
    settle()

    async def main():
        bound = await server.start()
        print(f"MLLP listening on {host}:{bound}", flush=True)
        try:
            await server.serve_forever()
        finally:
            await server.close()
    asyncio.run(main())
