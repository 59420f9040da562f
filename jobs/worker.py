"""Background work: the simulator tick and the evaluators, once per deployment.

``run_cycle`` does one pass if this process holds the leader lease. The embedded demo
runs cycles in a thread; production runs ``flask --app app worker`` as one process.
Feature areas add their periodic job to ``JOBS``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from data.lease import release, try_acquire
from data.runtime import Runtime
from feeds.seed import run_tick

log = logging.getLogger(__name__)
LEASE_NAME = "background-worker"

Job = Callable[[Runtime], object]
JOBS: list[tuple[str, Job]] = []
JOBS.append(("alerts", __import__("jobs.alerts", fromlist=["_"]).evaluation_job))


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def simulator_job(runtime: Runtime) -> object:
    if not runtime.settings.demo:
        return None
    return run_tick(
        runtime.factory,
        now=runtime.now(),
        tz=runtime.settings.timezone,
        hl7=demo_sender(runtime) if runtime.settings.demo_hl7 else None,
    )


def demo_sender(runtime: Runtime):  # noqa: ANN201
    """COMMAND_CENTRE_DEMO_HL7: the simulator's ADT sender, to the listener of
    COMMAND_CENTRE_HL7_HOST / _PORT (docs/hl7.md)."""
    from feeds.hl7.config import load_hl7_config
    from feeds.hl7.sender import DemoSender
    from feeds.simulator import SOURCE

    settings = runtime.settings
    config = load_hl7_config(settings.database_url, settings.demo)
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return DemoSender(host, config.port, config.key, direct_source=SOURCE)


def rollup_job(runtime: Runtime) -> object:
    """Roll up the hours that have passed (every feed's bed history, not only the demo's)."""
    from data.db import write_session
    from data.writes.rollup import roll_up

    with write_session(runtime.factory) as session:
        return roll_up(session, runtime.now())


def run_cycle(runtime: Runtime, holder: str) -> bool:
    """One pass of every job, if this holder has the lease. True if it ran."""
    ttl = timedelta(seconds=max(30.0, runtime.settings.sim_tick_seconds * 4))
    if not try_acquire(runtime.factory, LEASE_NAME, holder, runtime.now(), ttl):
        return False
    for name, job in [("simulator", simulator_job), ("rollup", rollup_job), *JOBS]:
        try:
            job(runtime)
        except Exception:
            log.exception("background job %s failed", name)
    return True


def run_forever(
    runtime: Runtime,
    holder: str,
    stop: threading.Event | None = None,
    *,
    max_backoff: float = 60.0,
) -> None:
    """Run cycles every ``sim_tick_seconds`` until ``stop`` is set, surviving any
    database error: one log line when an outage starts (then retries with growing
    waits, up to ``max_backoff``) and one when it ends. The lease's ``renewed_at`` is
    the worker's heartbeat (``/healthz``)."""
    stop = stop or threading.Event()
    tick = runtime.settings.sim_tick_seconds
    failing_since: float | None = None
    wait = tick
    while not stop.is_set():
        try:
            run_cycle(runtime, holder)
        except Exception as exc:  # a database outage, or any other failure
            if failing_since is None:
                failing_since = time.monotonic()
                log.error(
                    "background cycle failed (%s: %s); retrying with backoff",
                    exc.__class__.__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                )
            wait = min(max_backoff, max(tick, wait * 2))
        else:
            if failing_since is not None:
                log.warning(
                    "background cycles running again after %.0f s",
                    time.monotonic() - failing_since,
                )
                failing_since = None
            wait = tick
        stop.wait(wait)


def heartbeat_age(session, now):  # noqa: ANN001, ANN201
    """Seconds since the background worker last renewed its lease (None: never ran)."""
    from sqlalchemy import select

    from data.models.system import LeaderLease

    renewed = session.scalar(
        select(LeaderLease.renewed_at).where(LeaderLease.name == LEASE_NAME)
    )
    return None if renewed is None else (now - renewed).total_seconds()


def silent_after_seconds(settings) -> float:  # noqa: ANN001
    """A heartbeat older than this means the worker is silent (``/healthz``, the
    banner on every page and the wall): four ticks, at least a minute."""
    return max(60.0, settings.sim_tick_seconds * 4)


def silent_since(session, now, settings):  # noqa: ANN001, ANN201
    """When a silent worker last renewed its lease, read from the lease row (the
    worker cannot report its own death); ``None`` while it is running, or when no
    worker holds the lease (never started, or stopped cleanly: ``/healthz`` says)."""
    from sqlalchemy import select

    from data.models.system import LeaderLease

    renewed = session.scalar(
        select(LeaderLease.renewed_at).where(LeaderLease.name == LEASE_NAME)
    )
    if renewed is None:
        return None
    age = (now - renewed).total_seconds()
    return renewed if age > silent_after_seconds(settings) else None


class BackgroundThread(threading.Thread):
    """Runs cycles every ``sim_tick_seconds`` until stopped (embedded demo)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(name="command-centre-background", daemon=True)
        self.runtime = runtime
        self.holder = holder_id()
        self.stop_event = threading.Event()

    def run(self) -> None:
        listener = self._start_listener() if self.runtime.settings.demo_hl7 else None
        run_forever(self.runtime, self.holder, self.stop_event)
        if listener is not None:
            listener.stop()
        try:
            release(self.runtime.factory, LEASE_NAME, self.holder)
        except Exception:
            log.warning("could not release the background lease")

    def _start_listener(self):  # noqa: ANN202
        """The demo's own MLLP listener (COMMAND_CENTRE_DEMO_HL7), unless one is
        already listening there (``flask hl7-listen``)."""
        from feeds.hl7.config import load_hl7_config
        from feeds.hl7.listener import Hl7Listener

        settings = self.runtime.settings
        listener = Hl7Listener(
            self.runtime.factory, load_hl7_config(settings.database_url, settings.demo)
        )
        try:
            listener.start_in_thread()
        except (OSError, RuntimeError) as exc:
            log.info("demo HL7: not starting a listener (%s); sending to the one there",
                     exc)  # fmt: skip
            return None
        return listener

    def stop(self) -> None:
        self.stop_event.set()
