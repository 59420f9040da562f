"""Feeds page: every feed's health, the HL7 listener and its quarantine.

Pure builders; ``callbacks/feeds.py`` passes values from ``data.queries.feeds`` and
``data.queries.hl7`` (and each feed's expected silence from the alert rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.chart_text import chart_figure, minute_label
from components.common import Status, format_age, page_header, status_badge
from components.theme import OKABE_ITO
from ops.timeutil import format_local


class IDS:
    freshness = "feeds-freshness"
    body = "feeds-body"
    denied = "feeds-denied"
    chart = "feeds-hl7-chart"
    sent = "feeds-sent"
    changed = "feeds-changed"
    message = "feeds-message"
    feeds = "feeds-table"
    hl7 = "feeds-hl7"
    quarantine = "feeds-quarantine"
    replay = "feeds-replay"
    # pattern-matching button types, {"type": ..., "id": quarantine id}
    DISCARD = "feeds-discard"
    ORIGINAL = "feeds-original"
    discard_modal = "feeds-discard-modal"
    discard_target = "feeds-discard-target"
    discard_summary = "feeds-discard-summary"
    discard_reason = "feeds-discard-reason"
    discard_confirm = "feeds-discard-confirm"
    discard_cancel = "feeds-discard-cancel"
    discard_error = "feeds-discard-error"
    original_modal = "feeds-original-modal"
    original_body = "feeds-original-body"


def layout(query: dict[str, str] | None = None) -> html.Div:
    return html.Div(
        [
            page_header(
                "Feeds",
                "Every feed bringing data in: when it last wrote, the HL7 listener "
                "and its quarantine.",
                html.Div(id=IDS.freshness),
            ),
            html.Div(id=IDS.message),
            html.Div(id=IDS.body),
            dbc.Card(
                [
                    dbc.CardHeader(
                        html.H2(
                            "HL7 messages per minute, last hour", className="h6 mb-0"
                        )
                    ),
                    dbc.CardBody(
                        chart_figure(
                            dcc.Graph(
                                id=IDS.chart,
                                config={"displayModeBar": False},
                                style={"height": "220px"},
                            ),
                            "Bar chart: HL7 messages per minute in the last hour, "
                            "accepted and refused",
                        )
                    ),
                ],
                className="mt-3",
            ),
            dcc.Store(id=IDS.sent),
            dcc.Store(id=IDS.changed, data=0),
            dcc.Store(id=IDS.discard_target),
            dbc.Modal(
                [
                    dbc.ModalHeader(dbc.ModalTitle("Discard a quarantined message")),
                    dbc.ModalBody(
                        [
                            html.Div(id=IDS.discard_summary, className="mb-2"),
                            html.P(
                                "The message leaves the quarantine without being "
                                "applied and its raw original is dropped. The audit "
                                "trail keeps who discarded it and why.",
                                className="small text-muted",
                            ),
                            dbc.Label("Reason", html_for=IDS.discard_reason),
                            dbc.Input(
                                id=IDS.discard_reason,
                                placeholder="e.g. test message sent by the PAS team",
                                maxLength=200,
                            ),
                            html.Div(id=IDS.discard_error, className="mt-2"),
                        ]
                    ),
                    dbc.ModalFooter(
                        [
                            dbc.Button(
                                "Cancel", id=IDS.discard_cancel, color="secondary"
                            ),
                            dbc.Button(
                                "Discard", id=IDS.discard_confirm, color="danger"
                            ),
                        ]
                    ),
                ],
                id=IDS.discard_modal,
                is_open=False,
            ),
            dbc.Modal(
                [
                    dbc.ModalHeader(dbc.ModalTitle("Quarantined original")),
                    dbc.ModalBody(html.Div(id=IDS.original_body)),
                ],
                id=IDS.original_modal,
                is_open=False,
                size="xl",
            ),
        ],
        className="feeds-page",
    )


def denied(text: str) -> html.Div:
    return html.Div(
        dbc.Alert([html.I(className="bi bi-lock me-1"), text], color="danger"),
        className="mt-4",
        id=IDS.denied,
    )


def _time(value: datetime | None, tz: str) -> str:
    return format_local(value, tz, "%H:%M:%S %a %d %b") if value else "never"


def feed_status_of(age: float, expected: float | None) -> tuple[Status, str]:
    """OK while within the feed's expected silence; SILENT past it."""
    if expected is not None and age > expected:
        return Status.STALE, f"Silent · {format_age(age)}"
    return Status.OK, f"{format_age(age)} ago"


