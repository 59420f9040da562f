"""Outside the embedded SQLite demo a missing (or short) HL7 pseudonymisation key
stops start-up of the web app, the worker and the listener alike: one clear line,
exit code 2, like SECRET_KEY."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from ops.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
PG = "postgresql://cc@db.example/cc"
SECRET = secrets.token_hex(32)


@pytest.mark.parametrize("key", ["", "   ", "short-key", "k" * 31])
def test_hl7k001_production_refuses_a_missing_or_short_key(key: str) -> None:
    env = {"DATABASE_URL": PG, "SECRET_KEY": SECRET, "COMMAND_CENTRE_HL7_KEY": key}
    with pytest.raises(SettingsError, match="COMMAND_CENTRE_HL7_KEY"):
        load_settings(env)


def test_hl7k002_a_key_is_accepted_and_the_demo_needs_none(tmp_path: Path) -> None:
    env = {"DATABASE_URL": PG, "SECRET_KEY": SECRET,
           "COMMAND_CENTRE_HL7_KEY": secrets.token_hex(32)}  # fmt: skip
    assert not load_settings(env).demo
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    assert load_settings({"DATABASE_URL": url}).demo  # the embedded demo
    with pytest.raises(SettingsError, match="COMMAND_CENTRE_HL7_KEY"):
        load_settings({"DATABASE_URL": url, "COMMAND_CENTRE_DEMO": "false",
                       "SECRET_KEY": SECRET})  # fmt: skip


FLASK = str(Path(sys.executable).with_name("flask"))


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "import app"],  # gunicorn app:server imports this
        [FLASK, "--app", "app", "worker"],
        [FLASK, "--app", "app", "hl7-listen"],
    ],
    ids=["web", "worker", "listener"],
)
def test_hl7k003_start_up_without_a_key_is_one_line_and_exit_2(command) -> None:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMAND_CENTRE")}
    env.update(DATABASE_URL="postgresql://nobody@127.0.0.1:1/x", SECRET_KEY=SECRET)
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr[-500:]
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("command-centre:")]
    assert len(lines) == 1 and "COMMAND_CENTRE_HL7_KEY" in lines[0], done.stderr[-500:]
