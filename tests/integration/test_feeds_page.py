"""Feeds page: HL7 messages ingested into the seeded demo trust show as figures; a
quarantined message appears with its reason; an admin views its original, replays
the quarantine and discards the message, each audited; a bed manager sees the page
without originals or actions; a viewer cannot open it."""

from __future__ import annotations

from datetime import timedelta

from selenium.webdriver.common.by import By
from sqlalchemy import select

from app import create_app
from data.db import create_db_engine, make_session_factory
from data.models.capacity import Bed, Site, Ward
from data.models.hl7 import Hl7Quarantine
from data.models.security import AuditEvent
from feeds.hl7.ingest import handle
from tests.feeds.hl7_support import KEY, adt
from tests.support.apps import FROZEN_NOW, settings_for, start_app
from tests.support.auth import create_user, login


def ingest(url: str) -> int:
    """Two admissions into free demo beds and one to an unknown ward; the
    quarantine entry's id."""
    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            beds = s.execute(
                select(Ward.code, Bed.label, Site.code)
                .join(Bed, Bed.ward_id == Ward.id)
                .join(Site, Site.id == Ward.site_id)
                .where(Bed.state == "available", Bed.is_escalation.is_(False))
                .order_by(Bed.id)
                .limit(2)
            ).all()
        site = beds[0][2]
        for i, (ward, label, bed_site) in enumerate(beds):
            at = FROZEN_NOW - timedelta(minutes=10 - i)
            message = adt("A01", f"OK{i}", at=at, facility=bed_site,
                          patient=f"880{i}", visit=f"W{i}",
                          location=f"{ward}^^{label}^{bed_site}")  # fmt: skip
            result = handle(factory, message, key=KEY, clock=lambda at=at: at)
            assert result.outcome == "applied", result.reason
        at = FROZEN_NOW - timedelta(minutes=2)
        message = adt("A01", "LOST1", at=at, facility=site, patient="8809",
                      visit="W9", location=f"NOWARD^^NW-01^{site}")  # fmt: skip
        assert handle(factory, message, key=KEY, clock=lambda: at).outcome == (
            "quarantined"
        )
        with factory() as s:
            return s.scalar(select(Hl7Quarantine.id))
    finally:
        engine.dispose()


def audit_actions(url: str) -> list[tuple[str, str]]:
    engine = create_db_engine(url)
    try:
        with make_session_factory(engine)() as s:
            return [
                (e.action, e.actor_username)
                for e in s.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action.like("hl7.%"))
                    .order_by(AuditEvent.id)
                )
            ]
    finally:
        engine.dispose()


def sign_out(dash_duo) -> None:  # noqa: ANN001
    dash_duo.find_element("#shell-sign-out").click()
    dash_duo.wait_for_element("#username")


