"""Wall builders (no database, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from components import wall
from components.common import Status
from ops.alerting import tile_bands
from ops.display import WallAlert

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
TZ = "Europe/London"


def _text(component) -> str:  # noqa: ANN001
    """All text inside a component tree."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _find(component, component_id):  # noqa: ANN001, ANN202
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    items = children if isinstance(children, list | tuple) else [children]
    for child in items:
        if child is not None and hasattr(child, "to_plotly_json"):
            found = _find(child, component_id)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize(
    ("level", "word"),
    [(1, "Flow maintained"), (2, "Signs of pressure"), (3, "Major pressures"),
     (4, "Comprehensive care at risk")],
)  # fmt: skip
def test_opel_badge_says_level_and_word_not_colour_alone(level, word):
    badge = wall.opel_badge(level, "assessed", incomplete=False)
    assert f"OPEL {level}" in _text(badge) and word in _text(badge)
    assert f"wall-opel-{level}" in badge.className


def test_opel_badge_without_level_and_with_caveats():
    assert "OPEL —" in _text(wall.opel_badge(None, None, False))
    text = _text(wall.opel_badge(3, "calculated", incomplete=True))
    assert "calculated now" in text and "lower bound" in text


def _alert(**kw) -> WallAlert:  # noqa: ANN003
    base = {"title": "G&A occupancy high", "scope": "Riverside General Hospital",
            "severity": "critical", "state": "firing", "since": NOW - timedelta(minutes=20),
            "value": 96.1, "unit": "%"}  # fmt: skip
    return WallAlert(**{**base, **kw})


def test_alert_band_shows_only_alerts_needing_attention():
    assert wall.alert_band([], NOW, TZ) == []
    assert (
        wall.alert_band([_alert(acknowledged=True), _alert(silenced=True)], NOW, TZ)
        == []
    )
    band = wall.alert_band(
        [_alert(), _alert(severity="warning", title="ED busy")], NOW, TZ
    )
    text = _text(band)
    assert "Critical alert" in text and "G&A occupancy high" in text
    assert "since 10:10" in text  # 10:10 UTC = 10:10 GMT in November
    # the count first, then the alerts, most urgent first
    assert _text(band[0]).startswith("2 alerts need attention")
    assert (
        "status-critical" in band[1].className and "status-warning" in band[2].className
    )


def test_alert_band_is_a_count_and_the_worst_three():
    band = wall.alert_band([_alert(title=f"A{i}") for i in range(10)], NOW, TZ)
    assert len(band) == 1 + wall.BAND_SHOWN == 4
    assert "10 alerts" in _text(band[0]) and "7 more on the OPEL panel" in _text(
        band[0]
    )
    assert [_text(b).split("Critical alert ")[1][:2] for b in band[1:]] == [
        "A0", "A1", "A2"
    ]  # fmt: skip


def test_alert_band_since_is_the_alerts_pages():
    yesterday = _alert(since=NOW - timedelta(days=1))
    # another day: day and time, as the Alerts page's table writes it
    assert "since Sun 22 Nov 10:30" in _text(wall.alert_band([yesterday], NOW, TZ))


def test_no_data_alert_is_not_shown_as_a_threshold_alert():
    band = wall.alert_band([_alert(state="no_data")], NOW, TZ)
    assert "No data" in _text(band) and "status-missing" in band[1].className


def test_metric_figures_missing_is_dash_not_zero_and_bands_apply():
    figures = wall.metric_figures(
        wall.BED_FIGURES,
        {"ga_occupancy_pct": 95.64, "beds_available": 0.0, "escalation_beds_open": None,
         "nctr_count": 12.0},
        Status.OK,
        tile_bands("site"),
    )  # fmt: skip
    occupancy = _find(figures, wall.IDS.figure("ga_occupancy_pct"))
    assert "status-critical" in occupancy.className  # the red rule's >= 95 %
    assert (
        _text(_find(figures, wall.IDS.figure("ga_occupancy_pct") + "-value")) == "95.6"
    )
    assert _text(_find(figures, wall.IDS.figure("beds_available") + "-value")) == "0"
    missing = _find(figures, wall.IDS.figure("escalation_beds_open"))
    assert "—" in _text(missing) and "no data" in _text(missing)
    assert "status-missing" in missing.className


def test_stale_feed_marks_every_figure_stale():
    figures = wall.metric_figures(
        wall.ED_FIGURES, {"ed_in_department": 80.0}, Status.STALE
    )
    tile = _find(figures, wall.IDS.figure("ed_in_department"))
    assert "status-stale" in tile.className


def test_ambulances_over_30_band_the_tile_as_their_rule_with_the_count_in_words():
    figures = wall.metric_figures(
        wall.ED_FIGURES, {"ambulances_waiting": 5.0, "ambulances_waiting_over_30": 2.0},
        Status.OK, tile_bands("site"),
    )  # fmt: skip
    tile = _find(figures, wall.IDS.figure("ambulances_waiting"))
    # The "ambulance waiting over 30 minutes" rule is a warning (alert_rules.yaml).
    assert "status-warning" in tile.className and "2 over 30 min" in _text(tile)


