"""Full-refresh time per screen through the real Dash callback endpoint.

For each screen (Overview, Beds, ED, Theatres, Wall) and each backend:

* **server** — wall time of ``POST /_dash-update-component`` for the screen's refresh
  callback (the body built from ``app.callback_map``), Flask test client, in process;
  ``--runs`` polls (default 50), p50/p95/max. Each poll follows a feed write (one
  bed turns over), so it recomputes everything: no shared render, no cached
  snapshot — the full refresh. The page holds what it was sent before, as a browser
  does, so the reply is the difference (``callbacks/delta.py``);
* **2nd screen** — the same poll at once from another screen showing the same view:
  the data has not changed since, so it gets the shared render (what most of the
  hundreds of pollers get);
* **SQL (in request)** — time inside cursor execution during those requests
  (SQLAlchemy ``before/after_cursor_execute``). On SQLite a statement runs while its
  rows are fetched, so this under-counts there; hence also:
* **raw SQL** — the statements of one refresh, captured and replayed on a bare DBAPI
  cursor with ``execute`` + ``fetchall`` (``--runs`` times): the practical limit;
* **naive** — ``bench/naive.py``: whole tables through ``pandas.read_sql``, figures in
  pandas (``--naive-runs``, default 5);
* **payload** — bytes of the poll's response after a write (what a poll sends when
  the data changed) and of the first refresh (what a new page gets);
* **banner** — the shell's alert banner callback, which every page's poll also fires;
* **first paint** — headless Chromium: navigation start to the screen's figures drawn
  (``--paint-runs`` loads, the first with a cold cache), plus bytes transferred.

    .venv/bin/python -m bench.refresh                      # both backends
    .venv/bin/python -m bench.refresh --backend sqlite --runs 20 --no-browser

Prints markdown tables and writes bench/out/results/refresh-<backend>.json.
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path
from typing import Any

from bench import common as c

TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def capture_statements(engine: Any, fn: Any) -> list[tuple[str, Any]]:
    """The (statement, parameters) every cursor execution of ``fn()`` sent."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def before(conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
        if statement.split(None, 1)[0].upper() not in TRANSACTION_CONTROL:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


