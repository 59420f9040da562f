"""Wall display: a chromeless, unattended screen readable from across the room.

Pure builders. ``callbacks/wall.py`` reads a :class:`data.queries.display.WallData` and
calls :func:`wall_content`; the page skeleton (:func:`layout`) holds the polling
interval, the clock/tick interval, the status stores and the STALE banner that
``assets/wall.js`` drives in the browser, so the last good figures stay on screen,
visibly marked STALE, while the server or the database is away.

Sizes come from ``assets/20-wall.css``: viewport and container-query units, a CSS grid
that fills the screen, ``overflow: hidden`` and ``cursor: none``. Nothing depends on
hover: every figure carries its label, unit and status word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components import chart_text
from components.alert_banner import (
    OPEL_MEANING,
    format_alert_value,
    worker_silent_text,
)
from components.alerts import _time as alert_time
from components.beds import occupancy_legend
from components.chart_text import ChartText
from components.common import (
    MISSING_VALUE_TEXT,
    Status,
    format_age,
    format_value,
    kpi_tile,
    status_badge,
    worst_status,
)
from components.ed import AREA_STATUS_TEXT, area_status
from components.figures_beds import DEFAULT_BREAKS, hour_label, occupancy_heatmap
from components.overview import band_status
from components.surge import overdue_badge, progress_bar
from components.theatres import state_badge
from ops.timeutil import format_local, to_local


class IDS:
    root = "wall-root"
    sent = "wall-sent"  # hashes of what the browser shows (callbacks.delta)
    body = "wall-body"  # the page body: its id triggers the first refresh
    poll = "wall-poll"  # data refresh interval (backs off while polls fail)
    tick = "wall-tick"  # one-second clock, stale-age and rotation tick
    status = "wall-status"  # the last refresh's outcome (ok / stale marker, version)
    health = "wall-health"  # client-side bookkeeping: last success, failures
    title = "wall-title"
    asof = "wall-asof"
    opel = "wall-opel"
    clock = "wall-clock"
    stale = "wall-stale"
    alerts = "wall-alerts"
    stage = "wall-stage"
    panels = "wall-panels"
    heatmap = "wall-heatmap"
    # admin (/wall?admin=1)
    admin = "wall-admin"
    admin_profile = "wall-admin-profile"
    admin_slug = "wall-admin-slug"
    admin_name = "wall-admin-name"
    admin_scope = "wall-admin-scope"
    admin_panels = "wall-admin-panels"
    admin_mode = "wall-admin-mode"
    admin_rotate = "wall-admin-rotate"
    admin_poll_seconds = "wall-admin-poll-seconds"
    admin_resolution = "wall-admin-resolution"
    admin_version = "wall-admin-version"
    admin_save = "wall-admin-save"
    admin_message = "wall-admin-message"
    admin_profiles = "wall-admin-profiles"
    admin_token_profile = "wall-admin-token-profile"
    admin_token_label = "wall-admin-token-label"
    admin_issue = "wall-admin-issue"
    admin_token_message = "wall-admin-token-message"
    admin_tokens = "wall-admin-tokens"
    admin_refresh = "wall-admin-refresh"  # store bumped after a change

    @staticmethod
    def panel(key: str) -> str:
        return f"wall-panel-{key.replace('_', '-')}"

    @staticmethod
    def figure(key: str) -> str:
        """Key-figure tile; its value is at ``-value``, its badge at ``-status``."""
        return f"wall-fig-{key}"

    @staticmethod
    def revoke(token_id: int) -> dict[str, Any]:
        return {"type": "wall-revoke", "token": token_id}


PANEL_TITLES: dict[str, tuple[str, str]] = {
    "opel_alerts": ("OPEL and alerts", "bi-speedometer"),
    "bed_heatmap": ("Beds", "bi-hospital"),
    "ed_board": ("Emergency department", "bi-heart-pulse"),
    "theatre_board": ("Theatres", "bi-scissors"),
    "protocols": ("Surge protocols", "bi-clipboard-check"),
}

# OPEL level words: the alerts feature's (NHS England OPEL framework, DOMAIN.md).
OPEL_WORDS: dict[int, str] = {k: v[0].upper() + v[1:] for k, v in OPEL_MEANING.items()}

# Figure fonts per resolution hint: plotly sizes are pixels, CSS sizes are not.
FONT_SCALE: dict[str, float] = {"1080p": 1.0, "4k": 2.0}


def font_scale(resolution: str, viewport_height: float | None = None) -> float:
    """Figure font scale: from the screen's measured height when the browser has
    reported it, else from the profile's resolution hint."""
    if viewport_height and viewport_height > 0:
        return round(min(2.5, max(0.75, viewport_height / 1080)), 2)
    return FONT_SCALE.get(resolution, 1.0)


