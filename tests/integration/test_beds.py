"""Beds page in a real browser: table equals a recount, filters redraw, drill-down, STALE."""

from __future__ import annotations

from datetime import timedelta

from dash.testing import wait
from sqlalchemy import text

from app import create_app
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app

Y_LABELS_JS = (
    "var g = document.querySelector('#beds-heatmap .js-plotly-plot');"
    "return g && g.data && g.data.length ? Array.from(g.data[0].y) : null;"
)


def _ward_recount(url: str, site: str, code: str) -> dict:
    runtime = runtime_for(settings_for(url))
    with runtime.engine.connect() as conn:
        ward_id = conn.execute(
            text(
                "SELECT w.id FROM ward w JOIN site s ON s.id = w.site_id "
                "WHERE s.code = :s AND w.code = :c"
            ),
            {"s": site, "c": code},
        ).scalar_one()
        states = dict(
            conn.execute(
                text(
                    "SELECT state, count(*) FROM bed WHERE ward_id = :w GROUP BY state"
                ),
                {"w": ward_id},
            ).all()
        )
        bed = conn.execute(
            text(
                "SELECT id, label, state FROM bed WHERE ward_id = :w ORDER BY label LIMIT 1"
            ),
            {"w": ward_id},
        ).one()
    runtime.engine.dispose()
    open_beds = sum(
        states.get(s, 0) for s in ("occupied", "available", "awaiting_clean")
    )
    return {
        "id": ward_id,
        "occupied": states.get("occupied", 0),
        "available": states.get("available", 0),
        "closed": states.get("closed", 0),
        "occupancy": f"{100.0 * states.get('occupied', 0) / open_beds:.1f}%"
        if open_beds
        else "—",
        "bed": bed,
    }


def _y_labels(dash_duo) -> list[str] | None:  # noqa: ANN001
    return dash_duo.driver.execute_script(Y_LABELS_JS)


def test_bed001_table_filters_heatmap_and_drilldown(dash_duo, seeded_sqlite_url):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    ward = _ward_recount(seeded_sqlite_url, "RGH", "CAR")
    dash_duo.driver.get(f"{dash_duo.server_url}/beds?site=RGH")

    # The ward table shows the recount for the ward.
    for column in ("occupied", "available", "closed", "occupancy"):
        dash_duo.wait_for_text_to_equal(
            f"#beds-ward-{ward['id']}-{column}", str(ward[column])
        )
    dash_duo.wait_for_contains_text("#beds-freshness", "as of")

    # The heatmap lists RGH wards only; switching the site redraws it with DDH wards.
    wait.until(lambda: (_y_labels(dash_duo) or [""])[0].startswith("RGH "), timeout=10)
    rgh = _y_labels(dash_duo)
    assert all(label.startswith("RGH ") for label in rgh)
    dash_duo.select_dcc_dropdown("#beds-site", value="Downs District Hospital (DDH)")
    wait.until(lambda: (_y_labels(dash_duo) or [""])[0].startswith("DDH "), timeout=10)
    assert all(label.startswith("DDH ") for label in _y_labels(dash_duo))
    assert "site=DDH" in dash_duo.driver.current_url
    dash_duo.wait_for_no_elements(f"#beds-row-{ward['id']}", timeout=10)

    # Drill-down: click a DDH ward in the redrawn table, see its bed grid.
    other = _ward_recount(seeded_sqlite_url, "DDH", "COE1")
    link = dash_duo.wait_for_element(f"#beds-ward-{other['id']}-link")
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", link
    )
    link.click()
    bed_id, label, state = other["bed"]
    dash_duo.wait_for_contains_text(f"#beds-bed-{bed_id}", label, timeout=10)
    words = {
        "occupied": "Occupied",
        "available": "Available",
        "awaiting_clean": "Awaiting clean",
        "blocked": "Blocked",
        "closed": "Closed",
    }
    dash_duo.wait_for_contains_text(f"#beds-bed-{bed_id}", words[state])
    dash_duo.wait_for_contains_text(f"#beds-bed-{bed_id}", "for ")
    assert f"site=DDH&ward={other['id']}" in dash_duo.driver.current_url

    # Browser Back returns to the RGH view: the site filter follows the address too,
    # not only the figures.
    dash_duo.driver.back()  # ?site=DDH, bed grid closed
    wait.until(lambda: "ward=" not in dash_duo.driver.current_url, timeout=10)
    dash_duo.wait_for_contains_text("#beds-site", "Downs District Hospital (DDH)")
    dash_duo.driver.back()  # ?site=RGH
    wait.until(lambda: dash_duo.driver.current_url.endswith("?site=RGH"), timeout=10)
    dash_duo.wait_for_contains_text("#beds-site", "Riverside General Hospital (RGH)")
    wait.until(lambda: (_y_labels(dash_duo) or [""])[0].startswith("RGH "), timeout=10)
    assert dash_duo.driver.current_url.endswith("?site=RGH")  # nothing rewrote it
    assert dash_duo.get_logs() == []


def test_bed002_beds_page_marks_figures_stale_when_data_stops(
    dash_duo, seeded_sqlite_url
):
    late = FROZEN_NOW + timedelta(hours=2)
    app = create_app(settings_for(seeded_sqlite_url, now=late), prepare=False)
    start_app(dash_duo, app)
    dash_duo.driver.get(f"{dash_duo.server_url}/beds?type=critical_care&range=7d")
    dash_duo.wait_for_contains_text("#beds-freshness", "Stale")
    dash_duo.wait_for_contains_text("#beds-heatmap-freshness", "Stale")
    dash_duo.wait_for_contains_text("#beds-table-freshness", "Stale")
    assert dash_duo.get_logs() == []


def test_bed003_banded_heatmap_legend_values_and_unknown_site(
    dash_duo, seeded_sqlite_url
):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app)
    dash_duo.driver.get(f"{dash_duo.server.url}/beds")
    dash_duo.wait_for_element("#beds-heatmap .main-svg")
    # the legend names the configured bands (OPEL G&A bands, alert thresholds)
    legend = dash_duo.find_element("#beds-heatmap-legend").text
    for band in ("< 85 %", "85–92 %", "92–95 %", "≥ 95 %"):
        assert band in legend, legend
    # the colours change exactly at those breaks, and each cell shows its value
    trace = dash_duo.driver.execute_script(
        "var g = document.querySelector('#beds-heatmap .js-plotly-plot');"
        "return {scale: g.data[0].colorscale, tt: g.data[0].texttemplate,"
        " cells: document.querySelectorAll('#beds-heatmap .hm text, "
        "#beds-heatmap text.textpoint, #beds-heatmap g.textpoint').length};"
    )
    assert [p[0] for p in trace["scale"]][1:7] == [0.85, 0.85, 0.92, 0.92, 0.95, 0.95]
    assert trace["tt"] == "%{text}"
    # every ward labelled on the axis
    labels = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#beds-heatmap .ytick text'))"
        ".map(t => t.textContent)"
    )
    assert len(labels) == len(dash_duo.driver.execute_script(Y_LABELS_JS))

    # ?site=XXX: says the site is unknown, shows no site's wards
    dash_duo.driver.get(f"{dash_duo.server.url}/beds?site=XXX")
    dash_duo.wait_for_contains_text("#beds-unknown-site", "There is no site 'XXX'")
    assert "RGH" in dash_duo.find_element("#beds-unknown-site").text
    dash_duo.wait_for_contains_text("#beds-table", "site is unknown")
    assert dash_duo.get_logs() == []
