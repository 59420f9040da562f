"""MLLP over TCP (asyncio): many sender connections, one database writer thread.

Framing: ``<VT> message <FS><CR>``. Bytes before a start block are skipped (logged
as garbage); a start block inside a frame starts the frame again (the broken part is
dropped, and its sender, having no ACK, resends it). A frame longer than the limit,
a sender silent for ``idle_seconds`` or one taking longer than ``message_seconds``
to finish a frame has its connection closed (an over-long frame is answered AR
first). Messages are processed by :func:`feeds.hl7.ingest.handle` in one writer
thread, in the order they complete: the event layer folds the trust's history, so
writes are serialised anyway, and the event loop keeps reading, framing and
answering other connections meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from feeds.hl7.ack import build_ack, control_id_guess
from feeds.hl7.config import Hl7Config
from feeds.hl7.ingest import handle, purge_expired

log = logging.getLogger("command_centre.hl7")
START, END, CR = b"\x0b", b"\x1c", b"\r"


def frame(message: str | bytes) -> bytes:
    data = message.encode("utf-8") if isinstance(message, str) else message
    return START + data + END + CR


@dataclass
class ListenerStats:
    connections: int = 0
    open_connections: int = 0
    messages: int = 0
    by_ack: dict[str, int] = field(default_factory=dict)
    garbage: int = 0
    oversized: int = 0
    timeouts: int = 0
    last_message_at: float | None = None


class Hl7Listener:
    def __init__(self, factory: sessionmaker[Session], config: Hl7Config) -> None:
        self.factory = factory
        self.config = config
        self.stats = ListenerStats()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hl7-db")
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port: int | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    # -- one connection --------------------------------------------------------
    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        self.stats.connections += 1
        self.stats.open_connections += 1
        self._connections.add(writer)
        try:
            while True:
                data = await self._next_frame(reader, writer, peer)
                if data is None:
                    return
                ack = await asyncio.get_running_loop().run_in_executor(
                    self._writer, self._handle, data
                )
                writer.write(frame(ack))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.stats.open_connections -= 1
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _handle(self, data: bytes) -> str:
        result = handle(self.factory, data, key=self.config.key)
        self.stats.messages += 1
        self.stats.by_ack[result.ack_code] = (
            self.stats.by_ack.get(result.ack_code, 0) + 1
        )
        self.stats.last_message_at = time.time()
        return result.ack

    async def _next_frame(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer
    ) -> bytes | None:  # noqa: ANN001
        cfg = self.config
        try:
            before = await asyncio.wait_for(reader.readuntil(START), cfg.idle_seconds)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                self.stats.garbage += 1
                log.info("hl7: %s closed after %d bytes outside a frame", peer,
                         len(exc.partial))  # fmt: skip
            return None
        except TimeoutError:
            self.stats.timeouts += 1
            log.info("hl7: %s idle for %.0f s: closed", peer, cfg.idle_seconds)
            return None
        except asyncio.LimitOverrunError:
            self.stats.garbage += 1
            log.info("hl7: %s sent garbage without a start block: closed", peer)
            return None
        if before[:-1].strip():
            self.stats.garbage += 1
            log.info("hl7: %s: %d bytes outside a frame skipped", peer, len(before) - 1)
        try:
            body = await asyncio.wait_for(reader.readuntil(END), cfg.message_seconds)
        except TimeoutError:
            self.stats.timeouts += 1
            log.info("hl7: %s too slow to finish a message: closed", peer)
            return None
        except asyncio.LimitOverrunError:
            self.stats.oversized += 1
            head = await reader.read(4096)
            ack = build_ack(
                None, "AR", f"message longer than {cfg.max_bytes} bytes",
                error_code="102", where="MSH", control_id=control_id_guess(head),
            )  # fmt: skip
            writer.write(frame(ack))
            await writer.drain()
            log.info(
                "hl7: %s sent a message over %d bytes: closed", peer, cfg.max_bytes
            )
            return None
        data = body[:-1]
        if START in data:  # a new frame began before this one ended
            self.stats.garbage += 1
            data = data[data.rindex(START) + 1 :]
        return data

    # -- running ---------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._serve,
            self.config.host,
            self.config.port,
            limit=self.config.max_bytes + 2,
            backlog=1024,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("hl7: listening for MLLP on %s:%d", self.config.host, self.port)

    async def serve_forever(self) -> None:
        await self.start()
        purge = asyncio.create_task(self._purge_hourly())
        try:
            async with self._server:
                await self._server.serve_forever()
        finally:
            purge.cancel()

    async def _purge_hourly(self) -> None:
        """Quarantined originals are kept ``quarantine_days`` at most."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                n = await loop.run_in_executor(
                    self._writer, purge_expired, self.factory,
                    self.config.quarantine_days,
                )  # fmt: skip
                if n:
                    log.info("hl7: %d quarantined originals past retention dropped", n)
            except Exception as exc:  # noqa: BLE001 - retried next hour
                log.warning("hl7: purging the quarantine failed: %s", exc)
            await asyncio.sleep(3600)

    def start_in_thread(self) -> int:
        """Serve in a background thread (tests, the embedded demo); the port."""

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            self._ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="hl7-listener", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the HL7 listener did not start")
        return self.port

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self._connections):
                connection.transport.abort()  # its reader sees EOF and returns
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                await asyncio.wait(tasks, timeout=10)

        if self._thread is not None:
            asyncio.run_coroutine_threadsafe(close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
        self._writer.shutdown(wait=True)
