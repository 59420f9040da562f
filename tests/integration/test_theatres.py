"""Theatres page in a real browser: figures equal a recount, filters redraw, STALE shows."""

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


def _recount(url: str, site_code: str) -> dict[str, int]:
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.out_of_theatre_at, c.status, c.anaesthetic_at FROM theatre_case c "
                "JOIN theatre_session ts ON ts.id = c.session_id "
                "JOIN theatre t ON t.id = ts.theatre_id JOIN site s ON s.id = t.site_id "
                "WHERE s.code = :c"
            ),
            {"c": site_code},
        ).all()
        theatres = conn.execute(
            text(
                "SELECT count(*) FROM theatre t JOIN site s ON s.id = t.site_id WHERE s.code = :c"
            ),
            {"c": site_code},
        ).scalar()
    runtime.engine.dispose()
    midnight = datetime(2026, 11, 23, tzinfo=LONDON).astimezone(UTC)
    outs = [_ts(r[0]) for r in rows if r[0] is not None]
    return {
        "done": sum(1 for o in outs if midnight <= o <= FROZEN_NOW),
        "in_theatre": sum(
            1 for r in rows if r[1] in ("anaesthetic_room", "in_theatre")
        ),
        "theatres": int(theatres),
    }


def test_th001_theatres_page_shows_recounted_figures_and_filters_redraw(
    dash_duo, seeded_sqlite_url
):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    expected = _recount(seeded_sqlite_url, "RGH")
    dash_duo.driver.get(f"{dash_duo.server_url}/theatres?site=RGH")
    dash_duo.wait_for_text_to_equal("#theatres-tile-done-value", str(expected["done"]))
    dash_duo.wait_for_contains_text(
        "#theatres-tile-in-use", f"of {expected['theatres']} theatres"
    )
    dash_duo.wait_for_contains_text("#theatres-freshness", "as of 10:30")
    dash_duo.wait_for_contains_text("#theatres-board-rgh-t1", "Main Theatre 1")
    dash_duo.wait_for_contains_text("#theatres-heatmap-note", "10 Nov – 23 Nov 2026")
    dash_duo.wait_for_contains_text("#theatres-lost-summary", "Today:")
    # Changing the utilisation history writes the URL and redraws the heatmap.
    dash_duo.driver.find_element(
        "xpath", "//*[@id='theatres-days']//label[normalize-space()='28 days']"
    ).click()
    wait.until(lambda: "days=28" in dash_duo.driver.current_url, timeout=10)
    assert "site=RGH" in dash_duo.driver.current_url
    dash_duo.wait_for_contains_text(
        "#theatres-heatmap-note", "27 Oct – 23 Nov 2026", timeout=20
    )
    dash_duo.driver.find_element(
        "xpath", "//*[@id='theatres-period']//label[normalize-space()='Last 7 days']"
    ).click()
    dash_duo.wait_for_contains_text(
        "#theatres-lost-summary", "Last 7 days:", timeout=20
    )
    assert "period=7d" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []


def test_th002_theatres_page_marks_figures_stale_when_data_stops(
    dash_duo, seeded_sqlite_url
):
    late = FROZEN_NOW + timedelta(hours=2)
    app = create_app(settings_for(seeded_sqlite_url, now=late), prepare=False)
    start_app(dash_duo, app)
    dash_duo.driver.get(f"{dash_duo.server_url}/theatres")
    dash_duo.wait_for_contains_text("#theatres-freshness", "Stale")
    dash_duo.wait_for_contains_text("#theatres-tile-done-status", "Stale")
    dash_duo.wait_for_contains_text("#theatres-board-ddh-t1", "DDH")
    assert dash_duo.get_logs() == []
