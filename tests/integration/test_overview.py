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
    return {
        "available": beds.get("available", 0),
        "occupied": beds.get("occupied", 0),
        "ed": in_ed,
    }


def test_ovr001_overview_shows_live_counts_per_site(dash_duo, seeded_sqlite_url):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    expected = _recount(seeded_sqlite_url, "RGH")
    dash_duo.wait_for_text_to_equal(
        "#overview-rgh-available-value", str(expected["available"])
    )
    dash_duo.wait_for_text_to_equal(
        "#overview-rgh-occupied-value", str(expected["occupied"])
    )
    dash_duo.wait_for_text_to_equal("#overview-rgh-ed-in-value", str(expected["ed"]))
    dash_duo.wait_for_contains_text("#overview-freshness", "as of")
    # The Beds tile is a link to the beds page filtered to the site.
    dash_duo.find_element("#overview-rgh-available-value").click()
    wait.until(lambda: "/beds" in dash_duo.driver.current_url, timeout=5)
    assert "site=RGH" in dash_duo.driver.current_url
    assert dash_duo.get_logs() == []


def test_ovr002_overview_marks_figures_stale_when_data_stops(
    dash_duo, seeded_sqlite_url
):
    late = FROZEN_NOW + timedelta(hours=2)
    app = create_app(settings_for(seeded_sqlite_url, now=late), prepare=False)
    start_app(dash_duo, app)
    dash_duo.wait_for_contains_text("#overview-freshness", "Stale")
    dash_duo.wait_for_contains_text("#overview-rgh-available-status", "Stale")
    assert dash_duo.get_logs() == []


def _full_recount(url: str) -> dict:
    """Trust and RGH figures recounted from raw rows (independent of the app's queries)."""
    from datetime import datetime

    from ops.timeutil import local_midnight_utc

    midnight = local_midnight_utc(FROZEN_NOW, "Europe/London").replace(tzinfo=None)
    now = FROZEN_NOW.replace(tzinfo=None)
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        beds = conn.execute(
            text(
                "SELECT s.code, w.ward_type, b.state FROM bed b "
                "JOIN ward w ON w.id = b.ward_id JOIN site s ON s.id = w.site_id"
            )
        ).all()
        departures = conn.execute(
            text(
                "SELECT s.code, a.arrival_at, a.departure_at FROM ed_attendance a "
                "JOIN site s ON s.id = a.site_id WHERE a.departure_at IS NOT NULL"
            )
        ).all()
        cancelled = conn.execute(
            text(
                "SELECT s.code, c.cancelled_at FROM theatre_case c "
                "JOIN theatre_session ts ON ts.id = c.session_id "
                "JOIN theatre t ON t.id = ts.theatre_id JOIN site s ON s.id = t.site_id "
                "WHERE c.cancelled_at IS NOT NULL"
            )
        ).all()
    runtime.engine.dispose()

    def ts(value) -> datetime:  # noqa: ANN001
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    out: dict = {}
    for scope in ("trust", "RGH"):
        mine = [b for b in beds if scope == "trust" or b[0] == scope]
        ga = [b for b in mine if b[1] in ("general_acute", "assessment", "escalation")]
        ga_open = sum(
            1 for b in ga if b[2] in ("occupied", "available", "awaiting_clean")
        )
        ga_occ = sum(1 for b in ga if b[2] == "occupied")
        deps = [
            (ts(a), ts(d))
            for c, a, d in departures
            if (scope == "trust" or c == scope)
            and midnight < ts(d).replace(tzinfo=None) <= now
        ]
        within = sum(1 for a, d in deps if (d - a).total_seconds() <= 4 * 3600)
        out[scope] = {
            "available": sum(1 for b in mine if b[2] == "available"),
            "blocked-closed": f"{sum(1 for b in mine if b[2] == 'blocked')} / "
            f"{sum(1 for b in mine if b[2] == 'closed')}",
            "occupancy": 100.0 * ga_occ / ga_open,
            "ed-4h": 100.0 * within / len(deps) if deps else None,
            "theatres-cancelled": sum(
                1
                for c, at in cancelled
                if (scope == "trust" or c == scope)
                and midnight < ts(at).replace(tzinfo=None) <= now
            ),
        }
    return out


