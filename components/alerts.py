"""Alerts and OPEL page: current alerts with acknowledge/silence, history, OPEL.

Pure builders; ``callbacks/alerts.py`` feeds them values from ``data.queries.alerts``.
Filters live in the URL query (``rule``, ``scope``, ``state``, ``from``, ``to`` for
the history, ``opel`` for the breakdown's scope).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.alert_banner import (
    OPEL_MEANING,
    AlertLike,
    ack_silence_lines,
    format_alert_value,
    opel_badge,
    severity_badge,
    state_badge,
)
from components.chart_text import chart_figure
from components.common import (
    MISSING_VALUE_TEXT,
    date_input,
    empty_figure,
    page_header,
    query_string,
)
from components.theme import OKABE_ITO
from ops.metrics import CATALOGUE
from ops.timeutil import ensure_utc, format_local, to_local

FILTER_KEYS = ("rule", "scope", "state", "from", "to", "opel")
SILENCE_DURATIONS: tuple[tuple[str, str], ...] = (
    ("30m", "30 minutes"),
    ("1h", "1 hour"),
    ("2h", "2 hours"),
    ("4h", "4 hours"),
    ("8h", "8 hours"),
    ("24h", "24 hours (maximum)"),
)
STATE_FILTER_LABELS: dict[str, str] = {
    "firing": "Firing",
    "pending": "Pending",
    "recovering": "Recovering",
    "normal": "Normal (resolved)",
    "no_data": "No data",
    "error": "Error",
    "escalation": "OPEL escalation",
    "de-escalation": "OPEL de-escalation",
    "acknowledged": "Acknowledged",
    "silenced": "Silenced",
}


class IDS:
    body = "alerts-body"
    freshness = "alerts-freshness"
    opel_cards = "alerts-opel-cards"
    opel_scope = "alerts-opel-scope"
    opel_breakdown = "alerts-opel-breakdown"
    opel_trend = "alerts-opel-trend"
    current = "alerts-current"
    history = "alerts-history"
    f_rule = "alerts-filter-rule"
    f_scope = "alerts-filter-scope"
    f_state = "alerts-filter-state"
    f_from = "alerts-filter-from"
    f_to = "alerts-filter-to"
    history_problem = "alerts-history-problem"
    # acknowledge / silence dialog
    modal = "alerts-action-modal"
    modal_title = "alerts-action-title"
    modal_alert = "alerts-action-alert"
    ack_form = "alerts-ack-form"
    ack_note = "alerts-ack-note"
    silence_form = "alerts-silence-form"
    silence_duration = "alerts-silence-duration"
    silence_reason = "alerts-silence-reason"
    submit = "alerts-action-submit"
    cancel = "alerts-action-cancel"
    action_error = "alerts-action-error"
    target = "alerts-action-target"
    changed = "alerts-changed"
    message = "alerts-message"

    ACK = "alerts-ack"
    SILENCE = "alerts-silence"

    @staticmethod
    def ack_button(alert_id: int, version: int) -> dict[str, Any]:
        return {"type": IDS.ACK, "id": alert_id, "version": version}

    @staticmethod
    def silence_button(alert_id: int, version: int) -> dict[str, Any]:
        return {"type": IDS.SILENCE, "id": alert_id, "version": version}

    @staticmethod
    def row(alert_id: int) -> str:
        return f"alerts-row-{alert_id}"

    @staticmethod
    def ack_state(alert_id: int) -> str:
        return f"alerts-ackstate-{alert_id}"


class EventLike(Protocol):
    id: int
    title: str
    scope_label: str
    kind: str
    at: datetime
    from_state: str | None
    to_state: str | None
    value: float | None
    unit: str
    reason: str | None
    actor: str | None


def search_for(query: Mapping[str, str | None], **changes: str | None) -> str:
    """A query string (with "?") for the page's filters in a stable key order."""
    return query_string(FILTER_KEYS, query, **changes)


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------


def _section(title: str, children: Any, section_id: str | None = None) -> html.Section:
    kwargs = {"id": section_id} if section_id else {}
    body = children if isinstance(children, list) else [children]
    return html.Section(
        [html.H2(title, className="h5 mt-4 mb-2"), *body], className="mb-3", **kwargs
    )


