"""A real trust with no demo (COMMAND_CENTRE_DEMO=0): an empty database, then an
organisation loaded and no feed reported yet. Every page says what is missing and how
to get it; no figure reads 0."""

from __future__ import annotations

import re

from dash.testing import wait

from app import create_app
from jobs.worker import JOBS
from tests.support.apps import settings_for, start_app
from tests.support.organisation import load_organisation_into

PAGES = ("/", "/beds", "/ed", "/theatres", "/alerts", "/surge", "/wall", "/admin")
# Pages whose figures all come from one domain: a notice until its feed reports.
DOMAIN_PAGES = {"/beds": "inpatient beds", "/ed": "emergency department",
                "/theatres": "theatres"}  # fmt: skip
# The wall's panels of one domain each.
WALL_PANELS = {"bed-heatmap": "inpatient beds", "ed-board": "emergency department",
               "theatre-board": "theatres"}  # fmt: skip
ZERO = re.compile(r"^\s*0+([.,]0+)?\s*%?\s*$")
ZERO_PCT = re.compile(r"(?<![\d.,])0+([.,]0+)?\s*%")  # "0%", "0.0 %"; not "10 %"


def _visit(dash_duo, path: str) -> None:  # noqa: ANN001
    dash_duo.driver.get(dash_duo.server.url + path)


def _body(dash_duo) -> str:  # noqa: ANN001
    return dash_duo.find_element("body").text


def _tile_values(dash_duo) -> list[str]:  # noqa: ANN001
    return [e.text for e in dash_duo.find_elements(".kpi-tile .kpi-value")]


def test_nod001_empty_database_every_page_says_no_organisation(dash_duo, tmp_path):  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app(settings_for(url, demo=False))  # prepare: migrations, no seed
    start_app(dash_duo, app, navigate=False)
    for path in PAGES:
        _visit(dash_duo, path)
        dash_duo.wait_for_contains_text("#shell-notice", "no organisation is loaded")
        text = _body(dash_duo)
        assert "flask --app app organisation load FILE" in text, path
        assert "docs/organisation.md" in text, path
        for word in ("Traceback", "Error", "could not be read"):
            assert word not in text, (path, word)
        assert not any(ZERO.match(v) for v in _tile_values(dash_duo)), path
    assert dash_duo.get_logs() == []


def test_nod002_organisation_without_events_says_no_data_yet(dash_duo, tmp_path):  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'org.db'}"
    load_organisation_into(url)
    app = create_app(settings_for(url, demo=False))
    for _name, job in JOBS:  # the worker's evaluators ran once: alerts, OPEL
        job(app.server.extensions["command_centre"])
    start_app(dash_duo, app, navigate=False)
    for path in PAGES:
        _visit(dash_duo, path)
        if path in DOMAIN_PAGES:
            dash_duo.wait_for_contains_text("#shell-notice", "no data yet")
            assert f"No {DOMAIN_PAGES[path]} feed has reported yet" in _body(dash_duo)
        elif path == "/wall":
            for panel, label in WALL_PANELS.items():
                dash_duo.wait_for_contains_text(
                    f"#wall-panel-{panel}", f"No data yet: no {label} feed has reported"
                )
        elif path == "/":
            wait.until(lambda: len(_tile_values(dash_duo)) > 0, timeout=10)
            wait.until(lambda: "no data yet" in _body(dash_duo), timeout=10)
            values = _tile_values(dash_duo)
            assert set(values) == {"—"}, (path, values)  # every figure missing
        elif path == "/alerts":
            wait.until(lambda: "No data" in _body(dash_duo), timeout=10)
        else:
            heading = {"/surge": "Declare protocol", "/admin": "Audit trail"}[path]
            wait.until(lambda h=heading: h in _body(dash_duo), timeout=10)
        text = _body(dash_duo)
        assert "no organisation is loaded" not in text, path
        for word in ("Traceback", "could not be read", "Feed error"):
            assert word not in text, (path, word)
        assert not any(ZERO.match(v) for v in _tile_values(dash_duo)), path
        assert not ZERO_PCT.search(text), (path, ZERO_PCT.search(text))
    assert dash_duo.get_logs() == []


def test_nod003_page_fills_in_once_its_feed_reports(dash_duo, tmp_path):  # noqa: ANN001
    from data.db import write_session
    from data.writes import touch_feed
    from tests.support.apps import FROZEN_NOW

    url = f"sqlite:///{tmp_path / 'org.db'}"
    load_organisation_into(url)
    app = create_app(settings_for(url, demo=False, poll_seconds=1))
    runtime = app.server.extensions["command_centre"]
    start_app(dash_duo, app, navigate=False)
    _visit(dash_duo, "/beds")
    dash_duo.wait_for_contains_text("#shell-notice", "no data yet")
    _visit(dash_duo, "/ed")
    dash_duo.wait_for_contains_text("#shell-notice", "no data yet")
    with write_session(runtime.factory) as s:
        touch_feed(s, "hl7-adt:ed", FROZEN_NOW)
    # The notice re-checks and the ED page replaces it, without a reload.
    dash_duo.wait_for_element("#ed-body", timeout=10)
    assert not dash_duo.find_elements("#shell-notice")
    _visit(dash_duo, "/beds")  # another domain: still no data yet
    dash_duo.wait_for_contains_text("#shell-notice", "No inpatient beds feed")
    assert dash_duo.get_logs() == []