def replay(engine: Any, statements: list[tuple[str, Any]]) -> tuple[float, list[float]]:
    """Run the statements on a bare DBAPI cursor (execute + fetchall): total and each."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        each = []
        for statement, params in statements:
            t0 = time.perf_counter()
            cur.execute(statement, params)
            if cur.description is not None:
                cur.fetchall()
            each.append(time.perf_counter() - t0)
        raw.rollback()
        return sum(each), each
    finally:
        raw.close()


class SteppedClock:
    """The trust's clock in a benchmark: stands still between writes, moved by
    :class:`TrustWriter` (so each write's minute shows in the "as of" stamps)."""

    def __init__(self, at: Any) -> None:
        self.at = at

    def __call__(self) -> Any:
        return self.at


class TrustWriter:
    """The writes a trust makes, before a poll: the clock moves on ``step`` seconds
    and the region's feeds write that time's events through the event layer — the
    demo model (``feeds.seed.run_tick``, the same simulator that generated the
    history) carrying on from the dataset's last minute: ED arrivals, triage,
    departures and admissions, bed turnovers (discharges, cleans, new patients) on
    whichever wards they fall, theatre cases moving on, the hourly roll-up. Every
    write is a new minute, so every "as of HH:MM" changes too (the worst case for
    the piece cache: in production a minute holds several polls).

    It changes the database for good (the history grows): run it on a copy
    (:func:`scratch_copy`)."""

    def __init__(self, runtime: Any, clock: SteppedClock, step: float = 60.0) -> None:
        self.runtime = runtime
        self.clock = clock
        self.step = step
        self.n = 0
        self.events = 0
        self.seconds = 0.0

    def __call__(self) -> None:
        from datetime import timedelta

        from feeds.seed import run_tick

        self.n += 1
        self.clock.at = self.clock.at + timedelta(seconds=self.step)
        t0 = time.perf_counter()
        counts = run_tick(self.runtime.factory, now=self.clock.at,
                          tz=self.runtime.settings.timezone)  # fmt: skip
        self.seconds += time.perf_counter() - t0
        if counts is None:
            raise SystemExit("the dataset has no simulation state: generate it with "
                             "bench.generate")  # fmt: skip
        self.events += counts.get("events", counts.get("applied", 0))


def empty_piece_caches() -> None:
    """Every per-process memo of rendered pieces and read results emptied, so the
    next poll rebuilds everything (the "cold" column): the pieces of a render
    (``callbacks.delta.PARTS``), the shared snapshot of the figures, the settled
    theatre sessions and the ED's past hours. The memo of whole renders is keyed by
    the data version, which every write changes."""
    from callbacks import delta
    from data.queries import ed, metrics, theatres

    with delta.PARTS._lock:
        delta.PARTS._items.items.clear()
        delta.PARTS._items.weight = 0
    metrics._SHARED.clear()
    for memo in (theatres._SETTLED, ed._PAST_HOURS):
        with memo._lock:
            memo._entries.clear()


def scratch_copy(backend: c.Backend) -> c.Backend:
    """A SQLite backend's file copied (the writes grow its history); PostgreSQL
    backends are throwaway copies already (or the caller's own database)."""
    import shutil

    if backend.name != "sqlite":
        return backend
    source = backend.url.removeprefix("sqlite:///")
    c.OUT.mkdir(parents=True, exist_ok=True)  # git-ignored: absent in a fresh clone
    target = c.OUT / f"refresh-scratch-{os.getpid()}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(target.as_posix() + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return c.Backend("sqlite", f"sqlite:///{target}")


def measure_screen(app: Any, timer: c.SqlTimer, screen: c.Screen, runs: int,
                   naive_runs: int, write: TrustWriter) -> dict[str, Any]:  # fmt: skip
    """Polls of a page that has painted, in three columns, side by side:

    * **after a write** — the trust's writes of the next minute (``write``), then the
      poll: the render is recomputed (rebuilding the pieces whose values changed)
      and sent as a difference from what the page holds;
    * **2nd screen** — the same poll at once from another screen on the same view:
      the data did not change, so it gets the shared render;
    * **cold** — another minute's writes, every per-process memo emptied
      (:func:`empty_piece_caches`), then the poll: every piece rebuilt.
    """
    from bench.generate import NOW
    from bench.naive import NAIVE

    runtime = app.server.extensions["command_centre"]
    engine = runtime.engine
    client = app.server.test_client()
    # first refresh (page render: everything) and one warm-up poll
    first = c.post_callback(client, c.poll_body(app, screen, 0))
    if first.status_code != 200:
        raise SystemExit(
            f"{screen.name}: HTTP {first.status_code}: {first.data[:300]!r}"
        )
    sent = c.sent_after(screen, first, None)
    write()
    sent = c.sent_after(
        screen, c.post_callback(client, c.poll_body(app, screen, 1, sent)), sent
    )
    timer.take()
    server, sql_in, statements, sizes, gz_sizes = [], [], [], [], []
    shared, shared_sizes = [], []
    cold, cold_sql, cold_statements = [], [], []
    pieces = {"after_write": [0, 0], "cold": [0, 0]}  # [rebuilt, served]
    n = 2
    for _ in range(runs):
        for column in ("after_write", "cold"):
            write()
            if column == "cold":
                empty_piece_caches()
            timer.take()
            misses, hits = _parts_counts()
            t0 = time.perf_counter()
            r = c.post_callback(client, c.poll_body(app, screen, n, sent))
            took = time.perf_counter() - t0
            assert r.status_code in (200, 204), r.data[:300]
            seconds, count = timer.take()
            m, h = _parts_counts()
            pieces[column][0] += m - misses
            pieces[column][1] += h - hits
            sent = c.sent_after(screen, r, sent)
            if column == "cold":
                cold.append(took)
                cold_sql.append(seconds)
                cold_statements.append(count)
                continue
            server.append(took)
            sql_in.append(seconds)
            statements.append(count)
            sizes.append(len(r.data))
            gz_sizes.append(len(gzip.compress(r.data, 6)))
            t0 = time.perf_counter()
            r = c.post_callback(client, c.poll_body(app, screen, n, sent))
            shared.append(time.perf_counter() - t0)
            shared_sizes.append(len(r.data))
            n += 1
    timer.take()
    banner = []
    for i in range(min(runs, 20)):
        t0 = time.perf_counter()
        c.post_callback(client, c.banner_body(app, screen, i + 1))
        banner.append(time.perf_counter() - t0)
    timer.take()
    raw = {}
    for column in ("after_write", "cold"):
        write()
        if column == "cold":
            empty_piece_caches()
        captured = capture_statements(
            engine, lambda: c.post_callback(client, c.poll_body(app, screen, 99, sent))
        )
        timer.take()
        raw_total, raw_each = [], []
        for _ in range(runs):
            total, each = replay(engine, captured)
            raw_total.append(total)
            raw_each.append(each)
        raw[column] = (captured, raw_total, raw_each)
    captured, _, raw_each = raw["cold"]
    slowest = sorted(
        range(len(captured)),
        key=lambda i: -sorted(r[i] for r in raw_each)[len(raw_each) // 2],
    )[:3]
    breakdown = callback_breakdown(app, screen, max(1, min(runs, 20) // 4), write)
    naive_fn = NAIVE[screen.name]
    naive = []
    for _ in range(naive_runs):
        t0 = time.perf_counter()
        naive_fn(engine, NOW, runtime.settings.timezone)
        naive.append(time.perf_counter() - t0)
    out = {
        "screen": screen.name,
        "path": screen.path + screen.search,
        "server_ms": c.summary_ms(server),
        "cold_ms": c.summary_ms(cold),
        "shared_ms": c.summary_ms(shared),
        "shared_payload_bytes": max(shared_sizes),
        "sql_in_request_ms": c.summary_ms(sql_in),
        "cold_sql_in_request_ms": c.summary_ms(cold_sql),
        "statements": max(statements),
        "cold_statements": max(cold_statements),
        "raw_sql_ms": c.summary_ms(raw["after_write"][1]),
        "cold_raw_sql_ms": c.summary_ms(raw["cold"][1]),
        "pieces": {k: {"rebuilt": v[0], "served": v[1]} for k, v in pieces.items()},
        "naive_ms": c.summary_ms(naive),
        "payload_bytes": max(sizes),
        "payload_gzip_bytes": max(gz_sizes),
        "first_refresh_bytes": len(first.data),
        "banner_ms": c.summary_ms(banner),
        "breakdown_ms": breakdown,
        "slowest_cold_statements": [
            {
                "ms": round(
                    1000 * sorted(r[i] for r in raw_each)[len(raw_each) // 2], 2
                ),
                "sql": " ".join(captured[i][0].split())[:400],
            }
            for i in slowest
        ],  # fmt: skip
    }
    s, rs, cs, crs = (out["server_ms"], out["raw_sql_ms"], out["cold_ms"],
                      out["cold_raw_sql_ms"])  # fmt: skip
    out["ratio_server_to_raw_sql_p95"] = (
        round(s["p95"] / rs["p95"], 2) if rs["p95"] else None
    )
    out["ratio_cold_to_raw_sql_p95"] = (
        round(cs["p95"] / crs["p95"], 2) if crs["p95"] else None
    )
    nv = out["naive_ms"]
    out["speedup_vs_naive_p50"] = round(nv["p50"] / s["p50"], 1) if s["p50"] else None
    return out


def _parts_counts() -> tuple[int, int]:
    from callbacks import delta

    return delta.PARTS.misses, delta.PARTS.hits


def _callback_function(screen: c.Screen) -> Any:
    from callbacks import beds, ed, flow, overview, theatres, wall

    body = c.page_ids(screen.path).body
    return {
        "/": lambda: overview.refresh(1, body),
        "/beds": lambda: beds.refresh(screen.search, 1, body),
        "/ed": lambda: ed.refresh(screen.search, 1, body),
        "/theatres": lambda: theatres.refresh(screen.search, 1, body),
        "/flow": lambda: flow.refresh(screen.search, 1, body),
        "/wall": lambda: wall.refresh(1, screen.search, body, {"viewportHeight": 1080}),
    }[screen.path]


def callback_breakdown(
    app: Any, screen: c.Screen, runs: int, write: Any
) -> dict[str, Any]:
    """Where a cold refresh's server time goes: the render function (queries +
    building components and figures, after a write with every memo emptied) and
    serialising its outputs to JSON (as Dash does)."""
    from dash._utils import to_json

    fn = _callback_function(screen)
    calls, dumps = [], []
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        for _ in range(runs):
            write()
            empty_piece_caches()
            t0 = time.perf_counter()
            out = fn()
            t1 = time.perf_counter()
            to_json(list(out))
            t2 = time.perf_counter()
            calls.append(t1 - t0)
            dumps.append(t2 - t1)
    return {"function": c.summary_ms(calls), "to_json": c.summary_ms(dumps)}


def first_paint(app: Any, screens: tuple[c.Screen, ...], runs: int) -> dict[str, Any]:
    """Navigation start to the screen's figures drawn, in headless Chromium."""
    from selenium.common.exceptions import TimeoutException

    out: dict[str, Any] = {}
    check = """
        const sel = arguments[0];
        const el = document.querySelector(sel);
        if (!el) return null;
        const res = performance.getEntriesByType('resource');
        const cb = res.filter(r => r.name.includes('_dash-update-component'));
        return {t: performance.now(), n_callbacks: cb.length,
                callback_bytes: cb.reduce((a, r) => a + (r.transferSize || 0), 0),
                all_bytes: res.reduce((a, r) => a + (r.transferSize || 0), 0)
                           + (performance.getEntriesByType('navigation')[0]
                              || {transferSize: 0}).transferSize};
    """
    with c.serve(app) as base:
        driver = c.chromium()
        driver.set_page_load_timeout(300)
        driver.set_script_timeout(300)
        try:
            for screen in screens:
                times, details = [], []
                for _i in range(runs):
                    driver.get(base + screen.path + screen.search)
                    deadline = time.monotonic() + 240
                    found = None
                    while time.monotonic() < deadline:
                        found = driver.execute_script(check, screen.painted)
                        if found:
                            break
                        time.sleep(0.02)
                    if not found:
                        raise TimeoutException(
                            f"{screen.name}: {screen.painted} not drawn"
                        )
                    times.append(found["t"] / 1000)
                    details.append(found)
                    logs = [
                        e for e in driver.get_log("browser") if e["level"] == "SEVERE"
                    ]
                    if logs:
                        print(f"  {screen.name}: browser errors: {logs[:2]}")
                warm = times[1:] or times
                out[screen.name] = {
                    "cold_ms": round(times[0] * 1000),
                    "warm_ms": c.summary_ms(warm),
                    "bytes_cold": details[0]["all_bytes"],
                    "bytes_warm": details[-1]["all_bytes"],
                    "callbacks": details[-1]["n_callbacks"],
                    "callback_bytes": details[-1]["callback_bytes"],
                }
                print(f"  first paint {screen.name}: cold {times[0] * 1000:.0f} ms, "
                      f"warm p50 {out[screen.name]['warm_ms']['p50']:.0f} ms", flush=True)  # fmt: skip
        finally:
            driver.quit()
    return out


def table(results: list[dict[str, Any]], paint: dict[str, Any]) -> str:
    rows = []
    for r in results:
        s, cold, sh = r["server_ms"], r["cold_ms"], r["shared_ms"]
        p = paint.get(r["screen"], {})
        pw = r["pieces"]["after_write"]
        rows.append([
            r["screen"], s["p50"], s["p95"], r["raw_sql_ms"]["p95"],
            r["ratio_server_to_raw_sql_p95"],
            cold["p50"], cold["p95"], r["cold_raw_sql_ms"]["p95"],
            r["ratio_cold_to_raw_sql_p95"], r["cold_statements"],
            sh["p50"], sh["p95"],
            f"{pw['rebuilt']}/{pw['rebuilt'] + pw['served']}",
            round(r["payload_bytes"] / 1024, 1), round(r["payload_gzip_bytes"] / 1024, 1),
            round(r["first_refresh_bytes"] / 1024, 1),
            p.get("warm_ms", {}).get("p50", "—"), p.get("cold_ms", "—"),
            c.met(s["p95"] <= 50), c.met(cold["p95"] <= 100), c.met(sh["p95"] <= 5),
            c.met((r["ratio_cold_to_raw_sql_p95"] or 99) <= 3),
        ])  # fmt: skip
    md = c.markdown_table(
        [
            "screen",
            "after write p50 ms",
            "after write p95 ms",
            "its raw SQL p95 ms",
            "× SQL (p95)",
            "cold p50 ms",
            "cold p95 ms",
            "cold raw SQL p95 ms",
            "cold × SQL (p95)",
            "cold statements",
            "2nd screen p50 ms",
            "2nd screen p95 ms",
            "pieces rebuilt after write",
            "poll KB",
            "poll KB gzip",
            "first refresh KB",
            "first paint warm ms",
            "first paint cold ms",
            "after write p95 ≤ 50",
            "cold p95 ≤ 100",
            "2nd p95 ≤ 5",
            "cold ≤ 3× SQL",
        ],  # fmt: skip
        rows,
    )
    naive = [f"{r['screen']} {r['naive_ms']['p50']:.0f} ms" for r in results
             if r["naive_ms"]["n"]]  # fmt: skip
    if naive:
        md += ("\n\nNaive peer (whole tables into pandas, no figures; its cost grows with "
               "history), p50: " + ", ".join(naive) + ".")  # fmt: skip
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_backend_args(parser)
    parser.add_argument(
        "--runs",
        type=int,
        default=30,
        help="polls per column and screen (each after its own write)",
    )
    parser.add_argument("--step", type=float, default=60.0,
                        help="trust seconds between writes (the clock moves on)")  # fmt: skip
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--paint-runs", type=int, default=4)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--screens", help="comma-separated screen names (default all)")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--upgrade", action="store_true",
                        help="apply pending migrations (e.g. 0006 indexes) + ANALYZE first")  # fmt: skip
    args = parser.parse_args()
    c.stop_cleanly_on_sigterm()
    screens = c.SCREENS
    if args.screens:
        wanted = {s.strip().lower() for s in args.screens.split(",")}
        screens = tuple(s for s in screens if s.name.lower() in wanted)
    from bench.generate import NOW

    for original in c.backends(args):
        backend = scratch_copy(original)
        try:
            if args.upgrade:
                c.upgrade_and_analyse(backend.url)
            clock = SteppedClock(NOW)
            app = c.make_app(backend.url, clock=clock)
            runtime = app.server.extensions["command_centre"]
            engine = runtime.engine
            write = TrustWriter(runtime, clock, args.step)
            counts = c.row_counts(backend.url)
            load = {"quiet": None, "load_at_start": round(c.load_average(), 2)}
            if not args.no_wait:
                load = c.wait_until_quiet()
            timer = c.SqlTimer(engine)
            results = []
            for screen in screens:
                print(f"[{backend.name}] {screen.name} ...", flush=True)
                results.append(measure_screen(app, timer, screen, args.runs,
                                              args.naive_runs, write))  # fmt: skip
                r = results[-1]
                print(f"  after write p50 {r['server_ms']['p50']} p95 "
                      f"{r['server_ms']['p95']} ms; cold p50 {r['cold_ms']['p50']} p95 "
                      f"{r['cold_ms']['p95']} ms; 2nd screen p95 {r['shared_ms']['p95']} ms;"
                      f" cold raw SQL p95 {r['cold_raw_sql_ms']['p95']} ms; "
                      f"{r['payload_bytes']:,} B; load {c.load_average():.2f}", flush=True)  # fmt: skip
            timer.close()
            paint = (
                {} if args.no_browser else first_paint(app, screens, args.paint_runs)
            )
            load_end = round(c.load_average(), 2)
            md = table(results, paint)
            md += (f"\n\nWrites: {write.n} (one trust minute each, {write.events:,} events, "
                   f"{1000 * write.seconds / max(1, write.n):.0f} ms per write, not timed in "
                   f"the polls). Load average {load.get('load_at_start', load)} at start, "
                   f"{load_end} at end.")  # fmt: skip
            print(f"\n### Refresh — {backend.name}\n\n{md}\n")
            c.save_result(f"refresh-{backend.name}{args.tag}", {
                "backend": backend.name, "rows": counts, "load": load,
                "load_at_end": load_end, "runs": args.runs, "naive_runs": args.naive_runs,
                "writes": write.n, "events_written": write.events, "step_s": args.step,
                "scratch": backend.url.removeprefix("sqlite:///"),
                "results": results, "first_paint": paint, "markdown": md,
            })  # fmt: skip
            engine.dispose()
        finally:
            if backend is not original:
                for suffix in ("", "-wal", "-shm", ".secret-key"):
                    Path(backend.url.removeprefix("sqlite:///") + suffix).unlink(
                        missing_ok=True
                    )
            original.close()


if __name__ == "__main__":
    main()
