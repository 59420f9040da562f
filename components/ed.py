"""Emergency department page: tiles, areas, time in department, arrivals, heatmap,
ambulance handover queue.

Pure builders: ``callbacks/ed.py`` feeds them query results (duck-typed rows from
``data.queries.ed``) and catalogue figures from the metric snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.a11y import labelled
from components.chart_text import chart_figure
from components.common import (
    MISSING_VALUE_TEXT,
    Status,
    empty_figure,
    format_value,
    kpi_tile,
    page_header,
    query_string,
    status_badge,
)
from components.common import site_options as common_site_options
from components.overview import band_status
from components.theme import HEATMAP_SCALE, OKABE_ITO
from ops.timeutil import format_local

FILTER_KEYS = ("site", "weeks")
WEEKS_OPTIONS: tuple[int, ...] = (4, 8, 12)
DEFAULT_WEEKS = 8
# Heatmap colour = mean arrivals in that hour / mean arrivals per hour over the
# window, so one colour means the same for every site and every N.
HEATMAP_ZMIN = 0.0
HEATMAP_ZMAX = 2.0
FOUR_HOURS = 4
TWELVE_HOURS = 12
HANDOVER_WARN_MIN = 30
HANDOVER_CRIT_MIN = 60
# Area occupancy: warning from this %, critical above 100 % (more patients than spaces).
AREA_WARN_PCT = 90.0
ALL_SITES = "all"


class IDS:
    body = "ed-body"
    sent = "ed-sent"  # hashes of what the browser shows (callbacks.delta)
    url = "ed-url"  # the address as this page's filters read and write it
    freshness = "ed-freshness"
    site = "ed-site"
    weeks = "ed-weeks"
    tiles = "ed-tiles"
    areas = "ed-areas"
    tid = "ed-time-in-department"
    arrivals = "ed-arrivals"
    arrivals_note = "ed-arrivals-note"
    heatmap = "ed-heatmap"
    heatmap_note = "ed-heatmap-note"
    handover = "ed-handover"
    handover_counts = "ed-handover-counts"

    # tile ids (values at f"{id}-value")
    tile_in_department = "ed-tile-in-department"
    tile_waiting = "ed-tile-waiting"
    tile_four_hour = "ed-tile-four-hour"
    tile_over_12h = "ed-tile-over-12h"
    tile_time_to_treatment = "ed-tile-time-to-treatment"
    tile_ambulances = "ed-tile-ambulances"

    @staticmethod
    def area_row(site_code: str, area_code: str) -> str:
        return f"ed-area-{site_code.lower()}-{area_code}"


# ---------------------------------------------------------------------------
# Filters and layout
# ---------------------------------------------------------------------------


def weeks_from_query(query: Mapping[str, str]) -> int:
    raw = query.get("weeks", "")
    return int(raw) if raw.isdigit() and int(raw) in WEEKS_OPTIONS else DEFAULT_WEEKS


def search_for(query: Mapping[str, str | None], **changes: str | None) -> str:
    """A query string (with "?") for the page's filters in a stable key order."""
    return query_string(FILTER_KEYS, query, **changes)


def site_options(sites: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return common_site_options(sites, ALL_SITES)


def filter_values(query: Mapping[str, str]) -> tuple[str, int]:
    """What the site and heatmap-history controls show for a query."""
    return query.get("site") or ALL_SITES, weeks_from_query(query)


def _filters(query: Mapping[str, str]) -> dbc.Row:
    site = query.get("site") or ALL_SITES
    initial = [{"label": "All sites", "value": ALL_SITES}]
    if site != ALL_SITES:
        initial.append({"label": site, "value": site})
    return dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label(
                        "Site", html_for=IDS.site, className="small text-muted mb-1"
                    ),
                    dcc.Dropdown(
                        id=IDS.site, options=initial, value=site, clearable=False
                    ),
                ],
                xs=12,
                sm=6,
                lg=3,
                className="mb-2",
            ),
            dbc.Col(
                labelled(
                    "Heatmap history",
                    dbc.RadioItems(
                        id=IDS.weeks,
                        options=[
                            {"label": f"{n} weeks", "value": n} for n in WEEKS_OPTIONS
                        ],
                        value=weeks_from_query(query),
                        inline=True,
                        className="btn-group",
                        inputClassName="btn-check",
                        labelClassName="btn btn-outline-light btn-sm",
                        labelCheckedClassName="active",
                    ),
                ),
                xs=12,
                sm=6,
                lg=4,
                className="mb-2",
            ),
        ],
        className="mb-2 align-items-end",
    )


