"""ED page in a real browser: figures equal a recount, filters redraw, STALE shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dash.testing import wait
from sqlalchemy import text

from app import create_app
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app

LONDON = ZoneInfo("Europe/London")


def _ts(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _recount(url: str, site_code: str) -> dict[str, object]:
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.arrival_at, a.departure_at, a.seen_at FROM ed_attendance a "
                "JOIN site s ON s.id = a.site_id WHERE s.code = :c"
            ),
            {"c": site_code},
        ).all()
    runtime.engine.dispose()
    atts = [(_ts(a), _ts(d), _ts(s)) for a, d, s in rows]
    now = FROZEN_NOW
    inside = [a for a in atts if a[0] <= now and a[1] is None]
    midnight = datetime(2026, 11, 23, tzinfo=LONDON).astimezone(UTC)
    departed = [a for a in atts if a[1] is not None and midnight < a[1] <= now]
    within = [a for a in departed if a[1] - a[0] <= timedelta(hours=4)]
    return {
        "in": len(inside),
        "waiting": sum(a[2] is None for a in inside),
        "four_hour": f"{100 * len(within) / len(departed):.1f}",
        "arrivals_today": sum(1 for a in atts if midnight <= a[0] <= now),
    }


def test_ed001_ed_page_shows_recounted_figures_and_filters_redraw(
    dash_duo, seeded_sqlite_url
):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    expected = _recount(seeded_sqlite_url, "RGH")
    dash_duo.driver.get(f"{dash_duo.server_url}/ed?site=RGH")
    dash_duo.wait_for_text_to_equal("#ed-tile-in-department-value", str(expected["in"]))
    dash_duo.wait_for_text_to_equal("#ed-tile-waiting-value", str(expected["waiting"]))
    dash_duo.wait_for_text_to_equal("#ed-tile-four-hour-value", expected["four_hour"])
    dash_duo.wait_for_contains_text("#ed-freshness", "as of 10:30")
    dash_duo.wait_for_contains_text(
        "#ed-arrivals-note", f"{expected['arrivals_today']} arrivals so far today"
    )
    dash_duo.wait_for_contains_text("#ed-areas", "Majors")
    dash_duo.wait_for_contains_text("#ed-heatmap-note", "last 8 weeks")
    # Changing the heatmap history writes the URL and redraws the heatmap.
    label = dash_duo.driver.find_element(
        "xpath", "//*[@id='ed-weeks']//label[normalize-space()='4 weeks']"
    )
    label.click()
    wait.until(lambda: "weeks=4" in dash_duo.driver.current_url, timeout=10)
    assert "site=RGH" in dash_duo.driver.current_url
    dash_duo.wait_for_contains_text("#ed-heatmap-note", "last 4 weeks", timeout=20)
    assert dash_duo.find_element("#ed-heatmap .heatmaplayer") is not None
    assert dash_duo.get_logs() == []


def test_ed002_ed_page_marks_figures_stale_when_data_stops(dash_duo, seeded_sqlite_url):
    late = FROZEN_NOW + timedelta(hours=2)
    app = create_app(settings_for(seeded_sqlite_url, now=late), prepare=False)
    start_app(dash_duo, app)
    dash_duo.driver.get(f"{dash_duo.server_url}/ed")
    dash_duo.wait_for_contains_text("#ed-freshness", "Stale")
    dash_duo.wait_for_contains_text("#ed-tile-in-department-status", "Stale")
    dash_duo.wait_for_contains_text("#ed-areas", "RGH")  # all sites: a site column
    assert dash_duo.get_logs() == []