def _icon(name: str) -> html.I:
    return html.I(className=f"bi {name} me-2", **{"aria-hidden": "true"})


# ---------------------------------------------------------------------------
# Page skeleton
# ---------------------------------------------------------------------------


def layout(query: Mapping[str, str]) -> html.Div:
    """``/wall?display=<slug>`` (or ``?token=...``); ``/wall?admin=1`` is the editor."""
    if query.get("admin"):
        return admin_layout()
    return html.Div(
        [
            dcc.Interval(id=IDS.poll, interval=5_000, n_intervals=0),
            dcc.Interval(id=IDS.tick, interval=1_000, n_intervals=0),
            dcc.Store(id=IDS.status),
            dcc.Store(id=IDS.health),
            dcc.Store(id=IDS.sent),
            html.Header(
                [
                    html.Div(
                        [
                            html.H1(
                                "Wall display", id=IDS.title, className="wall-title"
                            ),
                            html.Div("Loading…", id=IDS.asof, className="wall-asof"),
                        ],
                        className="wall-heading",
                    ),
                    html.Div(id=IDS.opel, className="wall-opel-slot"),
                    html.Div(
                        "--:--",
                        id=IDS.clock,
                        className="wall-clock",
                        role="timer",
                        **{"aria-label": "Time now (trust local time)"},
                    ),
                ],
                className="wall-header",
            ),  # fmt: skip
            # Neither is a live region: the STALE age ticks every second and the
            # alert band is redrawn at every poll (assets/a11y.js announces the
            # change to and from STALE once each).
            html.Div(id=IDS.stale, className="wall-stale wall-hidden"),
            html.Div(id=IDS.alerts, className="wall-alerts"),
            html.Div(
                html.Div(id=IDS.panels, className="wall-panels"),
                id=IDS.stage,
                className="wall-stage",
            ),
        ],
        id=IDS.body,
        className="wall-root wall-res-1080p",
        # judged by its own poll (assets/30-staleness.js; the profile's interval is
        # set by assets/wall.js once known)
        **{"data-cc-poll-id": IDS.poll, "data-cc-poll-ms": "5000"},
    )


# ---------------------------------------------------------------------------
# Header pieces
# ---------------------------------------------------------------------------


def opel_badge(level: int | None, source: str | None, incomplete: bool) -> html.Div:
    """OPEL level as number + word (+ a level class that only reinforces them)."""
    if level is None:
        return html.Div(
            [html.Span("OPEL —", className="wall-opel-level"),
             html.Span("level not available", className="wall-opel-word")],
            className="wall-opel wall-opel-none", id=f"{IDS.opel}-badge",
        )  # fmt: skip
    notes = []
    if source == "calculated":
        notes.append("calculated now from live figures")
    if incomplete:
        notes.append("incomplete data: a lower bound")
    return html.Div(
        [
            html.Span(f"OPEL {level}", className="wall-opel-level"),
            html.Span(OPEL_WORDS.get(level, ""), className="wall-opel-word"),
            html.Span(" · ".join(notes), className="wall-opel-note") if notes else None,
        ],
        className=f"wall-opel wall-opel-{level}",
        id=f"{IDS.opel}-badge",
        title=f"OPEL {level}: {OPEL_WORDS.get(level, '')}",
    )


def asof_line(
    as_of_text: str | None, fresh_status: Status, age_seconds: float | None
) -> Any:
    """'Data as of 10:30' or a STALE/no-data badge for the feed's newest write."""
    if as_of_text is None:
        return status_badge(Status.MISSING, "No data received yet")
    if fresh_status is Status.STALE:
        return [
            status_badge(
                Status.STALE, f"Data stale · {format_age(age_seconds or 0)} old"
            ),
            f" as of {as_of_text}",
        ]
    return f"Data as of {as_of_text}"


def worker_silent(since: datetime, tz: str | ZoneInfo) -> html.Div:
    """The silent background worker, first in the band: nothing is evaluated."""
    return html.Div(
        [
            status_badge(Status.CRITICAL, "Worker silent"),
            html.Span(worker_silent_text(since, str(tz)), className="wall-alert-title"),
        ],
        id=f"{IDS.alerts}-worker-silent",
        className=f"wall-alert wall-worker-silent {Status.CRITICAL.css_class}",
    )


