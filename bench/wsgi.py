"""gunicorn entry point for the load and freshness benchmarks.

    gunicorn -w 2 -b 127.0.0.1:PORT bench.wsgi:server

The production app exactly as ``app:server`` builds it from the environment
(``DATABASE_URL``, ``SECRET_KEY``, sign-in required ...), with one change: its clock
runs from the bench dataset's last minute (``bench.generate.NOW``) in real time, so
the figures are "live" (windows move, caches see new time buckets) although the data
was generated for a fixed date. ``BENCH_T0`` (a Unix time shared by every worker and
the benchmark) is the instant that corresponds to ``NOW``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from app import app, server  # noqa: F401  (builds the app from the environment)
from bench.generate import NOW
from data.runtime import EXTENSION_KEY


@dataclass(frozen=True)
class ShiftedClock:
    """Real time, shifted so that Unix time ``t0`` is ``start``."""

    start: datetime
    t0: float

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.time() - self.t0)


CLOCK = ShiftedClock(NOW, float(os.environ.get("BENCH_T0") or time.time()))
_runtime = server.extensions[EXTENSION_KEY]
_runtime.settings = _runtime.settings.with_(clock=CLOCK)
