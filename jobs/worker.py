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
    return run_tick(runtime.factory, now=runtime.now(), tz=runtime.settings.timezone)


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


class BackgroundThread(threading.Thread):
    """Runs cycles every ``sim_tick_seconds`` until stopped (embedded demo)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(name="command-centre-background", daemon=True)
        self.runtime = runtime
        self.holder = holder_id()
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                run_cycle(self.runtime, self.holder)
            except Exception:
                log.exception("background cycle failed")
            self.stop_event.wait(self.runtime.settings.sim_tick_seconds)
        try:
            release(self.runtime.factory, LEASE_NAME, self.holder)
        except Exception:
            log.warning("could not release the background lease")

    def stop(self) -> None:
        self.stop_event.set()
