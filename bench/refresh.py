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
import time
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


class FeedWriter:
    """A feed write before a poll, as live feeds make them: one S01 bed turns over
    (available ↔ awaiting clean) and the feed's ``feed_status`` row is touched, so the
    data version changes and the poll recomputes (no shared render, no cached
    snapshot). An even number of writes leaves the bed as it was."""

    def __init__(self, runtime: Any) -> None:
        from sqlalchemy import select

        from data.models.capacity import Bed, Site, Ward

        self.runtime = runtime
        self.n = 0
        with runtime.factory() as s:
            self.bed_id = s.scalar(
                select(Bed.id).join(Ward, Ward.id == Bed.ward_id)
                .join(Site, Site.id == Ward.site_id)
                .where(Site.code == "S01", Bed.state == "available")
                .order_by(Bed.id).limit(1)
            )  # fmt: skip

    def __call__(self) -> None:
        from datetime import timedelta

        from sqlalchemy import update

        from bench.generate import NOW
        from data.db import write_session
        from data.models.capacity import Bed
        from data.writes import touch_feed

        self.n += 1
        state = "awaiting_clean" if self.n % 2 else "available"
        with write_session(self.runtime.factory) as s:
            s.execute(update(Bed).where(Bed.id == self.bed_id).values(state=state))
            touch_feed(s, "bench", NOW + timedelta(seconds=self.n), "bench write")

    def restore(self) -> None:
        if self.n % 2:
            self()