# The alert band shows a count and at most this many alerts (the worst first), so it
# stays one band however many fire.
BAND_SHOWN = 3


def alert_since(at: datetime | None, now: datetime, tz: str | ZoneInfo) -> str:
    """ "since" as the Alerts page writes it (the time today, else day and time)."""
    return alert_time(at, str(tz), now)


def alert_band(
    alerts: Sequence[Any],
    now: datetime,
    tz: str | ZoneInfo,
    worker_since: datetime | None = None,
) -> list[Any]:
    """The band at the top: how many alerts need attention and the worst
    ``BAND_SHOWN`` of them (the store's order, most urgent first), after the
    silent-worker notice when ``worker_since`` is given.

    Empty when nothing needs attention (the band then takes no space).
    """
    loud = [a for a in alerts if a.needs_attention]
    items: list[Any] = [worker_silent(worker_since, tz)] if worker_since else []
    if not loud:
        return items
    critical = sum(1 for a in loud if a.severity == "critical")
    more = len(loud) - min(len(loud), BAND_SHOWN)
    items.append(
        html.Div(
            [
                html.Span(
                    f"{len(loud)} alert{'s' if len(loud) != 1 else ''}",
                    className="wall-alert-count-number",
                ),
                html.Span(
                    "need attention" if len(loud) != 1 else "needs attention",
                    className="wall-alert-count-word",
                ),
                html.Span(
                    (f"{critical} critical" if critical else "")
                    + (" · " if critical and more else "")
                    + (f"{more} more on the OPEL panel" if more else ""),
                    className="wall-alert-count-word",
                )
                if critical or more
                else None,
            ],
            id=f"{IDS.alerts}-count",
            className="wall-alert-count",
        )
    )
    for a in loud[:BAND_SHOWN]:
        status = Status.CRITICAL if a.severity == "critical" else Status.WARNING
        if a.state in ("no_data", "error"):
            status = Status.ERROR if a.state == "error" else Status.MISSING
        since = f" · since {alert_since(a.since, now, tz)}" if a.since else ""
        value = "" if a.value is None else f" · {format_alert_value(a.value, a.unit)}"
        items.append(
            html.Div(
                [
                    status_badge(status, _alert_word(a)),
                    html.Span(a.title, className="wall-alert-title"),
                    html.Span(f"{a.scope}{value}{since}", className="wall-alert-meta"),
                ],
                className=f"wall-alert {status.css_class}",
            )
        )
    return items


def _alert_word(alert: Any) -> str:
    if alert.state == "no_data":
        return "No data"
    if alert.state == "error":
        return "Evaluation error"
    return "Critical alert" if alert.severity == "critical" else "Alert"


# ---------------------------------------------------------------------------
# Key figures
# ---------------------------------------------------------------------------

# (metric key, title, unit, detail) per panel; values from the metric snapshot.
BED_FIGURES: tuple[tuple[str, str, str, str | None], ...] = (
    ("ga_occupancy_pct", "G&A occupancy", "%", "amber ≥ 92%, red ≥ 95%"),
    ("beds_available", "Beds available now", "", None),
    ("escalation_beds_open", "Escalation beds open", "", None),
    ("nctr_count", "No criteria to reside", "", None),
)
ED_FIGURES: tuple[tuple[str, str, str, str | None], ...] = (
    ("ed_in_department", "Patients in ED", "", None),
    ("ed_waiting_to_be_seen", "Waiting to be seen", "", None),
    ("ed_4h_pct_today", "4-hour today", "%", "target 78%"),
    ("ed_over_12h_count", "In ED > 12\u00a0h", "", "from arrival"),
    ("ambulances_waiting", "Ambulances waiting", "", None),
    ("handovers_over_60_today", "Handovers > 60 min", "", "today"),
)


def _figure_value(metric: str, value: float | None) -> float | int | None:
    if value is None:
        return None
    if metric.endswith("_pct") or metric.endswith("_pct_today"):
        return round(value, 1)
    return int(round(value))


def key_figure(
    key: str,
    title: str,
    value: float | int | str | None,
    unit: str,
    fresh_status: Status,
    band: Status = Status.OK,
    detail: str | None = None,
) -> Any:
    """One big figure (the shared KPI tile, sized for the wall by CSS)."""
    return kpi_tile(
        title,
        value,
        unit,
        None,
        worst_status([fresh_status, band]),
        tile_id=IDS.figure(key),
        detail=detail,
    )