def _opt(value: str | None) -> list[dict[str, str]]:
    return [{"label": value, "value": value}] if value else []


def history_filters(query: Mapping[str, str]) -> dbc.Row:
    def col(label: str, control: Any, lg: int = 2) -> dbc.Col:
        return dbc.Col(
            html.Div(
                [
                    dbc.Label(
                        label, html_for=control.id, className="small text-muted mb-1"
                    ),
                    control,
                ]
            ),
            xs=12,
            sm=6,
            lg=lg,
            className="mb-2",
        )

    state_options = [{"label": v, "value": k} for k, v in STATE_FILTER_LABELS.items()]
    return dbc.Row(
        [
            col(
                "Rule",
                dcc.Dropdown(
                    id=IDS.f_rule,
                    options=_opt(query.get("rule")),
                    value=query.get("rule"),
                    placeholder="All rules",
                ),
                3,
            ),
            col(
                "Scope",
                dcc.Dropdown(
                    id=IDS.f_scope,
                    options=_opt(query.get("scope")),
                    value=query.get("scope"),
                    placeholder="All scopes",
                ),
                3,
            ),
            col(
                "State or event",
                dcc.Dropdown(
                    id=IDS.f_state,
                    options=state_options,
                    value=query.get("state"),
                    placeholder="All",
                ),
            ),
            col(
                "From (local date)",
                date_input(IDS.f_from, query.get("from")),
            ),
            col(
                "To (local date)",
                date_input(IDS.f_to, query.get("to")),
            ),
        ],
        className="g-2",
    )


def action_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(id=IDS.modal_title)),
            dbc.ModalBody(
                [
                    html.Div(id=IDS.modal_alert, className="mb-3"),
                    html.Div(
                        [
                            dbc.Label("Note (optional)", html_for=IDS.ack_note),
                            dbc.Textarea(
                                id=IDS.ack_note,
                                maxLength=500,
                                rows=2,
                                placeholder="e.g. Bed meeting at 14:30; "
                                "calling in escalation beds",
                            ),
                        ],
                        id=IDS.ack_form,
                    ),
                    html.Div(
                        [
                            dbc.Label("Silence for", html_for=IDS.silence_duration),
                            dbc.Select(
                                id=IDS.silence_duration,
                                options=[
                                    {"label": lbl, "value": v}
                                    for v, lbl in SILENCE_DURATIONS
                                ],
                                value="1h",
                                className="mb-2",
                            ),
                            dbc.Label("Reason (required)", html_for=IDS.silence_reason),
                            dbc.Textarea(
                                id=IDS.silence_reason,
                                maxLength=500,
                                rows=2,
                                placeholder="Why this alert may be quiet",
                            ),
                        ],
                        id=IDS.silence_form,
                        style={"display": "none"},
                    ),
                    html.Div(id=IDS.action_error, className="mt-3", role="alert"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel", id=IDS.cancel, color="secondary", outline=True
                    ),
                    dbc.Button("Confirm", id=IDS.submit, color="primary"),
                ]
            ),
        ],
        id=IDS.modal,
        is_open=False,
        centered=True,
    )


