"""``flask --app app csv-import`` as an operator runs it, on SQLite and PostgreSQL,
with the sample files of docs/samples/ (so they stay valid): exit codes, a bad file
reported by row number with nothing applied, a dry run, each sample applied and the
same file again changing nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from data.db import create_db_engine, make_session_factory, write_session
from data.models.capacity import (
    Bed,
    EdAttendance,
    InpatientStay,
    TheatreCase,
    TheatreSession,
    Ward,
)
from data.models.events import FlowEvent
from data.models.imports import CsvImport
from data.writes.events import Event, apply_events
from feeds.hl7.mapping import digest
from tests.support.apps import FROZEN_NOW
from tests.support.organisation import load_organisation_into

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "docs" / "samples"
SECRET = "Zx9!kq2LmP0vR7tW3yB8nC5dF1gH6jK4-secret"
HL7_KEY = "csv-cli-test-key-" + "c" * 32


def flask(args: list[str], url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMAND_CENTRE")}
    env.update(DATABASE_URL=url, COMMAND_CENTRE_DEMO="0", SECRET_KEY=SECRET,
               COMMAND_CENTRE_HL7_KEY=HL7_KEY)  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "csv-import", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def counts(factory) -> dict:  # noqa: ANN001
    with factory() as s:
        return {
            "events": s.scalar(select(func.count(FlowEvent.id))),
            "ed": s.scalar(select(func.count(EdAttendance.id))),
            "sessions": s.scalar(select(func.count(TheatreSession.id))),
            "cases": s.scalar(select(func.count(TheatreCase.id))),
            "imports": s.scalar(select(func.count(CsvImport.id))),
        }


def admit(factory, spell: str, ward: str, label: str) -> None:  # noqa: ANN001
    """An admission as the ADT feed names it (the stay of the PAS spell number)."""
    with write_session(factory) as s:
        bed_id = s.scalar(
            select(Bed.id).join(Ward).where(Ward.code == ward, Bed.label == label)
        )
        [out] = apply_events(s, [Event(
            "admit", FROZEN_NOW - timedelta(days=4), f"adm-{spell}",
            "S" + digest(HL7_KEY.encode(), "visit", spell)[:24],
            {"patient_ref": f"P{spell}", "bed_id": bed_id, "admission_source": "ed"},
        )], source="hl7:PAS")  # fmt: skip
        assert out.status == "applied", out


def test_csvc001_samples_bad_file_dry_run_and_exit_codes(
    empty_url: str, tmp_path: Path
) -> None:
    load_organisation_into(empty_url)
    engine = create_db_engine(empty_url)
    factory = make_session_factory(engine)
    try:
        # A bad copy of the ED sample: rows 3 and 5 wrong, nothing applied (exit 1).
        lines = (SAMPLES / "ed.csv").read_text().splitlines()
        lines[2] = lines[2].replace(",minors,", ",WARD9,")
        lines[4] = lines[4].replace("23/11/2026 09:15", "31/11/2026 09:15")
        bad = tmp_path / "ed-bad.csv"
        bad.write_text("\n".join(lines) + "\n")
        done = flask(["ed", str(bad), "--source", "edis"], empty_url)
        assert done.returncode == 1, done.stderr[-800:]
        out = done.stdout
        assert "error: row 3, area: unknown ED area 'WARD9'" in out
        assert "error: row 5, arrival:" in out and "not a date and time" in out
        assert "2 error(s): nothing was applied" in out
        assert counts(factory)["events"] == 0 and counts(factory)["imports"] == 0

        # A dry run of the sample: a preview, nothing applied (exit 0).
        done = flask(["ed", str(SAMPLES / "ed.csv"), "--source", "edis", "--dry-run"],
                     empty_url)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr[-800:]
        assert "rows: 4" in done.stdout
        assert "preview only: nothing was applied" in done.stdout
        assert counts(factory)["events"] == 0

        # Each sample applies (the sitrep names patients the ADT feed admitted).
        admit(factory, "V1001", "CAR", "CAR-01")
        admit(factory, "V1002", "GAS", "GAS-03")
        admit(factory, "V1003", "GAS", "GAS-05")
        for kind in ("ed", "theatre", "sitrep", "beds"):
            done = flask([kind, str(SAMPLES / f"{kind}.csv"), "--source", "trust"],
                         empty_url)  # fmt: skip
            assert done.returncode == 0, (kind, done.stdout, done.stderr[-800:])
            assert "applied (import" in done.stdout, (kind, done.stdout)
            assert "error:" not in done.stdout
        after = counts(factory)
        assert (after["ed"], after["sessions"], after["cases"], after["imports"]) == (
            4, 2, 2, 4)  # fmt: skip
        with factory() as s:
            reasons = dict(s.execute(
                select(Bed.label, InpatientStay.delay_reason)
                .join(Bed, Bed.id == InpatientStay.bed_id)
            ).all())  # fmt: skip
            states = dict(s.execute(
                select(Bed.label, Bed.state).join(Ward)
                .where(Ward.code == "CAR", Bed.label.in_(["CAR-02", "CAR-03", "CAR-04"]))
            ).all())  # fmt: skip
        assert reasons == {
            "CAR-01": "Awaiting care package in own home",
            "GAS-03": "Awaiting bedded rehabilitation or intermediate care",
            "GAS-05": None,
        }
        assert states == {"CAR-02": "blocked", "CAR-03": "closed",
                          "CAR-04": "awaiting_clean"}  # fmt: skip

        # The same file again (another name): nothing changes, exit 0.
        again = tmp_path / "copy.csv"
        shutil.copy(SAMPLES / "ed.csv", again)
        done = flask(["ed", str(again), "--source", "trust"], empty_url)
        assert done.returncode == 0 and "nothing changes" in done.stdout
        assert counts(factory) == after

        # Usage errors: exit 2 with a message, no traceback, nothing applied.
        for args, said in (
            (["wards", str(again), "--source", "trust"], "Invalid value"),
            (["ed", str(again), "--source", "Not a name!"], "command-centre:"),
        ):  # fmt: skip
            done = flask(args, empty_url)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert said in done.stderr and "Traceback" not in done.stderr
        assert counts(factory) == after
    finally:
        engine.dispose()
