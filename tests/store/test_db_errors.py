"""Start-up and locking errors are reported in one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from data.db import create_db_engine, make_session_factory, upgrade, write_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysql://someone@db/x",
            "DATABASE_URL must be a sqlite:/// or postgresql:// URL",
        ),
        (
            "postgresql://nobody@127.0.0.1:1/x",
            "cannot reach the database at postgresql",
        ),
        ("postgresql://u@h:notaport/db", "DATABASE_URL"),
    ],
)
def test_db001_bad_database_url_gives_one_clear_line_and_exit_2(url, expected):
    # a strong key: production refuses to start without one (tests/security)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "9b" * 4 + "4f9c2a7e1b8d3f6a0c5e9b2d7f4a1c8e",
        "COMMAND_CENTRE_HL7_KEY": "hl7-" + "4f9c2a7e1b8d3f6a" * 3,
    }
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
    assert len(lines) == 1 and expected in lines[0], done.stderr[-500:]


def test_db002_a_locked_sqlite_file_is_waited_for_then_reported(tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    holder = create_db_engine(url)
    upgrade(holder)
    hold = make_session_factory(holder)
    waiting = make_session_factory(create_db_engine(url, busy_timeout_ms=3000))
    impatient = make_session_factory(create_db_engine(url, busy_timeout_ms=300))
    locked, release = threading.Event(), threading.Event()

    def keep_lock(seconds: float, feed: str) -> None:
        with write_session(hold) as s:
            s.execute(
                text(
                    "INSERT INTO feed_status (feed, last_write_at) VALUES (:f, '2026-01-01')"
                ),
                {"f": feed},
            )
            locked.set()
            release.wait(seconds)

    t = threading.Thread(target=keep_lock, args=(1.0, "a"))
    t.start()
    assert locked.wait(5)
    started = time.monotonic()
    with write_session(waiting) as s:  # waits for the lock, then succeeds
        s.execute(text("SELECT count(*) FROM feed_status"))
    assert time.monotonic() - started >= 0.5
    t.join()

    locked.clear()
    t = threading.Thread(target=keep_lock, args=(5.0, "b"))
    t.start()
    assert locked.wait(5)
    with (
        pytest.raises(OperationalError, match="database is locked"),
        write_session(impatient) as s,
    ):
        s.execute(text("SELECT 1"))
    release.set()
    t.join()
