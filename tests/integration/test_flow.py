"""Flow page in real browsers: two people review the same patient's expected discharge;
the second is told who changed it and when; the board and the Overview tiles show
the change at their next poll."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app import create_app
from data.queries import flow as q
from tests.conftest import pytest_setup_options
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app
from tests.support.auth import create_user, login, login_driver

LONDON = ZoneInfo("Europe/London")
FIRST_EDD = '.ag-row[row-index="0"] [col-id="edd"]'
FIRST_CELL = '.ag-row[row-index="0"] [col-id="patient"]'
DISCHARGES_DETAIL = "#overview-trust-flow-discharges .kpi-detail"


def _second_browser():  # noqa: ANN202
    options = pytest_setup_options()
    options.add_argument("--headless=new")
    return webdriver.Chrome(options=options)


def _wait(driver, css: str, text: str, timeout: float = 90) -> None:  # noqa: ANN001
    # generous: the first refresh of a busy shared machine can take tens of seconds
    WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def _click(driver, css: str, timeout: float = 30) -> None:  # noqa: ANN001
    for attempt in range(4):
        element = WebDriverWait(
            driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
        ).until(ec.element_to_be_clickable((By.CSS_SELECTOR, css)))
        try:
            driver.execute_script(
                "arguments[0].scrollIntoView({block: 'center'});", element
            )
            element.click()
            return
        except StaleElementReferenceException:
            if attempt == 3:
                raise


def _type(driver, css: str, text: str) -> None:  # noqa: ANN001
    field = driver.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text + "\n")


def _expected_detail(driver) -> str:  # noqa: ANN001
    WebDriverWait(driver, 30).until(
        lambda d: (
            "expected today" in d.find_element(By.CSS_SELECTOR, DISCHARGES_DETAIL).text
        )
    )
    return driver.find_element(By.CSS_SELECTOR, DISCHARGES_DETAIL).text


def test_flw001_two_reviewers_conflict_board_and_overview_follow(
    dash_duo, seeded_sqlite_url
) -> None:  # noqa: ANN001
    url = seeded_sqlite_url
    create_user(url, "anna", "bed_manager", display_name="Anna Bed")
    create_user(url, "sam", "site_lead", display_name="Sam Site")
    settings = settings_for(url, auth_required=True, poll_seconds=2)
    runtime = runtime_for(settings)
    with runtime.factory() as s:
        first = q.board(s, q.FlowFilters(), FROZEN_NOW)[0]
        expected_before = q.bed_gap(s, q.FlowFilters(), FROZEN_NOW, settings.timezone)
    runtime.engine.dispose()
    today = FROZEN_NOW.astimezone(LONDON).date()
    edd_today = first.expected_discharge_at is not None and (
        first.expected_discharge_at.astimezone(LONDON).date() == today
    )
    # Anna moves the first patient's expected discharge into or out of today.
    target = today + timedelta(days=2) if edd_today else today
    anna_edd = f"{target.isoformat()} 16:00"
    change = -1 if edd_today else 1

    app = create_app(settings, prepare=False)
    start_app(dash_duo, app, navigate=False)
    sam = _second_browser()
    try:
        login_driver(sam, dash_duo.server.url, "sam", next_path="/")
        before = _expected_detail(sam)
        assert before == f"of {expected_before.expected_today} expected today"

        login(dash_duo, "anna", next_path="/flow")
        anna = dash_duo.driver
        _wait(anna, FIRST_CELL, first.patient_ref)
        _click(anna, FIRST_CELL)
        _wait(anna, "#flow-edit-title", f"Patient {first.patient_ref}")

        sam.get(f"{dash_duo.server.url}/flow")
        _wait(sam, FIRST_CELL, first.patient_ref)
        _click(sam, FIRST_CELL)
        _wait(sam, "#flow-edit-title", f"Patient {first.patient_ref}")

        _type(anna, "#flow-edit-edd", anna_edd)
        _click(anna, "#flow-edit-save")
        _wait(anna, "#flow-edit-message", "Saved at 10:30")

        _type(sam, "#flow-edit-edd", f"{(today + timedelta(days=5)).isoformat()} 11:00")
        _click(sam, "#flow-edit-save")
        _wait(sam, "#flow-edit-message", "Not saved: changed by Anna Bed at 10:30")

        # Sam's board shows Anna's date at its next poll; his own was not saved.
        _wait(sam, FIRST_EDD, anna_edd)
        # Selecting the patient again shows who changed it last.
        _click(sam, '.ag-row[row-index="1"] [col-id="patient"]')
        _click(sam, FIRST_CELL)
        _wait(sam, "#flow-edit-title", "Last changed by Anna Bed at 10:30")
        assert sam.find_element(By.ID, "flow-edit-edd").get_attribute("value") == (
            anna_edd
        )

        # The Overview's discharges tile follows at its next poll.
        sam.get(f"{dash_duo.server.url}/")
        n = expected_before.expected_today + change
        _wait(sam, DISCHARGES_DETAIL, f"of {n} expected today")
        assert [e for e in sam.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        sam.quit()
    assert dash_duo.get_logs() == []


ACTIONS_CELL = '.ag-row[row-index="0"] [col-id="actions"]'


def test_flw002_board_round_action_added_shown_on_the_board_and_done(
    dash_duo, seeded_sqlite_url
) -> None:  # noqa: ANN001
    url = seeded_sqlite_url
    create_user(url, "anna", "bed_manager", display_name="Anna Bed")
    settings = settings_for(url, auth_required=True, poll_seconds=2)
    runtime = runtime_for(settings)
    with runtime.factory() as s:
        first = q.board(s, q.FlowFilters(), FROZEN_NOW)[0]
    runtime.engine.dispose()
    app = create_app(settings, prepare=False)
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "anna", next_path="/flow")
    anna = dash_duo.driver
    _wait(anna, FIRST_CELL, first.patient_ref)
    _click(anna, FIRST_CELL)
    _wait(anna, "#flow-edit-title", f"Patient {first.patient_ref}")
    _wait(anna, "#flow-actions", "No actions yet.")

    # an action with no owner is refused and nothing is added
    _type(anna, "#flow-action-what", "Chase care package")
    _click(anna, "#flow-action-add")
    _wait(anna, "#flow-action-message", "Not added: the action needs an owner.")
    _wait(anna, "#flow-actions", "No actions yet.")

    _type(anna, "#flow-action-owner", "Social worker")
    _type(anna, "#flow-action-due", "2026-11-23 09:00")  # before FROZEN_NOW: overdue
    _click(anna, "#flow-action-add")
    _wait(anna, "#flow-action-message", "Action added at 10:30")
    _wait(anna, "#flow-actions-table", "Chase care package")
    _wait(anna, "#flow-actions-table", "due 09:00 23 Nov (overdue)")
    assert anna.find_element(By.ID, "flow-action-what").get_attribute("value") == ""
    # the board's open-actions column follows at the next poll
    _wait(anna, ACTIONS_CELL, "Chase care package (Social worker, due 09:00 23 Nov")

    _click(anna, "#flow-actions-table .btn-outline-success")
    _wait(anna, "#flow-action-message", "Action done at 10:30")
    _wait(anna, "#flow-actions-table", "done 10:30")
    _wait(anna, "#flow-actions-table", "by Anna Bed")
    WebDriverWait(anna, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ACTIONS_CELL).text == ""
    )
    assert dash_duo.get_logs() == []
