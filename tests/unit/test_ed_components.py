"""ED page builders and the filter callback (no browser, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dash import no_update

from callbacks.ed import filters_changed
from components import ed
from components.common import Status
from data.queries.ed import (
    ArrivalsToday,
    HourPoint,
    WaitingAmbulance,
    WeekdayHourHeatmap,
)
from ops.alerting import tile_bands


def _text(component) -> str:  # noqa: ANN001
    """All text in a component tree."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def test_ed201_area_table_flags_over_capacity_with_icon_and_text():
    lines = [
        ed.AreaLine("RGH", "minors", "Minors", 17, 16, 106.25),
        ed.AreaLine("RGH", "majors", "Majors", 27, 30, 90.0),
        ed.AreaLine("RGH", "resus", "Resus", 2, 6, 33.3),
        ed.AreaLine("RGH", "sdec", "SDEC", 0, 0, None),
    ]
    table = ed.area_table(lines, show_site=False)
    text = _text(table)
    assert "Over capacity" in text and "Nearly full" in text and "Within spaces" in text
    assert "106 %" in text and "—" in text  # no spaces -> occupancy missing, not 0
    assert ed.area_status(100.0) is Status.WARNING
    assert ed.area_status(100.1) is Status.CRITICAL
    assert "bi-x-octagon" in str(table)  # the critical icon, not colour alone


def test_ed202_time_in_department_marks_4h_and_12h():
    bins = [5, 4, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 2] + [0] * 11 + [1]
    fig = ed.time_in_department_figure(bins)
    xs = sorted(s["x0"] for s in fig.layout.shapes)
    assert xs == [4, 12]
    notes = [a.text for a in fig.layout.annotations]
    assert "4 h · 5 over" in notes and "12 h · 3 over" in notes
    assert sum(fig.data[0].y) == sum(bins)  # the 24 h+ bin is on the axis too
    assert fig.layout.uirevision == "ed"
    empty = ed.time_in_department_figure([0] * 25)
    assert "No patients" in empty.layout.annotations[0].text


def _points() -> list[HourPoint]:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    return [
        HourPoint(
            utc_start=base.replace(hour=h),
            label=f"{h:02d}:00",
            local_hour=h,
            arrivals=a,
            complete=c,
            p10=1.0,
            median=2.0,
            p90=3.0,
        )
        for h, a, c in ((0, 4, True), (1, 2, False), (2, None, False))
    ]


def test_ed203_arrivals_figure_band_and_partial_hour():
    today = ArrivalsToday(_points(), [date(2026, 11, 16)], "Monday")
    fig = ed.arrivals_figure(today)
    names = [t.name for t in fig.data]
    assert "usual range (p10–p90)" in names and "usual (median)" in names
    bars = fig.data[-1]
    assert list(bars.y) == [4, 2, None]
    assert list(bars.text) == ["4", "2 so far", ""]
    note = ed.arrivals_note(today, "RGH")
    assert "6 arrivals so far" in note and "last 1 Mondays" in note
    no_band = ArrivalsToday(_points(), [], "Monday")
    assert "no usual range" in ed.arrivals_note(no_band, "RGH")


def test_ed204_heatmap_fixed_scale_and_cell_text():
    mean = [[2.0] * 24 for _ in range(7)]
    mean[0][9] = 4.0
    heat = WeekdayHourHeatmap(4, mean, [[4] * 24 for _ in range(7)], 2.0,
                              date(2026, 10, 26), date(2026, 11, 22))  # fmt: skip
    fig = ed.heatmap_figure(heat)
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0.0, 2.0)
    assert trace.z[0][9] == 2.0 and trace.text[0][9] == "4"
    assert fig.layout.uirevision.endswith("|4")
    empty = WeekdayHourHeatmap(4, [[None] * 24] * 7, [[0] * 24] * 7, None, None, None)
    assert "No arrivals" in ed.heatmap_figure(empty).layout.annotations[0].text


def test_ed205_handover_table_flags_waits():
    at = datetime(2026, 11, 23, 9, tzinfo=UTC)
    rows = [
        WaitingAmbulance("RGH", "A1", "Majors", 3, at, 75.0),
        WaitingAmbulance("RGH", "A2", "Majors", 2, at, 45.0),
        WaitingAmbulance("RGH", "A3", "Resus", 1, at, 5.0),
    ]
    text = _text(ed.handover_table(rows, "Europe/London", show_site=False))
    assert "> 60 min" in text and "> 30 min" in text and "≤ 30 min" in text
    assert "75 min" in text
    assert ed.handover_status(30.0) is Status.OK
    assert ed.handover_status(30.5) is Status.WARNING
    assert ed.handover_status(60.5) is Status.CRITICAL
    assert "No ambulances" in _text(ed.handover_table([], "Europe/London", False))
    counts = _text(ed.handover_counts(None, 2))
    assert "— over 30 min" in counts and "2 over 60 min" in counts


def test_ed206_tiles_missing_values_and_stale_state():
    values = ed.EdTiles(10, 3, None, 1, 10.0, 42.4, 2)
    row = ed.tiles(values, "as of 10:30", Status.STALE)
    text = _text(row)
    assert "—" in text and "no data" in text  # 4-hour % undefined, not 0
    assert text.count("Stale") == 6
    ok = _text(ed.tiles(values, "as of 10:30", Status.OK, tile_bands("site")))
    assert "Critical" in ok  # > 12 h at 10 % (the rule's critical threshold)


def test_ed207_filters_write_the_url():
    assert filters_changed("RGH", 8, "") == "?site=RGH"
    assert filters_changed("RGH", 4, "?site=RGH") == "?site=RGH&weeks=4"
    assert filters_changed(ed.ALL_SITES, 12, "?site=RGH&weeks=4") == "?weeks=12"
    assert filters_changed("RGH", 4, "?site=RGH&weeks=4") is no_update
    assert ed.weeks_from_query({"weeks": "5"}) == ed.DEFAULT_WEEKS
    assert ed.weeks_from_query({"weeks": "12"}) == 12
