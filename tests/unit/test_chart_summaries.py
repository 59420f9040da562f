"""Charts in words (components/chart_text.py): each summary says what its chart shows,
missing data is said to be missing, and the table holds the chart's data."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from dash import html

from components import chart_text as ct
from components.common import MISSING_VALUE_TEXT
from data.queries.ed import ArrivalsToday, HourPoint, WeekdayHourHeatmap
from data.queries.feeds import MinuteCount
from ops.alert_views import TrendPoint
from ops.alerting import tile_bands

TZ = "Europe/London"
NAN = math.nan
# 08:00, 09:00, 10:00 London on a winter Monday (GMT = UTC).
HOURS = [datetime(2026, 11, 23, h, tzinfo=UTC) for h in (8, 9, 10)]


def _walk(node):  # noqa: ANN001, ANN202
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            yield from _walk(child)
    elif children is not None and not isinstance(children, str | int | float):
        yield from _walk(children)


# ---------------------------------------------------------------- beds heatmap

WARDS = [(1, "RGH CAR"), (2, "RGH AMU"), (3, "DDH COE1"), (4, "DDH PAED")]
Z = [
    [90.0, 96.0, 97.5],  # red now
    [88.0, 91.0, 93.0],  # amber now
    [100.0, NAN, 80.0],  # the range's peak, then a gap
    [NAN, NAN, NAN],  # never recorded
]


def test_bed_summary_names_the_wards_at_red_and_counts_amber():
    text = ct.bed_occupancy_text(WARDS, Z, HOURS, TZ, red=95, amber=92)
    assert (
        "Occupancy of 4 wards, each hour from Mon 23 Nov 08:00 to Mon 23 Nov 10:00"
        in (text.summary)
    )
    assert (
        "Latest hour: 1 ward at or above 95 %: RGH CAR 97.5 %; 1 more at or above 92 %."
        in (text.summary)
    )
    assert "Highest: DDH COE1 100.0 % at Mon 23 Nov 08:00." in text.summary
    assert "1 ward with no figure for the latest hour." in text.summary


def test_bed_table_has_a_row_per_ward_and_missing_is_not_zero():
    text = ct.bed_occupancy_text(WARDS, Z, HOURS, TZ, red=95, amber=92)
    assert text.columns[0] == "Ward" and text.columns[1] == "Latest (Mon 23 Nov 10:00)"
    rows = {row[0]: row for row in text.rows}
    assert rows["RGH CAR"] == (
        "RGH CAR",
        "97.5 %",
        "97.5 % at Mon 23 Nov 10:00",
        "94.5 %",
        "2",
        "0",
    )
    # a gap is neither counted nor averaged as 0
    assert rows["DDH COE1"] == (
        "DDH COE1",
        "80.0 %",
        "100.0 % at Mon 23 Nov 08:00",
        "90.0 %",
        "1",
        "1",
    )
    assert rows["DDH PAED"][1:5] == (MISSING_VALUE_TEXT,) * 4
    assert rows["DDH PAED"][5] == "3"


def test_bed_summary_without_thresholds_lists_the_fullest_wards():
    text = ct.bed_occupancy_text(WARDS, Z, HOURS, TZ)
    assert (
        "Latest hour, fullest wards: RGH CAR 97.5 %, RGH AMU 93.0 % and DDH COE1 80.0 %."
        in (text.summary)
    )


def test_bed_summary_of_nothing_says_so():
    assert (
        ct.bed_occupancy_text([], [], HOURS, TZ).summary
        == "No wards match the filters."
    )
    empty = ct.bed_occupancy_text(WARDS[:1], [[NAN, NAN, NAN]], HOURS, TZ)
    assert empty.summary == "No hourly occupancy is recorded in this range."
    assert empty.rows == ()


def test_bed_thresholds_come_from_the_alert_rules():
    assert ct.occupancy_thresholds(tile_bands("site")) == (95.0, 92.0)
    assert ct.occupancy_thresholds({}) == (None, None)


def test_repeated_autumn_hour_keeps_its_zone_in_the_words():
    # 25 Oct 2026: 01:00 BST (00:00 UTC) then 01:00 GMT (01:00 UTC)
    hours = [
        datetime(2026, 10, 25, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, tzinfo=UTC),
    ]
    text = ct.bed_occupancy_text(
        [(1, "W")], [[99.0, 50.0]], hours, TZ, red=95, amber=92
    )
    assert "from Sun 25 Oct 01:00 BST to Sun 25 Oct 01:00 GMT" in text.summary
    assert "Highest: W 99.0 % at Sun 25 Oct 01:00 BST." in text.summary


# ---------------------------------------------------------------- theatres heatmap

DAYS = [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23)]
THEATRES = [(10, "RGH T1"), (11, "RGH T2"), (12, "DDH T1")]
GRID = {
    (10, DAYS[0]): 90.0,
    (10, DAYS[2]): 70.0,
    (11, DAYS[0]): 60.0,
    (11, DAYS[1]): 62.0,
    (11, DAYS[2]): 88.0,
    (12, DAYS[1]): None,
}


def test_theatre_summary_names_the_latest_day_below_target():
    text = ct.theatre_utilisation_text(THEATRES, DAYS, GRID, 85.0)
    assert text.summary == (
        "Capped utilisation of 3 theatres over 3 days, Sat 21 Nov to Mon 23 Nov. "
        "Mon 23 Nov: 1 of 2 theatres with sessions below the 85 % target (RGH T1 70 %). "
        "Lowest average over the range: RGH T2 70 %."
    )
    assert text.columns == ("Theatre", "Sat 21 Nov", "Sun 22 Nov", "Mon 23 Nov")
    assert text.rows[0] == ("RGH T1", "90 %", MISSING_VALUE_TEXT, "70 %")
    assert text.rows[2] == ("DDH T1",) + (MISSING_VALUE_TEXT,) * 3


def test_theatre_summary_without_sessions():
    assert ct.theatre_utilisation_text(THEATRES, DAYS, {}, 85.0).summary == (
        "No sessions in this range."
    )
    only_past = ct.theatre_utilisation_text(THEATRES, DAYS, {(10, DAYS[0]): 90.0}, 85.0)
    assert "Mon 23 Nov: no sessions." in only_past.summary


# ---------------------------------------------------------------- ED charts


def test_time_in_department_counts_over_4_and_12_hours():
    bins = [5, 4, 3, 2, 6, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]  # last bin = 15 h+
    text = ct.time_in_department_text(bins)
    assert text.summary == (
        "23 patients in the department now: 9 for more than 4 hours, 2 for more than "
        "12 hours. Longest: 13–14 hours."
    )
    assert text.rows[0] == ("0–1 h", "5") and text.rows[-1] == ("13–14 h", "2")
    assert (
        ct.time_in_department_text([0] * 16).summary == "No patients in the department."
    )
    assert (
        "Longest: 15 hours or more."
        in ct.time_in_department_text([1] + [0] * 14 + [1]).summary
    )


def _point(hour: int, arrivals, complete=True, band=(8.0, 11.0, 15.0)) -> HourPoint:  # noqa: ANN001
    p10, median, p90 = band if band else (None, None, None)
    return HourPoint(
        utc_start=datetime(2026, 11, 23, hour, tzinfo=UTC),
        label=f"{hour:02d}:00",
        local_hour=hour,
        arrivals=arrivals,
        complete=complete,
        p10=p10,
        median=median,
        p90=p90,
    )


def test_arrivals_today_compares_with_the_usual_band():
    today = ArrivalsToday(
        points=[
            _point(8, 12),
            _point(9, 17),
            _point(10, 4, complete=False),
            _point(11, None),
        ],
        band_days=[date(2026, 11, 16)],
        weekday="Monday",
    )
    text = ct.arrivals_today_text(today)
    assert text.summary == (
        "33 arrivals so far today. Last complete hour, 09:00: 17 arrivals against a usual "
        "11 (usual range 8–15). 1 complete hour above the usual range: 09:00."
    )
    assert text.rows[2] == ("10:00", "4 so far", "11", "8–15")
    assert text.rows[3][1] == MISSING_VALUE_TEXT  # not yet started, not 0


def test_arrivals_today_without_history_says_there_is_no_usual_range():
    today = ArrivalsToday(
        points=[_point(8, 3, band=None)], band_days=[], weekday="Monday"
    )
    text = ct.arrivals_today_text(today)
    assert "(no usual figure yet)" in text.summary
    assert "No usual range yet" in text.summary
    assert text.rows[0][2:] == (MISSING_VALUE_TEXT, MISSING_VALUE_TEXT)
    none_yet = ArrivalsToday(points=[_point(0, None)], band_days=[], weekday="Monday")
    assert ct.arrivals_today_text(none_yet).summary == "No arrivals recorded today yet."


def test_arrivals_heatmap_names_busiest_and_quietest_hour():
    mean = [[None] * 24 for _ in range(7)]
    mean[0][11] = 24.0  # Mon 11:00
    mean[6][4] = 3.0  # Sun 04:00
    mean[2][15] = 10.0
    heat = WeekdayHourHeatmap(
        weeks=4,
        mean=mean,
        hours_observed=[[4] * 24 for _ in range(7)],
        overall_mean=12.3,
        first_day=date(2026, 10, 26),
        last_day=date(2026, 11, 22),
    )
    text = ct.arrivals_heatmap_text(heat)
    assert text.summary == (
        "Mean arrivals per hour over the last 4 weeks: busiest Mon 11:00 (24.0 an hour), "
        "quietest Sun 04:00 (3.0); the average hour has 12.3."
    )
    assert len(text.columns) == 25 and len(text.rows) == 7
    assert text.rows[0][12] == "24.0" and text.rows[0][1] == MISSING_VALUE_TEXT
    none = WeekdayHourHeatmap(4, [[None] * 24] * 7, [[0] * 24] * 7, None, None, None)
    assert (
        ct.arrivals_heatmap_text(none).summary
        == "No arrivals history in the last 4 weeks."
    )


# ---------------------------------------------------------------- OPEL trend


def test_opel_trend_says_each_scope_now_since_when_and_its_highest():
    t0 = datetime(2026, 11, 17, 9, tzinfo=UTC)
    points = [
        TrendPoint("site", "RGH", "Riverside General", t0, 2),
        TrendPoint("trust", "RDT", "Trust", t0, 2),
        TrendPoint("trust", "RDT", "Trust", t0 + timedelta(hours=5), 3),
        TrendPoint("trust", "RDT", "Trust", t0 + timedelta(hours=6), 3),
        TrendPoint("trust", "RDT", "Trust", t0 + timedelta(days=2), 2),
        TrendPoint("site", "RGH", "Riverside General", t0 + timedelta(days=1), None),
    ]
    until = t0 + timedelta(days=6)
    text = ct.opel_trend_text(points, t0, until, TZ)
    assert text.summary == (
        "OPEL level from Tue 17 Nov 09:00 to Mon 23 Nov 09:00. "
        "Trust: OPEL 2 since Thu 19 Nov 09:00; highest OPEL 3. "
        "Riverside General: no level since Wed 18 Nov 09:00; highest OPEL 2."
    )
    # only the changes, trust first
    assert text.rows == (
        ("Trust", "Tue 17 Nov 09:00", "OPEL 2"),
        ("Trust", "Tue 17 Nov 14:00", "OPEL 3"),
        ("Trust", "Thu 19 Nov 09:00", "OPEL 2"),
        ("Riverside General", "Tue 17 Nov 09:00", "OPEL 2"),
        ("Riverside General", "Wed 18 Nov 09:00", "no level"),
    )
    assert ct.opel_trend_text([], t0, until, TZ).summary == (
        "No OPEL assessments in the last 7 days."
    )


# ---------------------------------------------------------------- feeds: HL7 per minute


def _minutes(counts, start=datetime(2026, 11, 23, 9, 0, tzinfo=UTC)):  # noqa: ANN001, ANN202
    return [
        MinuteCount(start + timedelta(minutes=i), a, r)
        for i, (a, r) in enumerate(counts)
    ]


def test_hl7_minutes_total_busiest_refusals_and_latest():
    minutes = _minutes([(0, 0), (3, 1), (5, 0), (0, 2), (1, 0)])
    text = ct.hl7_minutes_text(minutes, TZ)
    assert text.summary == (
        "12 HL7 messages in the last 5 minutes from 09:00 to 09:04: 9 accepted, "
        "3 refused. Busiest minute: 09:02 with 5 messages. Refusals in 2 minutes: "
        "09:01 and 09:03. Latest minute, 09:04: 1 accepted, 0 refused."
    )
    assert text.columns == ("Minute", "Accepted (AA)", "Refused (AE / AR)", "Total")
    assert text.rows[0] == ("09:00", "0", "0", "0")
    assert text.rows[1] == ("09:01", "3", "1", "4")
    assert len(text.rows) == 5


def test_hl7_minutes_in_summer_time_and_with_nothing_received():
    # 09:00 UTC in July is 10:00 BST; a quiet hour is a real zero, said as such
    text = ct.hl7_minutes_text(
        _minutes([(0, 0)] * 60, datetime(2026, 7, 1, 9, 0, tzinfo=UTC)), TZ
    )
    assert text.summary == (
        "No HL7 messages received in the last 60 minutes from 10:00 to 10:59."
    )
    assert len(text.rows) == 60 and text.rows[-1] == ("10:59", "0", "0", "0")
    assert ct.hl7_minutes_text([], TZ).rows == ()


def test_hl7_minutes_repeated_autumn_hour_keeps_its_minutes_apart():
    # 25 Oct 2026: 01:59 BST (00:59 UTC) is followed by 01:00 GMT (01:00 UTC)
    minutes = _minutes([(1, 0)] * 61, datetime(2026, 10, 25, 0, 0, tzinfo=UTC))
    labels = [row[0] for row in ct.hl7_minutes_text(minutes, TZ).rows]
    assert labels[0] == "01:00 BST" and labels[60] == "01:00 GMT"
    assert len(set(labels)) == 61


# ---------------------------------------------------------------- rendering


def test_alternative_renders_summary_and_a_headed_table():
    text = ct.ChartText(
        "Two wards.", "Wards", ("Ward", "Now"), (("A", "1 %"), ("B", "—"))
    )
    summary, details = ct.alternative(text, "g")
    assert summary.id == "g-text-summary" and summary.children == "Two wards."
    assert isinstance(details, html.Details)
    nodes = list(_walk(details))
    assert [n.children for n in nodes if isinstance(n, html.Summary)] == [
        "Table: Wards"
    ]
    headers = [n for n in nodes if isinstance(n, html.Th)]
    assert [(h.children, h.scope) for h in headers] == [
        ("Ward", "col"),
        ("Now", "col"),
        ("A", "row"),
        ("B", "row"),
    ]
    assert [n.children for n in nodes if isinstance(n, html.Caption)] == ["Wards"]
    # no rows: the summary alone
    assert len(ct.alternative(ct.unavailable("Could not be read."), "g")) == 1


def test_chart_figure_names_the_chart_and_hides_the_plot():
    from dash import dcc

    fig = ct.chart_figure(dcc.Graph(id="g"), "Heatmap: wards by hour")
    assert isinstance(fig, html.Figure)
    assert fig.to_plotly_json()["props"]["aria-label"] == "Heatmap: wards by hour"
    assert fig.to_plotly_json()["props"]["aria-describedby"] == "g-text-summary"
    plot, text_box = fig.children
    assert plot.className == "cc-chart-plot" and plot.children.id == "g"
    assert text_box.id == "g-text" and text_box.className == "cc-chart-text"
    hidden = ct.chart_figure(dcc.Graph(id="g"), "x", hidden_text=True)
    assert hidden.children[1].className == "visually-hidden"


@pytest.mark.parametrize("value", [None, NAN])
def test_missing_values_read_as_missing(value):
    text = ct.bed_occupancy_text([(1, "W"), (2, "X")], [[value], [50.0]], HOURS[:1], TZ)
    assert text.rows[0][1] == MISSING_VALUE_TEXT
