"""The background worker (simulator tick + alert evaluation) on the bench clock.

    BENCH_T0=<unix time> DATABASE_URL=... .venv/bin/python -m bench.worker

``flask --app app worker`` as production runs it, with the clock of ``bench.wsgi``
(the dataset's last minute at ``BENCH_T0``), so the simulated region carries on from
where the generated history ends. Stops on SIGTERM.
"""

from __future__ import annotations

import signal
import time

from bench.wsgi import server
from data.runtime import EXTENSION_KEY
from jobs.worker import holder_id, run_cycle

_stop = False


def _on_term(*_args: object) -> None:
    global _stop
    _stop = True


def main() -> None:
    signal.signal(signal.SIGTERM, _on_term)
    runtime = server.extensions[EXTENSION_KEY]
    holder = holder_id()
    while not _stop:
        started = time.monotonic()
        ran = run_cycle(runtime, holder)
        print(f"cycle {'ran' if ran else 'skipped'} in {time.monotonic() - started:.1f} s",
              flush=True)  # fmt: skip
        deadline = started + runtime.settings.sim_tick_seconds
        while not _stop and time.monotonic() < deadline:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
