"""Every page judges its own staleness in the browser (assets/30-staleness.js): with
the server stopped no refresh arrives, and within two poll intervals every tile and
figure is marked STALE with the time of the last good refresh; when the server is
back (same address) the page recovers by itself, without a reload."""

from __future__ import annotations

import time

from dash.testing import wait

from app import create_app
from tests.support.apps import restart_app, settings_for, start_app_on_port

POLL_SECONDS = 2
# two poll intervals, the browser's grace, one tick and a little slack
STALE_WITHIN = 2 * POLL_SECONDS + 2 + 1 + 2

STALE_LABELS_JS = """
var sel = arguments[0], out = [];
document.querySelectorAll(sel).forEach(function (e) {
  out.push(getComputedStyle(e, '::after').content);
});
return out;
"""


def _is_stale(dash_duo) -> bool:  # noqa: ANN001
    return dash_duo.driver.execute_script(
        "return document.body.classList.contains('cc-stale')"
    )


def _labels(dash_duo, selector: str) -> list[str]:  # noqa: ANN001
    return dash_duo.driver.execute_script(STALE_LABELS_JS, selector)


def _ages(dash_duo) -> list[str]:  # noqa: ANN001
    return dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.cc-age'))"
        ".map(function (e) { return e.textContent; })"
    )


def _outage_and_recovery(dash_duo, app, port: int, figures: str) -> None:  # noqa: ANN001
    """Stop the server under the open page, check STALE everywhere, start it again."""
    dash_duo.driver.execute_script("window.__samePage = 'yes';")
    time.sleep(POLL_SECONDS + 1)  # a few good polls
    assert not _is_stale(dash_duo)
    assert all(label in ("none", "normal") for label in _labels(dash_duo, figures))
    ages_before = _ages(dash_duo)
    assert ages_before, "the page shows an 'as of' age"

    dash_duo.server.stop()
    started = time.monotonic()
    wait.until(lambda: _is_stale(dash_duo), timeout=STALE_WITHIN + 2)
    assert time.monotonic() - started <= STALE_WITHIN
    notice = dash_duo.find_element("#shell-stale")
    dash_duo.wait_for_contains_text("#shell-stale", "No answer from the server")
    # the last good refresh was at 10:30 on the trust's (frozen) clock
    assert "STALE" in notice.text and "last good refresh at 10:30" in notice.text
    labels = _labels(dash_duo, figures)
    assert labels and all("STALE · last good 10:30" in label for label in labels), (
        labels
    )
    # the OK badges of the tiles are hidden: they may no longer be true
    assert not dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#shell-page .kpi-tile "
        ".status-badge.status-ok')).some(function (e) { return e.offsetParent; })"
    )
    # the "as of" keeps ageing in the browser with no answer from the server
    time.sleep(2)
    assert _ages(dash_duo) != ages_before

    restart_app(dash_duo, app, port)
    wait.until(lambda: not _is_stale(dash_duo), timeout=3 * POLL_SECONDS + 5)
    assert "cc-hidden" in dash_duo.find_element("#shell-stale").get_attribute("class")
    assert all(label in ("none", "normal") for label in _labels(dash_duo, figures))
    assert dash_duo.driver.execute_script("return window.__samePage") == "yes"
    # While the server was away the browser logged the failed requests only.
    for entry in dash_duo.get_logs():
        message = entry["message"]
        assert any(s in message for s in ("Callback failed", "ERR_CONNECTION_REFUSED",
                                          "Failed to load resource")), message  # fmt: skip
    dash_duo.reset_log_timestamp()
    time.sleep(POLL_SECONDS * 2)
    assert not _is_stale(dash_duo)
    assert dash_duo.get_logs() == []


def test_stl001_overview_goes_stale_when_the_server_stops_and_recovers(
    dash_duo, seeded_sqlite_url
):
    settings = settings_for(seeded_sqlite_url, poll_seconds=POLL_SECONDS)
    app = create_app(settings, prepare=False)
    port = start_app_on_port(dash_duo, app)
    dash_duo.wait_for_contains_text("#overview-freshness", "as of")
    dash_duo.wait_for_element("#shell-page .kpi-tile")
    _outage_and_recovery(dash_duo, create_app(settings, prepare=False), port,
                         "#shell-page .kpi-tile")  # fmt: skip


def test_stl002_beds_goes_stale_when_the_server_stops_and_recovers(
    dash_duo, seeded_sqlite_url
):
    settings = settings_for(seeded_sqlite_url, poll_seconds=POLL_SECONDS)
    app = create_app(settings, prepare=False)
    port = start_app_on_port(dash_duo, app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/beds")
    dash_duo.wait_for_contains_text("#beds-freshness", "as of")
    dash_duo.wait_for_element("#shell-page .dash-graph")
    _outage_and_recovery(dash_duo, create_app(settings, prepare=False), port,
                         "#shell-page .kpi-tile, #shell-page .dash-graph")  # fmt: skip
