"""``flask hl7-replay`` and the pseudonymisation key, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from data.models.capacity import InpatientStay
from feeds.hl7.config import Hl7ConfigError, load_hl7_config
from tests.feeds.hl7_support import AT, adt, prepare

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Zx9!kq2LmP0vR7tW3yB8nC5dF1gH6jK4-secret"
HL7_KEY = "k" * 16 + "Q7!x" + "z" * 16


def _flask(args: list[str], url: str, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMAND_CENTRE")}
    env.update(DATABASE_URL=url, COMMAND_CENTRE_DEMO="0", SECRET_KEY=SECRET, **extra)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_hl7c001_replay_a_file_and_a_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    engine, factory = prepare(url, tmp_path)
    engine.dispose()
    from datetime import timedelta

    messages = [
        adt("A01", "F1", at=AT, location="CAR^^CAR-01"),
        adt("A02", "F2", at=AT + timedelta(hours=1), location="CAR^^CAR-02"),
        adt("A01", "F1", at=AT, location="CAR^^CAR-01"),  # a resend
        adt("A01", "F3", at=AT, patient="2", visit="V2", location="NOPE^^1"),
    ]
    file = tmp_path / "feed" / "day1.hl7"
    file.parent.mkdir()
    file.write_text("\n".join(m.replace("\r", "\n") for m in messages) + "\n")
    done = _flask(["hl7-replay", str(file)], url, COMMAND_CENTRE_HL7_KEY=HL7_KEY)
    assert done.returncode == 0, done.stderr[-800:]
    lines = done.stdout.strip().splitlines()
    assert lines == [
        "applied: 2",
        "duplicate: 1",
        "quarantined: unknown_location: 1",
    ], done.stdout
    # MLLP-framed file in a folder: all duplicates now
    framed = tmp_path / "feed" / "day1.mllp"
    framed.write_bytes(b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in messages))
    file.unlink()
    done = _flask(["hl7-replay", str(framed.parent)], url,
                  COMMAND_CENTRE_HL7_KEY=HL7_KEY)  # fmt: skip
    assert done.stdout.strip().splitlines() == ["duplicate: 4"], done.stderr[-800:]
    done = _flask(["hl7-replay", "--quarantine"], url, COMMAND_CENTRE_HL7_KEY=HL7_KEY)
    assert done.stdout.strip() == "quarantined: unknown_location: 1"
    from data.db import create_db_engine, make_session_factory

    engine = create_db_engine(url)
    with make_session_factory(engine)() as s:
        assert len(s.scalars(select(InpatientStay)).all()) == 1
    engine.dispose()


def test_hl7c002_a_missing_key_stops_the_feed_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cc.db'}"
    engine, _ = prepare(url, tmp_path)
    engine.dispose()
    done = _flask(["hl7-listen"], url)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("command-centre:")]
    assert len(lines) == 1 and "COMMAND_CENTRE_HL7_KEY" in lines[0], done.stderr


def test_hl7c003_key_rules(tmp_path: Path) -> None:
    pg = "postgresql://cc@db/cc"
    with pytest.raises(Hl7ConfigError, match="not set"):
        load_hl7_config(pg, False, {})
    with pytest.raises(Hl7ConfigError, match="at least 32"):
        load_hl7_config(pg, False, {"COMMAND_CENTRE_HL7_KEY": "short"})
    cfg = load_hl7_config(pg, False, {"COMMAND_CENTRE_HL7_KEY": HL7_KEY,
                                      "COMMAND_CENTRE_HL7_PORT": "3000"})  # fmt: skip
    assert (cfg.key, cfg.port, cfg.host, cfg.max_bytes) == (
        HL7_KEY.encode(),
        3000,
        "127.0.0.1",
        1_000_000,
    )
    # the embedded demo makes one key, kept owner-only beside its database
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = load_hl7_config(url, True, {}).key
    assert load_hl7_config(url, True, {}).key == first and len(first) >= 32
    key_file = tmp_path / "demo.db.hl7-key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(Hl7ConfigError):
        load_hl7_config(url, False, {})  # not the demo: no derived key
