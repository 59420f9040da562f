"""Surge protocol end to end in real browsers: two commanders work one checklist.

Alice (incident commander) declares OPEL 3 and assigns a role; Bob (bed manager) works
the same checklist from a second browser. Both tick, one of them too late; Bob is not
offered stand-down; Alice logs and stands down; the after-action CSV holds exactly those events.
"""

from __future__ import annotations

import csv
import io
import threading
from datetime import datetime, timedelta

from dash.testing import wait
from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from app import create_app
from callbacks import surge as surge_callbacks
from ops.protocol_runs import available_templates
from tests.conftest import pytest_setup_options
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app
from tests.support.auth import create_user, login, login_driver


class SteppingClock:
    """Frozen demo time that moves one second per reading, so every event is ordered."""

    def __init__(self, start: datetime) -> None:
        self.at = start
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            self.at += timedelta(seconds=1)
            return self.at


def _second_browser():  # noqa: ANN202
    options = pytest_setup_options()
    options.add_argument("--headless=new")
    return webdriver.Chrome(options=options)


def _wait_text(driver, css: str, expected: str, timeout: float = 20) -> None:  # noqa: ANN001
    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), expected)
    )


def _clickable(driver, css: str, timeout: float = 20):  # noqa: ANN001, ANN202
    """The element once it can be clicked; a re-render while waiting is waited out."""
    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(ec.element_to_be_clickable((By.CSS_SELECTOR, css)))


def _click(driver, css: str, timeout: float = 20) -> None:  # noqa: ANN001
    """Scroll the element to the middle of the window and click it like a user.

    The page re-renders when another commander changes something; a click that
    lands on a just-replaced element is retried on the new one.
    """
    for attempt in range(4):
        element = _clickable(driver, css, timeout)
        try:
            driver.execute_script(
                "arguments[0].scrollIntoView({block: 'center'});", element
            )
            element.click()
            return
        except (StaleElementReferenceException, ElementClickInterceptedException):
            if attempt == 3:
                raise


def _text(driver, element_id: str) -> str:  # noqa: ANN001
    try:
        return driver.find_element(By.ID, element_id).text
    except StaleElementReferenceException:
        return ""


