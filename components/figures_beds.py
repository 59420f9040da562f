"""Beds figures: the ward x hour occupancy heatmap (pure builders, no database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.common import empty_figure
from components.theme import HEATMAP_SCALE
from ops.metrics import occupancy_pct
from ops.timeutil import ensure_utc, to_local

ZMIN = 0
ZMAX = 100
ROW_HEIGHT_PX = 24


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def is_ambiguous_local(local: datetime) -> bool:
    """True for a local wall time that happens twice (the repeated hour in autumn)."""
    other = local.replace(fold=1 - local.fold)
    return other.utcoffset() != local.utcoffset()


def hour_label(hour_utc: datetime, tz: str | ZoneInfo) -> str:
    """Unique local label of an hour, e.g. ``"Mon 23 Nov 10:00"``.

    The repeated hour at the autumn clock change gets its zone abbreviation
    (``"Sun 25 Oct 01:00 BST"`` then ``"Sun 25 Oct 01:00 GMT"``) so the two hours
    stay distinct.
    """
    local = to_local(hour_utc, _zone(tz))
    text = local.strftime("%a %d %b %H:%M")
    if is_ambiguous_local(local):
        text += f" {local.tzname()}"
    return text


def _tick_text(local: datetime, show_date: bool) -> str:
    time_text = local.strftime("%H:%M")
    if is_ambiguous_local(local):
        time_text += f" {local.tzname()}"
    if show_date:
        return f"{local.strftime('%a %d %b')}<br>{time_text}"
    return time_text


def hour_ticks(
    hours: Sequence[datetime], tz: str | ZoneInfo
) -> tuple[list[str], list[str]]:
    """Tick positions (hour labels) and short local texts for the x axis.

    Ticks fall on local clock hours: every 3 h for a day, 12 h for a week, local
    midnight every other day beyond that. The date is shown on the first tick and
    whenever the local date changes.
    """
    zone = _zone(tz)
    n = len(hours)
    step = 3 if n <= 48 else 12 if n <= 24 * 8 else 48
    vals: list[str] = []
    texts: list[str] = []
    last_date = None
    for hour in hours:
        local = to_local(hour, zone)
        if step <= 24:
            wanted = local.hour % step == 0
        else:
            wanted = local.hour == 0 and local.toordinal() % (step // 24) == 0
        if not wanted:
            continue
        if step == 12:  # a week: the date under each midnight tick only
            show_date = local.hour == 0
        else:
            show_date = last_date is None or local.date() != last_date
        vals.append(hour_label(hour, zone))
        texts.append(
            _tick_text(local, show_date) if step <= 24 else local.strftime("%d %b")
        )
        last_date = local.date()
    return vals, texts


def occupancy_matrix(
    frame: pd.DataFrame, wards: Sequence[tuple[int, str]], hours: Sequence[datetime]
) -> np.ndarray:
    """Ward x hour occupancy % as floats; NaN (sent as null: a gap) where a ward has
    no stored hour or no open beds."""
    z = np.full((len(wards), len(hours)), np.nan)
    if frame.empty or not wards or not hours:
        return z
    col = {pd.Timestamp(ensure_utc(h)): i for i, h in enumerate(hours)}
    row = {ward_id: i for i, (ward_id, _) in enumerate(wards)}
    stamps = pd.to_datetime(frame["hour_start"], utc=True)
    rows = frame["ward_id"].map(row)
    cols = stamps.map(col)
    keep = rows.notna() & cols.notna()
    for r, c, occupied, open_beds in zip(
        rows[keep].astype(int),
        cols[keep].astype(int),
        frame.loc[keep, "occupied"],
        frame.loc[keep, "open_beds"],
        strict=True,
    ):
        pct = occupancy_pct(int(occupied), int(open_beds))
        if pct is not None:
            z[r, c] = round(pct, 1)
    return z


def occupancy_heatmap(
    frame: pd.DataFrame,
    wards: Sequence[tuple[int, str]],
    hours: Sequence[datetime],
    tz: str | ZoneInfo,
    uirevision: str = "beds",
) -> go.Figure:
    """Ward (rows) x local hour (columns) occupancy heatmap on a fixed 0-100 % scale.

    ``frame`` has columns ward_id, hour_start (UTC), occupied, open_beds; ``wards``
    gives the rows in display order as (ward id, label). Hours without a stored row
    and hours when a ward had no open beds are gaps, never 0 %.
    """
    if not wards:
        return empty_figure("No wards match the filters")
    if frame.empty:
        return empty_figure("No hourly occupancy recorded in this range")
    zone = _zone(tz)
    x = [hour_label(h, zone) for h in hours]
    y = [label for _, label in wards]
    z = occupancy_matrix(frame, wards, hours)
    tickvals, ticktext = hour_ticks(hours, zone)
    fig = go.Figure(
        go.Heatmap(
            x=x,
            y=y,
            z=z,
            zmin=ZMIN,
            zmax=ZMAX,
            zauto=False,
            colorscale=HEATMAP_SCALE,
            hoverongaps=False,
            xgap=1 if len(hours) <= 48 else 0,
            ygap=1,
            colorbar={
                "title": {"text": "Occupied %"},
                "ticksuffix": "%",
                "thickness": 14,
            },
            hovertemplate="%{y}<br>%{x}<br>%{z:.0f}% occupied<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(260, ROW_HEIGHT_PX * len(wards) + 110),
        margin={"l": 8, "r": 8, "t": 36, "b": 56},
        uirevision=uirevision,
        xaxis={
            "type": "category",
            "tickmode": "array",
            "tickvals": tickvals,
            "ticktext": ticktext,
            "tickangle": 0,
            "showgrid": False,
            "title": {"text": f"Hour starting ({zone.key} local time)"},
        },
        yaxis={
            "type": "category",
            "autorange": "reversed",
            "showgrid": False,
            "tickfont": {"size": 12},
        },
        plot_bgcolor="#2b2b2b",
    )
    return fig