def recent_text(counts: Any | None) -> str:
    """A feed's last hour (``data.queries.feeds.RecentCounts``): "4 requests
    accepted · 1 refused", "2 files (130 events) accepted · 0 refused"; "—" where the
    feed keeps no such count (the HL7 listener's are on its card)."""
    if counts is None:
        return "—"
    plural = "" if counts.accepted == 1 else "s"
    events = f" ({counts.events} events)" if counts.events else ""
    return (f"{counts.accepted} {counts.unit}{plural}{events} accepted · "
            f"{counts.refused} refused")  # fmt: skip


def feeds_table(
    lines: Sequence[Any], expectations: Mapping[str, float | None], tz: str,
    now: datetime, recent: Mapping[str, Any] | None = None,
) -> html.Div:  # fmt: skip
    """One row per feed (``data.queries.feeds.FeedLine``); ``recent``: each feed's
    last hour (FHIR clients and CSV sources), marked STALE while the feed is silent."""
    if not lines:
        return html.P("No feed has written yet.", className="text-muted", id=IDS.feeds)
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "Feed",
                    "Kind",
                    "Domains",
                    "Last write",
                    "Lag",
                    "Expected within",
                    "Last hour",
                    "Last detail",
                )
            ]
        )
    )
    rows = []
    for line in lines:
        age = (now - line.last_write_at).total_seconds()
        expected = expectations.get(line.feed)
        status, text = feed_status_of(age, expected)
        rows.append(
            html.Tr(
                [
                    html.Td(html.Code(line.feed)),
                    html.Td(line.kind),
                    html.Td(", ".join(line.domains) or "—"),
                    html.Td(_time(line.last_write_at, tz)),
                    html.Td(status_badge(status, text)),
                    html.Td(format_age(expected) if expected else "not watched"),
                    _recent_cell(status, (recent or {}).get(line.feed)),
                    html.Td(line.detail or "—", className="small text-muted"),
                ],
                **{"data-feed": line.feed},
            )
        )
    return html.Div(
        dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True),
        id=IDS.feeds,
    )


def _recent_cell(status: Status, counts: Any | None) -> html.Td:
    text = recent_text(counts)
    if status is Status.STALE and counts is not None:
        return html.Td([status_badge(Status.STALE, "STALE"), " ", text],
                       className="small", **{"data-stale": "1"})  # fmt: skip
    return html.Td(text, className="small")


def _figure_tile(label: str, value: str, detail: str | None = None) -> dbc.Col:
    children: list[Any] = [
        html.Div(label, className="kpi-title"),
        html.Div(value, className="kpi-value", style={"fontSize": "1.6rem"}),
    ]
    if detail:
        children.append(html.Div(detail, className="kpi-detail"))
    return dbc.Col(html.Div(children, className="kpi-tile"), md=2, sm=4)


