"""A smoke run of every benchmark: each script's own entry point on a tiny dataset
(one site, one day), for a few seconds, must finish and print its figures.

Not a measurement (the figures are not checked, only that they were printed): it
stops a change of the app's wiring from silently breaking a benchmark (they find
their callbacks in the app's registry, ``bench.common``). Results go to a temporary
folder (``BENCH_RESULTS_DIR``), never over the real ones in ``bench/out/results``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.organisation import load_organisation_file

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], results: Path, timeout: float = 240) -> str:
    env = {
        **os.environ,
        "BENCH_RESULTS_DIR": str(results),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM: the script stops the servers and browsers it started
        proc.terminate()
        out, _ = proc.communicate(timeout=90)
        pytest.fail(
            f"{' '.join(args)} did not finish in {timeout:.0f} s:\n{out[-4000:]}"
        )
    assert proc.returncode == 0, (
        f"{' '.join(args)} exited {proc.returncode}:\n{out[-4000:]}"
    )
    return out


def _table_rows(out: str, first_cell: str) -> list[list[str]]:
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] == first_cell:
            rows.append(cells)
    return rows


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-results")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, results: Path) -> Path:
    """bench.generate at its smallest: the first ICS site, one day of history."""
    path = tmp_path_factory.mktemp("bench-data") / "tiny.db"
    out = _run(
        ["-m", "bench.generate", "--sqlite", str(path), "--days", "1", "--sites", "1"],
        results,
    )
    assert "ICS layout: 1 sites" in out
    assert "generated in" in out
    return path


def test_generate_makes_a_dataset(tiny: Path) -> None:
    assert tiny.stat().st_size > 0


def test_refresh_prints_its_three_columns(tiny: Path, results: Path) -> None:
    out = _run(
        ["-m", "bench.refresh", "--backend", "sqlite", "--sqlite", str(tiny),
         "--runs", "1", "--naive-runs", "1", "--no-browser", "--no-wait",
         "--screens", "overview,beds s01 7d,wall", "--tag=-smoke"],
        results,
    )  # fmt: skip
    assert "### Refresh — sqlite" in out
    for screen in ("Overview", "Beds S01 7d", "Wall"):
        (row,) = _table_rows(out, screen)
        # after write p50/p95, cold p50/p95 and 2nd screen p50/p95 are numbers
        for cell in (row[1], row[2], row[5], row[6], row[10], row[11]):
            float(cell.replace(",", ""))
    assert "Writes:" in out
    saved = json.loads((results / "refresh-sqlite-smoke.json").read_text())
    assert [r["screen"] for r in saved["results"]] == [
        "Overview",
        "Beds S01 7d",
        "Wall",
    ]
    # the writes were the trust's own (events through the event layer)
    assert saved["events_written"] > 0
    # the tiny file was written to on a copy only
    assert saved["scratch"] not in {
        str(p) for p in (ROOT / "bench" / "out").glob("*.db")
    }


def test_load_runs_walls_and_users(tiny: Path, results: Path) -> None:
    out = _run(
        ["-m", "bench.load", "--sqlite", str(tiny), "--displays", "2", "--users", "1",
         "--minutes", "0.25", "--wall-poll", "5", "--no-wait", "--tag=-smoke"],
        results,
        timeout=300,
    )  # fmt: skip
    assert "### Load — postgresql" in out
    names = {row[0] for row in _table_rows(out, "wall refresh")}
    assert names == {"wall refresh"}
    (total,) = _table_rows(out, "**all callbacks**")
    assert int(total[1].replace(",", "")) > 0
    saved = json.loads((results / "load-postgresql-smoke.json").read_text())
    assert saved["result"]["by_name"]["wall refresh"]["n"] > 0


def test_freshness_sees_a_write_on_screen(tiny: Path, results: Path) -> None:
    out = _run(
        ["-m", "bench.freshness", "--backend", "sqlite", "--sqlite", str(tiny),
         "--writes", "1", "--poll", "2", "--no-wait", "--tag=-smoke"],
        results,
    )  # fmt: skip
    assert "### Freshness — sqlite" in out
    assert _table_rows(out, "sqlite")


def test_ingest_acks_messages(results: Path) -> None:
    out = _run(
        ["-m", "bench.ingest", "--backend", "sqlite", "--seconds", "3", "--senders", "1",
         "--walls", "2", "--wall-poll", "1", "--no-wait"],
        results,
    )  # fmt: skip
    (row,) = _table_rows(out, "sqlite")
    assert int(row[3].replace(",", "")) > 0  # messages sent and acknowledged


def test_soak_wall_samples_the_wall(results: Path) -> None:
    out = _run(
        ["bench/soak_wall.py", "--minutes", "0.05", "--history-days", "1",
         "--warm-up", "2"],
        results,
    )  # fmt: skip
    assert "worker RSS" in out
    assert "browser JS heap" in out


def test_organisation_files_are_valid(tmp_path: Path, results: Path) -> None:
    out = _run(["-m", "bench.organisation_files", "--out", str(tmp_path)], results)
    assert "wrote" in out
    for name in ("demo.yaml", "ics-region.yaml"):
        assert load_organisation_file(tmp_path / name) is not None


def test_report_builds_the_generated_block(tiny: Path, results: Path) -> None:
    # after the runs above, their results are in the temporary folder
    out = _run(["-m", "bench.report", "--print"], results)
    assert "Machine:" in out
    # a section for each result the runs above saved
    for path in results.glob("*.json"):
        if path.stem.startswith(("refresh", "load", "freshness")):
            assert f"### {path.stem}" in out
