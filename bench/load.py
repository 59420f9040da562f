"""Load test: 200 wall displays polling every 15 s + 50 people changing filters.

    .venv/bin/python -m bench.load                     # 5 minutes, PostgreSQL
    .venv/bin/python -m bench.load --minutes 1 --displays 20 --users 5   # a quick try

What it does (bounded and self-stopping: every process it starts is stopped by pid
at the end, also on Ctrl-C or an error):

1. a throwaway PostgreSQL server filled from the generated SQLite file (or
   ``--postgres-url``), plus 11 display profiles polling every ``--wall-poll`` s (the
   region and each site), ``--displays`` display tokens spread over them and
   ``--users`` viewer accounts;
2. gunicorn with 2 sync workers on 127.0.0.1 only (``bench.wsgi:server``: the
   production app with sign-in, its clock running from the dataset's last minute);
   optionally (``--worker``) the background worker (simulator + alert evaluation)
   writing every 15 s;
3. locust headless (``bench/locustfile.py``) for ``--minutes`` minutes;
4. the gunicorn workers' RSS every 30 s (psutil).

Reports p50/p95/max latency per request kind and overall, the error count, polls
that overlapped (a poll taking longer than its interval) and worker RSS at start and
end. Prints a markdown table; writes bench/out/results/load-<backend>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import common as c

SITE_PANELS = ["opel_alerts", "bed_heatmap", "ed_board", "theatre_board"]


def prepare(url: str, displays: int, users: int, wall_poll: int) -> dict[str, Any]:
    """Profiles, display tokens and accounts; returns what locust needs to log in."""
    from bench.generate import NOW
    from data.db import create_db_engine, make_session_factory, upgrade, write_session
    from data.queries import display as reads
    from data.security import create_user
    from data.writes import display as writes
    from ops import display

    engine = create_db_engine(url)
    # Migrate once here: the gunicorn workers would otherwise race to apply a
    # migration the dataset is missing (both create the same table).
    upgrade(engine)
    factory = make_session_factory(engine)
    actor = {"actor_username": "bench", "actor_role": "admin"}
    tokens, accounts = [], []
    with write_session(factory) as s:
        sites = reads.site_codes(s)
        slugs = []
        for scope in ["trust", *sites]:
            slug = "bench-region" if scope == "trust" else f"bench-{scope.lower()}"
            spec = display.validate_profile({
                "slug": slug, "name": f"Bench {scope}", "scope": scope,
                "panels": list(display.PANEL_LABELS) if scope == "trust" else SITE_PANELS,
                "mode": "grid", "rotate_seconds": 20, "poll_seconds": wall_poll,
                "resolution": "1080p"}, sites)  # fmt: skip
            if reads.get_profile(s, slug) is None:
                writes.save_profile(s, spec, now=NOW, **actor)
            slugs.append(slug)
        for i in range(displays):
            slug = slugs[i % len(slugs)]
            token, _ = writes.issue_token(s, slug, created_by="bench", created_by_role="admin",
                                         now=NOW, label=f"bench display {i}")  # fmt: skip
            tokens.append({"token": token, "slug": slug})
    password = secrets.token_urlsafe(16)
    for i in range(users):
        username = f"bench-user-{i:03d}"
        with write_session(factory) as s:
            create_user(s, username, password, "viewer", f"Bench user {i}", NOW)
        accounts.append({"username": username, "password": password})
    engine.dispose()
    return {"tokens": tokens, "accounts": accounts, "sites": sites}


def callback_config(url: str, sites: list[str]) -> dict[str, Any]:
    """Callback bodies for the locust users, found in the app's registry
    (``app.callback_map``) through the pages' own ids (``bench.common``), with the
    ``id.property`` names locust sets in them."""
    app = c.make_app(url)
    shell = c.shell_ids()
    screens = {s.name: s for s in c.SCREENS}

    def body(key: str) -> dict[str, Any]:
        return c.callback_body(app, key, {}, [])

    def page(name: str, screen: str, path: str | None, values: dict[str, list],
             searches: list[str]) -> dict[str, Any]:  # fmt: skip
        parts = c.poll_parts(app, screens[screen])
        out: dict[str, Any] = {
            "name": name,
            "refresh": c.callback_body(app, parts.key,
                                       {parts.body: parts.body.rsplit(".", 1)[0]}, []),
            "interval": parts.interval,
            "search": parts.search, "filter": None, "filter_values": {},
            "searches": searches,
        }  # fmt: skip
        if path is not None:
            ids = c.page_ids(path)
            key = c.filter_key(app, path)
            spec = app.callback_map[key]
            controls = [f"{d['id']}.{d['property']}" for d in spec["inputs"]
                        if d["id"] != ids.url]  # fmt: skip
            wanted = {f"{getattr(ids, k)}.value": v for k, v in values.items()}
            missing = set(wanted) - set(controls)
            if missing:
                raise SystemExit(f"{path} filter: no inputs {sorted(missing)}")
            out.update(filter=body(key), filter_values=wanted,
                       filter_address=f"{ids.url}.search", filter_changed=controls[0])  # fmt: skip
        return out

    wall = screens["Wall"]
    wall_parts = c.poll_parts(app, wall)
    pages = [
        page("beds", "Beds", "/beds",
             {"site": [None, *sites], "range": ["24h", "7d", "28d"]},
             ["", "?range=7d", *[f"?site={s}" for s in sites],
              *[f"?site={s}&range=7d" for s in sites[:3]], f"?range=28d&site={sites[-1]}"]),
        page("ed", "ED", "/ed", {"site": [None, *sites], "weeks": [4, 8, 12]},
             ["", "?weeks=12", *[f"?site={s}" for s in sites]]),
        page("theatres", "Theatres", "/theatres",
             {"site": [None, *sites], "days": [14, 28]},
             ["", "?days=28", "?period=7d", *[f"?site={s}" for s in sites]]),
        page("overview", "Overview", None, {}, [""]),
    ]  # fmt: skip
    app.server.extensions["command_centre"].engine.dispose()
    return {
        "router": body(c.router_key(app)),
        "router_path": f"{shell.url}.pathname",
        "router_search": f"{shell.url}.search",
        "wall_refresh": c.poll_body(app, wall, 1),
        "wall_interval": wall_parts.interval,
        "wall_search": wall_parts.search,
        "wall_sent": wall_parts.sent,
        "banner": c.banner_body(app, wall, 1),
        "banner_interval": f"{shell.poll}.n_intervals",
        "banner_path": f"{shell.url}.pathname",
        "pages": pages,
    }


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def _stop(proc: subprocess.Popen | None, name: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop on SIGTERM; killing pid {proc.pid}")
        proc.kill()
        proc.wait(timeout=10)


def worker_rss(master_pid: int) -> list[float]:
    import psutil

    try:
        children = psutil.Process(master_pid).children()
    except psutil.NoSuchProcess:
        return []
    return [round(p.memory_info().rss / 2**20, 1) for p in children]


def summarise(record: dict[str, Any], wall_poll: int) -> dict[str, Any]:
    by_name: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for name, ms, _size, failed, _at in record["requests"]:
        by_name.setdefault(name, []).append(ms / 1000)
        if failed:
            errors[name] = errors.get(name, 0) + 1
    polling = [ms / 1000 for name, ms, *_ in record["requests"]
               if name.endswith("refresh") or name in ("banner", "wall refresh")
               or name.endswith("filter")]  # fmt: skip
    return {
        "requests": len(record["requests"]),
        "errors": sum(errors.values()),
        "errors_by_name": errors,
        "error_samples": record["errors"][:10],
        "by_name": {n: c.summary_ms(v) for n, v in sorted(by_name.items())},
        "callbacks": c.summary_ms(polling),
        "wall_polls": len(record["polls"]),
        "wall_poll_task_ms": c.summary_ms([p / 1000 for p in record["polls"]]),
        "overlapping_polls": record["overlaps"],
        "wall_poll_s": wall_poll,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_backend_args(parser, default="postgresql")
    parser.add_argument("--displays", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--wall-poll", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker", action="store_true",
                        help="also run the background worker (simulator + alerts)")  # fmt: skip
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    c.stop_cleanly_on_sigterm()
    if args.backend == "both":
        raise SystemExit("choose one backend for the load test")
    backend = c.backends(args)[0]
    procs: list[tuple[str, subprocess.Popen]] = []
    logdir = Path(tempfile.mkdtemp(prefix="cc-load-"))
    try:
        print(f"preparing {args.displays} display tokens and {args.users} accounts ...",
              flush=True)  # fmt: skip
        prepared = prepare(backend.url, args.displays, args.users, args.wall_poll)
        config = {
            "displays": args.displays, "users": args.users, "wall_poll_s": args.wall_poll,
            "banner_every": 2, "tokens": prepared["tokens"],
            "accounts": prepared["accounts"],
            **callback_config(backend.url, prepared["sites"]),
        }  # fmt: skip
        config_path = logdir / "config.json"
        config_path.write_text(json.dumps(config))
        from tests.support.pg import free_port

        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": backend.url,
            "COMMAND_CENTRE_SECURE_COOKIES": "false",
            "SECRET_KEY": secrets.token_hex(32),
            "COMMAND_CENTRE_HL7_KEY": secrets.token_hex(32),
            "COMMAND_CENTRE_DEMO": "false",
            "COMMAND_CENTRE_BACKGROUND": "false",
            "BENCH_T0": str(time.time()),
            "PYTHONPATH": str(c.ROOT),
        }
        gunicorn_log = open(logdir / "gunicorn.log", "w")  # noqa: SIM115
        gunicorn = subprocess.Popen(
            [str(c.VENV_BIN / "gunicorn"), "-w", str(args.workers),
             "-b", f"127.0.0.1:{port}", "--timeout", "120", "bench.wsgi:server"],
            cwd=c.ROOT, env=env, stdout=gunicorn_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(("gunicorn", gunicorn))
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/healthz", 300, gunicorn)  # slow to start on a busy machine
        if args.worker:
            worker = subprocess.Popen(
                [sys.executable, "-m", "bench.worker"], cwd=c.ROOT,
                env={**env, "COMMAND_CENTRE_DEMO": "true"},
                stdout=open(logdir / "worker.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
            )  # fmt: skip
            procs.append(("worker", worker))
        load = {"quiet": None, "load_at_start": round(c.load_average(), 2)}
        if not args.no_wait:
            load = c.wait_until_quiet()
        out_path = logdir / "record.json"
        seconds = int(args.minutes * 60)
        spawn = max(1, (args.displays + args.users) // 15)
        locust = subprocess.Popen(
            [str(c.VENV_BIN / "locust"), "-f", str(c.ROOT / "bench" / "locustfile.py"),
             "--headless", "-u", str(args.displays + args.users), "-r", str(spawn),
             "--run-time", f"{seconds}s", "--host", base, "--only-summary",
             "--stop-timeout", "30", "--loglevel", "WARNING"],
            cwd=c.ROOT, env={**env, "BENCH_LOAD_CONFIG": str(config_path),
                             "BENCH_LOAD_OUT": str(out_path)},
            stdout=open(logdir / "locust.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        procs.append(("locust", locust))
        print(f"locust: {args.displays} displays + {args.users} users for {seconds} s "
              f"against {base} (logs in {logdir})", flush=True)  # fmt: skip
        rss: list[tuple[float, list[float]]] = []
        started = time.monotonic()
        while locust.poll() is None:
            time.sleep(30 if rss else 45)  # the first sample after the ramp-up
            rss.append((round(time.monotonic() - started), worker_rss(gunicorn.pid)))
            print(f"  {rss[-1][0]:>4} s: worker RSS {rss[-1][1]} MB, load "
                  f"{c.load_average():.2f}", flush=True)  # fmt: skip
            if time.monotonic() - started > seconds + 180:
                print("locust overran its run time: stopping it")
                _stop(locust, "locust")
        record = json.loads(out_path.read_text())
        result = summarise(record, args.wall_poll)
        first = [r for r in rss if r[1]]
        result["rss_mb"] = {"start": first[0][1] if first else None,
                            "end": first[-1][1] if first else None, "samples": rss}  # fmt: skip
        if first and first[0][1] and first[-1][1]:
            s0, s1 = sum(first[0][1]), sum(first[-1][1])
            result["rss_change_pct"] = round(100 * (s1 - s0) / s0, 1)
        result.update({"displays": args.displays, "users": args.users,
                       "minutes": args.minutes, "workers": args.workers,
                       "background_worker": args.worker, "load": load,
                       "load_at_end": round(c.load_average(), 2)})  # fmt: skip
        md = table(result)
        print(f"\n### Load — {backend.name}\n\n{md}\n")
        c.save_result(f"load-{backend.name}{args.tag}", {"backend": backend.name,
                      "result": result, "markdown": md})  # fmt: skip
    finally:
        for name, proc in reversed(procs):
            _stop(proc, name)
        backend.close()


def table(r: dict[str, Any]) -> str:
    rows = []
    for name, s in r["by_name"].items():
        rows.append([name, s["n"], s["p50"], s["p95"], s["max"],
                     r["errors_by_name"].get(name, 0)])  # fmt: skip
    cb = r["callbacks"]
    rows.append(
        ["**all callbacks**", cb["n"], cb["p50"], cb["p95"], cb["max"], r["errors"]]
    )
    md = c.markdown_table(
        ["request", "n", "p50 ms", "p95 ms", "max ms", "errors"], rows
    )
    rss = r.get("rss_mb", {})
    md += (
        f"\n\nCallbacks p95 {cb['p95']:.0f} ms (target ≤ 500 ms: "
        f"{c.met(cb['p95'] <= 500)}); errors {r['errors']} (target 0: "
        f"{c.met(r['errors'] == 0)}); overlapping wall polls {r['overlapping_polls']} of "
        f"{r['wall_polls']} (target 0: {c.met(r['overlapping_polls'] == 0)}); worker RSS "
        f"{rss.get('start')} → {rss.get('end')} MB ({r.get('rss_change_pct')} %, target "
        f"±10 %: {c.met(abs(r.get('rss_change_pct') or 0) <= 10)})."
    )
    return md


if __name__ == "__main__":
    main()