def test_feeds001_figures_quarantine_actions_and_roles(
    dash_duo, seeded_sqlite_url: str, monkeypatch
) -> None:
    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", KEY.decode())
    qid = ingest(seeded_sqlite_url)
    create_user(seeded_sqlite_url, "ada.admin", "admin", display_name="Ada Admin")
    create_user(seeded_sqlite_url, "bob.beds", "bed_manager", display_name="Bob")
    create_user(seeded_sqlite_url, "vic.view", "viewer", display_name="Vic")
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)

    # A viewer cannot open the page.
    login(dash_duo, "vic.view", next_path="/feeds")
    dash_duo.wait_for_contains_text("#feeds-denied", "bed managers and administrators")
    assert dash_duo.driver.find_elements(By.ID, "feeds-quarantine") == []
    sign_out(dash_duo)

    # A bed manager sees the figures and the quarantine, not originals or actions.
    login(dash_duo, "bob.beds", next_path="/feeds")
    dash_duo.wait_for_contains_text("#feeds-hl7", "PAS^")
    hl7 = dash_duo.find_element("#feeds-hl7").text
    assert "MESSAGES, LAST HOUR\n3" in hl7.upper()
    assert "ACCEPTED, LAST HOUR\n2" in hl7.upper()
    assert "IN QUARANTINE\n1" in hl7.upper()
    feeds = dash_duo.find_element("#feeds-table").text
    assert "HL7 v2 ADT (MLLP)" in feeds and "demo simulator" in feeds
    quarantine = dash_duo.find_element("#feeds-quarantine").text
    assert "unknown_location" in quarantine and "LOST1" in quarantine
    assert "NOWARD" in quarantine  # the reason names the location
    assert dash_duo.driver.find_elements(By.ID, "feeds-replay") == []
    assert "Show original" not in quarantine and "Discard" not in quarantine
    sign_out(dash_duo)

    # An admin views the original (audited) and replays it (still unknown: it
    # stays quarantined). Discarding is covered by tests/store/test_feed_queries.py.
    login(dash_duo, "ada.admin", next_path="/feeds")
    dash_duo.wait_for_contains_text("#feeds-quarantine", "LOST1")
    dash_duo.find_element(f"#feeds-quarantine [data-quarantine='{qid}'] button").click()
    dash_duo.wait_for_contains_text("#feeds-original-body", "SMITH^JANE")
    assert "audit trail" in dash_duo.find_element("#feeds-original-body").text
    dash_duo.find_element("#feeds-original-modal .btn-close").click()
    dash_duo.wait_for_no_elements("#feeds-original-modal .modal-body")
    dash_duo.find_element("#feeds-replay").click()
    dash_duo.wait_for_contains_text(
        "#feeds-message", "Replayed 1: quarantined: unknown_location 1"
    )
    # The entry is still listed, tried twice, and the dialog of the original did
    # not open again when the table was redrawn.
    dash_duo.wait_for_contains_text(f"#feeds-quarantine [data-quarantine='{qid}']", "2")
    row = dash_duo.find_element(f"#feeds-quarantine [data-quarantine='{qid}']").text
    assert "LOST1" in row and "unknown_location" in row
    assert (
        dash_duo.driver.find_elements(
            By.CSS_SELECTOR, "#feeds-original-modal .modal-body"
        )
        == []
    )
    assert audit_actions(seeded_sqlite_url) == [
        ("hl7.quarantine.view_original", "ada.admin"),
        ("hl7.quarantine.replay", "ada.admin"),
    ]

    # Discarding asks for a reason and removes the entry from the table.
    dash_duo.find_element(
        f"#feeds-quarantine [data-quarantine='{qid}'] button.btn-outline-danger"
    ).click()
    dash_duo.wait_for_element("#feeds-discard-reason").send_keys("test message")
    dash_duo.find_element("#feeds-discard-confirm").click()
    dash_duo.wait_for_contains_text("#feeds-message", "Message discarded")
    dash_duo.wait_for_contains_text("#feeds-quarantine", "Nothing is waiting")
    assert (
        dash_duo.driver.find_elements(
            By.CSS_SELECTOR, "#feeds-discard-modal .modal-body"
        )
        == []
    )
    assert audit_actions(seeded_sqlite_url) == [
        ("hl7.quarantine.view_original", "ada.admin"),
        ("hl7.quarantine.replay", "ada.admin"),
        ("hl7.quarantine.discard", "ada.admin"),
    ]
    assert dash_duo.get_logs() == []