def test_heatmap_reuses_the_fixed_scale_and_fills_its_panel():
    hours = [NOW.replace(minute=0) - timedelta(hours=h) for h in (1, 0)]
    wards = [SimpleNamespace(ward_id=1, site_code="RGH", code="AMU"),
             SimpleNamespace(ward_id=2, site_code="RGH", code="CAR")]  # fmt: skip
    frame = pd.DataFrame(
        [(1, "x", hours[0], 9, 10), (2, "y", hours[1], 5, 10)],
        columns=["ward_id", "ward_label", "hour_start", "occupied", "open_beds"],
    )
    [(title, fig)] = wall.wall_heatmap(frame, wards, hours, TZ, 2.0, show_site=True)
    assert title is None  # few wards: one column, the site code in each label
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0, 100)
    assert list(trace.y) == ["RGH AMU", "RGH CAR"]
    assert fig.layout.height is None and fig.layout.font.size == 36  # 18 px x 2
    # every ward labelled, each cell's value written in it, banded colours
    assert list(fig.layout.yaxis.tickvals) == ["RGH AMU", "RGH CAR"]
    assert trace.texttemplate == "%{text}" and trace.text[0][0] == "90"
    assert trace.colorscale[1][0] == 0.85 and trace.showscale is False
    assert fig.layout.uirevision == "wall"


def _wards(counts: dict[str, int]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(ward_id=f"{site}{i}", site_code=site, code=f"W{i:02d}")
        for site, n in counts.items()
        for i in range(n)
    ]


def test_heatmap_columns_one_per_site_past_twenty_wards_with_one_row_height():
    assert [t for t, _ in wall.heatmap_columns(_wards({"RGH": 20}), True)] == [None]
    columns = wall.heatmap_columns(_wards({"DDH": 11, "RGH": 20}), True)
    assert [(t, len(rows)) for t, rows in columns] == [("DDH", 11), ("RGH", 20)]
    assert columns[0][1][0][1] == "W00"  # the title names the site, the row the ward
    big = wall.heatmap_columns(_wards({"RGH": 45}), True)
    assert [(t, len(rows)) for t, rows in big] == [("RGH 1/3", 15), ("RGH 2/3", 15),
                                                   ("RGH 3/3", 15)]  # fmt: skip
    assert sorted(w for _, rows in big for w, _ in rows) == sorted(
        w.ward_id for w in _wards({"RGH": 45})
    )
    # every column's y axis is as tall as the tallest, so rows are one height
    hours = [NOW.replace(minute=0) - timedelta(hours=h) for h in range(24, 0, -1)]
    wards = _wards({"DDH": 11, "RGH": 20})
    frame = pd.DataFrame(
        [(w.ward_id, "x", h, 9, 10) for w in wards for h in hours],
        columns=["ward_id", "ward_label", "hour_start", "occupied", "open_beds"],
    )
    figs = wall.wall_heatmap(frame, wards, hours, TZ, 1.0, show_site=True)
    assert [tuple(f.layout.yaxis.range) for _, f in figs] == [(19.5, -0.5)] * 2
    # x ticks every 6 local hours, time only, one line
    texts = list(figs[0][1].layout.xaxis.ticktext)
    assert len(texts) == 4 and all(len(t) == 5 and t.endswith(":00") for t in texts)
    assert {int(t[:2]) % 6 for t in texts} == {0}


def test_font_scale_prefers_the_measured_screen():
    assert wall.font_scale("4k") == 2.0 and wall.font_scale("1080p") == 1.0
    assert wall.font_scale("1080p", 2160) == 2.0
    assert wall.font_scale("4k", 10_000) == 2.5  # capped


def test_panels_class_grid_and_rotation():
    assert wall.panels_class(["ed_board"], "rotate") == "wall-panels wall-grid wall-n-1"
    assert (
        wall.panels_class(["a", "b", "c"], "rotate")
        == "wall-panels wall-rotate wall-n-3"
    )
    assert wall.panels_class(["a"] * 5, "grid") == "wall-panels wall-grid wall-n-5"


def test_ed_panel_areas_say_their_status_in_words():
    areas = [SimpleNamespace(site_code="RGH", code="majors", name="Majors", spaces=30,
                             scope_id="RGH-majors")]  # fmt: skip
    panel = wall.ed_panel(
        {}, areas, {"RGH-majors": (33.0, 110.0)}, Status.OK, show_site=True
    )
    chip = _find(panel, "wall-area-rgh-majors")
    assert "33 / 30" in _text(chip) and "Over capacity" in _text(chip)


def test_protocols_panel_lists_runs_with_progress_in_numbers():
    runs = [SimpleNamespace(id=7, title="OPEL 3 escalation", scope="Trust-wide", done=3,
                            total=12, overdue=2)]  # fmt: skip
    text = _text(wall.protocols_panel(runs))
    assert "OPEL 3 escalation" in text and "3/12" in text and "2 overdue" in text
    assert "No surge protocol is active" in _text(wall.protocols_panel([]))


def test_theatre_panel_counts_cases_in_progress():
    def row(code: str, state: str) -> SimpleNamespace:
        return SimpleNamespace(theatre=SimpleNamespace(site_code="RGH", code=code),
                               state=state, cases_done_today=2)  # fmt: skip

    panel = wall.theatre_panel([row("T1", "in_progress"), row("T2", "idle")],
                               {"theatre_cancellations_today": 1.0}, Status.OK, False)  # fmt: skip
    assert _text(_find(panel, wall.IDS.figure("theatres_in_use") + "-value")) == "1"
    assert _text(_find(panel, wall.IDS.figure("theatre_cases_done") + "-value")) == "4"
    assert "Idle" in _text(_find(panel, "wall-theatre-rgh-t2"))


def test_layout_has_the_recovery_pieces_and_admin_is_separate():
    page = wall.layout({"display": "trust-overview"})
    for component_id in (wall.IDS.poll, wall.IDS.tick, wall.IDS.status, wall.IDS.health,
                         wall.IDS.stale, wall.IDS.clock, wall.IDS.panels):  # fmt: skip
        assert _find(page, component_id) is not None, component_id
    assert "wall-root" in page.className
    admin = wall.layout({"admin": "1"})
    assert admin.id == wall.IDS.admin and _find(admin, wall.IDS.poll) is None
