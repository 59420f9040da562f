"""Beds heatmap builder: fixed colour scale, gaps for missing data, local hour labels."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from components.figures_beds import hour_label, hour_ticks, occupancy_heatmap

LONDON = "Europe/London"
H = timedelta(hours=1)


def _hours(start: datetime, n: int) -> list[datetime]:
    return [start + H * i for i in range(n)]


def _frame(rows: list[tuple[int, datetime, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["ward_id", "hour_start", "occupied", "open_beds"]
    )


def test_bed_u001_heatmap_has_fixed_scale_and_uirevision():
    hours = _hours(datetime(2026, 11, 23, 8, tzinfo=UTC), 3)
    frame = _frame([(1, hours[0], 5, 10)])
    fig = occupancy_heatmap(frame, [(1, "Ward A")], hours, LONDON, uirevision="RGH|24h")
    trace = fig.data[0]
    assert trace.type == "heatmap"
    assert (trace.zmin, trace.zmax, trace.zauto) == (0, 100, False)
    assert fig.layout.uirevision == "RGH|24h"
    assert fig.layout.yaxis.autorange == "reversed"


def test_bed_u002_missing_hours_and_wards_without_open_beds_are_gaps_not_zero():
    hours = _hours(datetime(2026, 11, 23, 8, tzinfo=UTC), 3)
    frame = _frame(
        [
            (1, hours[0], 9, 10),  # 90 %
            (1, hours[2], 0, 4),  # a real 0 %: open beds, none occupied
            (2, hours[0], 0, 0),  # ward with no open beds -> gap
            (2, hours[1], 0, 0),
            (99, hours[0], 1, 1),  # ward not shown -> ignored
        ]
    )
    fig = occupancy_heatmap(frame, [(1, "Ward A"), (2, "Closed ward")], hours, LONDON)
    z = [[None if math.isnan(v) else v for v in row] for row in fig.data[0].z]
    assert z[0] == [90.0, None, 0.0]
    assert z[1] == [None, None, None]
    # Gaps reach the browser as NaN (plotly.js draws no cell), not 0.
    sent = json.loads(fig.to_json())["data"][0]["z"]
    cells = np.frombuffer(base64.b64decode(sent["bdata"]), dtype=sent["dtype"])
    assert [None if math.isnan(v) else v for v in cells] == [
        90.0,
        None,
        0.0,
        None,
        None,
        None,
    ]
    assert list(fig.data[0].y) == ["Ward A", "Closed ward"]
    assert fig.data[0].hoverongaps is False


def test_bed_u003_hour_labels_are_local_and_distinct_across_the_autumn_clock_change():
    # 2026-10-25: clocks go back at 02:00 BST (01:00 UTC) in Europe/London.
    hours = _hours(datetime(2026, 10, 24, 22, tzinfo=UTC), 6)
    labels = [hour_label(h, LONDON) for h in hours]
    assert labels == [
        "Sat 24 Oct 23:00",
        "Sun 25 Oct 00:00",
        "Sun 25 Oct 01:00 BST",
        "Sun 25 Oct 01:00 GMT",
        "Sun 25 Oct 02:00",
        "Sun 25 Oct 03:00",
    ]
    frame = _frame([(1, h, 1, 2) for h in hours])
    fig = occupancy_heatmap(frame, [(1, "Ward A")], hours, LONDON)
    assert list(fig.data[0].x) == labels
    assert list(fig.data[0].z[0]) == [50.0] * 6  # no column lost to a duplicate label


def test_bed_u004_labels_follow_summer_and_winter_offsets():
    assert (
        hour_label(datetime(2026, 7, 1, 10, tzinfo=UTC), LONDON) == "Wed 01 Jul 11:00"
    )
    assert (
        hour_label(datetime(2026, 11, 23, 10, tzinfo=UTC), LONDON) == "Mon 23 Nov 10:00"
    )


def test_bed_u005_ticks_fall_on_local_clock_hours():
    hours = _hours(datetime(2026, 10, 24, 10, tzinfo=UTC), 24)  # 25 local hours span
    vals, texts = hour_ticks(hours, LONDON)
    assert vals and len(vals) == len(texts)
    for val in vals:
        assert val in [hour_label(h, LONDON) for h in hours]
        assert int(val.split()[3][:2]) % 3 == 0  # local hour, e.g. "12:00"
    assert "Sun 25 Oct" in "".join(texts)  # the date is shown when it changes
    week = _hours(datetime(2026, 11, 16, 11, tzinfo=UTC), 24 * 7)
    week_vals, _ = hour_ticks(week, LONDON)
    assert all(v.endswith(("00:00", "12:00")) for v in week_vals)


def test_bed_u006_no_wards_or_no_rows_gives_a_message_not_an_empty_grid():
    hours = _hours(datetime(2026, 11, 23, 8, tzinfo=UTC), 3)
    empty = _frame([])
    fig = occupancy_heatmap(empty, [(1, "Ward A")], hours, LONDON)
    assert not fig.data
    assert "No hourly occupancy" in fig.layout.annotations[0].text
    fig = occupancy_heatmap(empty, [], hours, LONDON)
    assert "No wards" in fig.layout.annotations[0].text
