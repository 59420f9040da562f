"""Wall display in a real browser: fits 1080p and 4K, survives a database outage and
an app restart by itself, opens with a display token and nothing else."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
import requests
from dash.testing import wait

from app import create_app
from components import wall
from data.db import write_session
from data.queries import display as reads
from data.writes import display as writes
from ops import display
from tests.support.apps import runtime_for, settings_for, start_app
from tests.support.pg import free_port

PANEL_IDS = [wall.IDS.panel(k) for k in
             ("opel_alerts", "bed_heatmap", "ed_board", "theatre_board", "protocols")]  # fmt: skip
AVAILABLE = f"#{wall.IDS.figure('beds_available')}-value"

FITS_JS = """
var d = document.documentElement, out = [];
if (d.scrollHeight > innerHeight) out.push('page scrolls vertically ' + d.scrollHeight);
if (d.scrollWidth > innerWidth) out.push('page scrolls horizontally ' + d.scrollWidth);
document.querySelectorAll('.wall-panel-body, .wall-panel-body > *, .wall-header, .wall-figures')
  .forEach(function (e) {
    if (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1)
      out.push('cut off: ' + (e.id || e.className) + ' ' + e.scrollWidth + 'x' +
               e.scrollHeight + ' in ' + e.clientWidth + 'x' + e.clientHeight);
  });
