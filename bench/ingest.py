"""HL7 ADT ingest over MLLP: sustained messages per minute and ACK latency.

A fresh database per backend holds the demo trust's organisation
(``config/organisation/demo.yaml``); the listener runs in this process (its own
thread and writer thread, as ``hl7-listen`` does) and ``--senders`` MLLP
connections each stream admit -> transfer -> discharge journeys on their own wards
for ``--seconds``, waiting for each ACK like a real sender (original mode). Event
times are the send time, so the history grows in order.

    .venv/bin/python -m bench.ingest --backend both --seconds 60 --senders 4

Results: ``bench/out/results/ingest.json``. Not measured here: wall displays
polling at the same time and message -> value on screen (``bench.freshness``
measures a feed write to the screen).
"""

from __future__ import annotations

import argparse
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
            select(Ward.code, Bed.label, Site.code)
            .join(Bed, Bed.ward_id == Ward.id)
            .join(Site, Site.id == Ward.site_id)
            .where(Bed.retired_at.is_(None), Bed.is_escalation.is_(False))
            .order_by(Site.code, Ward.code, Bed.label)
        ).all()
    return engine, factory, [(w, b, s) for w, b, s in beds]


def sender(
    k: int, port: int, beds: list, stop_at: float, latencies: list, codes: dict
) -> None:
    client = MllpClient(port, timeout=60)
    mine = beds  # this sender's own beds
    n = 0
    try:
        while time.monotonic() < stop_at:
            a = mine[(n * 2) % len(mine)]
            b = mine[(n * 2 + 1) % len(mine)]
            visit, patient = f"B{k}-{n}", f"P{k}-{n}"
            for i, (trigger, (ward, label, site)) in enumerate(
                (("A01", a), ("A02", b), ("A03", b))
            ):
                msg = adt(
                    trigger, f"{k}-{n}-{i}", at=datetime.now(UTC), visit=visit,
                    patient=patient, location=f"{ward}^^{label}^{site}",
                )  # fmt: skip
                started = time.perf_counter()
                code = ack_code(client.send(msg))
                latencies.append(time.perf_counter() - started)
                codes[code] = codes.get(code, 0) + 1
            n += 1
    finally:
        client.close()


def run(backend: Backend, seconds: float, senders: int) -> dict:
    engine, factory, beds = prepare(backend.url)
    # each sender gets its own beds so journeys never collide
    shares = [beds[k::senders] for k in range(senders)]
    listener = Hl7Listener(factory, Hl7Config(key=KEY, port=0))
    port = listener.start_in_thread()
    latencies: list[float] = []
    codes: dict[str, int] = {}
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=sender, args=(k, port, shares[k], stop_at, latencies, codes)
        )
        for k in range(senders)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default="both")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args()
    quiet = {} if args.no_wait else wait_until_quiet()
    results = []
    folder = Path(tempfile.mkdtemp(prefix="hl7-ingest-"))
    if args.backend in ("sqlite", "both"):
        backend = Backend("sqlite", f"sqlite:///{folder / 'ingest.db'}")
        results.append(run(backend, args.seconds, args.senders))
    if args.backend in ("postgresql", "both"):
        from tests.support import pg

        server = pg.start_server()
        try:
            backend = Backend("postgresql", server.create_database("ingest"), server)
            results.append(run(backend, args.seconds, args.senders))
        finally:
            pg.destroy(server)
    rows = [
        [r["backend"], r["senders"], r["messages"], r["per_minute"],
         r["ack_ms"]["p50"], r["ack_ms"]["p95"], r["ack_ms"]["max"],
         ", ".join(f"{k} {v}" for k, v in sorted(r["acks"].items()))]
        for r in results
    ]  # fmt: skip
    print(markdown_table(
        ["backend", "senders", "messages", "per minute", "ACK p50 ms", "ACK p95 ms",
         "ACK max ms", "ACKs"], rows,
    ))  # fmt: skip
    save_result("ingest", {"quiet": quiet, "results": results})


if __name__ == "__main__":
    main()
