"""HL7 ADT ingest over MLLP: sustained messages per minute and ACK latency.

A fresh database per backend holds the demo trust's organisation
(``config/organisation/demo.yaml``); the listener runs in this process (its own
thread and writer thread, as ``hl7-listen`` does) and ``--senders`` MLLP
connections each stream admit -> transfer -> discharge journeys on their own wards
for ``--seconds``, waiting for each ACK like a real sender (original mode). Event
times are the send time, so the history grows in order.

    .venv/bin/python -m bench.ingest --backend both --seconds 60 --senders 4

With ``--walls N`` (default 200) N wall displays poll the bed figures at the same
time, from a separate process (as gunicorn workers would serve them, apart from
the listener): a light poller thread per display runs the bed board's own queries
(``data.queries.beds.ward_counts`` for the trust and ``ward_beds`` for one ward)
every ``--wall-poll`` seconds (15, as ``bench.load``), staggered, on the same
database, without the HTTP and Dash rendering (``bench.load`` measures those).

Message -> value on screen: for every admission a watcher polls ``ward_beds`` of
the bed's ward (the figure a bed board shows) every 50 ms from the moment the A01
is sent until the bed reads occupied. A display then shows it at its next poll, so
on a real wall add up to one poll interval (``--wall-poll``).

Results: ``bench/out/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench.common import (
    Backend,
    markdown_table,
    save_result,
    summary_ms,
    wait_until_quiet,
)
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import Bed, Site, Ward
from data.queries.beds import ward_beds, ward_counts
from data.writes.organisation import apply_organisation
from feeds.hl7.config import Hl7Config
from feeds.hl7.listener import Hl7Listener
from ops.organisation import load_organisation_file
from tests.feeds.hl7_support import MllpClient, ack_code, adt

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "organisation" / "demo.yaml"
KEY = b"bench-ingest-key-" + b"b" * 32


def prepare(url: str) -> tuple:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with write_session(factory) as session:
        apply_organisation(
            session, load_organisation_file(DEMO), at=datetime.now(UTC),
            actor_username="bench", actor_role="admin",
        )  # fmt: skip
    with factory() as session:
        beds = session.execute(
            select(Ward.code, Bed.label, Site.code, Ward.id)
            .join(Bed, Bed.ward_id == Ward.id)
            .join(Site, Site.id == Ward.site_id)
            .where(Bed.retired_at.is_(None), Bed.is_escalation.is_(False))
            .order_by(Site.code, Ward.code, Bed.label)
        ).all()
    return engine, factory, [(w, b, s, ward_id) for w, b, s, ward_id in beds]


def wall(factory, stop_at: float, poll: float, offset: float, ward_id: int,
         record: list) -> None:  # fmt: skip
    """One wall display: the trust's bed figures and one ward's beds every poll."""
    time.sleep(offset)
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        with factory() as session:
            ward_counts(session)
            ward_beds(session, ward_id)
        record.append(time.perf_counter() - started)
        time.sleep(max(0.0, poll - (time.perf_counter() - started)))


def walls_process(url: str, walls: int, poll: float, seconds: float,
                  ward_ids: list[int], out) -> None:  # noqa: ANN001  # fmt: skip
    """N wall displays in their own process; puts the poll durations on ``out``."""
    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    stop_at = time.monotonic() + seconds
    polls: list[float] = []
    displays = [
        threading.Thread(
            target=wall,
            args=(factory, stop_at, poll, poll * d / max(walls, 1),
                  ward_ids[d % len(ward_ids)], polls),
        )
        for d in range(walls)
    ]  # fmt: skip
    for t in displays:
        t.start()
    for t in displays:
        t.join()
    engine.dispose()
    out.put(polls)


def watch(factory, ward_id: int, label: str, sent: float, screen: list) -> None:  # noqa: ANN001
    """From ``sent`` until the ward's bed board shows ``label`` occupied."""
    deadline = sent + 60
    while time.perf_counter() < deadline:
        with factory() as session:
            beds = ward_beds(session, ward_id)
        if any(b.label == label and b.state == "occupied" for b in beds.beds):
            screen.append(time.perf_counter() - sent)
            return
        time.sleep(0.05)


