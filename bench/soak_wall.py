"""Soak test of the wall display: is memory flat after hours of polling?

Starts the app the way production runs it (gunicorn workers + the separate simulator
worker, on a throwaway SQLite demo database), opens ``/wall`` with a display token
in headless Chromium polling every 2 s, and records at start and end (and every
minute): the RSS of every gunicorn worker (psutil) and the browser's JS heap and DOM
size (Chrome DevTools Protocol ``Performance.getMetrics`` after a forced GC).

    .venv/bin/python bench/soak_wall.py                 # 30 minutes
    .venv/bin/python bench/soak_wall.py --minutes 5
    .venv/bin/python bench/soak_wall.py --server dev    # python app.py instead

Not a test: it prints figures for a person to judge (growth per hour).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent


@dataclass
class Sample:
    at: float
    worker_rss_mb: list[float]
    js_heap_mb: float
    dom_nodes: int
    listeners: int
    polls: int


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - localhost
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"the app did not answer at {url} within {timeout:.0f} s")


def prepare(env: dict[str, str], poll: int) -> str:
    """Upgrade + seed the database, add a fast profile, issue a display token."""
    from data.db import create_db_engine, make_session_factory, upgrade, write_session
    from data.security import create_user

    # A user first, so the embedded demo does not create demo accounts (and does not
    # overwrite var/demo-credentials.txt of the real demo database).
    engine = create_db_engine(env["DATABASE_URL"])
    upgrade(engine)
    with write_session(make_session_factory(engine)) as s:
        create_user(
            s,
            "soak-admin",
            secrets.token_urlsafe(16),
            "admin",
            "Soak",
            datetime.now(UTC),
        )
    engine.dispose()
    subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "upgrade-db"], cwd=ROOT,
                   env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    from data.queries import display as reads
    from data.writes import display as writes
    from ops import display

    engine = create_db_engine(env["DATABASE_URL"])
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    with write_session(factory) as s:
        spec = display.validate_profile(
            {"slug": "soak", "name": "Soak test", "scope": "trust",
             "panels": list(display.PANELS), "mode": "rotate", "rotate_seconds": 5,
             "poll_seconds": poll, "resolution": "1080p"},
            reads.site_codes(s),
        )  # fmt: skip
        writes.save_profile(s, spec, actor_username="soak", actor_role="admin", now=now)
    token = writes.issue_display_token_cli(factory, "soak", now, "soak test")
    engine.dispose()
    return token


def start_server(
    kind: str, env: dict[str, str], port: int, workers: int
) -> list[subprocess.Popen]:
    procs = []
    if kind == "gunicorn":
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
             "--log-level", "warning", "app:server"],
            cwd=ROOT, env=env, start_new_session=True,
        ))  # fmt: skip
        # the simulator, once per deployment, so the figures change while we watch
        procs.append(subprocess.Popen([str(VENV_BIN / "flask"), "--app", "app", "worker"],
                                      cwd=ROOT, env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
    else:
        procs.append(subprocess.Popen([sys.executable, "app.py"], cwd=ROOT,
                                      env={**env, "PORT": str(port)}, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
    return procs


def worker_rss(server: subprocess.Popen, kind: str) -> list[float]:
    try:
        master = psutil.Process(server.pid)
        procs = master.children() if kind == "gunicorn" else [master]
        return [round(p.memory_info().rss / 2**20, 1) for p in procs]
    except psutil.Error:
        return []


def browser(width: int, height: int):  # noqa: ANN201
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--enable-precise-memory-info", f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options)
    driver.execute_cdp_cmd("Performance.enable", {})
    return driver


def browser_sample(driver) -> tuple[float, int, int, int]:  # noqa: ANN001
    """JS heap, DOM nodes and listeners after a forced GC: the smallest of three
    readings 0.7 s apart, so a sample taken mid-render (old and new panels both
    alive for a moment) does not count as growth."""
    readings = []
    for _ in range(3):
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        metrics = {
            m["name"]: m["value"]
            for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        }
        readings.append(
            (
                round(metrics.get("JSHeapUsedSize", 0) / 2**20, 2),
                int(metrics.get("Nodes", 0)),
                int(metrics.get("JSEventListeners", 0)),
            )
        )
        time.sleep(0.7)
    polls = driver.execute_script("return window.__soakPolls || 0;")
    heap, nodes, listeners = (min(column) for column in zip(*readings, strict=True))
    return heap, nodes, listeners, int(polls or 0)


# Counts the callback requests the page makes (one per poll on the wall).
COUNT_POLLS_JS = """
window.__soakPolls = 0;
var original = window.fetch;
window.fetch = function (url) {
  if (String(url).indexOf('_dash-update-component') >= 0) { window.__soakPolls += 1; }
  return original.apply(this, arguments);
};
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--poll", type=int, default=2, help="wall poll seconds")
    parser.add_argument("--server", choices=("gunicorn", "dev"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--history-days", type=int, default=7)
    parser.add_argument("--warm-up", type=float, default=30.0,
                        help="seconds of polling before the first sample")  # fmt: skip
    args = parser.parse_args()
    # SIGTERM runs the finally block below (the servers and the browser are stopped)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    workdir = Path(tempfile.mkdtemp(prefix="cc-soak-"))
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'soak.db'}",
        "SECRET_KEY": "soak-test-secret",
        "COMMAND_CENTRE_HL7_KEY": secrets.token_hex(32),
        "COMMAND_CENTRE_SECURE_COOKIES": "false",
        "COMMAND_CENTRE_HISTORY_DAYS": str(args.history_days),
        "COMMAND_CENTRE_BACKGROUND": "false" if args.server == "gunicorn" else "true",
        "COMMAND_CENTRE_SIM_TICK_SECONDS": "5",
        "COMMAND_CENTRE_SIM_SPEED": "12",
        "PYTHONPATH": str(ROOT),
    }
    print(f"preparing a demo database in {workdir} ...", flush=True)
    token = prepare(env, args.poll)
    procs = start_server(args.server, env, port, args.workers)
    driver = None
    samples: list[Sample] = []
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/healthz", 120)
        width, height = (int(v) for v in args.size.split("x"))
        driver = browser(width, height)
        driver.get(f"{base}/wall?token={token}")
        deadline = time.monotonic() + 60
        while not driver.find_elements(
            "css selector", "#wall-fig-beds_available-value"
        ):
            if time.monotonic() > deadline:
                raise SystemExit("the wall did not show its figures")
            time.sleep(0.5)
        driver.execute_script(COUNT_POLLS_JS)
        print(f"wall open at {base}/wall (token), poll {args.poll} s, "
              f"{args.server} x{args.workers if args.server == 'gunicorn' else 1}; "
              f"warming up {args.warm_up:.0f} s", flush=True)  # fmt: skip
        time.sleep(args.warm_up)
        started = time.monotonic()
        end = started + args.minutes * 60
        print(f"{'min':>5} {'worker RSS MB':>24} {'JS heap MB':>11} {'DOM nodes':>10} "
              f"{'listeners':>10} {'polls':>7}")  # fmt: skip
        while True:
            heap, nodes, listeners, polls = browser_sample(driver)
            sample = Sample(time.monotonic() - started, worker_rss(procs[0], args.server),
                            heap, nodes, listeners, polls)  # fmt: skip
            samples.append(sample)
            print(f"{sample.at / 60:5.1f} {str(sample.worker_rss_mb):>24} {heap:11.2f} "
                  f"{nodes:10d} {listeners:10d} {polls:7d}", flush=True)  # fmt: skip
            if time.monotonic() >= end:
                break
            time.sleep(min(60.0, max(1.0, end - time.monotonic())))
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        if driver is not None:
            driver.quit()
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)

    first, last = samples[0], samples[-1]
    middle = samples[len(samples) // 2]
    hours = max(last.at - first.at, 1) / 3600
    late_hours = max(last.at - middle.at, 1) / 3600
    print("\nresult")
    print(f"  duration            {(last.at - first.at) / 60:.1f} min, "
          f"{last.polls} callback requests")  # fmt: skip
    for i, (a, b) in enumerate(
        zip(first.worker_rss_mb, last.worker_rss_mb, strict=False)
    ):
        m = middle.worker_rss_mb[i] if i < len(middle.worker_rss_mb) else a
        print(
            f"  worker {i} RSS        {a:.1f} -> {m:.1f} -> {b:.1f} MB "
            f"(whole run {(b - a) / hours:+.1f} MB/h, second half {(b - m) / late_hours:+.1f} MB/h)"
        )
    print(f"  browser JS heap     {first.js_heap_mb:.2f} -> {last.js_heap_mb:.2f} MB "
          f"({(last.js_heap_mb - first.js_heap_mb) / hours:+.2f} MB/h)")  # fmt: skip
    print(f"  DOM nodes           {first.dom_nodes} -> {last.dom_nodes}")
    print(f"  event listeners     {first.listeners} -> {last.listeners}")
    print(f"  browser errors      {len(logs)}")
    for entry in logs[:5]:
        print(f"    {entry['message'][:200]}")


if __name__ == "__main__":
    main()
