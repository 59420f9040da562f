"""Surge alerts in a real browser: a surge fires an alert, a bed manager acknowledges it."""

from __future__ import annotations

from datetime import timedelta

from dash.testing import wait
from selenium.webdriver.common.by import By
from sqlalchemy import select

from app import create_app
from data.db import write_session
from data.models.alerts import Alert, AlertEvent
from data.models.security import AuditEvent
from data.writes import set_scenario
from feeds.seed import run_tick, scenario_by_name
from jobs import alerts as evaluation
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app
from tests.support.auth import create_user, login

RULE = ("ga-occupancy-site", "site", "DDH")


def _surge_and_evaluate(url: str) -> tuple[int, object]:
    """Switch the simulator to the surge scenario and run the evaluation job while
    simulated time passes the rule's `for` (15 min)."""
    start = FROZEN_NOW
    runtime = runtime_for(settings_for(url, now=start))
    with write_session(runtime.factory) as s:
        set_scenario(s, scenario_by_name("surge"))
    first = evaluation.evaluation_job(runtime)
    assert first is not None and first.ran
    runtime.engine.dispose()
    end = start + timedelta(minutes=20)
    for minute in (10, 20):
        at = start + timedelta(minutes=minute)
        later = runtime_for(settings_for(url, now=at))
        run_tick(later.factory, now=at, tz="Europe/London")
        assert evaluation.evaluation_job(later).ran
        later.engine.dispose()
    check = runtime_for(settings_for(url, now=end))
    with check.factory() as s:
        alert = s.execute(
            select(Alert).where(
                Alert.rule_id == RULE[0],
                Alert.scope_kind == RULE[1],
                Alert.scope_id == RULE[2],
            )
        ).scalar_one()
    check.engine.dispose()
    assert alert.state == "firing", alert.state
    return alert.id, end


def test_alr001_surge_fires_banner_and_bed_manager_acknowledges(
    dash_duo, seeded_sqlite_url
):
    alert_id, now = _surge_and_evaluate(seeded_sqlite_url)
    create_user(seeded_sqlite_url, "bea.beds", "bed_manager", display_name="Bea Beds")
    # No polling during the test (a re-render would make elements stale mid-check);
    # the banner refreshes on every page change.
    settings = settings_for(
        seeded_sqlite_url, now=now, auth_required=True, poll_seconds=3600
    )
    app = create_app(settings, prepare=False)
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "bea.beds", next_path="/beds")
    dash_duo.wait_for_contains_text("#shell-user", "Bea Beds")

    # The banner on any page shows the firing alert with its severity in words.
    item = f"#alert-banner-item-{alert_id}"
    dash_duo.wait_for_contains_text(
        item, "G&A occupancy — Downs District Hospital", timeout=30
    )
    assert "CRITICAL" in dash_duo.find_element(item).text.upper()
    dash_duo.wait_for_contains_text("#alert-banner-opel", "OPEL")

    # Acknowledge it from the alerts page.
    dash_duo.find_element("#alert-banner-more").click()
    wait.until(lambda: dash_duo.driver.current_url.endswith("/alerts"), timeout=5)
    row = f"#alerts-row-{alert_id}"
    dash_duo.wait_for_contains_text(row, "G&A occupancy", timeout=30)
    assert "FIRING" in dash_duo.find_element(row).text.upper()

    # Silence without a reason: a clear error, nothing written.
    dash_duo.find_element(row).find_element(
        By.XPATH, ".//button[contains(., 'Silence')]"
    ).click()
    dash_duo.wait_for_text_to_equal("#alerts-action-title", "Silence alert")
    dash_duo.find_element("#alerts-action-submit").click()
    dash_duo.wait_for_contains_text("#alerts-action-error", "A silence needs a reason.")
    dash_duo.find_element("#alerts-action-cancel").click()

    dash_duo.find_element(row).find_element(
        By.XPATH, ".//button[contains(., 'Acknowledge')]"
    ).click()
    dash_duo.wait_for_text_to_equal("#alerts-action-title", "Acknowledge alert")
    dash_duo.find_element("#alerts-ack-note").send_keys("Opening escalation beds")
    dash_duo.find_element("#alerts-action-submit").click()
    dash_duo.wait_for_contains_text(
        f"#alerts-ackstate-{alert_id}", "Acknowledged by Bea Beds 10:50", timeout=30
    )
    dash_duo.wait_for_contains_text("#alerts-message", "Acknowledged")
    # The banner shows it on the next page (or poll).
    dash_duo.find_element("#nav-beds").click()
    dash_duo.wait_for_contains_text(item, "Acknowledged by Bea Beds 10:50", timeout=30)

    runtime = runtime_for(settings_for(seeded_sqlite_url, now=now))
    with runtime.factory() as s:
        acks = list(
            s.scalars(
                select(AlertEvent).where(
                    AlertEvent.alert_id == alert_id, AlertEvent.kind != "transition"
                )
            )
        )
        audits = list(
            s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "alert"))
        )
    runtime.engine.dispose()
    assert [(e.kind, e.actor_username, e.actor, e.at, e.reason) for e in acks] == [
        ("acknowledged", "bea.beds", "Bea Beds", now, "Opening escalation beds")
    ]
    assert [
        (a.action, a.actor_username, a.actor_role, a.entity_id, a.at) for a in audits
    ] == [("acknowledge_alert", "bea.beds", "bed_manager", str(alert_id), now)]
    assert dash_duo.get_logs() == []


def test_alr003_history_dates_the_uk_way_says_why_a_range_is_empty_and_wraps(
    dash_duo, seeded_sqlite_url
):
    """The history's date filters show and take dd/mm/yyyy; "From" after "To" is said
    in words, not "no history matches"; a 500-character word wraps in its cell."""
    from tests.integration.test_wall_pressure import fire

    fire(seeded_sqlite_url, 1)
    word = "x" * 500
    runtime = runtime_for(settings_for(seeded_sqlite_url))
    with write_session(runtime.factory) as s:
        event = s.scalars(select(AlertEvent).order_by(AlertEvent.id.desc())).first()
        event.reason = f"note 👍 {word}"
    runtime.engine.dispose()
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/alerts?from=2026-11-22")
    dash_duo.wait_for_contains_text("#alerts-history", word[:40])
    field = dash_duo.find_element("#alerts-filter-from")
    assert field.get_attribute("value") == "22/11/2026"
    wrapper = dash_duo.find_element("#alerts-history .table-responsive")
    widths = dash_duo.driver.execute_script(
        "return [arguments[0].scrollWidth, arguments[0].clientWidth]", wrapper
    )
    assert widths[0] <= widths[1] + 1, widths  # nothing runs off the table
    # an emoji has a glyph (the vendored Noto Emoji face, served from assets/),
    # not an empty box, on a machine without an emoji font of its own
    faces = dash_duo.driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "document.fonts.load('16px \"Noto Emoji\"', '👍')"
        ".then(function (f) { done(f.length); }, function () { done(-1); });"
    )
    assert faces >= 1, faces
    # typing a UK date sets the filter (ISO in the address)
    to = dash_duo.find_element("#alerts-filter-to")
    to.click()
    to.send_keys("21/11/2026")
    to.send_keys("\n")
    wait.until(lambda: "to=2026-11-21" in dash_duo.driver.current_url, 10)
    dash_duo.wait_for_contains_text("#alerts-history-problem", "is after")
    problem = dash_duo.find_element("#alerts-history-problem").text
    assert "22/11/2026" in problem and "21/11/2026" in problem, problem
    assert (
        "No alert history matches" not in dash_duo.find_element("#alerts-history").text
    )
    assert dash_duo.get_logs() == []