def metric_figures(
    specs: Sequence[tuple[str, str, str, str | None]],
    values: Mapping[str, float | None],
    fresh_status: Status,
    bands: Mapping[str, Any] | None = None,
) -> html.Div:
    """Big figures, banded by the alert rules' thresholds (``bands``, per metric)."""
    tiles = []
    for metric, title, unit, detail in specs:
        value = _figure_value(metric, values.get(metric))
        number = value if isinstance(value, float | int) else None
        band = band_status(bands, metric, number)
        if metric == "ed_over_12h_count" and values.get("ed_over_12h_pct") is not None:
            detail = f"{values['ed_over_12h_pct']:.1f}% of patients in ED"
        if metric == "ambulances_waiting" and values.get("ambulances_waiting_over_30"):
            over_30 = values["ambulances_waiting_over_30"]
            band = band_status(bands, "ambulances_waiting_over_30", over_30)
            detail = f"{int(values['ambulances_waiting_over_30'])} over 30 min"
        tiles.append(key_figure(metric, title, value, unit, fresh_status, band, detail))
    return html.Div(tiles, className=f"wall-figures wall-figures-{len(tiles)}")


# ---------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------


def panel(key: str, body: Any, note: str | None = None) -> html.Section:
    title, icon = PANEL_TITLES[key]
    return html.Section(
        [
            html.H2(
                [_icon(icon), title, html.Span(note, className="wall-panel-note") if note else None],
                className="wall-panel-title",
            ),
            html.Div(body, className="wall-panel-body"),
        ],
        className=f"wall-panel wall-panel-{key.replace('_', '-')}",
        id=IDS.panel(key),
    )  # fmt: skip


def no_data_panel(key: str, domain_label: str) -> html.Section:
    """A panel whose domain no feed has reported yet: no figures, not zeros."""
    return panel(
        key,
        html.P(
            f"No data yet: no {domain_label} feed has reported.",
            className="wall-empty",
            id=f"{IDS.panel(key)}-no-data",
        ),
    )


HEATMAP_MAX_ROWS = 20
"""Most wards one heatmap column holds with every label readable across a room at
1080p; a trust with more is drawn as one column per site (split further if needed)."""


def heatmap_rows(wards: Sequence[Any], show_site: bool) -> list[tuple[int, str]]:
    """The heatmap's rows: (ward id, short label), the site code first on a trust wall."""
    return [
        (w.ward_id, f"{w.site_code} {w.code}" if show_site else w.code) for w in wards
    ]


