"""Theatres page: live board, capped-utilisation heatmap, lost-time table.

Pure builders: ``callbacks/theatres.py`` feeds them rows from ``ops.theatres``
(duck-typed) and catalogue figures from the metric snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.a11y import labelled
from components.chart_text import chart_figure
from components.common import (
    Status,
    empty_figure,
    format_value,
    kpi_tile,
    page_header,
    query_string,
    status_badge,
)
from components.common import site_options as common_site_options
from components.theme import HEATMAP_SCALE
from ops.timeutil import format_local

FILTER_KEYS = ("site", "days", "period")
DAYS_OPTIONS: tuple[int, ...] = (14, 28)
DEFAULT_DAYS = 14
PERIOD_OPTIONS: tuple[tuple[str, str], ...] = (
    ("today", "Today"),
    ("7d", "Last 7 days"),
)
DEFAULT_PERIOD = "today"
UTILISATION_TARGET = 85.0
ALL_SITES = "all"

# state -> (label, bootstrap icon, bootstrap badge classes)
STATE_STYLE: dict[str, tuple[str, str, str]] = {
    "in_progress": ("Case in progress", "bi-activity", "bg-success text-dark"),
    "turnaround": ("Turnaround", "bi-arrow-repeat", "bg-info text-dark"),
    "idle": ("Idle", "bi-pause-circle", "bg-warning text-dark"),
    "closed": ("Closed", "bi-door-closed", "bg-secondary"),
}


class IDS:
    body = "theatres-body"
    sent = "theatres-sent"  # hashes of what the browser shows (callbacks.delta)
    url = "theatres-url"  # the address as this page's filters read and write it
    freshness = "theatres-freshness"
    site = "theatres-site"
    days = "theatres-days"
    period = "theatres-period"
    tiles = "theatres-tiles"
    board = "theatres-board"
    heatmap = "theatres-heatmap"
    heatmap_note = "theatres-heatmap-note"
    lost = "theatres-lost"

    tile_in_use = "theatres-tile-in-use"
    tile_done = "theatres-tile-done"
    tile_cancelled = "theatres-tile-cancelled"
    tile_utilisation = "theatres-tile-utilisation"
    tile_late = "theatres-tile-late"

    @staticmethod
    def theatre(site_code: str, code: str) -> str:
        return f"theatres-board-{site_code.lower()}-{code.lower()}"


# ---------------------------------------------------------------------------
# Filters and layout
# ---------------------------------------------------------------------------


def days_from_query(query: Mapping[str, str]) -> int:
    raw = query.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in DAYS_OPTIONS else DEFAULT_DAYS


def period_from_query(query: Mapping[str, str]) -> str:
    raw = query.get("period", "")
    return raw if raw in dict(PERIOD_OPTIONS) else DEFAULT_PERIOD


def search_for(query: Mapping[str, str | None], **changes: str | None) -> str:
    """A query string (with "?") for the page's filters in a stable key order."""
    return query_string(FILTER_KEYS, query, **changes)