def layout(query: dict[str, str]) -> html.Div:
    return html.Div(
        [
            page_header(
                "Alerts and OPEL",
                "Surge alerts by rule and scope, their history, and the OPEL level "
                "with the reason for it.",
                right=html.Span(id=IDS.freshness),
            ),
            html.Div(id=IDS.message, role="status"),
            _section(
                "Current alerts",
                html.Div(
                    id=IDS.current, style={"maxHeight": "520px", "overflowY": "auto"}
                ),
            ),
            _section(
                "OPEL level",
                [
                    html.Div(id=IDS.opel_cards),
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    html.Div(
                                        [
                                            html.Span(
                                                "Why this level:",
                                                id=f"{IDS.opel_scope}-label",
                                                className="me-2 small text-muted",
                                            ),
                                            dbc.RadioItems(
                                                id=IDS.opel_scope,
                                                options=[],
                                                value=query.get("opel"),
                                                inline=True,
                                                className="d-inline-block",
                                            ),
                                        ],
                                        role="radiogroup",
                                        **{
                                            "aria-labelledby": f"{IDS.opel_scope}-label"
                                        },
                                    ),
                                    html.Div(id=IDS.opel_breakdown),
                                ],
                                xs=12,
                                xxl=7,
                            ),
                            dbc.Col(
                                chart_figure(
                                    dcc.Graph(
                                        id=IDS.opel_trend,
                                        figure=empty_figure("Loading…"),
                                        config={
                                            "displaylogo": False,
                                            "displayModeBar": False,
                                        },
                                        style={"height": "320px"},
                                    ),
                                    "Line chart: OPEL level over the last 7 days",
                                ),
                                xs=12,
                                xxl=5,
                            ),
                        ],
                        className="mt-3 g-3",
                    ),
                ],
                section_id="opel",
            ),
            _section("History", [history_filters(query), html.Div(id=IDS.history)]),
            action_modal(),
            dcc.Store(id=IDS.target),
            dcc.Store(id=IDS.changed, data=0),
        ],
        id=IDS.body,
    )


# ---------------------------------------------------------------------------
# Current alerts
# ---------------------------------------------------------------------------


def _time(value: datetime | None, tz: str, now: datetime) -> str:
    if value is None:
        return MISSING_VALUE_TEXT
    same_day = to_local(value, tz).date() == to_local(now, tz).date()
    return format_local(value, tz, "%H:%M" if same_day else "%a %d %b %H:%M")


class CurrentAlert(AlertLike, Protocol):
    rule_id: str
    version: int
    scope_kind: str


def declare_link(alert: CurrentAlert, template_key: str) -> dcc.Link:
    """A link to declare the protocol a firing alert suggests, with the trigger filled in."""
    detail = f"{alert.title} — {alert.scope_label}"
    query = urlencode({"declare": template_key, "trigger": "alert", "detail": detail})
    return dcc.Link(
        [
            html.I(className="bi bi-megaphone me-1", **{"aria-hidden": "true"}),
            f"Declare {template_key}",
        ],
        href=f"/surge?{query}",
        className="btn btn-sm btn-outline-warning mb-1",
        id=f"alerts-declare-{alert.id}",
    )


def current_table(
    alerts: Sequence[CurrentAlert],
    tz: str,
    now: datetime,
    can_act: bool = True,
    suggestions: Mapping[str, str] | None = None,
) -> Any:
    if not alerts:
        return html.P(
            [
                html.I(className="bi bi-check-circle me-1", **{"aria-hidden": "true"}),
                "No active alerts: every rule is normal for every scope.",
            ],
            className="text-muted",
        )
    header = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "Alert",
                    "Scope",
                    "State",
                    "Value",
                    "Since",
                    "Severity",
                    "Acknowledged / silenced",
                    "Actions",
                )
            ]
        )
    )
    rows = []
    for a in alerts:
        actions = []
        if can_act:
            if not a.acknowledged:
                actions.append(
                    dbc.Button(
                        [html.I(className="bi bi-check2 me-1"), "Acknowledge"],
                        id=IDS.ack_button(a.id, a.version),
                        size="sm",
                        color="primary",
                        className="me-1 mb-1",
                    )
                )
            actions.append(
                dbc.Button(
                    [html.I(className="bi bi-bell-slash me-1"), "Silence"],
                    id=IDS.silence_button(a.id, a.version),
                    size="sm",
                    color="light",
                    outline=True,
                    className="mb-1",
                )
            )
        suggested = (suggestions or {}).get(a.rule_id)
        if suggested and a.state == "firing":
            actions.append(declare_link(a, suggested))
        ack = ack_silence_lines(a, tz) or [html.Span("—", className="text-muted")]
        rows.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Div(a.title),
                            html.Div(a.rule_id, className="small text-muted"),
                        ]
                    ),
                    html.Td(a.scope_label),
                    html.Td(state_badge(a.state)),
                    html.Td(
                        format_alert_value(a.value, a.unit),
                        className="text-end text-nowrap",
                    ),
                    html.Td(_time(a.since, tz, now), className="text-nowrap"),
                    html.Td(severity_badge(a.severity)),
                    html.Td(ack, id=IDS.ack_state(a.id)),
                    html.Td(actions, className="text-nowrap"),
                ],
                id=IDS.row(a.id),
            )
        )
    return dbc.Table(
        [header, html.Tbody(rows)],
        size="sm",
        hover=True,
        responsive=True,
        className="align-middle",
    )