def heatmap_columns(
    wards: Sequence[Any], show_site: bool
) -> list[tuple[str | None, list[tuple[int, str]]]]:
    """The heatmap's columns: (title, rows). Up to ``HEATMAP_MAX_ROWS`` wards make one
    untitled column; more make one column per site, titled with its code (the rows
    then drop it), and a site with more than the limit is split into equal parts
    titled "RGH 1/3", "RGH 2/3", ..."""
    if len(wards) <= HEATMAP_MAX_ROWS:
        return [(None, heatmap_rows(wards, show_site))]
    by_site: dict[str, list[Any]] = {}
    for w in wards:
        by_site.setdefault(w.site_code, []).append(w)
    columns: list[tuple[str | None, list[tuple[int, str]]]] = []
    for site, site_wards in by_site.items():
        parts = -(-len(site_wards) // HEATMAP_MAX_ROWS)
        size = -(-len(site_wards) // parts)
        for i in range(parts):
            chunk = site_wards[i * size : (i + 1) * size]
            title = site if parts == 1 else f"{site} {i + 1}/{parts}"
            columns.append((title, heatmap_rows(chunk, show_site=False)))
    return columns


def _wall_hour_ticks(
    hours: Sequence[datetime], tz: str | ZoneInfo
) -> tuple[list[str], list[str]]:
    """x ticks every 6 local hours as "HH:MM" on one line (a narrow column has no
    room for the date; the panel's note says "last 24 h")."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    vals, texts = [], []
    for hour in hours:
        local = to_local(hour, zone)
        if local.hour % 6 == 0:
            vals.append(hour_label(hour, zone))
            texts.append(local.strftime("%H:%M"))
    return vals, texts


def wall_heatmap(
    frame: Any,
    wards: Sequence[Any],
    hours: Sequence[datetime],
    tz: str | ZoneInfo,
    scale: float,
    show_site: bool,
    breaks: Sequence[float] = DEFAULT_BREAKS,
) -> list[tuple[str | None, go.Figure]]:
    """The beds page's occupancy heatmap (same builder, same banded colours) as one or
    more columns (``heatmap_columns``), every ward labelled, at 18 px or more at
    1080p (scaled with the screen); each cell shows its value. Every column has the
    tallest column's row count on its y axis, so rows are one height across them."""
    columns = heatmap_columns(wards, show_site)
    tallest = max((len(rows) for _, rows in columns), default=0)
    tickvals, ticktext = _wall_hour_ticks(hours, tz)
    size = int(18 * scale)
    out = []
    for title, rows in columns:
        fig = occupancy_heatmap(
            frame, rows, hours, tz, uirevision="wall", breaks=breaks,
            show_values=len(columns) == 1,  # side-by-side columns: cells too narrow
        )  # fmt: skip
        fig.update_layout(
            height=None,
            autosize=True,
            margin={"l": int(8 * scale), "r": int(8 * scale), "t": int(4 * scale),
                    "b": int(36 * scale)},
            font={"size": size},
            yaxis={"tickfont": {"size": size}, "automargin": True},
            xaxis={"title": {"text": None}, "tickfont": {"size": size}},
        )  # fmt: skip
        if rows and any(fig.data):
            fig.update_layout(
                yaxis={"autorange": False, "range": [tallest - 0.5, -0.5]},
                xaxis={"tickvals": tickvals, "ticktext": ticktext},
            )
        fig.update_traces(
            textfont={"size": int(15 * scale)}, xgap=max(1, int(scale)),
            selector={"type": "heatmap"},
        )  # fmt: skip
        out.append((title, fig))
    return out


def beds_panel(
    values: Mapping[str, float | None],
    fresh_status: Status,
    figures: Sequence[tuple[str | None, go.Figure]],
    bands: Mapping[str, Any] | None = None,
    text: ChartText | None = None,
    breaks: Sequence[float] = DEFAULT_BREAKS,
) -> html.Section:
    """``figures``: the heatmap's columns (``wall_heatmap``); ``text``: the heatmap in
    words, for screen readers only (components/chart_text); ``breaks``: its colour
    bands, named in the legend above it."""
    text_box = chart_text.text_id(IDS.heatmap)
    columns = [
        html.Div(
            [
                html.Div(title, className="wall-heatmap-title") if title else None,
                dcc.Graph(
                    id=f"{IDS.heatmap}-{i}",
                    figure=fig,
                    config={"staticPlot": True, "displayModeBar": False},
                    responsive=True,
                    className="wall-heatmap-graph",
                ),
            ],
            className="wall-heatmap-column",
        )
        for i, (title, fig) in enumerate(figures)
    ]
    body = [
        metric_figures(BED_FIGURES, values, fresh_status, bands),
        occupancy_legend(breaks),
        html.Div(
            [
                # First, so its 1 px box sits inside the panel (nothing is cut off).
                html.Div(
                    chart_text.alternative(text, IDS.heatmap) if text else None,
                    id=text_box,
                    className="visually-hidden",
                ),
                html.Div(
                    columns,
                    id=IDS.heatmap,
                    className="wall-heatmap-columns",
                    role="img",
                    **{
                        "aria-label": "Bed occupancy heatmap: wards by hour, last 24 hours",
                        "aria-describedby": f"{text_box}-summary",
                    },
                ),
            ],
            className="wall-heatmap",
        ),
    ]
    return panel("bed_heatmap", body, "occupancy by ward, last 24 h")


def ed_panel(
    values: Mapping[str, float | None],
    areas: Sequence[Any],
    area_values: Mapping[str, tuple[float | None, float | None]],
    fresh_status: Status,
    show_site: bool,
    bands: Mapping[str, Any] | None = None,
) -> html.Section:
    """Key ED figures and every area's patients against spaces (status word + icon).

    ``area_values`` maps an area's scope id to (patients, occupancy %)."""
    chips = []
    for a in areas:
        patients, occupancy = area_values.get(a.scope_id, (None, None))
        status = area_status(occupancy)
        label = f"{a.site_code} {a.name}" if show_site else a.name
        chips.append(
            html.Div(
                [
                    html.Span(label, className="wall-area-name"),
                    html.Span(
                        f"{format_value(None if patients is None else int(patients))}"
                        f" / {a.spaces}",
                        className="wall-area-count",
                    ),
                    # Exceptions only: an area within its spaces says so to a
                    # screen reader and by its green edge, keeping each area on
                    # one line so that the ones that need attention stand out.
                    html.Span(AREA_STATUS_TEXT[status], className="visually-hidden")
                    if status is Status.OK
                    else status_badge(status, AREA_STATUS_TEXT[status]),
                ],
                className=f"wall-area {status.css_class}",
                id=f"wall-area-{a.scope_id.lower()}",
            )
        )
    body = [
        metric_figures(ED_FIGURES, values, fresh_status, bands),
        html.Div(chips, className="wall-areas") if chips else None,
    ]
    return panel("ed_board", body, "patients / spaces")


def theatre_panel(
    rows: Sequence[Any],
    values: Mapping[str, float | None],
    fresh_status: Status,
    show_site: bool,
) -> html.Section:
    in_use = sum(1 for r in rows if _state(r) == "in_progress")
    done = sum(r.cases_done_today for r in rows) if rows else None
    figures = html.Div(
        [
            key_figure("theatres_in_use", "Case in progress", in_use if rows else None, "",
                       fresh_status, detail=f"of {len(rows)} theatres"),
            key_figure("theatre_cases_done", "Cases done today", done, "", fresh_status),
            key_figure("theatre_cancellations_today", "Cancelled today",
                       _figure_value("x", values.get("theatre_cancellations_today")), "",
                       fresh_status,
                       Status.WARNING if values.get("theatre_cancellations_today") else Status.OK,
                       detail="on the day"),
        ],
        className="wall-figures wall-figures-3",
    )  # fmt: skip
    cards = [
        html.Div(
            [
                html.Span(
                    f"{r.theatre.site_code} {r.theatre.code}"
                    if show_site
                    else r.theatre.code,
                    className="wall-theatre-name",
                ),
                state_badge(_state(r)),
            ],
            className=f"wall-theatre wall-theatre-{_state(r)}",
            id=f"wall-theatre-{r.theatre.site_code.lower()}-{r.theatre.code.lower()}",
        )
        for r in rows
    ]
    body = [
        figures,
        html.Div(cards, className="wall-theatres")
        if cards
        else html.P("No theatres are configured.", className="wall-empty"),
    ]
    return panel("theatre_board", body, "now")


def _state(row: Any) -> str:
    return row.state.value if hasattr(row.state, "value") else str(row.state)


def protocols_panel(runs: Sequence[Any]) -> html.Section:
    """Active surge protocols with their progress (reuses the surge page's bar)."""
    if not runs:
        body: Any = html.P(
            [_icon("bi-check-circle"), "No surge protocol is active."],
            className="wall-empty",
        )
    else:
        body = html.Div(
            [
                html.Div(
                    [
                        html.Div(
                            [html.Span(r.title, className="wall-run-title"), overdue_badge(r.overdue)],
                            className="wall-run-head",
                        ),
                        html.Div(r.scope, className="wall-run-scope"),
                        progress_bar(r.done, r.total, "Actions done",
                                     bar_id=f"wall-run-{r.id}-progress"),
                    ],
                    className="wall-run",
                    id=f"wall-run-{r.id}",
                )
                for r in runs[:4]
            ]
            + ([html.Div(f"+ {len(runs) - 4} more active", className="wall-alert-more")]
               if len(runs) > 4 else []),
            className="wall-runs",
        )  # fmt: skip
    return panel("protocols", body, f"{len(runs)} active" if runs else None)


def _opel_summary(opel: Any | None) -> html.Div:
    """Why the level is what it is: the level, its source and what is missing."""
    if opel is None or opel.level is None:
        text = "OPEL level not available"
    else:
        text = f"OPEL {opel.level} · {OPEL_WORDS.get(opel.level, '')}"
    parts: list[Any] = [html.Span(text, className="wall-opel-summary-level")]
    if opel is not None:
        source = (
            "calculated now from live figures"
            if opel.source == "calculated"
            else f"assessed {opel.assessed_at:%H:%M}"
            if opel.assessed_at
            else "assessed"
        )
        parts.append(html.Span(f" · {source}", className="wall-alert-meta"))
        missing = sum(1 for p in opel.parameters if p.value is None)
        if missing:
            parts.append(html.Span(f" · {missing} parameters without data",
                                   className="wall-alert-meta"))  # fmt: skip
    return html.Div(parts, className="wall-opel-summary")


def opel_panel(
    opel: Any | None, alerts: Sequence[Any], tz: str | ZoneInfo
) -> html.Section:
    """The OPEL level with why (each parameter's band) and every active alert."""
    rows: list[Any] = []
    if opel is not None:
        for p in opel.parameters:
            value = MISSING_VALUE_TEXT if p.value is None else f"{p.value:.1f}"
            band = "no data" if p.band is None else f"band {p.band}"
            rows.append(
                html.Tr(
                    [html.Td(str(p.number)), html.Td(p.label), html.Td(value, className="text-end"),
                     html.Td(band, className="text-end")],
                    className="wall-opel-missing" if p.value is None else None,
                )
            )  # fmt: skip
    head = _opel_summary(opel)
    table = (
        html.Table(
            [
                # Read by screen readers; the wall's sighted viewers see the columns.
                html.Caption(
                    "OPEL parameters: value and band", className="visually-hidden"
                ),
                html.Thead(
                    html.Tr(
                        [
                            html.Th(h, scope="col", className="visually-hidden")
                            for h in ("Number", "Parameter", "Value", "Band")
                        ]
                    )
                ),
                html.Tbody(rows),
            ],
            className="wall-opel-table",
        )
        if rows
        else html.P("No OPEL breakdown available.", className="wall-empty")
    )
    quiet = [
        a for a in alerts if not a.needs_attention and (a.acknowledged or a.silenced)
    ]
    loud = [a for a in alerts if a.needs_attention]
    summary = html.Div(
        [
            status_badge(Status.CRITICAL if loud else Status.OK,
                         f"{len(loud)} alert{'s' if len(loud) != 1 else ''} need attention"),
            html.Span(f" · {len(quiet)} acknowledged or silenced" if quiet else "",
                      className="wall-alert-meta"),
        ],
        className="wall-alert-summary",
        id="wall-alert-summary",
    )  # fmt: skip
    return panel("opel_alerts", [head, summary, table])


# ---------------------------------------------------------------------------
# The whole refresh
# ---------------------------------------------------------------------------


def panels_class(panels: Sequence[str], mode: str) -> str:
    """Grid: areas by panel count (``wall-n-5``); rotate: panels stacked full-size."""
    if mode == "rotate" and len(panels) > 1:
        return f"wall-panels wall-rotate wall-n-{len(panels)}"
    return f"wall-panels wall-grid wall-n-{len(panels)}"


def root_class(resolution: str) -> str:
    return f"wall-root wall-res-{resolution if resolution in FONT_SCALE else '1080p'}"


def not_found(slug: str | None, known: Sequence[str]) -> html.Div:
    return html.Div(
        [
            html.H2(f"There is no display profile {slug!r}."),
            html.P("Known profiles: " + (", ".join(known) if known else "none")),
            html.P("An administrator can add one at /wall?admin=1."),
        ],
        className="wall-message",
    )


def error_card(text: str) -> dbc.Alert:
    return dbc.Alert(text, color="danger", className="wall-message")


# ---------------------------------------------------------------------------
# Admin (/wall?admin=1): profiles and display tokens
# ---------------------------------------------------------------------------


def _labelled(label: str, control: Any, help_text: str | None = None) -> html.Div:
    return html.Div(
        [dbc.Label(label, html_for=getattr(control, "id", None)), control,
         dbc.FormText(help_text) if help_text else None],
        className="mb-3",
    )  # fmt: skip


def admin_layout() -> html.Div:
    from ops.display import MODE_LABELS, PANEL_LABELS, RESOLUTION_LABELS

    profile_form = dbc.Card(
        [
            dbc.CardHeader("Display profile"),
            dbc.CardBody(
                [
                    _labelled("Edit an existing profile",
                              dcc.Dropdown(id=IDS.admin_profile, placeholder="New profile",
                                           clearable=True)),
                    _labelled("Short name (in the URL)", dbc.Input(id=IDS.admin_slug),
                              "lower-case letters, digits and hyphens"),
                    _labelled("Display name", dbc.Input(id=IDS.admin_name)),
                    _labelled("Scope", dcc.Dropdown(id=IDS.admin_scope, clearable=False,
                                                    value="trust")),
                    _labelled("Panels", dbc.Checklist(
                        id=IDS.admin_panels,
                        options=[{"label": v, "value": k} for k, v in PANEL_LABELS.items()],
                        value=list(PANEL_LABELS))),
                    _labelled("Mode", dbc.RadioItems(
                        id=IDS.admin_mode, value="grid",
                        options=[{"label": v, "value": k} for k, v in MODE_LABELS.items()])),
                    _labelled("Rotate every (seconds)",
                              dbc.Input(id=IDS.admin_rotate, type="number", value=20, min=5,
                                        max=600)),
                    _labelled("Refresh every (seconds)",
                              dbc.Input(id=IDS.admin_poll_seconds, type="number", value=30,
                                        min=5, max=600)),
                    _labelled("Screen", dbc.RadioItems(
                        id=IDS.admin_resolution, value="1080p",
                        options=[{"label": v, "value": k}
                                 for k, v in RESOLUTION_LABELS.items()])),
                    dcc.Store(id=IDS.admin_version),
                    dbc.Button("Save profile", id=IDS.admin_save, color="primary"),
                    html.Div(id=IDS.admin_message, className="mt-3"),
                ]
            ),
        ],
        className="mb-3",
    )  # fmt: skip
    token_form = dbc.Card(
        [
            dbc.CardHeader("Display tokens (unattended screens)"),
            dbc.CardBody(
                [
                    html.P(
                        "A token opens one profile read-only without signing in. It is "
                        "shown once; revoke it if a screen is lost or moved.",
                        className="text-muted",
                    ),
                    _labelled("Profile", dcc.Dropdown(id=IDS.admin_token_profile,
                                                      clearable=False)),
                    _labelled("Where is the screen?", dbc.Input(id=IDS.admin_token_label,
                                                                placeholder="e.g. Bed bureau TV")),
                    dbc.Button("Issue token", id=IDS.admin_issue, color="secondary"),
                    html.Div(id=IDS.admin_token_message, className="mt-3"),
                    html.Div(id=IDS.admin_tokens, className="mt-3"),
                ]
            ),
        ]
    )  # fmt: skip
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Wall displays", className="page-title"),
                    html.A("← Overview", href="/", className="ms-3"),
                ],
                className="page-header",
            ),
            dcc.Store(id=IDS.admin_refresh, data=0),
            dbc.Row(
                [
                    dbc.Col(profile_form, lg=5),
                    dbc.Col([html.Div(id=IDS.admin_profiles, className="mb-3"), token_form],
                            lg=7),
                ]
            ),
        ],
        id=IDS.admin,
        className="wall-admin container-fluid",
    )  # fmt: skip