def sender(
    k: int, port: int, beds: list, stop_at: float, latencies: list, codes: dict,
    factory=None, screen: list | None = None,  # noqa: ANN001
) -> None:  # fmt: skip
    client = MllpClient(port, timeout=60)
    mine = beds  # this sender's own beds
    n = 0
    try:
        while time.monotonic() < stop_at:
            a = mine[(n * 2) % len(mine)]
            b = mine[(n * 2 + 1) % len(mine)]
            visit, patient = f"B{k}-{n}", f"P{k}-{n}"
            for i, (trigger, (ward, label, site, ward_id)) in enumerate(
                (("A01", a), ("A02", b), ("A03", b))
            ):
                msg = adt(
                    trigger, f"{k}-{n}-{i}", at=datetime.now(UTC), visit=visit,
                    patient=patient, location=f"{ward}^^{label}^{site}",
                )  # fmt: skip
                started = time.perf_counter()
                watcher = None
                if trigger == "A01" and screen is not None:
                    watcher = threading.Thread(
                        target=watch, args=(factory, ward_id, label, started, screen)
                    )
                    watcher.start()
                code = ack_code(client.send(msg))
                latencies.append(time.perf_counter() - started)
                if watcher is not None:  # before the transfer moves the patient on
                    watcher.join()
                codes[code] = codes.get(code, 0) + 1
            n += 1
    finally:
        client.close()


def run(
    backend: Backend, seconds: float, senders: int, walls: int = 0,
    wall_poll: float = 15.0,
) -> dict:  # fmt: skip
    engine, factory, beds = prepare(backend.url)
    # each sender gets its own beds so journeys never collide
    shares = [beds[k::senders] for k in range(senders)]
    listener = Hl7Listener(factory, Hl7Config(key=KEY, port=0))
    port = listener.start_in_thread()
    latencies: list[float] = []
    screen: list[float] = []
    polls: list[float] = []
    codes: dict[str, int] = {}
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=sender,
            args=(k, port, shares[k], stop_at, latencies, codes, factory, screen),
        )
        for k in range(senders)
    ]
    ward_ids = sorted({b[3] for b in beds})
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    displays = None
    if walls:
        displays = ctx.Process(
            target=walls_process,
            args=(backend.url, walls, wall_poll, seconds, ward_ids, out),
        )
        displays.start()
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if displays is not None:
        polls = out.get(timeout=wall_poll + 60)
        displays.join(30)
    listener.stop()
    engine.dispose()
    return {
        "backend": backend.name,
        "senders": senders,
        "seconds": round(elapsed, 1),
        "messages": len(latencies),
        "per_minute": round(len(latencies) / elapsed * 60),
        "ack_ms": summary_ms(latencies),
        "acks": codes,
        "walls": walls,
        "wall_poll_s": wall_poll,
        "wall_polls": len(polls),
        "wall_poll_ms": summary_ms(polls) if polls else None,
        "admissions_watched": len(screen),
        "value_on_screen_ms": summary_ms(screen) if screen else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="both")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--walls", type=int, default=200)
    parser.add_argument("--wall-poll", type=float, default=15.0)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args()
    quiet = {} if args.no_wait else wait_until_quiet()
    results = []
    folder = Path(tempfile.mkdtemp(prefix="hl7-ingest-"))
    if args.backend in ("sqlite", "both"):
        backend = Backend("sqlite", f"sqlite:///{folder / 'ingest.db'}")
        results.append(
            run(backend, args.seconds, args.senders, args.walls, args.wall_poll)
        )
    if args.backend in ("postgresql", "both"):
        from tests.support import pg

        server = pg.start_server()
        try:
            backend = Backend("postgresql", server.create_database("ingest"), server)
            results.append(
                run(backend, args.seconds, args.senders, args.walls, args.wall_poll)
            )
        finally:
            pg.destroy(server)
    rows = [
        [r["backend"], r["senders"], r["walls"], r["messages"], r["per_minute"],
         r["ack_ms"]["p50"], r["ack_ms"]["p95"], r["ack_ms"]["max"],
         (r["value_on_screen_ms"] or {}).get("p50"),
         (r["value_on_screen_ms"] or {}).get("p95"),
         (r["wall_poll_ms"] or {}).get("p95"),
         ", ".join(f"{k} {v}" for k, v in sorted(r["acks"].items()))]
        for r in results
    ]  # fmt: skip
    print(markdown_table(
        ["backend", "senders", "walls", "messages", "per minute", "ACK p50 ms",
         "ACK p95 ms", "ACK max ms", "value shown p50 ms", "value shown p95 ms",
         "wall poll p95 ms", "ACKs"], rows,
    ))  # fmt: skip
    save_result("ingest", {"quiet": quiet, "results": results})


if __name__ == "__main__":
    main()
