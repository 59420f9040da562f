"""Generate an ICS-scale dataset (10 sites, ~5,200 beds, a year of history).

    .venv/bin/python -m bench.generate --sqlite bench/out/ics.db [--days 365]
    .venv/bin/python -m bench.generate --postgres            # starts its own server
    .venv/bin/python -m bench.generate --postgres-url URL --from-sqlite bench/out/ics.db

Prints rows written and the time taken. The history is simulated by the demo model
(``feeds.simulator``) and written through the event layer (``data.writes.events``) in 30-day chunks,
letting finished patients go after each chunk so a year of a region fits in memory.

``--from-sqlite`` copies an already generated SQLite file into PostgreSQL (``COPY``)
instead of simulating again: the same rows on both backends, in a minute instead of
half an hour.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.ics_layout import ADMIT_FACTOR, bed_count, ics_sites
from data.db import create_db_engine, make_session_factory, upgrade

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
SEED = 99
CHUNK_DAYS = 30
REGION_FILE = (
    Path(__file__).resolve().parent.parent / "config/organisation/ics-region.yaml"
)
# Tables the seed writes (for the row counts in docs/performance.md).
DATA_TABLES = (
    "flow_event",
    "site",
    "ward",
    "bed",
    "bed_event",
    "ward_occupancy_hour",
    "inpatient_stay",
    "ed_attendance",
    "theatre",
    "theatre_session",
    "theatre_case",
)


def seed_region(
    factory: sessionmaker[Session],
    *,
    days: int,
    now: datetime = NOW,
    seed: int = SEED,
    sites: int | None = None,
) -> dict[str, int]:
    """``feeds.seed.seed_demo`` for the ICS layout, written every 30 days.

    The same model and the same event-layer writes as the demo seed; finished
    patients are let go after each chunk so a year of a region fits in memory.
    """
    from feeds.seed import seed_demo

    batch_inserts(factory)
    started = time.monotonic()

    def progress(t: datetime, counts: dict[str, int]) -> None:
        print(
            f"  simulated to {t:%Y-%m-%d}: {counts.get('events', 0):,} events "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )

    return seed_demo(
        factory,
        seed=seed,
        now=now,
        history_days=days,
        tz="Europe/London",
        sites=ics_sites()[:sites],
        scenario={"admit_factor": ADMIT_FACTOR},
        chunk_days=CHUNK_DAYS,
        progress=progress,
        organisation=REGION_FILE,
    )


def batch_inserts(factory: sessionmaker[Session]) -> None:
    """Send each bulk INSERT as one batch (``render_nulls``).

    SQLAlchemy's ORM bulk INSERT leaves out None values by default and so splits a
    list of rows into one statement per run of rows with the same None columns
    (tens of thousands of statements a chunk). With ``render_nulls`` NULL is sent
    instead, which stores the same rows: none of the columns the simulator leaves as
    None has a default.
    """

    @event.listens_for(factory, "do_orm_execute")
    def _render_nulls(state) -> None:  # noqa: ANN001
        if state.is_insert:
            state.update_execution_options(render_nulls=True)


def generate(url: str, days: int, sites: int | None = None) -> dict[str, int]:
    engine = create_db_engine(url)
    upgrade(engine)
    started = time.monotonic()
    counts = seed_region(make_session_factory(engine), days=days, sites=sites)
    analyse(engine)
    engine.dispose()
    print(f"generated in {time.monotonic() - started:.0f} s: {counts}")
    return counts


def analyse(engine: Engine) -> None:
    """Planner statistics, as a production database would have them."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def copy_sqlite_to_postgres(sqlite_path: str, pg_url: str) -> dict[str, int]:
    """Copy every table of a generated SQLite file into an empty PostgreSQL database."""
    import psycopg.types.json
    from alembic import command
    from sqlalchemy import JSON

    from data.db import alembic_config
    from data.models import Base

    src = create_db_engine(f"sqlite:///{sqlite_path}")
    dst = create_db_engine(pg_url)
    # The same schema revisions as the source (a file made before a new migration
    # stays comparable); --upgrade in the benchmarks brings both up to date.
    with src.connect() as conn:
        heads = [
            r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))
        ]
    for head in heads:
        command.upgrade(alembic_config(dst), head)
    started = time.monotonic()
    counts: dict[str, int] = {}
    present = set(inspect(src).get_table_names())
    raw = dst.raw_connection()
    try:
        cur = raw.cursor()
        with src.connect() as s:
            for table in Base.metadata.sorted_tables:
                if table.name not in present:
                    continue
                cur.execute(f'SELECT count(*) FROM "{table.name}"')
                if cur.fetchone()[0]:  # rows a migration put there (default profiles)
                    continue
                cols = [c.name for c in table.columns]
                json_cols = {
                    i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)
                }
                n = 0
                col_list = ", ".join(f'"{c}"' for c in cols)
                with cur.copy(f'COPY "{table.name}" ({col_list}) FROM STDIN') as copy:
                    for row in s.execute(select(*table.columns)).yield_per(20_000):
                        values = list(row)
                        for i in json_cols:
                            values[i] = psycopg.types.json.Json(values[i])
                        copy.write_row(values)
                        n += 1
                if n:
                    counts[table.name] = n
                    if "id" in table.c and table.c.id.autoincrement is not False:
                        cur.execute(
                            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', "
                            f"'id'), (SELECT max(id) FROM \"{table.name}\"))"
                        )
        raw.commit()
    finally:
        raw.close()
    analyse(dst)
    dst.dispose()
    src.dispose()
    print(f"copied in {time.monotonic() - started:.0f} s: {counts}")
    return counts


def row_counts(url: str) -> dict[str, int]:
    engine = create_db_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in DATA_TABLES:
            out[table] = conn.scalar(select(func.count()).select_from(text(table)))
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", help="path of the SQLite file to create")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway server"
    )
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database to fill")
    parser.add_argument("--from-sqlite", help="copy this generated SQLite file instead")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--sites",
        type=int,
        help="only the first N sites of the ICS layout (a tiny dataset for smoke runs)",
    )
    args = parser.parse_args()
    layout = ics_sites()[: args.sites]
    print(
        f"ICS layout: {len(layout)} sites, {bed_count(layout):,} beds, {args.days} days"
    )
    if args.sqlite:
        generate(f"sqlite:///{args.sqlite}", args.days, args.sites)

    def fill(url: str) -> None:
        if args.from_sqlite:
            copy_sqlite_to_postgres(args.from_sqlite, url)
        else:
            generate(url, args.days, args.sites)

    if args.postgres_url:
        fill(args.postgres_url)
    if args.postgres:
        from tests.support import pg

        server = pg.start_server()
        try:
            fill(server.create_database("ics"))
        finally:
            pg.destroy(server)


if __name__ == "__main__":
    main()
