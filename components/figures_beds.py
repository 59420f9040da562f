"""Beds figures: the ward x hour occupancy heatmap (pure builders, no database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.common import empty_figure
from ops.metrics import occupancy_pct
from ops.timeutil import ensure_utc, to_local

ZMIN = 0
ZMAX = 100
ROW_HEIGHT_PX = 24

# Occupancy bands of the heatmap: breaks (percent) from the configuration (the OPEL
# G&A parameter's bands and the G&A alert rules' thresholds, callbacks compute them);
# these are the shipped values, used when none are given.
DEFAULT_BREAKS: tuple[float, ...] = (85.0, 92.0, 95.0)
# One colour per band, lowest first (dark blue, then yellow, orange, red: ordered in
# lightness so the order survives colour-blindness; each cell also shows its value
# where there is room, and the legend names the bands).
BAND_COLOURS: tuple[str, ...] = ("#2c4f7c", "#d9b84a", "#f08a24", "#d7263d")


def band_labels(breaks: Sequence[float]) -> list[str]:
    """["< 85 %", "85–92 %", "92–95 %", "≥ 95 %"] for breaks (85, 92, 95)."""
    b = [f"{x:g}" for x in breaks]
    if not b:
        return ["all values"]
    return (
        [f"< {b[0]} %"]
        + [f"{lo}–{hi} %" for lo, hi in zip(b, b[1:], strict=False)]
        + [f"≥ {b[-1]} %"]
    )


def band_colours(breaks: Sequence[float]) -> list[str]:
    """A colour per band (len(breaks) + 1), the worst always red."""
    n = len(breaks) + 1
    if n >= len(BAND_COLOURS):
        return [*BAND_COLOURS[:1]] * (n - len(BAND_COLOURS) + 1) + list(
            BAND_COLOURS[1:]
        )
    return [BAND_COLOURS[0], *BAND_COLOURS[len(BAND_COLOURS) - n + 1 :]]


def banded_scale(breaks: Sequence[float]) -> list[list[float | str]]:
    """A stepped colour scale on ZMIN..ZMAX: one flat colour per band, changing
    exactly at each break (a value equal to a break is in the upper band)."""
    colours = band_colours(breaks)
    edges = [ZMIN, *[min(max(b, ZMIN), ZMAX) for b in breaks], ZMAX]
    scale: list[list[float | str]] = []
    for i, colour in enumerate(colours):
        lo = (edges[i] - ZMIN) / (ZMAX - ZMIN)
        hi = (edges[i + 1] - ZMIN) / (ZMAX - ZMIN)
        scale += [[lo, colour], [hi, colour]]
    return scale


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
    breaks: Sequence[float] = DEFAULT_BREAKS,
    show_values: bool | None = None,
) -> go.Figure:
    """Ward (rows) x local hour (columns) occupancy heatmap on a fixed 0-100 % scale,
    coloured in flat bands that change at ``breaks`` (the legend is HTML beside it:
    ``components.beds.occupancy_legend``).

    ``frame`` has columns ward_id, hour_start (UTC), occupied, open_beds; ``wards``
    gives the rows in display order as (ward id, label). Hours without a stored row
    and hours when a ward had no open beds are gaps, never 0 %. ``show_values``
    writes each cell's percentage in it (default: when there are at most 48 hours).
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
    if show_values is None:
        show_values = len(hours) <= 48
    text = [["" if np.isnan(v) else f"{v:.0f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            x=x,
            y=y,
            z=z,
            zmin=ZMIN,
            zmax=ZMAX,
            zauto=False,
            colorscale=banded_scale(breaks),
            showscale=False,
            hoverongaps=False,
            xgap=1 if len(hours) <= 48 else 0,
            ygap=1,
            text=text,
            texttemplate="%{text}" if show_values else None,
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
            # every ward labelled (a category axis would drop labels that crowd)
            "tickmode": "array",
            "tickvals": y,
            "ticktext": y,
        },
        plot_bgcolor="#2b2b2b",
    )
    return fig
