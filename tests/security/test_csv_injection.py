"""CSV exports never hand a spreadsheet a formula: a cell that starts with = + - @,
a tab or a carriage return is written as text (a leading apostrophe)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from components.admin import audit_csv
from components.protocol_report import TimelineEvent, timeline_csv
from ops.csv_export import csv_text, neutralise

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
ATTACKS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("value", ATTACKS)
def test_csv001_formula_cells_are_text(value: str):
    assert neutralise(value) == "'" + value
    (row,) = _rows(csv_text([[value, "plain", 3]]))
    assert row == ["'" + value, "plain", "3"]


def test_csv002_ordinary_values_are_unchanged():
    for value in ("Bed manager", "2026-11-23 10:30:00 +00:00", "", "a=b", "50%"):
        assert neutralise(value) == value
    assert neutralise(-3) == -3 and neutralise(None) is None


def test_csv003_after_action_log_entry_is_not_a_formula():
    timeline = [
        TimelineEvent(AT, "log", person='=HYPERLINK("http://x")', detail=ATTACKS[0])
    ]
    header, row = _rows(timeline_csv(timeline, "Europe/London"))
    assert header[0] == "time"
    assert row[-1] == "'" + ATTACKS[0]
    assert row[4] == '\'=HYPERLINK("http://x")'


def test_csv004_audit_export_is_not_a_formula():
    event = SimpleNamespace(
        at=AT,
        actor_username="@evil",
        actor_role="viewer",
        action="denied",
        entity_type="permission",
        entity_id="+cmd",
        before=None,
        after={"path": "/x"},
        request_id="-1",
    )
    _, row = _rows(audit_csv([event], "Europe/London"))
    assert row[2] == "'@evil" and row[6] == "'+cmd" and row[9] == "'-1"


def test_csv005_every_csv_export_goes_through_the_one_helper():
    writers = [
        p.relative_to(ROOT).as_posix()
        for folder in ("callbacks", "components", "data", "ops", "feeds", "jobs")
        for p in (ROOT / folder).rglob("*.py")
        if "csv.writer(" in p.read_text() or "DictWriter(" in p.read_text()
    ]
    assert writers == ["ops/csv_export.py"]