def action_summary(alert: CurrentAlert, tz: str) -> html.Div:
    return html.Div(
        [
            severity_badge(alert.severity),
            html.Strong(f" {alert.title}"),
            html.Div(
                f"{alert.scope_label} · {format_alert_value(alert.value, alert.unit)} · "
                f"{alert.state.replace('_', ' ')} since {format_local(alert.since, tz)}",
                className="small text-muted mt-1",
            ),
        ]
    )


def error_box(message: str) -> dbc.Alert:
    return dbc.Alert(
        [html.I(className="bi bi-x-octagon me-1", **{"aria-hidden": "true"}), message],
        color="danger",
        className="mb-0 py-2",
    )


def done_box(message: str) -> dbc.Alert:
    return dbc.Alert(
        [
            html.I(className="bi bi-check-circle me-1", **{"aria-hidden": "true"}),
            message,
        ],
        color="success",
        dismissable=True,
        className="py-2",
    )


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------


def _event_text(e: EventLike) -> list[Any]:
    if e.kind == "transition":
        return [
            state_badge(e.from_state or "normal"),
            " → ",
            state_badge(e.to_state or ""),
        ]
    if e.kind in ("escalation", "de-escalation"):
        icon = (
            "bi-arrow-up-circle" if e.kind == "escalation" else "bi-arrow-down-circle"
        )
        return [
            html.I(className=f"bi {icon} me-1", **{"aria-hidden": "true"}),
            "OPEL " + e.kind,
        ]
    if e.kind == "acknowledged":
        return [
            html.I(className="bi bi-check2-circle me-1", **{"aria-hidden": "true"}),
            "Acknowledged",
        ]
    if e.kind == "silenced":
        return [
            html.I(className="bi bi-bell-slash me-1", **{"aria-hidden": "true"}),
            "Silenced",
        ]
    return [e.kind]


def history_table(
    events: Sequence[EventLike],
    tz: str,
    now: datetime,
    limit: int,
    problem: str | None = None,
) -> Any:
    """``problem``: why the filters cannot match (``EventFilters.problem``), said
    instead of an empty table."""
    if problem:
        return html.P(
            [html.I(className="bi bi-exclamation-triangle me-1", **{"aria-hidden": "true"}),
             problem],
            className="text-warning-emphasis",
            id=IDS.history_problem,
        )  # fmt: skip
    if not events:
        return html.P("No alert history matches these filters.", className="text-muted")
    header = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "Time",
                    "Alert",
                    "Scope",
                    "Event",
                    "Value",
                    "Reason / note",
                    "By",
                )
            ]
        )
    )
    rows = [
        html.Tr(
            [
                html.Td(_time(e.at, tz, now), className="text-nowrap"),
                # text-break: a long word (a pasted reference or URL) wraps in
                # its cell instead of running off the table
                html.Td(e.title, className="text-break"),
                html.Td(e.scope_label),
                html.Td(_event_text(e), className="text-nowrap"),
                html.Td(
                    format_alert_value(e.value, e.unit),
                    className="text-end text-nowrap",
                ),
                html.Td(e.reason or "—", className="small text-break"),
                html.Td(
                    e.actor or html.Span("system", className="text-muted"),
                    className="text-break",
                ),
            ]
        )
        for e in events
    ]
    parts: list[Any] = [
        dbc.Table(
            [header, html.Tbody(rows)],
            size="sm",
            responsive=True,
            className="align-middle",
        )
    ]
    if len(events) >= limit:
        parts.append(
            html.P(
                f"Showing the newest {limit}; narrow the filters to see more.",
                className="small text-muted",
            )
        )
    return html.Div(parts)


def rule_options(rules: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"label": f"{title} ({rid})", "value": rid} for rid, title in rules]


def scope_options(scopes: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "label": f"{label} ({value.split(':', 1)[0].replace('_', ' ')})",
            "value": value,
        }
        for value, label in scopes
    ]