def _card(
    title: str, body: Any, note_id: str | None = None, subtitle: str | None = None
) -> dbc.Card:
    header: list[Any] = [html.H2(title, className="h6 mb-0 me-auto")]
    if subtitle:
        header.append(html.Span(subtitle, className="small text-muted"))
    children: list[Any] = [
        dbc.CardHeader(
            html.Div(header, className="d-flex flex-wrap align-items-center gap-2")
        ),
        dbc.CardBody(body),
    ]
    if note_id:
        children.append(
            dbc.CardFooter(html.Div(id=note_id, className="small text-muted"))
        )
    return dbc.Card(children, className="mb-3 h-100")


def _graph(graph_id: str, height: int, modebar: bool = False) -> dcc.Graph:
    return dcc.Graph(
        id=graph_id,
        figure=empty_figure("Loading…"),
        config={"displaylogo": False, "responsive": True, "displayModeBar": modebar},
        style={"height": f"{height}px"},
    )


def layout(query: dict[str, str]) -> html.Div:
    loading = html.P("Loading…", className="text-muted mb-0")
    return html.Div(
        [
            page_header(
                "Emergency department",
                "Patients now, arrivals against the usual, ambulance handovers",
                right=html.Div(id=IDS.freshness),
            ),
            _filters(query),
            html.Div(id=IDS.tiles, children=loading, className="mb-2"),
            dbc.Row(
                [
                    dbc.Col(
                        _card(
                            "Patients by area against spaces",
                            html.Div(id=IDS.areas, children=loading),
                        ),
                        xs=12,
                        xl=5,
                        className="mb-3",
                    ),
                    dbc.Col(
                        _card(
                            "Time in department, patients now",
                            chart_figure(
                                _graph(IDS.tid, 300),
                                "Bar chart: patients in the department by hours since "
                                "arrival",
                            ),
                            subtitle="hours since arrival; 4 h and 12 h marked",
                        ),
                        xs=12,
                        xl=7,
                        className="mb-3",
                    ),
                ]
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _card(
                            "Arrivals per hour today against the usual",
                            chart_figure(
                                _graph(IDS.arrivals, 320),
                                "Chart: arrivals per hour today against the usual range",
                            ),
                            IDS.arrivals_note,
                        ),
                        xs=12,
                        xl=7,
                        className="mb-3",
                    ),
                    dbc.Col(
                        _card(
                            "Ambulance handover queue",
                            [
                                html.Div(id=IDS.handover_counts, className="mb-2"),
                                html.Div(id=IDS.handover, children=loading),
                            ],
                        ),
                        xs=12,
                        xl=5,
                        className="mb-3",
                    ),
                ]
            ),
            _card(
                "Arrivals by hour and weekday",
                chart_figure(
                    _graph(IDS.heatmap, 360),
                    "Heatmap: mean arrivals per hour by weekday and hour",
                ),
                IDS.heatmap_note,
            ),
            html.Div(id=IDS.body),
            dcc.Store(id=IDS.sent),
            dcc.Location(id=IDS.url, refresh="callback-nav"),
        ]
    )


# ---------------------------------------------------------------------------
# Tiles
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EdTiles:
    """The figures of the tile row (and of ``/api/v1/ed``); ``None`` = no data."""

    in_department: int | None
    waiting_to_be_seen: int | None
    four_hour_pct_today: float | None
    over_12h_count: int | None
    over_12h_pct: float | None
    median_time_to_treatment_min: float | None
    ambulances_waiting_over_30: int | None