def measure_screen(app: Any, timer: c.SqlTimer, screen: c.Screen, runs: int,
                   naive_runs: int) -> dict[str, Any]:  # fmt: skip
    """Polls of a page that has painted, each after a feed write (the data changed:
    the render is recomputed and sent as a difference) and then the same poll from
    a second screen showing the same view (the data did not change: the shared
    render, nothing to send)."""
    from bench.generate import NOW
    from bench.naive import NAIVE

    runtime = app.server.extensions["command_centre"]
    engine = runtime.engine
    client = app.server.test_client()
    write = FeedWriter(runtime)
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
    for i in range(runs):
        write()
        timer.take()
        t0 = time.perf_counter()
        r = c.post_callback(client, c.poll_body(app, screen, i + 2, sent))
        server.append(time.perf_counter() - t0)
        assert r.status_code in (200, 204), r.data[:300]
        seconds, n = timer.take()
        sql_in.append(seconds)
        statements.append(n)
        sizes.append(len(r.data))
        gz_sizes.append(len(gzip.compress(r.data, 6)))
        sent = c.sent_after(screen, r, sent)
        t0 = time.perf_counter()
        r = c.post_callback(client, c.poll_body(app, screen, i + 2, sent))
        shared.append(time.perf_counter() - t0)
        shared_sizes.append(len(r.data))
    timer.take()
    banner = []
    for i in range(min(runs, 20)):
        t0 = time.perf_counter()
        c.post_callback(client, c.banner_body(app, screen, i + 1))
        banner.append(time.perf_counter() - t0)
    timer.take()
    write()
    captured = capture_statements(
        engine, lambda: c.post_callback(client, c.poll_body(app, screen, 99, sent))
    )
    timer.take()
    raw_total, raw_each = [], []
    for _ in range(runs):
        total, each = replay(engine, captured)
        raw_total.append(total)
        raw_each.append(each)
    slowest = sorted(
        range(len(captured)),
        key=lambda i: -sorted(r[i] for r in raw_each)[len(raw_each) // 2],
    )[:3]
    breakdown = callback_breakdown(app, screen, min(runs, 20), write)
    write.restore()
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
        "shared_ms": c.summary_ms(shared),
        "shared_payload_bytes": max(shared_sizes),
        "sql_in_request_ms": c.summary_ms(sql_in),
        "statements": max(statements),
        "raw_sql_ms": c.summary_ms(raw_total),
        "naive_ms": c.summary_ms(naive),
        "payload_bytes": max(sizes),
        "payload_gzip_bytes": max(gz_sizes),
        "first_refresh_bytes": len(first.data),
        "banner_ms": c.summary_ms(banner),
        "breakdown_ms": breakdown,
        "slowest_statements": [
            {
                "ms": round(
                    1000 * sorted(r[i] for r in raw_each)[len(raw_each) // 2], 2
                ),
                "sql": " ".join(captured[i][0].split())[:400],
            }
            for i in slowest
        ],  # fmt: skip
    }
    s, raw, nv = out["server_ms"], out["raw_sql_ms"], out["naive_ms"]
    out["ratio_server_to_raw_sql_p95"] = (
        round(s["p95"] / raw["p95"], 2) if raw["p95"] else None
    )
    out["speedup_vs_naive_p50"] = round(nv["p50"] / s["p50"], 1) if s["p50"] else None
    return out


def _callback_function(screen: c.Screen) -> Any:
    from callbacks import beds, ed, overview, theatres, wall

    return {
        "/": lambda: overview.refresh(1, "overview-body"),
        "/beds": lambda: beds.refresh(screen.search, 1, "beds-body"),
        "/ed": lambda: ed.refresh(screen.search, 1, "ed-body"),
        "/theatres": lambda: theatres.refresh(screen.search, 1, "theatres-body"),
        "/wall": lambda: wall.refresh(1, screen.search, "wall-body",
                                      {"viewportHeight": 1080}),
    }[screen.path]  # fmt: skip


def callback_breakdown(
    app: Any, screen: c.Screen, runs: int, write: Any
) -> dict[str, Any]:
    """Where a recomputed refresh's server time goes: the render function (queries +
    building components and figures, after a write so nothing is cached) and
    serialising its outputs to JSON (as Dash does)."""
    from dash._utils import to_json

    fn = _callback_function(screen)
    calls, dumps = [], []
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        for _ in range(runs):
            write()
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
        s, raw, nv = r["server_ms"], r["raw_sql_ms"], r["naive_ms"]
        p = paint.get(r["screen"], {})
        rows.append([
            r["screen"], s["p50"], s["p95"], raw["p50"], raw["p95"],
            r["ratio_server_to_raw_sql_p95"], nv["p50"], r["speedup_vs_naive_p50"],
            round(r["payload_bytes"] / 1024, 1), round(r["payload_gzip_bytes"] / 1024, 1),
            r["shared_ms"]["p50"], r["shared_ms"]["p95"],
            round(r["shared_payload_bytes"] / 1024, 2),
            round(r["first_refresh_bytes"] / 1024, 1),
            p.get("warm_ms", {}).get("p50", "—"), p.get("cold_ms", "—"),
            c.met(s["p95"] <= 100), c.met(r["ratio_server_to_raw_sql_p95"] <= 3),
            c.met(r["speedup_vs_naive_p50"] >= 20), c.met(r["payload_bytes"] <= 50 * 1024),
            c.met(p["cold_ms"] <= 2000) if p else "—",
        ])  # fmt: skip
    return c.markdown_table(
        [
            "screen",
            "server p50 ms",
            "server p95 ms",
            "raw SQL p50 ms",
            "raw SQL p95 ms",
            "server/SQL (p95)",
            "naive p50 ms",
            "× faster than naive",
            "poll KB",
            "poll KB gzip",
            "2nd screen p50 ms",
            "2nd screen p95 ms",
            "2nd screen KB",
            "first refresh KB",
            "first paint warm ms",
            "first paint cold ms",
            "p95 ≤ 100 ms",
            "≤ 3× SQL",
            "≥ 20× naive",
            "≤ 50 KB",
            "paint ≤ 2 s",
        ],  # fmt: skip
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_backend_args(parser)
    parser.add_argument("--runs", type=int, default=50)
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
    for backend in c.backends(args):
        try:
            if args.upgrade:
                c.upgrade_and_analyse(backend.url)
            app = c.make_app(backend.url)
            engine = app.server.extensions["command_centre"].engine
            counts = c.row_counts(backend.url)
            load = {"quiet": None, "load_at_start": round(c.load_average(), 2)}
            if not args.no_wait:
                load = c.wait_until_quiet()
            timer = c.SqlTimer(engine)
            results = []
            for screen in screens:
                print(f"[{backend.name}] {screen.name} ...", flush=True)
                results.append(measure_screen(app, timer, screen, args.runs,
                                              args.naive_runs))  # fmt: skip
                r = results[-1]
                print(f"  server p50 {r['server_ms']['p50']} p95 {r['server_ms']['p95']} ms;"
                      f" raw SQL p95 {r['raw_sql_ms']['p95']} ms; naive p50 "
                      f"{r['naive_ms']['p50']} ms; {r['payload_bytes']:,} B", flush=True)  # fmt: skip
            timer.close()
            paint = (
                {} if args.no_browser else first_paint(app, screens, args.paint_runs)
            )
            load_end = round(c.load_average(), 2)
            md = table(results, paint)
            print(f"\n### Refresh — {backend.name}\n\n{md}\n")
            c.save_result(f"refresh-{backend.name}{args.tag}", {
                "backend": backend.name, "rows": counts, "load": load,
                "load_at_end": load_end, "runs": args.runs, "naive_runs": args.naive_runs,
                "results": results, "first_paint": paint, "markdown": md,
            })  # fmt: skip
            engine.dispose()
        finally:
            backend.close()


if __name__ == "__main__":
    main()
