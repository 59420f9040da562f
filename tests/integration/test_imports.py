"""Imports page: a bed manager uploads a CSV, reads every bad row, fixes the file,
previews and confirms; the attendances are in the store and the import is audited."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from sqlalchemy import func, select

from app import create_app
from data.models.capacity import EdAttendance
from data.models.events import FlowEvent
from data.models.security import AuditEvent
from tests.support.apps import runtime_for, settings_for, start_app
from tests.support.auth import create_user, login

BAD = """Attendance ID,Site,Arrival,Mode,Area,Triage
X1,RGH,23/11/2026 07:05,ambulance,majors,2
X2,RGH,23/11/2026 7 o'clock,walk_in,majors,3
X3,RGH,23/11/2026 08:10,=cmd|' /C calc'!A0,minors,3
"""
GOOD = """Attendance ID,Site,Arrival,Mode,Area,Triage
X1,RGH,23/11/2026 07:05,ambulance,majors,2
X2,RGH,23/11/2026 07:15,walk_in,majors,3
X3,RGH,23/11/2026 08:10,walk_in,minors,3
"""


def _upload(dash_duo, path: Path) -> None:  # noqa: ANN001
    field = dash_duo.driver.find_element(
        By.CSS_SELECTOR, "#imports-upload input[type=file]"
    )
    field.send_keys(str(path))


def test_imp001_upload_preview_confirm(
    dash_duo, seeded_sqlite_url, tmp_path, monkeypatch
):  # noqa: ANN001
    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", "k" * 20 + "Q7!x" + "z" * 20)
    create_user(seeded_sqlite_url, "bea.beds", "bed_manager", display_name="Bea Beds")
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "bea.beds", next_path="/imports")
    dash_duo.wait_for_contains_text("#imports-recent", "No file has been imported yet")
    runtime = runtime_for(settings_for(seeded_sqlite_url))
    with runtime.factory() as s:
        events_before = s.scalar(select(func.count(FlowEvent.id)))
    dash_duo.find_element("#imports-source").send_keys("edis")
    bad = tmp_path / "ed-bad.csv"
    bad.write_text(BAD)
    _upload(dash_duo, bad)
    dash_duo.wait_for_contains_text(".imports-status", "2 problem(s) in 3 rows")
    errors = dash_duo.find_element(".imports-errors").text
    assert "7 o'clock" in errors and "not a date and time" in errors
    assert "looks like a spreadsheet formula" in errors
    assert dash_duo.find_element("#imports-confirm").get_attribute("disabled")
    good = tmp_path / "ed-good.csv"
    good.write_text(GOOD)
    _upload(dash_duo, good)
    dash_duo.wait_for_contains_text(".imports-status", "3 rows checked: 3 events ready")
    with runtime.factory() as s:  # a preview applies nothing
        assert s.scalar(select(func.count(FlowEvent.id))) == events_before
    dash_duo.driver.save_screenshot(str(tmp_path / "preview.png"))
    dash_duo.find_element("#imports-confirm").click()
    dash_duo.wait_for_contains_text(
        "#imports-message", "Imported ed-good.csv: 3 rows, 3 events"
    )
    dash_duo.wait_for_contains_text("#imports-recent", "ed-good.csv")
    dash_duo.driver.save_screenshot(str(tmp_path / "confirmed.png"))
    with runtime.factory() as s:
        assert s.scalar(select(func.count(FlowEvent.id))) == events_before + 3
        assert (
            s.scalar(
                select(func.count(FlowEvent.id)).where(FlowEvent.source == "csv:edis")
            )
            == 3
        )
        audit = s.scalar(select(AuditEvent).where(AuditEvent.action == "csv.import"))
        assert s.scalar(select(func.count(EdAttendance.id))) > 3
    assert audit.actor_username == "bea.beds" and audit.after["source"] == "edis"
    # The same file again (renamed): recognised by its content, nothing changes.
    again = tmp_path / "ed-good-copy.csv"
    again.write_bytes(good.read_bytes())
    _upload(dash_duo, again)
    dash_duo.wait_for_contains_text(".imports-status", "this file was imported on")
    assert dash_duo.find_element("#imports-confirm").get_attribute("disabled")
    assert dash_duo.get_logs() == []