# ---------------------------------------------------------------------------
# OPEL
# ---------------------------------------------------------------------------


class OpelViewLike(Protocol):
    scope_kind: str
    scope_id: str
    scope_label: str
    assessed_at: datetime
    level: int | None
    total: float
    config_version: str
    incomplete: bool
    result: Any  # ops.opel.OpelResult


def scope_value(v: OpelViewLike) -> str:
    return f"{v.scope_kind}:{v.scope_id}"


def opel_cards(views: Sequence[OpelViewLike], tz: str, now: datetime) -> Any:
    if not views:
        return html.P(
            "OPEL has not been assessed yet: the evaluator has not run.",
            className="text-muted",
        )
    cards = []
    for v in views:
        r = v.result
        lines: list[Any] = [
            html.Div(v.scope_label, className="kpi-title"),
            html.Div(
                opel_badge(
                    v.level, badge_id=f"alerts-opel-{v.scope_kind}-{v.scope_id.lower()}"
                ),
                className="fs-5 my-1",
            ),
            html.Div(
                OPEL_MEANING.get(v.level, "level unknown")
                if v.level
                else "level unknown: too many parameters missing",
                className="small",
            ),
            html.Div(f"Total {r.total:g} of {r.max_total:g}", className="small"),
        ]
        if v.incomplete:
            lines.append(
                html.Div(
                    [
                        html.I(
                            className="bi bi-question-circle me-1",
                            **{"aria-hidden": "true"},
                        ),
                        f"Incomplete: {len(r.missing)} missing; worst case OPEL "
                        f"{r.worst_case_level}",
                    ],
                    className="small status-text status-missing",
                )
            )
        lines.append(
            html.Div(
                f"Assessed {_time(v.assessed_at, tz, now)} · config {v.config_version}",
                className="kpi-as-of",
            )
        )
        cards.append(
            dbc.Col(
                html.Div(lines, className="kpi-tile"),
                xs=12,
                md=6,
                xl=4,
                className="mb-2",
            )
        )
    return dbc.Row(cards, className="g-2")


def opel_scope_options(views: Sequence[OpelViewLike]) -> list[dict[str, str]]:
    return [{"label": v.scope_label, "value": scope_value(v)} for v in views]


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return MISSING_VALUE_TEXT
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _param_value(value: float | None, metric: str) -> str:
    unit = CATALOGUE[metric].unit if metric in CATALOGUE else ""
    return format_alert_value(value, unit)


