"""Freshness: from a write in the database to the new value in a polling browser.

    .venv/bin/python -m bench.freshness                  # both backends
    .venv/bin/python -m bench.freshness --backend postgresql --writes 8

gunicorn (2 workers, ``bench.wsgi:server``, sign-in required, poll interval
``--poll`` s = 5) serves the Overview to headless Chromium, signed in as a viewer. A
MutationObserver in the page notes when site S01's "Beds available" tile changes.
Each write makes one S01 bed available (an ORM update in a write transaction that
also touches ``feed_status``, as every writer does) and records the commit time; the
delay is commit → new value on screen. Target: ≤ poll interval + 2 s.

Also reports the gunicorn workers' RSS at the start and end of the run. Prints a
markdown table; writes bench/out/results/freshness-<backend>.json.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common as c
from bench.load import _stop, _wait_http, worker_rss

# The overview body is re-rendered on every poll, so observe the body and read the
# tile's value from it.
OBSERVE_BODY = """
const tileId = arguments[0];
window.__bench = {changes: []};
let last = null;
const read = () => {
  const el = document.getElementById(tileId);
  const text = el ? el.textContent : null;
  if (text !== last) { last = text; window.__bench.changes.push([Date.now(), text]); }
};
const attach = () => {
  const body = document.getElementById('overview-body');
  if (!body) { setTimeout(attach, 50); return; }
  read();
  new MutationObserver(read).observe(body, {childList: true, characterData: true,
                                            subtree: true});
};
attach();
"""
TILE = "overview-s01-available-value"


def _value(text: str | None) -> int | None:
    if not text:
        return None
    digits = text.replace(",", "").strip()
    return int(digits) if digits.isdigit() else None


def make_bed_available(url: str, now_fn: Any) -> tuple[float, int]:
    """Make one S01 bed available (a closed, blocked or awaiting-clean one first);
    returns the commit time and the bed id."""
    from sqlalchemy import select

    from data.db import create_db_engine, make_session_factory, write_session
    from data.models.capacity import Bed, Site, Ward
    from data.writes import touch_feed

    engine = create_db_engine(url)
    try:
        with write_session(make_session_factory(engine)) as s:
            bed = s.scalars(
                select(Bed).join(Ward, Ward.id == Bed.ward_id)
                .join(Site, Site.id == Ward.site_id)
                .where(Site.code == "S01", Bed.state != "available")
                .order_by(Bed.state.in_(("occupied",)), Bed.id).limit(1)
            ).first()  # fmt: skip
            if bed is None:
                raise SystemExit("every S01 bed is available already")
            now = now_fn()
            bed.state, bed.state_since, bed.state_reason = "available", now, None
            bed.patient_ref = None
            touch_feed(s, "bench", now, detail=f"bed {bed.id} available")
            bed_id = bed.id
        return time.time(), bed_id
    finally:
        engine.dispose()


def run(backend: c.Backend, args: Any) -> dict[str, Any]:
    from bench.generate import NOW
    from bench.wsgi import ShiftedClock
    from data.db import create_db_engine, make_session_factory, write_session
    from data.security import create_user
    from tests.support.pg import free_port

    logdir = Path(tempfile.mkdtemp(prefix="cc-fresh-"))
    password = secrets.token_urlsafe(16)
    engine = create_db_engine(backend.url)
    with write_session(make_session_factory(engine)) as s:
        username = f"bench-fresh-{secrets.token_hex(3)}"
        create_user(s, username, password, "viewer", "Bench freshness", NOW)
    engine.dispose()
    t0 = time.time()
    clock = ShiftedClock(NOW, t0)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": backend.url, "COMMAND_CENTRE_SECURE_COOKIES": "false", "SECRET_KEY": secrets.token_hex(32), "COMMAND_CENTRE_HL7_KEY": secrets.token_hex(32),
           "COMMAND_CENTRE_DEMO": "false", "COMMAND_CENTRE_BACKGROUND": "false",
           "COMMAND_CENTRE_POLL_SECONDS": str(args.poll), "BENCH_T0": str(t0),
           "PYTHONPATH": str(c.ROOT)}  # fmt: skip
    log = open(logdir / "gunicorn.log", "w")  # noqa: SIM115
    gunicorn = subprocess.Popen(
        [str(c.VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
         "--timeout", "120", "bench.wsgi:server"],
        cwd=c.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    driver = None
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/healthz", 120, gunicorn)
        driver = c.chromium()
        driver.get(base + "/login")
        driver.find_element("id", "username").send_keys(username)
        driver.find_element("id", "password").send_keys(password)
        driver.find_element("id", "sign-in").click()
        driver.get(base + "/")
        driver.execute_script(OBSERVE_BODY, TILE)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            changes = driver.execute_script("return window.__bench.changes")
            if changes and _value(changes[-1][1]) is not None:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"the overview never showed {TILE}; log in {logdir}")
        load = {"quiet": None, "load_at_start": round(c.load_average(), 2)}
        if not args.no_wait:
            load = c.wait_until_quiet()
        rss_start = worker_rss(gunicorn.pid)
        rng = random.Random(7)
        delays = []
        for i in range(args.writes):
            time.sleep(rng.uniform(1.0, args.poll + 1.0))
            before = _value(
                driver.execute_script("return window.__bench.changes")[-1][1]
            )
            committed, bed_id = make_bed_available(backend.url, clock)
            target = (before or 0) + 1
            seen = None
            end = time.monotonic() + args.poll * 4 + 10
            while time.monotonic() < end and seen is None:
                for at_ms, text in driver.execute_script(
                    "return window.__bench.changes"
                ):
                    if at_ms / 1000 >= committed - 0.001 and _value(text) == target:
                        seen = at_ms / 1000
                        break
                time.sleep(0.05)
            delay = None if seen is None else round(seen - committed, 2)
            delays.append(delay)
            print(f"  write {i + 1}: bed {bed_id} available; on screen after "
                  f"{delay if delay is not None else 'NEVER'} s", flush=True)  # fmt: skip
        rss_end = worker_rss(gunicorn.pid)
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        if driver is not None:
            driver.quit()
        _stop(gunicorn, "gunicorn")
    shown = [d for d in delays if d is not None]
    target_s = args.poll + 2
    return {
        "backend": backend.name,
        "poll_s": args.poll,
        "writes": len(delays),
        "delays_s": delays,
        "never_shown": sum(d is None for d in delays),
        "p50_s": round(c.pct(shown, 50), 2) if shown else None,
        "max_s": max(shown) if shown else None,
        "target_s": target_s,
        "met": bool(shown) and len(shown) == len(delays) and max(shown) <= target_s,
        "rss_mb": {"start": rss_start, "end": rss_end},
        "browser_errors": [e["message"][:200] for e in logs[:5]],
        "load": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_backend_args(parser)
    parser.add_argument("--writes", type=int, default=8)
    parser.add_argument("--poll", type=int, default=5)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    c.stop_cleanly_on_sigterm()
    for backend in c.backends(args):
        work = backend
        try:
            if (
                backend.name == "sqlite"
            ):  # write to a copy: the bench file stays as made
                import shutil

                copy = Path(tempfile.mkdtemp(prefix="cc-fresh-db-")) / "ics.db"
                shutil.copy(args.sqlite, copy)
                work = c.Backend("sqlite", f"sqlite:///{copy}")
            result = run(work, args)
            rows = [[result["backend"], result["poll_s"], result["writes"],
                     result["p50_s"], result["max_s"], result["never_shown"],
                     result["target_s"], c.met(result["met"]),
                     f"{result['rss_mb']['start']} → {result['rss_mb']['end']}"]]  # fmt: skip
            md = c.markdown_table(["backend", "poll s", "writes", "p50 s", "max s",
                                   "never shown", "target s", "met", "worker RSS MB"],
                                  rows)  # fmt: skip
            print(f"\n### Freshness — {backend.name}\n\n{md}\n")
            c.save_result(f"freshness-{backend.name}{args.tag}",
                          {**result, "markdown": md})  # fmt: skip
        finally:
            backend.close()


if __name__ == "__main__":
    main()