return out;
"""


def _fast_profile(
    url: str, slug: str = "fast", poll: int = 2, **changes: object
) -> None:
    """A copy of the trust overview polling every ``poll`` seconds."""
    runtime = runtime_for(settings_for(url))
    raw = {"slug": slug, "name": "Fast wall", "scope": "trust", "panels": list(display.PANELS),
           "mode": "grid", "rotate_seconds": 20, "poll_seconds": poll, "resolution": "1080p",
           **changes}  # fmt: skip
    with write_session(runtime.factory) as s:
        spec = display.validate_profile(raw, reads.site_codes(s))
        writes.save_profile(s, spec, actor_username="test", actor_role="admin",
                           now=runtime.now())  # fmt: skip
    runtime.engine.dispose()


def _stale_visible(dash_duo) -> bool:  # noqa: ANN001
    cls = dash_duo.find_element(f"#{wall.IDS.stale}").get_attribute("class")
    return "wall-hidden" not in cls


def test_wal001_wall_fits_1080p_and_4k_without_scrolling_or_cutting(
    dash_duo, seeded_sqlite_url
):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app, navigate=False)
    for width, height in ((1920, 1080), (3840, 2160)):
        dash_duo.driver.set_window_size(width, height)
        dash_duo.driver.get(f"{dash_duo.server.url}/wall?display=trust-overview")
        dash_duo.wait_for_contains_text(f"#{wall.IDS.title}", "Trust overview")
        for panel_id in PANEL_IDS:
            dash_duo.wait_for_element(f"#{panel_id}")
        dash_duo.wait_for_element(f"#{wall.IDS.heatmap} .main-svg")
        dash_duo.wait_for_contains_text(f"#{wall.IDS.opel}", "OPEL")
        wait.until(
            lambda: dash_duo.find_element(f"#{wall.IDS.clock}").text != "--:--", 5
        )
        time.sleep(1.5)  # fonts and the heatmap's resize settle
        assert dash_duo.driver.execute_script(FITS_JS) == [], (width, height)
        # no scrollbars, cursor hidden, no navbar on the wall
        root = dash_duo.find_element(f"#{wall.IDS.body}")
        assert root.value_of_css_property("cursor") == "none"
        assert dash_duo.driver.find_elements("css selector", ".navbar") == []
        # the key figure is big: at least 4 % of the screen height
        value = dash_duo.find_element(AVAILABLE)
        assert float(value.value_of_css_property("font-size").rstrip("px")) >= 0.04 * (
            dash_duo.driver.execute_script("return innerHeight")
        )
    # rotation: one panel visible at a time, full size
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.driver.get(f"{dash_duo.server.url}/wall?display=rgh-beds")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.title}", "Riverside beds")
    dash_duo.wait_for_element(f"#{wall.IDS.panel('bed_heatmap')}")
    visible = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.wall-panel'))"
        ".filter(e => getComputedStyle(e).visibility === 'visible').map(e => e.id)"
    )
    assert visible == [wall.IDS.panel("bed_heatmap")]
    assert dash_duo.driver.execute_script(FITS_JS) == []
    assert dash_duo.get_logs() == []


@pytest.fixture
def outage_db(pg_server, seeded_pg_template):  # noqa: ANN001, ANN201
    name = f"wall_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name, template=seeded_pg_template)
    yield pg_server, name, url
    pg_server.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_wal002_database_outage_shows_stale_then_recovers_by_itself(
    dash_duo, outage_db
):
    server, name, url = outage_db
    _fast_profile(url)
    app = create_app(settings_for(url), prepare=False)
    start_app(dash_duo, app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/wall?display=fast")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.asof}", "Data as of")
    before = dash_duo.find_element(AVAILABLE).text
    assert before.isdigit()
    dash_duo.driver.execute_script("window.__wallPage = 'same page';")
    assert not _stale_visible(dash_duo)

    # The database goes away: nobody may connect, existing connections are cut.
    server.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    server.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    started = time.monotonic()
    wait.until(lambda: _stale_visible(dash_duo), timeout=2 * 2 + 3)  # two polls + slack
    assert time.monotonic() - started <= 7
    dash_duo.wait_for_contains_text(f"#{wall.IDS.stale}", "STALE")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.stale}", "database cannot be reached")
    # the last known figures stay on screen, with their age
    assert dash_duo.find_element(AVAILABLE).text == before
    dash_duo.wait_for_contains_text(f"#{wall.IDS.stale}", " s ago")
    # failed polls back off: the interval grows
    wait.until(
        lambda: (
            dash_duo.driver.execute_script(
                "return document.getElementById('wall-stale').textContent"
            ).find("retrying every 2 s")
            < 0
        ),
        timeout=10,
    )

    # The database returns, with a change made meanwhile: live values come back.
    server.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    with psycopg.connect(server.admin_dsn.replace("dbname=postgres", f"dbname={name}"),
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(
            "UPDATE bed SET state = 'available' WHERE id = "
            "(SELECT id FROM bed WHERE state = 'occupied' ORDER BY id LIMIT 1)"
        )
    dash_duo.wait_for_text_to_equal(AVAILABLE, str(int(before) + 1), timeout=30)
    wait.until(lambda: not _stale_visible(dash_duo), timeout=5)
    # ... on the same page: nobody reloaded it
    assert dash_duo.driver.execute_script("return window.__wallPage") == "same page"
    assert dash_duo.get_logs() == []


def test_wal003_app_restart_with_a_new_version_reloads_the_page(
    dash_duo, seeded_sqlite_url, monkeypatch
):
    import app as app_module

    _fast_profile(seeded_sqlite_url)
    port = free_port()
    dash_duo.start_server(create_app(settings_for(seeded_sqlite_url), prepare=False),
                          navigate=False, port=port)  # fmt: skip
    dash_duo.driver.get(f"{dash_duo.server.url}/wall?display=fast")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.asof}", "Data as of")
    dash_duo.driver.execute_script("window.__wallPage = 'old page';")

    dash_duo.server.stop()
    # the server is away: the page says its figures are stale
    wait.until(lambda: _stale_visible(dash_duo), timeout=15)
    dash_duo.wait_for_contains_text(f"#{wall.IDS.stale}", "No answer from the server")

    monkeypatch.setattr(app_module, "__version__", "99.0.0-test")
    dash_duo.server(
        create_app(settings_for(seeded_sqlite_url), prepare=False), port=port
    )
    # the page notices the new version and reloads itself
    wait.until(
        lambda: dash_duo.driver.execute_script("return window.__wallPage") is None,
        timeout=40,
    )
    dash_duo.wait_for_contains_text(f"#{wall.IDS.asof}", "Data as of")
    wait.until(lambda: not _stale_visible(dash_duo), timeout=10)
    # While the server was away the browser logged the failed requests; nothing else.
    for entry in dash_duo.get_logs():
        message = entry["message"]
        assert any(s in message for s in ("Callback failed", "ERR_CONNECTION_REFUSED",
                                          "Failed to load resource")), message  # fmt: skip
    dash_duo.reset_log_timestamp()
    time.sleep(5)  # a few polls on the new server
    assert dash_duo.get_logs() == []


def test_wal004_display_token_opens_the_wall_only_and_revocation_stops_it(
    dash_duo, seeded_sqlite_url
):
    _fast_profile(seeded_sqlite_url)
    runtime = runtime_for(settings_for(seeded_sqlite_url))
    with write_session(runtime.factory) as s:
        token, info = writes.issue_token(s, "fast", created_by="ada", created_by_role="admin",
                                        now=runtime.now(), label="test TV")  # fmt: skip
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    base = dash_duo.server.url

    # Without a token: the sign-in page.
    dash_duo.driver.get(f"{base}/wall?display=fast")
    wait.until(lambda: "/login" in dash_duo.driver.current_url, timeout=5)

    # With the token: the wall, no sign-in; the ?display= of the URL is ignored.
    dash_duo.driver.get(f"{base}/wall?token={token}&display=trust-overview")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.title}", "Fast wall")
    dash_duo.wait_for_element(AVAILABLE)
    assert "/login" not in dash_duo.driver.current_url
    with runtime.factory() as s:
        assert reads.check_access(s, info.id).last_used_at is not None

    # The display's cookie opens nothing else: other pages, APIs, other callbacks.
    http = requests.Session()
    for cookie in dash_duo.driver.get_cookies():
        http.cookies.set(cookie["name"], cookie["value"])
    assert http.get(f"{base}/beds", allow_redirects=False).status_code == 403
    assert http.get(f"{base}/api/v1/beds").status_code == 403
    other = {"output": "..overview-freshness.children...overview-body.children..",
             "outputs": [], "inputs": [], "changedPropIds": []}  # fmt: skip
    assert http.post(f"{base}/_dash-update-component", json=other).status_code == 403
    router = next(k for k in app.callback_map if "shell-page.children" in k)
    ed_page = {"output": router, "outputs": [],
               "inputs": [{"id": "shell-url", "property": "pathname", "value": "/ed"}]}  # fmt: skip
    assert http.post(f"{base}/_dash-update-component", json=ed_page).status_code == 403
    admin = next(k for k in app.callback_map if "wall-admin-message" in k)
    assert http.post(f"{base}/_dash-update-component",
                     json={"output": admin, "inputs": []}).status_code == 403  # fmt: skip

    assert dash_duo.get_logs() == []

    # Revoked: the screen is refused at its next poll and marks its figures STALE...
    with write_session(runtime.factory) as s:
        writes.revoke_token(s, info.id, revoked_by="ada", revoked_by_role="admin",
                           now=runtime.now())  # fmt: skip
    wait.until(lambda: _stale_visible(dash_duo), timeout=10)
    # ... and the link no longer opens the wall.
    dash_duo.driver.get(f"{base}/wall?token={token}")
    dash_duo.wait_for_contains_text("h1", "not valid")
    assert http.post(f"{base}/_dash-update-component",
                     json={"output": next(iter(app.server.config[
                         "command_centre.display_outputs"].get())), "inputs": []},
                     ).status_code == 403  # fmt: skip
    # the browser logged the refused polls (403, then 401 once the marker is dropped,
    # and the renderer's report of the failed callback) and the refused page only
    logs = dash_duo.get_logs()
    assert any("403" in e["message"] for e in logs)
    for entry in logs:
        assert any(s in entry["message"] for s in ("403", "401", "dash_renderer")), (
            entry
        )
    runtime.engine.dispose()