def _fhir_and_csv(url: str, clock) -> None:  # noqa: ANN001
    """A FHIR client (two Locations accepted, one refused) and a CSV source (one
    file applied, one refused) write at the clock's time."""
    from feeds.csv.importer import run
    from tests.feeds.fhir_support import issue, location, put

    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    try:
        _, token = issue(factory, "fhir:pas")
        app = create_app(settings_for(url, clock=clock, auth_required=True),
                         prepare=False)  # fmt: skip
        client = app.server.test_client()
        for rid, physical in (("w1", "wa"), ("w2", "wa"), ("room", "ro")):
            body = location(rid, f"PAS-{rid}", physical, f"Ward {rid}")
            put(client, f"Location/{rid}", body, token)
        app.server.extensions["command_centre"].engine.dispose()
        arrival = f"{clock():%d/%m/%Y} 10:00"
        good = (
            f"Attendance ID,Site,Arrival,Mode,Area\nZZ1,RGH,{arrival},walk-in,minors\n"
        )
        for text in (good, good.replace(",minors", ",NOWHERE")):
            run(factory, "ed", text.encode(), source="edis", filename="ed.csv",
                key=KEY, tz="Europe/London", now=clock(), confirm=True)  # fmt: skip
    finally:
        engine.dispose()


def _feed_alert(url: str, now, feed: str) -> str | None:  # noqa: ANN001
    """Run the alert evaluation at ``now``; the feed-stale alert's state for ``feed``."""
    from data.models.alerts import Alert
    from jobs import alerts as evaluation
    from tests.support.apps import runtime_for

    runtime = runtime_for(settings_for(url, now=now))
    try:
        assert evaluation.evaluation_job(runtime).ran
        with runtime.factory() as s:
            return s.scalar(
                select(Alert.state).where(
                    Alert.rule_id == "feed-stale", Alert.scope_id == feed
                )
            )
    finally:
        runtime.engine.dispose()


def test_feeds002_a_stopped_feed_alerts_and_shows_stale_then_recovers(
    dash_duo, seeded_sqlite_url: str, monkeypatch
) -> None:
    from tests.feeds.fhir_support import issue, location, put
    from tests.support.clock import MovableClock

    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", KEY.decode())
    url = seeded_sqlite_url
    clock = MovableClock(FROZEN_NOW + timedelta(minutes=5))
    _fhir_and_csv(url, clock)
    # The FHIR client stops: 35 minutes without a request (it is expected within 30).
    clock.advance(minutes=35)
    assert _feed_alert(url, clock(), "fhir:pas") == "firing"
    create_user(url, "bob.beds", "bed_manager", display_name="Bob")
    app = create_app(settings_for(url, clock=clock, auth_required=True, poll_seconds=2),
                     prepare=False)  # fmt: skip
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "bob.beds", next_path="/feeds")
    fhir_row = "#feeds-table [data-feed='fhir:pas']"
    dash_duo.wait_for_contains_text("#feeds-table", "Silent", timeout=30)
    row = dash_duo.find_element(fhir_row).text
    assert "FHIR R4 client" in row
    assert "STALE\n2 requests accepted · 1 refused" in row
    csv_row = dash_duo.find_element("#feeds-table [data-feed='csv:edis']").text
    assert (
        "1 file (1 events) accepted · 1 refused" in csv_row and "STALE" not in csv_row
    )
    dash_duo.wait_for_contains_text("#alert-banner", "Feed silent")

    # The client sends again: the next poll shows the feed fresh, by itself.
    engine = create_db_engine(url)
    try:
        _, token = issue(make_session_factory(engine), "fhir:pas")
    finally:
        engine.dispose()
    client = app.server.test_client()
    r = put(client, "Location/w1", location("w1", "PAS-w1", "wa", "Ward w1"), token)
    assert r.status_code == 200, r.get_json()
    dash_duo.wait_for_contains_text(
        "#feeds-table", "3 requests accepted · 1 refused", timeout=30
    )
    row = dash_duo.find_element(fhir_row).text
    assert "Silent" not in row and "STALE" not in row
    # The alert clears after its recovery time (2 minutes).
    clock.advance(minutes=1)
    assert _feed_alert(url, clock(), "fhir:pas") == "recovering"
    clock.advance(minutes=3)
    assert _feed_alert(url, clock(), "fhir:pas") not in ("firing", "recovering")
    assert dash_duo.get_logs() == []
