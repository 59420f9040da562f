"""Sign-in while the disk is full: the SQLite file lives on a small tmpfs that is
then filled up for real (ENOSPC, SQLite's 'database or disk is full'). The answer is
a 503 page saying so, in one log line without a traceback; once space is back,
sign-in works again. Needs root (mount), as the project's test machines run."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from app import create_app
from callbacks.identity import SIGN_IN_UNAVAILABLE
from tests.security.test_http_security import _login
from tests.support.apps import FROZEN_NOW, settings_for
from tests.support.auth import create_user
from tests.support.clock import MovableClock


@pytest.fixture
def small_disk(tmp_path: Path, seeded_sqlite_template: Path):  # noqa: ANN201
    mount = tmp_path / "disk"
    mount.mkdir()
    size_mb = os.path.getsize(seeded_sqlite_template) // (1024 * 1024) + 8
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(mount)],
        check=True,
    )  # fmt: skip
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system: big blocks, then single pages, until ENOSPC."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for block in (1024 * 1024, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * block)
            except OSError:
                continue
    return filler


def test_df001_sign_in_on_a_full_disk_is_503_in_one_line(
    small_disk, seeded_sqlite_template, caplog
):
    database = small_disk / "cc.db"
    shutil.copyfile(seeded_sqlite_template, database)
    url = f"sqlite:///{database}"
    create_user(url, "vera.viewer", "viewer", display_name="Vera Viewer")
    app = create_app(
        settings_for(url, auth_required=True, clock=MovableClock(FROZEN_NOW)),
        prepare=False,
    )
    client = app.server.test_client()
    assert client.get("/healthz").status_code == 200  # the app's connection is open
    signed_in = app.server.test_client()
    assert _login(signed_in).status_code == 302
    with sqlite3.connect(database) as conn:  # every later write must grow the WAL
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = _fill(small_disk)
    assert shutil.disk_usage(small_disk).free < 4096

    with caplog.at_level(logging.INFO):
        for password in ("correct horse battery staple", "a wrong password!!"):
            r = _login(client, password=password)
            assert r.status_code == 503, r.status_code
            assert r.headers.get("Retry-After")
            assert SIGN_IN_UNAVAILABLE.split(":")[0].encode() in r.data
        with signed_in.session_transaction() as sess:  # the shell's sign-out form
            sess["cc_csrf"] = "form-token"
        r = signed_in.post("/logout", data={"csrf_token": "form-token"})
        assert r.status_code == 503 and b"signed out in this browser" in r.data
    assert signed_in.get("/api/v1/beds").status_code == 401  # cookie forgotten
    assert not any(rec.exc_info for rec in caplog.records)
    lines = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(lines) == 3 and all("disk is full" in line for line in lines), lines

    filler.unlink()
    r = _login(client)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert client.get("/api/v1/beds").status_code == 200
    app.server.extensions["command_centre"].engine.dispose()