def profiles_table(profiles: Sequence[Any]) -> Any:
    if not profiles:
        return html.P("No display profiles yet.", className="text-muted")
    rows = [
        html.Tr(
            [
                html.Td(html.A(p.slug, href=f"/wall?display={p.slug}")),
                html.Td(p.name),
                html.Td(p.scope),
                html.Td(", ".join(PANEL_TITLES[k][0] for k in p.panels)),
                html.Td(f"{p.mode}" + (f" every {p.rotate_seconds} s" if p.mode == "rotate" else "")),
                html.Td(f"{p.poll_seconds} s"),
                html.Td(p.resolution),
            ]
        )
        for p in profiles
    ]  # fmt: skip
    head = html.Thead(html.Tr([html.Th(h) for h in
                               ("Profile", "Name", "Scope", "Panels", "Mode", "Refresh",
                                "Screen")]))  # fmt: skip
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0")


def tokens_table(tokens: Sequence[Any], now: datetime, tz: str | ZoneInfo) -> Any:
    if not tokens:
        return html.P("No display tokens issued.", className="text-muted mb-0")

    def when(at: datetime | None) -> str:
        return "never" if at is None else format_local(at, tz, "%d %b %H:%M")

    rows = []
    for t in tokens:
        state = (
            status_badge(Status.OK, "Active")
            if t.active
            else status_badge(Status.MISSING, f"Revoked {when(t.revoked_at)}")
        )
        action = (
            dbc.Button(
                "Revoke", id=IDS.revoke(t.id), color="danger", size="sm", outline=True
            )
            if t.active
            else None
        )
        rows.append(
            html.Tr(
                [html.Td(str(t.id)), html.Td(t.profile_slug), html.Td(t.label or "—"),
                 html.Td(f"{t.created_by}, {when(t.created_at)}"),
                 html.Td(when(t.last_used_at)), html.Td(state), html.Td(action)],
                id=f"wall-token-{t.id}",
            )
        )  # fmt: skip
    head = html.Thead(html.Tr([html.Th(h) for h in
                               ("#", "Profile", "Screen", "Issued", "Last used", "State", "")]))  # fmt: skip
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0")


def issued_token(token: str, url: str) -> dbc.Alert:
    return dbc.Alert(
        [
            html.Strong("Token issued. It is shown only now: "),
            "open this address on the screen (kiosk mode):",
            html.Pre(url, id="wall-issued-url", className="mt-2 mb-0 text-break",
                     style={"whiteSpace": "pre-wrap"}),
        ],
        color="success",
    )  # fmt: skip