def test_srg001_two_commanders_declare_work_and_stand_down(dash_duo, seeded_sqlite_url):
    url = seeded_sqlite_url
    create_user(url, "alice", "incident_commander", display_name="Alice Commander")
    create_user(url, "bob", "bed_manager", display_name="Bob Beds")
    app = create_app(
        settings_for(
            url, auth_required=True, clock=SteppingClock(FROZEN_NOW), poll_seconds=3
        ),
        prepare=False,
    )
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "alice", next_path="/surge")
    alice = dash_duo.driver

    # Declare: a blank reason is refused next to the field and nothing typed is lost.
    dash_duo.wait_for_contains_text("#surge-active", "No protocol is active")
    wait.until(
        lambda: len(Select(dash_duo.find_element("#surge-template")).options) >= 6, 10
    )
    Select(dash_duo.find_element("#surge-template")).select_by_value("opel3-escalation")
    dash_duo.wait_for_contains_text("#surge-template-info", "OPEL 3")
    Select(dash_duo.find_element("#surge-trigger-kind")).select_by_value("opel")
    dash_duo.find_element("#surge-trigger-detail").send_keys("OPEL 3 at 10:15")
    _click(alice, "#surge-declare")
    dash_duo.wait_for_contains_text("#surge-reason-error", "Give the reason")
    assert dash_duo.find_element("#surge-trigger-detail").get_attribute("value") == (
        "OPEL 3 at 10:15"
    )
    dash_duo.find_element("#surge-reason").send_keys(
        "G&A occupancy 96%, 14 ambulances waiting"
    )
    _click(alice, "#surge-declare")
    dash_duo.wait_for_text_to_equal("#surge-run-title", "OPEL 3 acute escalation")
    run_id = int(alice.current_url.rsplit("run=", 1)[1])

    # Assign a role.
    wait.until(
        lambda: len(Select(dash_duo.find_element("#surge-role")).options) > 3, 10
    )
    Select(dash_duo.find_element("#surge-role")).select_by_value("bed-manager")
    dash_duo.find_element("#surge-person").send_keys("Bob Beds")
    dash_duo.find_element("#surge-contact").send_keys("bleep 4471")
    _click(alice, "#surge-assign")
    dash_duo.wait_for_text_to_equal("#surge-holder-bed-manager", "Bob Beds")
    dash_duo.wait_for_text_to_equal("#surge-contact-bed-manager", "bleep 4471")

    bob = _second_browser()
    try:
        login_driver(bob, dash_duo.server.url, "bob", next_path=f"/surge?run={run_id}")
        _wait_text(bob, "#surge-run-title", "OPEL 3 acute escalation")
        _wait_text(bob, "#surge-holder-bed-manager", "Bob Beds")

        # Different actions at once: both succeed.
        _click(bob, "#surge-action-hourly-pull .btn-success")
        _wait_text(bob, "#surge-action-hourly-pull", "Done by Bob Beds")
        _click(alice, "#surge-action-notify-icb-scc .btn-success")
        dash_duo.wait_for_contains_text(
            "#surge-action-notify-icb-scc", "Done by Alice Commander"
        )
        # Bob's page catches up with Alice's tick by polling.
        _wait_text(bob, "#surge-action-notify-icb-scc", "Done by Alice Commander")
        dash_duo.wait_for_contains_text("#surge-action-hourly-pull", "Done by Bob Beds")

        # The same action from both browsers at once: one is recorded, the other is
        # told who got there first, and nothing is overwritten.
        _wait_text(bob, "#surge-action-site-huddle", "Not done")
        dash_duo.wait_for_contains_text("#surge-action-site-huddle", "Not done")
        both = "#surge-action-site-huddle .btn-success"
        _click(alice, both)
        _click(bob, both)
        names = {alice: "Alice Commander", bob: "Bob Beds"}
        wait.until(
            lambda: all(
                "Done by" in _text(d, "surge-action-site-huddle") for d in (alice, bob)
            ),
            10,
        )
        winner_text = _text(alice, "surge-action-site-huddle")
        winner = next(d for d, n in names.items() if f"Done by {n}" in winner_text)
        loser = bob if winner is alice else alice
        _wait_text(loser, "#surge-alert", f"Already done by {names[winner]} at")
        _wait_text(loser, "#surge-action-site-huddle", f"Done by {names[winner]}")
        huddle_by = names[winner]

        # A note-required action, with its note.
        _click(alice, "#surge-action-confirm-opel3 .btn-outline-success")
        dash_duo.wait_for_element("#surge-note-text").send_keys(
            "Ambulance handovers drove it"
        )
        _click(alice, "#surge-note-confirm")
        dash_duo.wait_for_contains_text(
            "#surge-action-confirm-opel3", "Done by Alice Commander"
        )
        dash_duo.wait_for_contains_text(
            "#surge-action-confirm-opel3", "Ambulance handovers drove it"
        )

        # Bob may not stand the protocol down: he is not offered the button (the
        # server refuses it too: tests/security/test_permission_status.py).
        assert not bob.find_element(By.ID, "surge-stand-down").is_displayed()
        assert bob.find_element(By.ID, "surge-log-text").is_displayed()
        severe = [e for e in bob.get_log("browser") if e.get("level") == "SEVERE"]
        assert severe == []
    finally:
        bob.quit()

    # Log entry, then stand-down with confirmation.
    dash_duo.find_element("#surge-log-text").send_keys(
        "ICB informed; next SitRep 12:00"
    )
    _click(alice, "#surge-log-add")
    dash_duo.wait_for_contains_text("#surge-log", "ICB informed; next SitRep 12:00")
    dash_duo.wait_for_contains_text("#surge-log", "Incident commander")
    assert dash_duo.find_element("#surge-log-text").get_attribute("value") == ""
    # Most actions are still open: the dialog lists them and needs a reason.
    _click(alice, "#surge-stand-down")
    total = len(available_templates()["opel3-escalation"].template.actions)
    dash_duo.wait_for_contains_text(
        "#surge-stand-down-open", f"{total - 4} of {total} actions are still open"
    )
    open_items = dash_duo.find_elements("#surge-stand-down-open li")
    assert len(open_items) == total - 4
    actions = available_templates()["opel3-escalation"].template.actions
    ticked = {"hourly-pull", "notify-icb-scc", "site-huddle", "confirm-opel3"}
    listed = {li.text.split(": ", 1)[1] for li in open_items}
    assert listed == {a.text for a in actions if a.key not in ticked}
    dash_duo.wait_for_contains_text("#surge-stand-down-label", "(required)")
    _click(alice, "#surge-stand-down-confirm")  # no reason: refused, dialog stays
    dash_duo.wait_for_contains_text(
        "#surge-stand-down-error", "Give the reason for standing down early"
    )
    assert "is-invalid" in dash_duo.find_element(
        "#surge-stand-down-note"
    ).get_attribute("class")
    assert dash_duo.find_element("#surge-stand-down-modal").is_displayed()
    dash_duo.find_element("#surge-stand-down-note").send_keys("Back to OPEL 2")
    _click(alice, "#surge-stand-down-confirm")
    dash_duo.wait_for_contains_text("#surge-detail-header", "Stood down")
    dash_duo.wait_for_contains_text("#surge-detail-header", "Back to OPEL 2")
    wait.until(lambda: not dash_duo.find_element("#surge-stand-down").is_displayed(), 5)
    assert not dash_duo.find_elements("#surge-detail-blocks .btn-success")
    _click(alice, "#surge-csv")
    _click(alice, "#surge-pdf")

    # The after-action CSV from the download callback: exactly these events, in order.
    with app.server.app_context():
        payload = surge_callbacks.report_csv(run_id)
        pdf = surge_callbacks.report_pdf(run_id)
    assert payload["filename"].startswith(f"after-action-opel3-escalation-run{run_id}-")
    assert pdf["filename"].endswith(".pdf") and pdf["base64"]
    rows = list(csv.DictReader(io.StringIO(payload["content"])))
    assert [(r["event"], r["person"], r["action"].split(" ")[0]) for r in rows] == [
        ("declared", "Alice Commander", ""),
        ("facility snapshot", "", ""),
        ("role assigned", "Bob Beds", ""),
        ("action done", "Bob Beds", "Start"),
        ("action done", "Alice Commander", "Notify"),
        ("action done", huddle_by, "Hold"),
        ("action done", "Alice Commander", "Confirm"),
        ("log entry", "Alice Commander", ""),
        ("log entry", "Alice Commander", ""),  # the early stand-down, recorded
        ("stood down", "Alice Commander", ""),
    ]
    times = [r["time"] for r in rows]
    assert times == sorted(times) and all(t.endswith("+00:00") for t in times)
    assert rows[6]["detail"] == "Ambulance handovers drove it"
    assert rows[7]["detail"] == "ICB informed; next SitRep 12:00"
    assert rows[8]["detail"].startswith(
        f"Stood down early with {total - 4} of {total} actions open. "
        "Reason: Back to OPEL 2\nOpen at stand-down: "
    )
    assert rows[9]["detail"] == "Back to OPEL 2"

    # The audit trail has every write, by the person who made it.
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        audit = conn.execute(
            text(
                "SELECT actor_username, action FROM audit_event "
                "WHERE action LIKE 'protocol.%' ORDER BY id"
            )
        ).all()
    runtime.engine.dispose()
    assert [tuple(a) for a in audit] == [
        ("alice", "protocol.declare"),
        ("alice", "protocol.role.assign"),
        ("bob", "protocol.action.tick"),
        ("alice", "protocol.action.tick"),
        ("alice" if huddle_by == "Alice Commander" else "bob", "protocol.action.tick"),
        ("alice", "protocol.action.tick"),
        ("alice", "protocol.log.add"),
        ("alice", "protocol.stand_down"),
    ]
    assert dash_duo.get_logs() == []
