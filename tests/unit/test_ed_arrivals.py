"""Arrivals per local hour against the usual band, and the weekday x hour heatmap.

Pure functions over per-UTC-hour counts; the clock-change days of Europe/London are
the edge cases (2026-10-25 is 25 hours long, 2026-03-29 is 23 hours long).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from data.queries.ed import (
    HourlyArrivals,
    hour_label,
    today_vs_usual,
    weekday_hour_heatmap,
)
from ops.timeutil import local_day_bounds_utc

TZ = "Europe/London"
H = timedelta(hours=1)


def _hours(start: datetime, end: datetime) -> list[datetime]:
    out = []
    while start < end:
        out.append(start)
        start += H
    return out


def _arrivals(counts: dict[datetime, int], start: datetime, end: datetime,
              data_from: datetime | None = None) -> HourlyArrivals:  # fmt: skip
    return HourlyArrivals(start, end, counts, data_from if data_from else start)


def test_ed101_normal_day_hours_and_band():
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # Monday, GMT
    start = datetime(2026, 9, 1, tzinfo=UTC)
    # Each earlier Monday k (1..8) has k arrivals in every hour; today 5 per hour.
    counts: dict[datetime, int] = {}
    for k in range(1, 9):
        day = date(2026, 11, 23) - timedelta(days=7 * k)
        for h in _hours(*local_day_bounds_utc(day, TZ)):
            counts[h] = k
    for h in _hours(datetime(2026, 11, 23, tzinfo=UTC), now):
        counts[h] = 5
    counts[datetime(2026, 11, 23, 10, tzinfo=UTC)] = 2  # the hour under way
    result = today_vs_usual(_arrivals(counts, start, now), now, TZ)
    assert len(result.points) == 24
    assert [p.label for p in result.points[:3]] == ["00:00", "01:00", "02:00"]
    expected = np.percentile(list(range(1, 9)), [10, 50, 90])
    first = result.points[0]
    assert (first.p10, first.median, first.p90) == pytest.approx(tuple(expected))
    assert first.arrivals == 5 and first.complete
    current = result.points[10]
    assert current.arrivals == 2 and not current.complete
    assert all(p.arrivals is None for p in result.points[11:])
    assert result.arrivals_so_far == 10 * 5 + 2
    assert len(result.band_days) == 8 and result.weekday == "Monday"


def test_ed102_band_uses_only_days_fully_in_the_store():
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    data_from = datetime(2026, 11, 3, 10, tzinfo=UTC)  # history starts mid-Tuesday
    counts = {h: 7 for h in _hours(data_from, now)}
    result = today_vs_usual(_arrivals(counts, datetime(2026, 9, 1, tzinfo=UTC), now, data_from),
                            now, TZ)  # fmt: skip
    assert result.band_days == [date(2026, 11, 9), date(2026, 11, 16)]
    assert result.points[0].median == 7


def test_ed103_long_clock_change_day_has_25_labelled_hours():
    # Sunday 25 Oct 2026: clocks go back at 02:00 BST -> 01:00 GMT.
    now = datetime(2026, 10, 25, 23, 30, tzinfo=UTC)  # 23:30 GMT, still the 25th
    start = datetime(2026, 8, 1, tzinfo=UTC)
    counts = {h: 1 for h in _hours(start, now)}
    result = today_vs_usual(_arrivals(counts, start, now), now, TZ)
    labels = [p.label for p in result.points]
    assert len(labels) == 25
    assert labels[:4] == ["00:00", "01:00 BST", "01:00 GMT", "02:00"]
    assert labels[-1] == "23:00"
    assert result.points[0].utc_start == datetime(2026, 10, 24, 23, tzinfo=UTC)
    # Each repeated hour compares against the usual for local hour 1 on normal Sundays.
    assert result.points[1].median == result.points[2].median == 1
    assert result.arrivals_so_far == 25


def test_ed104_history_clock_change_days_compare_like_with_like():
    # Today Sunday 1 Nov; history includes the 25-hour 25 Oct and (further back) normal days.
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    counts = {h: 1 for h in _hours(start, now)}
    result = today_vs_usual(_arrivals(counts, start, now), now, TZ, weeks=1)
    assert result.band_days == [date(2026, 10, 25)]
    by_hour = {p.local_hour: p for p in result.points}
    assert by_hour[1].median == 2  # both 01:00 hours of 25 Oct counted as local hour 1
    assert by_hour[0].median == 1 and by_hour[2].median == 1


def test_ed105_short_clock_change_day_has_no_0100_and_history_skips_it():
    # Sunday 29 Mar 2026: 01:00 GMT -> 02:00 BST; the day has 23 hours.
    now = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # 23:30 BST
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counts = {h: 3 for h in _hours(start, now)}
    result = today_vs_usual(_arrivals(counts, start, now), now, TZ)
    labels = [p.label for p in result.points]
    assert len(labels) == 23 and "01:00" not in labels and labels[1] == "02:00"
    # A week later the band for 01:00 has one sample fewer (29 Mar had no 01:00).
    later = datetime(2026, 4, 5, 12, tzinfo=UTC)
    counts = {h: 3 for h in _hours(start, later)}
    week = today_vs_usual(_arrivals(counts, start, later), later, TZ, weeks=1)
    by_hour = {p.local_hour: p for p in week.points}
    assert by_hour[1].median is None  # the only band day has no local hour 1
    assert by_hour[2].median == 3


def test_ed106_hour_label():
    assert hour_label(datetime(2026, 10, 25, 0, tzinfo=UTC), TZ, True) == "01:00 BST"
    assert hour_label(datetime(2026, 10, 25, 1, tzinfo=UTC), TZ, True) == "01:00 GMT"
    assert hour_label(datetime(2026, 10, 25, 1, tzinfo=UTC), TZ, False) == "01:00"


def test_ed107_heatmap_means_per_local_weekday_and_hour():
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # Monday
    start = datetime(2026, 8, 1, tzinfo=UTC)
    counts = {}
    for h in _hours(start, now):
        local = h.astimezone(ZoneInfo(TZ))
        counts[h] = 10 if local.weekday() == 0 and local.hour == 9 else 2
    heat = weekday_hour_heatmap(_arrivals(counts, start, now), now, TZ, weeks=4)
    assert heat.first_day == date(2026, 10, 26) and heat.last_day == date(2026, 11, 22)
    assert heat.mean[0][9] == 10 and heat.mean[3][9] == 2
    assert heat.hours_observed[0][9] == 4
    total_hours = 28 * 24
    assert heat.overall_mean == pytest.approx((total_hours * 2 + 4 * 8) / total_hours)
    assert heat.index[0][9] == pytest.approx(10 / heat.overall_mean)


def test_ed108_heatmap_counts_the_repeated_hour_twice_on_the_long_day():
    now = datetime(2026, 11, 2, 9, tzinfo=UTC)  # Monday; window Mon 5 Oct .. Sun 1 Nov
    start = datetime(2026, 8, 1, tzinfo=UTC)
    counts = {h: 4 for h in _hours(start, now)}
    heat = weekday_hour_heatmap(_arrivals(counts, start, now), now, TZ, weeks=4)
    assert heat.hours_observed[6][1] == 5  # four Sundays, one with two 01:00 hours
    assert heat.hours_observed[6][2] == 4
    assert heat.mean[6][1] == 4  # a mean per hour, not a sum per day


def test_ed109_heatmap_without_history_is_empty_not_zero():
    now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    empty = HourlyArrivals(now - timedelta(days=90), now, {}, None)
    heat = weekday_hour_heatmap(empty, now, TZ, weeks=4)
    assert heat.overall_mean is None and heat.first_day is None
    assert all(v is None for row in heat.mean for v in row)
    result = today_vs_usual(empty, now, TZ)
    assert result.band_days == [] and all(p.median is None for p in result.points)
