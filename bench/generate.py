"""Generate an ICS-scale dataset (10 sites, ~5,000 beds, a year of history).

    .venv/bin/python -m bench.generate --sqlite bench/out/ics.db [--days 365]
    .venv/bin/python -m bench.generate --postgres            # starts its own server
Prints rows written and the time taken.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.ics_layout import ADMIT_FACTOR, bed_count, ics_sites
from data.db import create_db_engine, make_session_factory, upgrade
from data.seed import seed_demo

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
SEED = 99


def generate(url: str, days: int) -> dict[str, int]:
    engine = create_db_engine(url)
    upgrade(engine)
    started = time.monotonic()

    def progress(t, counts) -> None:  # noqa: ANN001
        print(f"  simulated to {t:%Y-%m-%d}: {sum(counts.values()):,} rows "
              f"({time.monotonic() - started:.0f} s)", flush=True)

    counts = seed_demo(
        make_session_factory(engine), seed=SEED, now=NOW, history_days=days,
        tz="Europe/London", sites=ics_sites(), scenario={"admit_factor": ADMIT_FACTOR},
        chunk_days=30, progress=progress,
    )
    engine.dispose()
    print(f"generated in {time.monotonic() - started:.0f} s: {counts}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite", help="path of the SQLite file to create")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway server")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    print(f"ICS layout: {len(ics_sites())} sites, {bed_count(ics_sites()):,} beds, {args.days} days")
    if args.sqlite:
        generate(f"sqlite:///{args.sqlite}", args.days)
    if args.postgres:
        from tests.support import pg

        server = pg.start_server()
        try:
            generate(server.create_database("ics"), args.days)
        finally:
            pg.destroy(server)


if __name__ == "__main__":
    main()