def hl7_card(summary: Any, outcomes: Any, tz: str, now: datetime) -> dbc.Card:
    """The HL7 listener: ``data.queries.hl7.FeedSummary`` and the last hour's
    outcomes (``data.queries.feeds.OutcomeCounts``)."""
    if summary.last_message_at is None:
        last, lag = "never", "—"
    else:
        last = _time(summary.last_message_at, tz)
        lag = format_age((now - summary.last_message_at).total_seconds())
    quarantined = sum(summary.quarantined.values())
    tiles = dbc.Row(
        [
            _figure_tile("Last message", lag, last),
            _figure_tile("Messages, last minute", str(summary.messages_last_minute)),
            _figure_tile("Messages, last hour", str(summary.messages_last_hour)),
            _figure_tile("Accepted, last hour", str(outcomes.accepted), "ACK AA"),
            _figure_tile(
                "Refused, last hour",
                str(outcomes.quarantined + outcomes.rejected),
                f"{outcomes.quarantined} quarantined (AE) · "
                f"{outcomes.rejected} rejected (AR)",
            ),
            _figure_tile(
                "In quarantine",
                str(quarantined),
                ", ".join(f"{k}: {v}" for k, v in sorted(summary.quarantined.items()))
                or None,
            ),
        ],
        className="g-2 mb-3",
    )
    if summary.senders:
        senders = dbc.Table(
            [
                html.Thead(
                    html.Tr(
                        [
                            html.Th("Sender (MSH-3 ^ MSH-4)"),
                            html.Th("Last message"),
                            html.Th("Messages, last hour"),
                        ]
                    )
                ),
                html.Tbody(
                    [
                        html.Tr(
                            [
                                html.Td(html.Code(s.sender)),
                                html.Td(
                                    f"{_time(s.last_message_at, tz)} "
                                    f"({format_age((now - s.last_message_at).total_seconds())} ago)"
                                ),
                                html.Td(str(s.messages_last_hour)),
                            ]
                        )
                        for s in summary.senders
                    ]
                ),
            ],
            size="sm",
            responsive=True,
        )
    else:
        senders = html.P("No sender has sent a message yet.", className="text-muted")
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("HL7 v2 ADT listener (MLLP)", className="h6 mb-0")),
            dbc.CardBody(
                [
                    tiles,
                    html.H3("Senders", className="h6"),
                    senders,
                ]
            ),
        ],
        className="mt-3",
        id=IDS.hl7,
    )


def quarantine_card(
    items: Sequence[Any], tz: str, *, can_manage: bool, expired: frozenset[int]
) -> dbc.Card:
    """Unresolved quarantine (``data.queries.hl7.QuarantineItem``) with its reasons;
    replay, discard and the raw original for those who may manage feeds."""
    header: list[Any] = [html.H2("HL7 quarantine", className="h6 mb-0 me-auto")]
    if can_manage:
        header.append(
            dbc.Button(
                [html.I(className="bi bi-arrow-repeat me-1"), "Replay quarantine"],
                id=IDS.replay,
                size="sm",
                color="primary",
                disabled=not items,
            )
        )
    if not items:
        body: Any = html.P(
            "Nothing is waiting in the quarantine.", className="text-muted mb-0"
        )
    else:
        columns = ["Received", "Message", "Sender", "Control id", "Reason", "Tries"]
        if can_manage:
            columns.append("")
        rows = []
        for item in items:
            cells = [
                html.Td(_time(item.created_at, tz)),
                html.Td(item.message_type),
                html.Td(html.Code(item.sender)),
                html.Td(html.Code(item.control_id)),
                html.Td(
                    [
                        dbc.Badge(item.reason_code, color="warning", className="me-1"),
                        item.reason,
                    ]
                ),
                html.Td(str(item.attempts)),
            ]
            if can_manage:
                original = (
                    html.Span("original purged", className="small text-muted me-2")
                    if item.id in expired
                    else dbc.Button(
                        "Show original",
                        id={"type": IDS.ORIGINAL, "id": item.id},
                        size="sm",
                        color="secondary",
                        outline=True,
                        className="me-1",
                    )
                )
                cells.append(
                    html.Td(
                        [
                            original,
                            dbc.Button(
                                "Discard",
                                id={"type": IDS.DISCARD, "id": item.id},
                                size="sm",
                                color="danger",
                                outline=True,
                            ),
                        ],
                        className="text-nowrap",
                    )
                )
            rows.append(html.Tr(cells, **{"data-quarantine": str(item.id)}))
        body = dbc.Table(
            [html.Thead(html.Tr([html.Th(c) for c in columns])), html.Tbody(rows)],
            size="sm",
            responsive=True,
        )
    note = (
        "Fix the cause (the organisation file's codes, a mapping) and replay: "
        "messages that now apply leave the quarantine."
        if can_manage
        else "An administrator replays or discards quarantined messages; raw "
        "originals (with patient identifiers) are shown to administrators only."
    )
    return dbc.Card(
        [
            dbc.CardHeader(header, className="d-flex align-items-center"),
            dbc.CardBody([body, html.P(note, className="small text-muted mb-0 mt-2")]),
        ],
        className="mt-3",
        id=IDS.quarantine,
    )


