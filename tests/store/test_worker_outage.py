"""The production worker survives a database outage and reports its heartbeat."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from data.db import create_db_engine, upgrade
from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]


def _renewed(url: str):  # noqa: ANN202
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT renewed_at FROM leader_lease WHERE name = 'background-worker'"
                )
            ).scalar()
    finally:
        engine.dispose()


def _wait_for(predicate, seconds: float):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    return predicate()


@pytest.mark.postgres
def test_wrk001_worker_survives_a_postgresql_restart(tmp_path):
    server = pg.start_server()  # its own server: this test stops it
    proc = None
    try:
        url = server.create_database("outage")
        upgrade(create_db_engine(url))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "COMMAND_CENTRE_HL7_KEY": secrets.token_hex(32),
            "COMMAND_CENTRE_DEMO": "0",
            "COMMAND_CENTRE_SIM_TICK_SECONDS": "1",
        }
        log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "worker"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        first = _wait_for(lambda: _renewed(url), 60)
        assert first is not None, "the worker never ran a cycle"
        server.stop()
        time.sleep(5)
        assert proc.poll() is None, "the worker died during the outage"
        server.start()
        after = _wait_for(lambda: (r := _renewed(url)) and r > first and r, 90)
        assert proc.poll() is None, "the worker died"
        assert after and after > first, "no cycle after the database came back"
        # the cycle that renewed the lease logs its recovery when it returns
        logged = _wait_for(
            lambda: "running again" in (tmp_path / "worker.log").read_text(), 30
        )
        output = (tmp_path / "worker.log").read_text()
        assert output.count("background cycle failed") == 1, output
        assert logged, output
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        pg.destroy(server)


def test_wrk002_healthz_reports_the_worker_heartbeat(empty_url) -> None:  # noqa: ANN001
    from app import create_app
    from jobs.worker import holder_id, run_cycle
    from tests.support.apps import settings_for

    app = create_app(settings_for(empty_url))
    runtime = app.server.extensions["command_centre"]
    client = app.server.test_client()
    assert client.get("/healthz").get_json()["worker"] == {
        "heartbeat_age_seconds": None,
        "state": "never ran",
    }
    assert run_cycle(runtime, holder_id())
    worker = client.get("/healthz").get_json()["worker"]
    assert worker == {"heartbeat_age_seconds": 0.0, "state": "running"}
