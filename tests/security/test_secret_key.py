"""Outside the embedded SQLite demo the app refuses to start without a strong
SECRET_KEY (one clear line, exit code 2); the demo never signs cookies with a fixed,
published value; display token ids cannot be guessed from one another."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.wall import DisplayProfile, DisplayToken
from ops.settings import SettingsError, load_settings, secret_key_problem
from tests.support.apps import settings_for

ROOT = Path(__file__).resolve().parents[2]
PG = "postgresql://cc@db.example/cc"
WEAK = [
    "",
    "soak-test-secret",
    "embedded-demo-not-secret",
    "a" * 64,
    "changeme" * 8,
    "0123456789" * 2,
]


@pytest.mark.parametrize("key", WEAK)
def test_key001_production_refuses_a_missing_or_weak_key(key: str):
    env = {"DATABASE_URL": PG, "SECRET_KEY": key}
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings(env)
    assert secret_key_problem(key) is not None


@pytest.mark.parametrize(
    "key", [secrets.token_hex(32), secrets.token_urlsafe(32), secrets.token_hex(16)]
)
def test_key002_a_strong_key_is_accepted(key: str):
    assert secret_key_problem(key) is None
    env = {"DATABASE_URL": PG, "SECRET_KEY": key, "COMMAND_CENTRE_HL7_KEY": key * 2}
    assert load_settings(env).secret_key == key


def test_key003_only_the_embedded_sqlite_demo_may_run_without_a_key(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    assert load_settings({"DATABASE_URL": url}).secret_key == ""
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings({"DATABASE_URL": url, "COMMAND_CENTRE_DEMO": "false"})


def test_key004_start_up_without_a_key_is_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/x"
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("command-centre:")]
    assert len(lines) == 1 and "SECRET_KEY" in lines[0], done.stderr[-500:]


def test_key005_the_demo_key_is_random_and_kept_beside_its_database(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(create_db_engine(url))
    first = create_app(settings_for(url), prepare=False).server.config["SECRET_KEY"]
    second = create_app(settings_for(url), prepare=False).server.config["SECRET_KEY"]
    assert first == second  # two workers of one demo sign the same cookies
    assert first != "embedded-demo-not-secret" and secret_key_problem(first) is None
    other = f"sqlite:///{tmp_path / 'other' / 'demo.db'}"
    (tmp_path / "other").mkdir()
    upgrade(create_db_engine(other))
    assert create_app(settings_for(other), prepare=False).server.config[
        "SECRET_KEY"
    ] not in (first, "")


def test_key006_display_token_ids_are_not_sequential(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    engine = create_db_engine(url)
    upgrade(engine)  # the migration adds the default display profiles
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    with write_session(make_session_factory(engine)) as s:
        profile = s.scalars(select(DisplayProfile.id)).first()
        rows = [
            DisplayToken(token_hash=f"{i:064d}", profile_id=profile,
                         created_by="admin", created_at=now)
            for i in range(4)
        ]  # fmt: skip
        for row in rows:
            s.add(row)
            s.flush()
        ids = [row.id for row in rows]
    engine.dispose()
    steps = {b - a for a, b in zip(ids, ids[1:], strict=False)}
    assert steps != {1} and len(set(ids)) == 4
    assert min(ids) > 1000  # not a small counter