def _one_decimal(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


# Which alert rules' thresholds band each threshold tile (``ops.alerting.metric_bands``).
TILE_BAND_METRICS = {
    "four_hour_pct_today": "ed_4h_pct_today",
    "over_12h_pct": "ed_over_12h_pct",
    "ambulances_waiting_over_30": "ambulances_waiting_over_30",
}


def tiles(
    values: EdTiles,
    as_of_text: Any,
    status: Status,
    bands: Mapping[str, Any] | None = None,
) -> dbc.Row:
    """Tiles; a feed status (STALE, ERROR) overrides the threshold status. ``bands``
    are the alert rules' thresholds per metric, passed in by the callback."""
    feed_problem = status in (Status.STALE, Status.ERROR, Status.MISSING)

    def st(threshold: Status) -> Status:
        return status if feed_problem else threshold

    def band(field: str, value: float | None) -> Status:
        return band_status(bands, TILE_BAND_METRICS[field], value)

    four = values.four_hour_pct_today
    four_status = band("four_hour_pct_today", four)
    over12 = values.over_12h_pct
    over12_status = band("over_12h_pct", over12)
    amb = values.ambulances_waiting_over_30
    amb_status = band("ambulances_waiting_over_30", amb)
    items = [
        kpi_tile("Patients in department", values.in_department, "", as_of_text, st(Status.OK),
                 tile_id=IDS.tile_in_department),
        kpi_tile("Waiting to be seen", values.waiting_to_be_seen, "", as_of_text, st(Status.OK),
                 tile_id=IDS.tile_waiting, detail="arrived, not yet seen by a clinician"),
        kpi_tile("4-hour performance today", _one_decimal(four), "%", as_of_text, st(four_status),
                 tile_id=IDS.tile_four_hour, detail="departures since midnight; target 78 %"),
        kpi_tile("In department > 12 h", values.over_12h_count, "", as_of_text, st(over12_status),
                 tile_id=IDS.tile_over_12h,
                 detail=f"{format_value(_one_decimal(over12))} % of patients now (from arrival)"),
        kpi_tile("Median time to treatment", None if values.median_time_to_treatment_min is None
                 else round(values.median_time_to_treatment_min), "min", as_of_text, st(Status.OK),
                 tile_id=IDS.tile_time_to_treatment, detail="arrival to seen, since midnight"),
        kpi_tile("Ambulances waiting > 30 min", amb, "", as_of_text, st(amb_status),
                 tile_id=IDS.tile_ambulances, detail="not yet handed over"),
    ]  # fmt: skip
    return dbc.Row(
        [dbc.Col(t, xs=12, sm=6, lg=4, xxl=2, className="mb-3") for t in items]
    )


# ---------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------


def area_status(occupancy: float | None) -> Status:
    if occupancy is None:
        return Status.MISSING
    if occupancy > 100:
        return Status.CRITICAL
    if occupancy >= AREA_WARN_PCT:
        return Status.WARNING
    return Status.OK


AREA_STATUS_TEXT = {
    Status.OK: "Within spaces",
    Status.WARNING: "Nearly full",
    Status.CRITICAL: "Over capacity",
    Status.MISSING: "No spaces",
}


@dataclass(frozen=True)
class AreaLine:
    site_code: str
    area_code: str
    name: str
    patients: int | None
    spaces: int | None
    occupancy_pct: float | None


def area_table(lines: Sequence[AreaLine], show_site: bool) -> html.Div:
    if not lines:
        return html.P("No ED areas are configured.", className="text-muted mb-0")
    head = ([html.Th("Site")] if show_site else []) + [
        html.Th("Area"),
        html.Th("Patients", className="text-end"),
        html.Th("Spaces", className="text-end"),
        html.Th("Occupancy", className="text-end"),
        html.Th("Status"),
    ]
    rows = []
    for a in lines:
        status = area_status(a.occupancy_pct)
        occ = (
            MISSING_VALUE_TEXT
            if a.occupancy_pct is None
            else f"{a.occupancy_pct:.0f} %"
        )
        cells = ([html.Td(a.site_code)] if show_site else []) + [
            html.Td(a.name),
            html.Td(format_value(a.patients), className="text-end"),
            html.Td(format_value(a.spaces), className="text-end"),
            html.Td(occ, className="text-end"),
            html.Td(status_badge(status, AREA_STATUS_TEXT[status])),
        ]
        rows.append(html.Tr(cells, id=IDS.area_row(a.site_code, a.area_code)))
    return html.Div(
        [
            html.Div(
                dbc.Table(
                    [html.Thead(html.Tr(head)), html.Tbody(rows)],
                    size="sm",
                    hover=True,
                    className="mb-0 align-middle",
                ),
                className="table-responsive",
            ),
            html.P(
                "Patients in the area's spaces; ambulances not yet handed over are in "
                "the handover queue.",
                className="small text-muted mt-2 mb-0",
            ),
        ]
    )


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def tid_label(hour: int, last: int) -> str:
    return f"{last} h+" if hour >= last else f"{hour}–{hour + 1} h"


def time_in_department_figure(bins: Sequence[int], uirevision: str = "ed") -> go.Figure:
    """Bars of patients now by whole hours since arrival, with 4-h and 12-h marks.

    ``bins[h]`` counts stays of [h, h+1) hours; the last bin counts the rest.
    """
    total = sum(bins)
    if total == 0:
        return empty_figure("No patients in the department")
    last = len(bins) - 1
    # Show up to the longest stay (at least 13 h so the 12-h mark is on the axis).
    top = max(max((i for i, n in enumerate(bins) if n), default=0), TWELVE_HOURS) + 1
    xs = [i + 0.5 for i in range(min(top, len(bins)))]
    ys = list(bins[: len(xs)])
    colours = [
        OKABE_ITO[1]
        if i < FOUR_HOURS
        else OKABE_ITO[0]
        if i < TWELVE_HOURS
        else OKABE_ITO[5]
        for i in range(len(xs))
    ]
    over4 = sum(bins[FOUR_HOURS:])
    over12 = sum(bins[TWELVE_HOURS:])
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=ys,
            width=0.9,
            marker_color=colours,
            text=[str(n) if n else "" for n in ys],
            textposition="outside",
            customdata=[tid_label(i, last) for i in range(len(xs))],
            hovertemplate="%{customdata}: %{y} patients<extra></extra>",
        )
    )
    ymax = max(ys) * 1.25 + 1
    # 4 h label right of its line; 12 h label left of it (the axis ends near 13 h).
    for hours, text, side, shift in (
        (FOUR_HOURS, f"4 h · {over4} over", "left", 4),
        (TWELVE_HOURS, f"12 h · {over12} over", "right", -4),
    ):
        fig.add_vline(x=hours, line_dash="dash", line_color="#dee2e6", line_width=1)
        fig.add_annotation(
            x=hours,
            y=ymax,
            text=text,
            showarrow=False,
            xanchor=side,
            yanchor="top",
            xshift=shift,
            font={"size": 13},
        )
    fig.update_layout(
        margin={"l": 48, "r": 16, "t": 16, "b": 48},
        showlegend=False,
        uirevision=uirevision,
        xaxis={"title": {"text": "hours since arrival"}, "tickmode": "linear", "tick0": 0,
               "dtick": 2, "range": [0, len(xs)]},
        yaxis={"title": {"text": "patients"}, "range": [0, ymax], "rangemode": "tozero"},
        bargap=0.05,
    )  # fmt: skip
    return fig


