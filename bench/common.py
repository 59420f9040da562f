"""Shared pieces of the benchmark scripts: apps, databases, timers, tables, results.

Nothing here is imported by the application. Results are written as JSON under
``bench/out/results/`` (git-ignored) and ``bench/report.py`` turns them into
``docs/performance.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
# BENCH_RESULTS_DIR: somewhere else for the results (the smoke runs of tests/bench)
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or OUT / "results")
DEFAULT_SQLITE = OUT / "ics.db"
VENV_BIN = Path(sys.executable).parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------------------
# The machine and its load
# ---------------------------------------------------------------------------


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM runs the ``finally`` blocks (servers we started are stopped)."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def load_average() -> float:
    return os.getloadavg()[0]


def wait_until_quiet(
    threshold: float = 1.5, poll_s: float = 60.0, max_wait_s: float = 40 * 60
) -> dict[str, Any]:
    """Wait until the 1-minute load average is below ``threshold`` (at most 40 min).

    Returns what happened, for the results: the load when measuring started and
    whether it ever got quiet.
    """
    started = time.monotonic()
    while True:
        load = load_average()
        if load < threshold:
            return {"quiet": True, "load_at_start": round(load, 2),
                    "waited_s": round(time.monotonic() - started)}  # fmt: skip
        if time.monotonic() - started >= max_wait_s:
            print(f"load average still {load:.2f} after {max_wait_s / 60:.0f} min: "
                  "measuring under load", flush=True)  # fmt: skip
            return {"quiet": False, "load_at_start": round(load, 2),
                    "waited_s": round(time.monotonic() - started)}  # fmt: skip
        print(f"load average {load:.2f} >= {threshold}: waiting", flush=True)
        time.sleep(poll_s)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout
    total = next(
        (ln.split()[1] for ln in mem.splitlines() if ln.startswith("Mem:")), "?"
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": total,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---------------------------------------------------------------------------
# Statistics and tables
# ---------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank, so a p95 is a time that really happened)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": round(pct(ms, 50), 2),
        "p95": round(pct(ms, 95), 2),
        "max": round(max(ms), 2) if ms else float("nan"),
        "mean": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]  # fmt: skip
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def met(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def save_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, default=str))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"results written to {shown}")
    return path


def load_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------


@dataclass
class Backend:
    name: str  # "sqlite" | "postgresql"
    url: str
    server: Any = None  # tests.support.pg.PostgresServer when we started one

    def close(self) -> None:
        if self.server is not None:
            from tests.support import pg

            pg.destroy(self.server)
            self.server = None


def sqlite_backend(path: Path | str = DEFAULT_SQLITE) -> Backend:
    path = Path(path)
    if not path.exists():
        raise SystemExit(
            f"{path} does not exist: run .venv/bin/python -m bench.generate "
            f"--sqlite {path} first"
        )
    return Backend("sqlite", f"sqlite:///{path}")


def postgres_backend(
    url: str | None = None, from_sqlite: Path | str = DEFAULT_SQLITE
) -> Backend:
    """An existing PostgreSQL database, or a throwaway server filled from the SQLite
    file (the same rows on both backends)."""
    if url:
        return Backend("postgresql", url)
    from bench.generate import copy_sqlite_to_postgres
    from tests.support import pg

    server = pg.start_server()
    try:
        url = server.create_database("ics")
        copy_sqlite_to_postgres(str(from_sqlite), url)
    except BaseException:
        pg.destroy(server)
        raise
    return Backend("postgresql", url, server)


def backends(args: Any) -> list[Backend]:
    """The backends chosen on the command line (``--backend sqlite|postgresql|both``)."""
    out = []
    if args.backend in ("sqlite", "both"):
        out.append(sqlite_backend(args.sqlite))
    if args.backend in ("postgresql", "both"):
        out.append(postgres_backend(args.postgres_url, args.sqlite))
    return out


def add_backend_args(parser: Any, default: str = "both") -> None:
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"),
                        default=default)  # fmt: skip
    parser.add_argument("--sqlite", default=str(DEFAULT_SQLITE),
                        help="the generated SQLite file (also the source for PostgreSQL)")  # fmt: skip
    parser.add_argument("--postgres-url",
                        help="use this PostgreSQL database instead of a throwaway copy")  # fmt: skip
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for a quiet machine before measuring")  # fmt: skip


def upgrade_and_analyse(url: str) -> None:
    from bench.generate import analyse
    from data.db import create_db_engine, upgrade

    engine = create_db_engine(url)
    upgrade(engine)
    analyse(engine)
    engine.dispose()


def row_counts(url: str) -> dict[str, int]:
    from bench.generate import row_counts as counts

    return counts(url)


# ---------------------------------------------------------------------------
# The app, in process
# ---------------------------------------------------------------------------


def bench_settings(url: str, **changes: Any):  # noqa: ANN201
    from bench.generate import NOW
    from ops.settings import Settings
    from ops.timeutil import FrozenClock

    base = Settings(
        database_url=url,
        auth_required=False,
        demo=False,
        run_background=False,
        clock=FrozenClock(NOW),
    )
    return base.with_(**changes) if changes else base


def import_create_app(url: str):  # noqa: ANN201
    """``app.create_app`` without a surprise: importing ``app`` builds its module-level
    app from the environment (and upgrades that database), so point that at a scratch
    SQLite file: the bench database keeps exactly the schema it was given."""
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{OUT / 'module-app-scratch.db'}"
    os.environ.setdefault("COMMAND_CENTRE_DEMO", "false")
    os.environ.setdefault("COMMAND_CENTRE_BACKGROUND", "false")
    os.environ.setdefault("SECRET_KEY", __import__("secrets").token_hex(32))
    os.environ.setdefault("COMMAND_CENTRE_HL7_KEY", __import__("secrets").token_hex(32))
    from app import create_app

    return create_app


def make_app(url: str, **changes: Any):  # noqa: ANN201
    """The app as production serves it (``app:server``: GC frozen after warm-up)."""
    create_app = import_create_app(url)
    app = create_app(bench_settings(url, **changes), prepare=False)
    from app import freeze_gc_after_warm_up

    freeze_gc_after_warm_up(app.server)
    return app


class SqlTimer:
    """Time spent inside cursor execution (SQLAlchemy before/after_cursor_execute).

    Counts every statement on the engine, whichever thread runs it; the benchmarks
    run one request at a time, so ``take()`` after a request is that request's SQL.
    """

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self._lock = threading.Lock()
        self.seconds = 0.0
        self.statements = 0
        self._engine = engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
        started = conn.info["bench_t0"].pop()
        with self._lock:
            self.seconds += time.perf_counter() - started
            self.statements += 1

    def take(self) -> tuple[float, int]:
        with self._lock:
            out = (self.seconds, self.statements)
            self.seconds, self.statements = 0.0, 0
        return out

    def close(self) -> None:
        from sqlalchemy import event

        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)


# ---------------------------------------------------------------------------
# Screens and their refresh callbacks
# ---------------------------------------------------------------------------
#
# Every callback a benchmark posts is found in the app's own registry
# (``app.callback_map``) through the ids the page itself declares (its
# component module's ``IDS``, for a path registered in ``callbacks.router.PAGES``),
# never through output names written out here: a change of wiring that keeps the
# page working keeps the benchmarks working, and one that breaks the lookup stops
# them with a clear message (and the smoke test in ``tests/bench``).


@dataclass(frozen=True)
class Screen:
    name: str
    path: str
    search: str
    # CSS selector present once the first refresh has been drawn (first paint)
    painted: str
    # other inputs and state of the refresh: "<IDS attribute>.<property>" -> value
    extra_state: dict[str, Any] = field(default_factory=dict)


SCREENS: tuple[Screen, ...] = (
    Screen("Overview", "/", "", "#overview-body .kpi-value"),
    Screen("Beds", "/beds", "",
           "#beds-heatmap .hm, #beds-heatmap .heatmaplayer image"),
    Screen("Beds S01 7d", "/beds", "?site=S01&range=7d",
           "#beds-heatmap .hm, #beds-heatmap .heatmaplayer image"),
    Screen("ED", "/ed", "",
           "#ed-heatmap .hm, #ed-heatmap .heatmaplayer image"),
    Screen("Theatres", "/theatres", "",
           "#theatres-heatmap .hm, #theatres-heatmap .heatmaplayer image"),
    Screen("Flow", "/flow", "", "#flow-board .ag-row"),
    Screen("Wall", "/wall", "?display=trust-overview",
           "#wall-panels .hm, #wall-panels .heatmaplayer image",
           {"health.data": {"viewportHeight": 1080}}),
)  # fmt: skip


def page_ids(path: str) -> Any:
    """The ``IDS`` of a page registered in ``callbacks.router.PAGES``."""
    from callbacks.router import PAGES
    from components import beds, ed, flow, overview, theatres, wall

    if path not in PAGES:
        raise SystemExit(f"{path} is not a registered page (callbacks.router.PAGES)")
    modules = {"/": overview, "/beds": beds, "/ed": ed, "/theatres": theatres,
               "/wall": wall, "/flow": flow}  # fmt: skip
    if path not in modules:
        raise SystemExit(f"no benchmark screen for {path}")
    return modules[path].IDS


def shell_ids() -> Any:
    from components.shell import IDS

    return IDS


def _prop_ids(deps: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{d['id']}.{d['property']}" for d in deps]


def output_ids(key: str) -> list[str]:
    """The ``id.property`` of every output of a ``callback_map`` key."""
    return _prop_ids(_outputs(key))


def find_callback(app: Any, what: str, *, outputs: Sequence[str] = (),
                  inputs: Sequence[str] = (), state: Sequence[str] = ()) -> str:  # fmt: skip
    """The one ``callback_map`` key whose outputs, inputs and state include these
    ``id.property`` names (stops with a message naming ``what`` when there is none
    or more than one)."""
    found = []
    for key, spec in app.callback_map.items():
        if key.startswith("dash-"):  # Dash's own (e.g. dash-pages), not ours
            continue
        if (
            set(outputs) <= set(output_ids(key))
            and set(inputs) <= set(_prop_ids(spec["inputs"]))
            and set(state) <= set(_prop_ids(spec.get("state", [])))
        ):
            found.append(key)
    if len(found) != 1:
        raise SystemExit(
            f"{what}: {len(found)} callbacks with outputs {list(outputs)}, inputs "
            f"{list(inputs)}, state {list(state)} in app.callback_map"
        )
    return found[0]


def refresh_key(app: Any, screen: Screen) -> str:
    """The screen's refresh: the callback that writes the page's ``sent`` store (the
    hashes of what the browser holds, ``callbacks.delta``) from its old value."""
    sent = f"{page_ids(screen.path).sent}.data"
    return find_callback(app, f"{screen.name} refresh", outputs=[sent], state=[sent])


def filter_key(app: Any, path: str) -> str:
    """The page's filter callback: the one that writes its own address (the page's
    ``dcc.Location``) from its filter controls."""
    return find_callback(
        app, f"{path} filter", outputs=[f"{page_ids(path).url}.search"]
    )


def router_key(app: Any) -> str:
    shell = shell_ids()
    return find_callback(
        app, "router", outputs=[f"{shell.nav}.children", f"{shell.page}.children"]
    )


def banner_key(app: Any) -> str:
    return find_callback(app, "banner", outputs=[f"{shell_ids().banner}.children"])


def _outputs(key: str) -> list[dict[str, str]]:
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    out = []
    for part in parts:
        name = part.split("@", 1)[0]
        if "." not in name:  # a callback without outputs (its key is a hash)
            continue
        ident, prop = name.rsplit(".", 1)
        out.append({"id": ident, "property": prop})
    return out


def callback_body(
    app: Any,
    key: str,
    values: dict[str, Any],
    changed: Sequence[str],
) -> dict[str, Any]:
    """The JSON the Dash renderer POSTs to ``/_dash-update-component``."""
    spec = app.callback_map[key]
    outputs = _outputs(key)

    def item(d: dict[str, Any]) -> Any:
        if str(d["id"]).startswith("{") and '["ALL"]' in str(d["id"]):
            # a pattern-matching ALL dependency: the renderer sends the list of the
            # matching components (none here)
            return values.get(f"{d['id']}.{d['property']}", [])
        return {"id": d["id"], "property": d["property"],
                "value": values.get(f"{d['id']}.{d['property']}")}  # fmt: skip

    def items(deps: list[dict[str, Any]]) -> list[Any]:
        return [item(d) for d in deps]

    return {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": items(spec["inputs"]),
        "state": items(spec.get("state", [])),
        "changedPropIds": list(changed),
    }


@dataclass(frozen=True)
class Poll:
    """The parts of a refresh callback a poll sets, read from its registered inputs:
    the interval's ``n_intervals``, the address's ``search``, the page body's ``id``
    (its first refresh) and the ``sent`` store."""

    key: str
    interval: str
    search: str | None
    body: str
    sent: str


def poll_parts(app: Any, screen: Screen) -> Poll:
    key = refresh_key(app, screen)
    spec = app.callback_map[key]
    inputs = _prop_ids(spec["inputs"])

    def one(prop: str, required: bool = True) -> str | None:
        found = [i for i in inputs if i.endswith("." + prop)]
        if len(found) != 1 and (required or found):
            raise SystemExit(
                f"{screen.name} refresh: inputs {inputs} have no single .{prop}"
            )
        return found[0] if found else None

    return Poll(key, one("n_intervals"), one("search", required=False), one("id"),
                f"{page_ids(screen.path).sent}.data")  # fmt: skip


def poll_body(
    app: Any, screen: Screen, n: int, sent: list | None = None
) -> dict[str, Any]:
    """A poll of the screen's refresh callback (its interval fired ``n`` times) from a
    page holding the values hashed in ``sent`` (its ``*-sent`` store)."""
    p = poll_parts(app, screen)
    values = {
        p.interval: n,
        p.body: p.body.rsplit(".", 1)[0],
        p.sent: sent,
    }
    ids = page_ids(screen.path)
    for name, value in screen.extra_state.items():
        attr, prop = name.split(".", 1)
        values[f"{getattr(ids, attr)}.{prop}"] = value
    if p.search:
        values[p.search] = screen.search
    return callback_body(app, p.key, values, [p.interval] if n else [p.body])


def sent_after(screen: Screen, reply: Any, sent: list | None) -> list | None:
    """The page's ``*-sent`` store after a refresh reply (as the browser keeps it)."""
    if reply.status_code != 200:
        return sent
    store = (reply.get_json().get("response") or {}).get(page_ids(screen.path).sent, {})
    return store.get("data", sent)


def banner_body(app: Any, screen: Screen, n: int) -> dict[str, Any]:
    """The shell's alert banner, which every page's poll also fires."""
    key = banner_key(app)
    shell = shell_ids()
    values = {f"{shell.poll}.n_intervals": n, f"{shell.url}.pathname": screen.path}
    return callback_body(app, key, values, [f"{shell.poll}.n_intervals"])


def post_callback(client: Any, body: dict[str, Any]) -> Any:
    return client.post(
        "/_dash-update-component",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Origin": "http://localhost"},
    )


# ---------------------------------------------------------------------------
# A real HTTP server in this process (for the browser)
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields the base URL."""
    from werkzeug.serving import make_server

    from tests.support.pg import free_port

    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def chromium(window: str = "1920,1080"):  # noqa: ANN201
    """Headless Chromium (Debian's chromium + chromedriver), as tests/conftest.py."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    for arg in (f"--window-size={window}", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--headless=new"):  # fmt: skip
        options.add_argument(arg)
    service = Service("/usr/bin/chromedriver") if os.path.exists(
        "/usr/bin/chromedriver") else Service()  # fmt: skip
    return webdriver.Chrome(service=service, options=options)