def opel_breakdown(
    view: OpelViewLike | None,
    band_ranges: Mapping[tuple[str, int], str],
    config_source: str,
    current_version: str,
    level_thresholds: Sequence[tuple[int, float]],
    tz: str,
) -> Any:
    """The "why this level" table: each parameter's value, band, weight, contribution."""
    if view is None:
        return html.P("No assessment to explain yet.", className="text-muted")
    r = view.result
    same_config = view.config_version == current_version
    header = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "#",
                    "Parameter",
                    "Value",
                    "Band",
                    "Score",
                    "Weight",
                    "Contribution",
                    "Data",
                )
            ]
        )
    )
    rows = []
    for p in r.parameters:
        band_text = MISSING_VALUE_TEXT
        if p.band is not None:
            rng = band_ranges.get((p.key, p.band)) if same_config else None
            band_text = f"Band {p.band}" + (f" ({rng})" if rng else "")
        data = (
            html.Span(
                [
                    html.I(
                        className="bi bi-question-circle me-1",
                        **{"aria-hidden": "true"},
                    ),
                    "missing",
                ],
                className="status-text status-missing",
            )
            if p.missing
            else html.Span("ok", className="text-muted")
        )
        rows.append(
            html.Tr(
                [
                    html.Td(p.number),
                    html.Td(p.label),
                    html.Td(
                        _param_value(p.value, p.metric),
                        className="text-end text-nowrap",
                    ),
                    html.Td(band_text),
                    html.Td(
                        _num(p.score, 0) if p.score is not None else MISSING_VALUE_TEXT,
                        className="text-end",
                    ),
                    html.Td(f"{p.weight:g}", className="text-end"),
                    html.Td(f"{p.contribution:g}", className="text-end"),
                    html.Td(data),
                ]
            )
        )
    rows.append(
        html.Tr(
            [
                html.Td(""),
                html.Th("Total"),
                html.Td(""),
                html.Td(""),
                html.Td(""),
                html.Td(""),
                html.Th(f"{r.total:g}", className="text-end"),
                html.Td(opel_badge(view.level)),
            ]
        )
    )
    mapping = " · ".join(f"≤ {t:g} → OPEL {lvl}" for lvl, t in level_thresholds)
    notes: list[Any] = [
        html.Div(
            f"{view.scope_label}, assessed {format_local(view.assessed_at, tz, '%H:%M %a %d %b')}"
            f" with configuration version {view.config_version}.",
            className="small",
        ),
        html.Div(
            f"Level from total: {mapping} (a higher total is OPEL 4).",
            className="small text-muted",
        ),
    ]
    if not same_config:
        notes.append(
            html.Div(
                f"The configuration in force now is version {current_version}; band ranges "
                "are not shown because they may differ.",
                className="small status-text status-warning",
            )
        )
    if r.missing:
        notes.append(
            html.Div(
                f"Missing parameters score nothing here; had they been in their worst band "
                f"the total would be {r.worst_case_total:g} (OPEL {r.worst_case_level}).",
                className="small",
            )
        )
    notes.append(
        html.Div(["Source: ", config_source], className="small text-muted mt-1")
    )
    return html.Div(
        [
            dbc.Table(
                [header, html.Tbody(rows)],
                size="sm",
                responsive=True,
                className="align-middle mt-2",
            ),
            html.Div(notes),
        ]
    )


class TrendPointLike(Protocol):
    scope_kind: str
    scope_id: str
    scope_label: str
    at: datetime
    level: int | None


def opel_trend_figure(
    points: Sequence[TrendPointLike],
    since: datetime,
    until: datetime,
    tz: str,
    uirevision: str = "opel-trend",
) -> go.Figure:
    """Step line of the level per scope over the window; levels 1-4 on a fixed axis."""
    if not points:
        return empty_figure("No OPEL assessments in the last 7 days")
    series: dict[tuple[str, str], list[TrendPointLike]] = {}
    for p in points:
        series.setdefault((p.scope_kind, p.scope_id), []).append(p)
    order = sorted(series, key=lambda k: (k[0] != "trust", series[k][0].scope_label))
    fig = go.Figure()
    for i, key in enumerate(order):
        pts = series[key]
        xs = [to_local(ensure_utc(p.at), tz).replace(tzinfo=None) for p in pts]
        ys = [p.level for p in pts]
        xs.append(to_local(ensure_utc(until), tz).replace(tzinfo=None))
        ys.append(pts[-1].level)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line_shape="hv",
                name=pts[0].scope_label,
                line={
                    "color": OKABE_ITO[i % len(OKABE_ITO)],
                    "width": 3 if key[0] == "trust" else 2,
                    "dash": "solid" if key[0] == "trust" else ["dot", "dash"][i % 2],
                },
                connectgaps=False,
                hovertemplate="%{x|%a %d %b %H:%M}: OPEL %{y}<extra>"
                + pts[0].scope_label
                + "</extra>",
            )
        )
    fig.update_layout(
        margin={"l": 16, "r": 16, "t": 36, "b": 16},
        yaxis={
            "range": [0.5, 4.5],
            "tickvals": [1, 2, 3, 4],
            "ticktext": ["OPEL 1", "OPEL 2", "OPEL 3", "OPEL 4"],
            "fixedrange": True,
            "title": None,
        },
        xaxis={
            "range": [
                to_local(ensure_utc(since), tz).replace(tzinfo=None),
                to_local(ensure_utc(until), tz).replace(tzinfo=None),
            ],
            "title": None,
        },
        legend={"orientation": "h", "y": 1.12, "x": 0},
        title={
            "text": "OPEL level, last 7 days (local time)",
            "font": {"size": 14},
            "x": 0.01,
            "y": 0.98,
        },
        uirevision=uirevision,
        showlegend=True,
    )
    return fig