def arrivals_figure(today: Any, uirevision: str = "ed") -> go.Figure:
    """Arrivals per local hour today (bars) against the usual band (p10–p90, median).

    ``today`` is a ``data.queries.ed.ArrivalsToday``.
    """
    points = today.points
    if not points:
        return empty_figure()
    labels = [p.label for p in points]
    fig = go.Figure()
    has_band = any(p.median is not None for p in points)
    if has_band:
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=[p.p90 for p in points],
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=[p.p10 for p in points],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(86,180,233,0.25)",
                name="usual range (p10–p90)",
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(x=labels, y=[p.median for p in points], mode="lines",
                       line={"color": OKABE_ITO[1], "width": 2, "dash": "dot"},
                       name="usual (median)",
                       hovertemplate="%{x}: usual %{y:.0f}<extra></extra>")
        )  # fmt: skip
    bar_text = [
        ""
        if p.arrivals is None
        else (f"{p.arrivals}" if p.complete else f"{p.arrivals} so far")
        for p in points
    ]
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[p.arrivals for p in points],
            name="arrivals today",
            marker_color=[
                OKABE_ITO[0] if p.complete else "rgba(230,159,0,0.45)" for p in points
            ],
            marker_line={"color": OKABE_ITO[0], "width": 1},
            text=bar_text,
            textposition="outside",
            hovertemplate="%{x}: %{y} arrivals<extra></extra>",
        )
    )
    fig.update_layout(
        margin={"l": 48, "r": 16, "t": 16, "b": 56},
        uirevision=uirevision,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        xaxis={"title": {"text": "local hour"}, "type": "category", "tickangle": -45},
        yaxis={"title": {"text": "arrivals"}, "rangemode": "tozero"},
        bargap=0.15,
    )
    return fig


def arrivals_note(today: Any, site_label: str) -> str:
    days = today.band_days
    if not days:
        return (
            f"{site_label}: no complete {today.weekday}s in the history yet, so no usual range. "
            f"{today.arrivals_so_far} arrivals so far today."
        )
    return (
        f"{site_label}: {today.arrivals_so_far} arrivals so far today. Usual range and median "
        f"per hour from the last {len(days)} {today.weekday}s "
        f"({days[0]:%d %b} – {days[-1]:%d %b}); the hour under way is shaded."
    )


WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heatmap_figure(heat: Any, uirevision: str = "ed") -> go.Figure:
    """Hour x weekday heatmap of mean arrivals per hour (``WeekdayHourHeatmap``).

    Colour = the hour's mean over the window's mean hour (fixed 0–2); the cells show
    the mean arrivals per hour, so nothing depends on hovering.
    """
    if heat.overall_mean is None:
        return empty_figure("No arrivals history for this range")
    text = [[("" if v is None else f"{v:.0f}") for v in row] for row in heat.mean]
    fig = go.Figure(
        go.Heatmap(
            z=heat.index,
            x=[f"{h:02d}" for h in range(24)],
            y=list(WEEKDAY_LABELS),
            text=text,
            texttemplate="%{text}",
            textfont={"size": 12},
            zmin=HEATMAP_ZMIN,
            zmax=HEATMAP_ZMAX,
            colorscale=HEATMAP_SCALE,
            hoverongaps=False,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "× average<br>hour"}, "tickvals": [0, 0.5, 1, 1.5, 2],
                      "ticktext": ["0", "0.5", "1", "1.5", "2+"]},
            hovertemplate="%{y} %{x}:00 · %{text} arrivals/h (×%{z:.2f})<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        margin={"l": 56, "r": 16, "t": 16, "b": 48},
        uirevision=f"{uirevision}|{heat.weeks}",
        xaxis={"title": {"text": "local hour of arrival"}, "type": "category"},
        yaxis={"autorange": "reversed", "type": "category"},
    )
    return fig


def heatmap_note(heat: Any, site_label: str) -> str:
    if heat.first_day is None:
        return f"{site_label}: no complete days of arrivals in the last {heat.weeks} weeks."
    return (
        f"{site_label}: mean arrivals per hour, local time, last {heat.weeks} weeks "
        f"({heat.first_day:%d %b} – {heat.last_day:%d %b %Y}; "
        f"average hour {heat.overall_mean:.1f} arrivals). Colour: × the average hour."
    )


# ---------------------------------------------------------------------------
# Handover queue
# ---------------------------------------------------------------------------


def handover_status(waiting_min: float) -> Status:
    if waiting_min > HANDOVER_CRIT_MIN:
        return Status.CRITICAL
    if waiting_min > HANDOVER_WARN_MIN:
        return Status.WARNING
    return Status.OK


HANDOVER_TEXT = {
    Status.OK: "≤ 30 min",
    Status.WARNING: "> 30 min",
    Status.CRITICAL: "> 60 min",
}


def handover_counts(over_30: int | None, over_60: int | None) -> html.Div:
    return html.Div(
        [
            html.Span("Handovers today: ", className="text-muted"),
            html.Span(f"{format_value(over_30)} over 30 min", id=f"{IDS.handover_counts}-30",
                      className="me-3 fw-bold"),
            html.Span(f"{format_value(over_60)} over 60 min", id=f"{IDS.handover_counts}-60",
                      className="fw-bold"),
        ]
    )  # fmt: skip


def handover_table(
    rows: Sequence[Any], tz: str | ZoneInfo, show_site: bool
) -> html.Div:
    """Ambulances arrived and not handed over (``WaitingAmbulance`` rows)."""
    if not rows:
        return html.P(
            [
                html.I(className="bi bi-check-circle me-1"),
                "No ambulances waiting to hand over.",
            ],
            className="mb-0",
        )
    head = ([html.Th("Site")] if show_site else []) + [
        html.Th("Arrived"),
        html.Th("Area"),
        html.Th("Triage", className="text-end"),
        html.Th("Waiting", className="text-end"),
        html.Th("Flag"),
    ]
    body = []
    for r in sorted(rows, key=lambda r: -r.waiting_min):
        status = handover_status(r.waiting_min)
        body.append(
            html.Tr(
                ([html.Td(r.site_code)] if show_site else [])
                + [
                    html.Td(format_local(r.arrival_at, tz, "%H:%M")),
                    html.Td(r.area),
                    html.Td(
                        "—" if r.triage is None else str(r.triage), className="text-end"
                    ),
                    html.Td(f"{int(r.waiting_min)} min", className="text-end"),
                    html.Td(status_badge(status, HANDOVER_TEXT[status])),
                ]
            )
        )
    return html.Div(
        dbc.Table(
            [html.Thead(html.Tr(head)), html.Tbody(body)],
            size="sm",
            className="mb-0 align-middle",
        ),
        className="table-responsive",
        style={"maxHeight": "320px", "overflowY": "auto"},
    )


def error_message(what: str) -> html.P:
    return html.P(f"{what} could not be read.", className="text-danger mb-0")


def as_of_now(now: datetime, tz: str | ZoneInfo) -> str:
    return format_local(now, tz, "%H:%M")