def site_options(sites: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return common_site_options(sites, ALL_SITES)


def _radio(
    component_id: str, options: list[dict[str, Any]], value: Any
) -> dbc.RadioItems:
    return dbc.RadioItems(
        id=component_id,
        options=options,
        value=value,
        inline=True,
        className="btn-group",
        inputClassName="btn-check",
        labelClassName="btn btn-outline-light btn-sm",
        labelCheckedClassName="active",
    )


def filter_values(query: Mapping[str, str]) -> tuple[str, int, str]:
    """What the site, utilisation-history and lost-time controls show for a query."""
    return (
        query.get("site") or ALL_SITES,
        days_from_query(query),
        period_from_query(query),
    )


def _filters(query: Mapping[str, str]) -> dbc.Row:
    site = query.get("site") or ALL_SITES
    initial = [{"label": "All sites", "value": ALL_SITES}]
    if site != ALL_SITES:
        initial.append({"label": site, "value": site})

    def col(label: str, control: Any) -> dbc.Col:
        return dbc.Col(
            labelled(label, control, "small text-muted mb-1 d-block"),
            xs=12,
            sm=6,
            lg=3,
            className="mb-2",
        )

    return dbc.Row(
        [
            col("Site", dcc.Dropdown(id=IDS.site, options=initial, value=site, clearable=False)),
            col(
                "Utilisation history",
                _radio(IDS.days, [{"label": f"{n} days", "value": n} for n in DAYS_OPTIONS],
                       days_from_query(query)),
            ),
            col(
                "Lost time",
                _radio(IDS.period, [{"label": t, "value": k} for k, t in PERIOD_OPTIONS],
                       period_from_query(query)),
            ),
        ],
        className="mb-2 align-items-end",
    )  # fmt: skip


def _card(
    title: str, body: Any, subtitle: str | None = None, footer_id: str | None = None
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
    if footer_id:
        children.append(
            dbc.CardFooter(html.Div(id=footer_id, className="small text-muted"))
        )
    return dbc.Card(children, className="mb-3")


def layout(query: dict[str, str]) -> html.Div:
    loading = html.P("Loading…", className="text-muted mb-0")
    return html.Div(
        [
            page_header(
                "Theatres",
                "Live board, capped utilisation and lost time",
                right=html.Div(id=IDS.freshness),
            ),
            _filters(query),
            html.Div(id=IDS.tiles, children=loading, className="mb-2"),
            _card("Live board", html.Div(id=IDS.board, children=loading),
                  subtitle="state of every theatre now; late start = first anaesthetic > 15 min "
                  "after the planned start"),
            _card(
                "Capped utilisation by theatre and day",
                chart_figure(
                    dcc.Graph(
                        id=IDS.heatmap,
                        figure=empty_figure("Loading…"),
                        config={"displaylogo": False, "responsive": True,
                                "displayModeBar": False},
                        style={"height": "420px"},
                    ),
                    "Capped utilisation heatmap: theatres by day",
                ),
                subtitle="touch time (anaesthetic start → out of theatre) inside planned sessions",
                footer_id=IDS.heatmap_note,
            ),
            _card("Late starts, early finishes and on-the-day cancellations",
                  html.Div(id=IDS.lost, children=loading)),
            html.Div(id=IDS.body),
            dcc.Store(id=IDS.sent),
            dcc.Location(id=IDS.url, refresh="callback-nav"),
        ]
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Tiles
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TheatreTiles:
    in_use: int | None  # theatres with a case in progress now
    theatres: int | None  # theatres on the board
    cases_done_today: int | None
    cancellations_today: int | None
    utilisation_today: float | None  # capped, session time elapsed so far
    late_starts_today: int | None


def tiles(values: TheatreTiles, as_of_text: Any, status: Status) -> dbc.Row:
    feed_problem = status in (Status.STALE, Status.ERROR, Status.MISSING)

    def st(threshold: Status) -> Status:
        return status if feed_problem else threshold

    util = values.utilisation_today
    util_status = (
        Status.OK if util is None or util >= UTILISATION_TARGET else Status.WARNING
    )
    items = [
        kpi_tile("Theatres with a case in progress", values.in_use, "", as_of_text, st(Status.OK),
                 tile_id=IDS.tile_in_use, detail=f"of {format_value(values.theatres)} theatres"),
        kpi_tile("Cases done today", values.cases_done_today, "", as_of_text, st(Status.OK),
                 tile_id=IDS.tile_done, detail="out of theatre since midnight"),
        kpi_tile("On-the-day cancellations", values.cancellations_today, "", as_of_text,
                 st(Status.WARNING if values.cancellations_today else Status.OK),
                 tile_id=IDS.tile_cancelled, detail="cases cancelled today"),
        kpi_tile("Capped utilisation today", None if util is None else f"{util:.1f}", "%",
                 as_of_text, st(util_status), tile_id=IDS.tile_utilisation,
                 detail="session time so far; target > 85 %"),
        kpi_tile("Late starts today", values.late_starts_today, "", as_of_text,
                 st(Status.WARNING if values.late_starts_today else Status.OK),
                 tile_id=IDS.tile_late, detail="first case > 15 min after planned start"),
    ]  # fmt: skip
    return dbc.Row(
        [dbc.Col(t, xs=12, sm=6, lg=4, xl=True, className="mb-3") for t in items]
    )


# ---------------------------------------------------------------------------
# Board
# ---------------------------------------------------------------------------


def state_badge(state: str) -> html.Span:
    label, icon, classes = STATE_STYLE[state]
    return html.Span(
        [html.I(className=f"bi {icon} me-1", **{"aria-hidden": "true"}), label],
        className=f"badge {classes}",
        title=label,
    )


def late_badge(minutes: float, started: bool) -> html.Span:
    text = (
        f"Late start · {int(minutes)} min"
        if started
        else f"Not started · {int(minutes)} min late"
    )
    return status_badge(Status.WARNING, text)


def board_card(
    row: Any, now: datetime, tz: str | ZoneInfo, show_site: bool
) -> dbc.Card:
    """One theatre on the live board (``row`` is a ``BoardRow``)."""
    t = row.theatre
    title = f"{t.site_code} · {t.name}" if show_site else t.name
    lines: list[Any] = [html.Div(row.detail, className="theatre-detail")]
    if row.since is not None:
        minutes = max(0, int((now - row.since).total_seconds() // 60))
        lines.append(
            html.Div(
                f"since {format_local(row.since, tz)} ({minutes} min)",
                className="small text-muted",
            )
        )
    if row.session_start is not None:
        lines.append(
            html.Div(
                f"{row.specialty} · {format_local(row.session_start, tz)}–"
                f"{format_local(row.session_end, tz)}",
                className="small text-muted",
            )
        )
    badges: list[Any] = [
        state_badge(row.state.value if hasattr(row.state, "value") else row.state)
    ]
    if row.late_start_min is not None:
        badges.append(late_badge(row.late_start_min, row.started))
    lines.append(
        html.Div(
            f"today: {row.cases_done_today} done · {row.cancellations_today} cancelled",
            className="small text-muted mt-1",
        )
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [html.H3(title, className="h6 mb-1 me-auto"), *badges],
                    className="d-flex flex-wrap align-items-center gap-1 mb-1",
                ),
                *lines,
            ],
            className="p-2",
        ),
        className="h-100",
        id=IDS.theatre(t.site_code, t.code),
    )


def board(
    rows: Sequence[Any], now: datetime, tz: str | ZoneInfo, show_site: bool
) -> Any:
    if not rows:
        return html.P("No theatres are configured.", className="text-muted mb-0")
    return dbc.Row(
        [
            dbc.Col(
                board_card(r, now, tz, show_site),
                xs=12,
                sm=6,
                lg=4,
                xxl=3,
                className="mb-2",
            )
            for r in rows
        ],
        className="g-2",
    )


# ---------------------------------------------------------------------------
# Utilisation heatmap
# ---------------------------------------------------------------------------


def utilisation_heatmap(
    theatres: Sequence[tuple[int, str]],
    days: Sequence[date],
    grid: Mapping[tuple[int, date], float | None],
    uirevision: str = "theatres",
) -> go.Figure:
    """Theatre (rows) x local day (columns); gaps where no sessions; 0–100 %."""
    if not theatres or not days:
        return empty_figure("No theatres")
    z = [[grid.get((tid, d)) for d in days] for tid, _ in theatres]
    if all(v is None for row in z for v in row):
        return empty_figure("No sessions in this range")
    text = [["" if v is None else f"{v:.0f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[d.strftime("%a %d %b") for d in days],
            y=[label for _, label in theatres],
            text=text,
            texttemplate="%{text}",
            textfont={"size": 11},
            zmin=0,
            zmax=100,
            colorscale=HEATMAP_SCALE,
            hoverongaps=False,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "capped<br>util. %"}},
            hovertemplate="%{y} · %{x}: %{z:.0f} %<extra></extra>",
        )
    )
    fig.update_layout(
        margin={"l": 56, "r": 16, "t": 16, "b": 64},
        uirevision=f"{uirevision}|{len(days)}",
        xaxis={"type": "category", "tickangle": -45},
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig


def heatmap_note(days: Sequence[date], site_label: str) -> str:
    if not days:
        return ""
    return (
        f"{site_label}: {days[0]:%d %b} – {days[-1]:%d %b %Y}, local days. Capped utilisation "
        "= touch time inside planned sessions ÷ planned session time (sessions cancelled on "
        "the day count as lost time); today counts the session time elapsed so far. Blank "
        "cells: no sessions that day."
    )


# ---------------------------------------------------------------------------
# Lost time table
# ---------------------------------------------------------------------------

KIND_STATUS = {
    "Late start": Status.WARNING,
    "Early finish": Status.WARNING,
    "Cancellation": Status.CRITICAL,
}


def lost_time_table(rows: Sequence[Any], period_label: str, show_site: bool) -> Any:
    counts = {k: sum(1 for r in rows if r.kind == k) for k in KIND_STATUS}
    summary = html.P(
        f"{period_label}: {counts['Late start']} late starts, "
        f"{counts['Early finish']} early finishes, {counts['Cancellation']} on-the-day "
        "cancellations.",
        className="mb-2",
        id=f"{IDS.lost}-summary",
    )
    if not rows:
        return html.Div([summary])
    head = [html.Th("Day"), *([html.Th("Site")] if show_site else []), html.Th("Theatre"),
            html.Th("Specialty"), html.Th("What"), html.Th("Minutes", className="text-end"),
            html.Th("Detail")]  # fmt: skip
    body = [
        html.Tr(
            [
                html.Td(f"{r.day:%a %d %b}"),
                *([html.Td(r.site_code)] if show_site else []),
                html.Td(r.theatre),
                html.Td(r.specialty),
                html.Td(status_badge(KIND_STATUS[r.kind], r.kind)),
                html.Td(
                    format_value(None if r.minutes is None else int(r.minutes)),
                    className="text-end",
                ),
                html.Td(r.detail),
            ]
        )
        for r in rows
    ]
    return html.Div(
        [
            summary,
            html.Div(
                dbc.Table([html.Thead(html.Tr(head)), html.Tbody(body)], size="sm",
                          className="mb-0 align-middle"),
                className="table-responsive",
                style={"maxHeight": "420px", "overflowY": "auto"},
            ),
        ]
    )  # fmt: skip


def error_message(what: str) -> html.P:
    return html.P(f"{what} could not be read.", className="text-danger mb-0")
