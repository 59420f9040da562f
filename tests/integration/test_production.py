"""The production shape, as the README runs it: gunicorn, 2 workers, PostgreSQL.

Sign-in, the session (stored in the database, so valid in either worker), the read
API against a recount, a Dash callback and sign-out, over real HTTP.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from tests.support.apps import FROZEN_NOW
from tests.support.auth import DEFAULT_PASSWORD, create_user
from tests.support.pg import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"gunicorn exited with {proc.returncode}"
        try:
            r = requests.get(f"{base}/healthz", timeout=5)
            if r.status_code == 200:
                return r.json()
        except (requests.ConnectionError, requests.Timeout):
            pass  # still starting: workers accept before the app is loaded
        time.sleep(0.3)
    raise AssertionError("gunicorn did not answer /healthz in time")


def test_prd001_gunicorn_two_workers_on_postgresql(
    pg_server, seeded_pg_template, tmp_path
):
    url = pg_server.create_database(
        f"prod_{uuid.uuid4().hex[:8]}", template=seeded_pg_template
    )
    create_user(url, "lead", "site_lead", display_name="Site Lead")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(32),
        "COMMAND_CENTRE_HL7_KEY": secrets.token_hex(32),
        "COMMAND_CENTRE_FROZEN_NOW": FROZEN_NOW.isoformat(),
        "COMMAND_CENTRE_SECURE_COOKIES": "false",  # plain HTTP on loopback
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "app:server"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        health = _wait_healthy(base, proc)
        assert health["database"] == "ok" and health["newest_data_at"]

        # Nothing without a session: pages go to sign-in, the API says 401.
        s = requests.Session()
        assert s.get(f"{base}/api/v1/beds", timeout=10).status_code == 401
        page = s.get(f"{base}/login", timeout=10)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert "Content-Security-Policy" in page.headers
        signed_in = s.post(
            f"{base}/login",
            data={"csrf_token": csrf, "username": "lead",
                  "password": DEFAULT_PASSWORD, "next": "/"},
            allow_redirects=False, timeout=30,
        )  # fmt: skip
        assert signed_in.status_code == 302, signed_in.text[:300]

        # The session holds in both workers (many requests land on each).
        engine = create_engine(url)
        with engine.connect() as conn:
            available = conn.execute(
                text("SELECT count(*) FROM bed WHERE state = 'available'")
            ).scalar()
        engine.dispose()
        for _ in range(12):
            body = s.get(f"{base}/api/v1/beds", timeout=10).json()
            assert sum(site["available"] for site in body["sites"]) == available
        assert body["as_of"] is not None

        # A Dash callback through the real endpoint: the Overview's refresh.
        deps = s.get(f"{base}/_dash-dependencies", timeout=10).json()
        overview = next(d for d in deps if "overview-body.children" in d["output"])
        values = {"shell-poll.n_intervals": 1, "overview-body.id": "overview-body"}
        request = {
            "output": overview["output"],
            "outputs": [
                {"id": o.split(".")[0], "property": o.split(".")[1]}
                for o in overview["output"].strip(".").split("...")
            ],
            "inputs": [
                {**i, "value": values.get(f"{i['id']}.{i['property']}")}
                for i in overview["inputs"]
            ],
            "state": [{**st, "value": None} for st in overview["state"]],
            "changedPropIds": ["shell-poll.n_intervals"],
        }
        reply = s.post(
            f"{base}/_dash-update-component",
            data=json.dumps(request),
            headers={"Content-Type": "application/json", "Origin": base},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text[:300]
        assert '"overview-body"' in reply.text and "Beds available" in reply.text

        # Sign-out ends the session at once, in every worker.
        assert s.get(f"{base}/", timeout=10).status_code == 200
        form = s.get(f"{base}/login", timeout=10).text  # the session's form token
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        assert (
            s.post(f"{base}/logout", data={"csrf_token": "forged"}).status_code == 400
        )
        s.post(f"{base}/logout", data={"csrf_token": csrf}, timeout=10)
        assert all(
            s.get(f"{base}/api/v1/beds", timeout=10).status_code == 401
            for _ in range(6)
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
