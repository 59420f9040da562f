"""Overview page in a real browser: figures equal a recount, STALE when data stops."""

from __future__ import annotations

from datetime import timedelta

from dash.testing import wait
from sqlalchemy import text

from app import create_app
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app


def _recount(url: str, site_code: str) -> dict[str, int]:
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        beds = dict(
            conn.execute(
                text(
                    "SELECT b.state, count(*) FROM bed b JOIN ward w ON w.id = b.ward_id "
                    "JOIN site s ON s.id = w.site_id WHERE s.code = :c GROUP BY b.state"
                ),
                {"c": site_code},
            ).all()
        )
        in_ed = conn.execute(
            text(
                "SELECT count(*) FROM ed_attendance a JOIN site s ON s.id = a.site_id "
                "WHERE s.code = :c AND a.departure_at IS NULL"
            ),
            {"c": site_code},
        ).scalar()
    runtime.engine.dispose()
    return {"available": beds.get("available", 0), "occupied": beds.get("occupied", 0), "ed": in_ed}


def test_ovr001_overview_shows_live_counts_per_site(dash_duo, seeded_sqlite_url):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    expected = _recount(seeded_sqlite_url, "RGH")
    dash_duo.wait_for_text_to_equal("#overview-rgh-available-value", str(expected["available"]))
    dash_duo.wait_for_text_to_equal("#overview-rgh-occupied-value", str(expected["occupied"]))
    dash_duo.wait_for_text_to_equal("#overview-rgh-ed-in-value", str(expected["ed"]))
    dash_duo.wait_for_contains_text("#overview-freshness", "as of")
    # The Beds tile is a link to the beds page filtered to the site.
    dash_duo.find_element("#overview-rgh-available-value").click()
    wait.until(lambda: "/beds" in dash_duo.driver.current_url, timeout=5)
    assert "site=RGH" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []


def test_ovr002_overview_marks_figures_stale_when_data_stops(dash_duo, seeded_sqlite_url):
    late = FROZEN_NOW + timedelta(hours=2)
    app = create_app(settings_for(seeded_sqlite_url, now=late), prepare=False)
    start_app(dash_duo, app)
    dash_duo.wait_for_contains_text("#overview-freshness", "Stale")
    dash_duo.wait_for_contains_text("#overview-rgh-available-status", "Stale")
    assert dash_duo.get_logs() == []