def _rule_state_text(url: str, scope_kind: str, scope_id: str | None = None) -> str:
    """The occupancy tile's word recounted from the stored alert rows on G&A occupancy
    at the scope (the critical badge is upper-cased by CSS): firing takes the rule's
    severity, pending is a warning, otherwise OK."""
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT severity, state FROM alert WHERE metric = 'ga_occupancy_pct' "
                "AND scope_kind = :k AND (:i IS NULL OR scope_id = :i)"
            ),
            {"k": scope_kind, "i": scope_id},
        ).all()
    runtime.engine.dispose()
    states = {(sev if state == "firing" else "warning") for sev, state in rows
              if state in ("firing", "pending") and sev != "info"}  # fmt: skip
    return "CRITICAL" if "critical" in states else "Warning" if states else "OK"


def test_ovr003_trust_row_and_site_sections_equal_a_recount(
    dash_duo, seeded_sqlite_url
):
    from jobs import alerts as evaluation

    # One evaluation pass, as the app's alert job runs: tile statuses are the rules'.
    runtime = runtime_for(settings_for(seeded_sqlite_url))
    assert evaluation.evaluation_job(runtime).ran
    runtime.engine.dispose()
    expected = _full_recount(seeded_sqlite_url)
    words = {
        "trust": _rule_state_text(seeded_sqlite_url, "trust"),
        "RGH": _rule_state_text(seeded_sqlite_url, "site", "RGH"),
    }
    # The seeded RGH is above the rule's 92 % warning level: the tile is not OK.
    assert words["RGH"] != "OK"
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    for scope, prefix in (("trust", "#overview-trust"), ("RGH", "#overview-rgh")):
        e = expected[scope]
        dash_duo.wait_for_text_to_equal(
            f"{prefix}-available-value", str(e["available"])
        )
        dash_duo.wait_for_text_to_equal(
            f"{prefix}-blocked-closed-value", e["blocked-closed"]
        )
        dash_duo.wait_for_text_to_equal(
            f"{prefix}-theatres-cancelled-value", str(e["theatres-cancelled"])
        )
        occupancy = round(e["occupancy"], 1)
        dash_duo.wait_for_text_to_equal(
            f"{prefix}-occupancy-value",
            f"{occupancy:.1f}" if not occupancy.is_integer() else str(int(occupancy)),
        )
        # The occupancy status is shown in words (with an icon), not by colour alone.
        dash_duo.wait_for_contains_text(f"{prefix}-occupancy-status", words[scope])
        assert dash_duo.find_element(f"{prefix}-occupancy-status .bi") is not None
        four = e["ed-4h"]
        dash_duo.wait_for_text_to_equal(
            f"{prefix}-ed-4h-value", "—" if four is None else f"{round(four, 1):.1f}"
        )
    # Every section's tiles link to the page filtered to the site.
    link = dash_duo.find_element("#overview-rgh-theatres-running-value")
    assert (
        link.find_element("xpath", "ancestor::a")
        .get_attribute("href")
        .endswith("/theatres?site=RGH")
    )
    trust_link = dash_duo.find_element("#overview-trust-ed-in-value")
    assert (
        trust_link.find_element("xpath", "ancestor::a")
        .get_attribute("href")
        .endswith("/ed")
    )
    assert dash_duo.get_logs() == []


def test_ovr004_a_write_reaches_a_polling_overview_as_a_small_patch(
    dash_duo, seeded_sqlite_url
):
    from sqlalchemy import select, update

    from callbacks import delta
    from data.db import write_session
    from data.models.capacity import Bed, Site, Ward
    from data.writes import touch_feed

    url = seeded_sqlite_url
    app = create_app(settings_for(url, poll_seconds=2), prepare=False)
    start_app(dash_duo, app)
    before = _recount(url, "RGH")["available"]
    dash_duo.wait_for_text_to_equal("#overview-rgh-available-value", str(before))
    patches = delta.SENDER.patches
    runtime = runtime_for(settings_for(url))
    with write_session(runtime.factory) as s:
        bed_id = s.scalar(
            select(Bed.id).join(Ward, Ward.id == Bed.ward_id)
            .join(Site, Site.id == Ward.site_id)
            .where(Site.code == "RGH", Bed.state == "occupied").limit(1)
        )  # fmt: skip
        s.execute(
            update(Bed)
            .where(Bed.id == bed_id)
            .values(state="available", patient_ref=None)
        )
        touch_feed(s, "test", FROZEN_NOW)
    runtime.engine.dispose()
    # The next poll shows it, sent as a Patch of the changed figures only.
    dash_duo.wait_for_text_to_equal(
        "#overview-rgh-available-value", str(before + 1), timeout=10
    )
    assert delta.SENDER.patches > patches
    # The patched page is live: its tiles still link to their pages.
    dash_duo.find_element("#overview-rgh-available-value").click()
    wait.until(lambda: "/beds" in dash_duo.driver.current_url, timeout=5)
    assert dash_duo.get_logs() == []