def body(
    lines: Sequence[Any],
    expectations: Mapping[str, float | None],
    summary: Any,
    outcomes: Any,
    items: Sequence[Any],
    tz: str,
    now: datetime,
    *,
    can_manage: bool,
    expired: frozenset[int] = frozenset(),
    recent: Mapping[str, Any] | None = None,
) -> list[Any]:
    return [
        dbc.Card(
            [
                dbc.CardHeader(html.H2("Feeds", className="h6 mb-0")),
                dbc.CardBody(feeds_table(lines, expectations, tz, now, recent)),
            ]
        ),
        hl7_card(summary, outcomes, tz, now),
        quarantine_card(items, tz, can_manage=can_manage, expired=expired),
    ]


def minutes_figure(minutes: Sequence[Any], tz: str) -> go.Figure:
    """Accepted and refused HL7 messages per minute (stacked bars, local time)."""
    # one label per minute: the repeated autumn hour's minutes carry their zone
    x = [minute_label(m.minute, tz) for m in minutes]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=[m.accepted for m in minutes],
                name="accepted (AA)",
                marker_color=OKABE_ITO[2],
            ),
            go.Bar(
                x=x,
                y=[m.refused for m in minutes],
                name="refused (AE / AR)",
                marker_color=OKABE_ITO[5],
                marker_pattern_shape="/",
            ),
        ]
    )
    fig.update_layout(
        barmode="stack",
        margin={"l": 40, "r": 16, "t": 8, "b": 32},
        legend={"orientation": "h", "y": 1.15, "x": 0},
        yaxis={"title": "messages", "rangemode": "tozero"},
        xaxis={"nticks": 12},
        uirevision="feeds-hl7",
    )
    return fig


def original_view(original: Any | None) -> html.Div:
    """A quarantined message's raw original (``QuarantineOriginal``)."""
    if original is None:
        return html.P("That message is no longer in the quarantine.")
    head = html.P(
        [
            html.Strong(original.message_type),
            f" from {original.sender}, control id {original.control_id}: ",
            original.reason,
        ]
    )
    if original.raw is None:
        return html.Div(
            [
                head,
                html.P(
                    "The raw original has been dropped (past the retention limit); "
                    "the archive keeps it with identifying fields redacted:",
                    className="text-muted",
                ),
                html.Pre(original.redacted.replace("\r", "\n"), className="small"),
            ]
        )
    return html.Div(
        [
            head,
            dbc.Alert(
                "Contains patient identifiers. This view is recorded in the audit "
                "trail.",
                color="warning",
                className="py-1 small",
            ),
            html.Pre(
                original.raw.replace("\r", "\n"),
                className="small",
                id="feeds-original-text",
            ),
        ]
    )


def done_box(text: str) -> dbc.Alert:
    return dbc.Alert(
        [html.I(className="bi bi-check-circle me-1"), text],
        color="success",
        dismissable=True,
    )


def error_box(text: str) -> dbc.Alert:
    return dbc.Alert(
        [html.I(className="bi bi-exclamation-triangle me-1"), text], color="warning"
    )
