"""Surge protocols page: declare, work and stand down protocol runs (builders only).

The page has two views in one layout -- the list (active and stood-down runs plus
the declaration form) and a run (``/surge?run=<id>``) -- because the router does not
re-render a page when only the query string changes. Parts that the poll refreshes
never contain inputs, so text being typed is never lost on a refresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.common import Status, page_header, status_badge
from ops import protocols as rules
from ops.protocol_runs import (
    SNAPSHOT_FIELDS,
    AssignmentRow,
    BannerRun,
    LogEntry,
    RunDetail,
    RunSummary,
)
from ops.timeutil import format_age, format_local, to_local

TRIGGER_OPTIONS = (
    ("manual", "Declared (manual)"),
    ("opel", "OPEL level"),
    ("alert", "Surge alert"),
)
TRUST_WIDE = "trust"
AUTO_ROLE = "auto"


class IDS:
    body = "surge-body"
    freshness = "surge-freshness"
    alert = "surge-alert"
    changed = "surge-changed"
    shown_run = "surge-shown-run"
    list_view = "surge-list-view"
    active = "surge-active"
    stood_down = "surge-stood-down"
    detail_view = "surge-detail-view"
    detail_header = "surge-detail-header"
    detail_blocks = "surge-detail-blocks"
    detail_progress = "surge-detail-progress"
    detail_roles = "surge-detail-roles"
    detail_log = "surge-detail-log"
    detail_extras = "surge-detail-extras"
    report_card = "surge-report-card"
    # declaration form
    template = "surge-template"
    template_info = "surge-template-info"
    template_error = "surge-template-error"
    site = "surge-site"
    site_error = "surge-site-error"
    trigger_kind = "surge-trigger-kind"
    trigger_detail = "surge-trigger-detail"
    trigger_error = "surge-trigger-error"
    reason = "surge-reason"
    reason_error = "surge-reason-error"
    methane_box = "surge-methane"
    declare = "surge-declare"
    # working a run
    role = "surge-role"
    person = "surge-person"
    contact = "surge-contact"
    assign = "surge-assign"
    log_text = "surge-log-text"
    log_role = "surge-log-role"
    log_add = "surge-log-add"
    stand_down = "surge-stand-down"
    stand_down_modal = "surge-stand-down-modal"
    stand_down_note = "surge-stand-down-note"
    stand_down_open = "surge-stand-down-open"
    declare_col = "surge-declare-col"
    stand_down_label = "surge-stand-down-label"
    stand_down_error = "surge-stand-down-error"
    stand_down_confirm = "surge-stand-down-confirm"
    stand_down_cancel = "surge-stand-down-cancel"
    note_modal = "surge-note-modal"
    note_title = "surge-note-title"
    note_text = "surge-note-text"
    note_confirm = "surge-note-confirm"
    note_cancel = "surge-note-cancel"
    note_target = "surge-note-target"
    csv = "surge-csv"
    pdf = "surge-pdf"
    download = "surge-download"
    banner = "surge-banner"
    role_card = "surge-role-card"
    log_card = "surge-log-card"

    # pattern-matching ids
    METHANE = "surge-methane-field"
    METHANE_ERROR = "surge-methane-error"
    TICK = "surge-tick"
    NOTE_OPEN = "surge-note-open"

    @staticmethod
    def methane(field: str) -> dict[str, str]:
        return {"type": IDS.METHANE, "field": field}

    @staticmethod
    def methane_error(field: str) -> dict[str, str]:
        return {"type": IDS.METHANE_ERROR, "field": field}

    @staticmethod
    def tick(key: str, version: int, done: bool) -> dict[str, Any]:
        """Button that ticks (``done``) or unticks ``key`` seen at ``version``."""
        return {"type": IDS.TICK, "key": key, "v": version, "done": int(done)}

    @staticmethod
    def note_open(key: str, version: int) -> dict[str, Any]:
        return {"type": IDS.NOTE_OPEN, "key": key, "v": version}

    @staticmethod
    def action_row(key: str) -> str:
        return f"surge-action-{key}"

    @staticmethod
    def run_card(run_id: int) -> str:
        return f"surge-run-{run_id}"


def _icon(name: str, extra: str = "me-1") -> html.I:
    return html.I(className=f"bi {name} {extra}", **{"aria-hidden": "true"})


def when_text(at: datetime | None, now: datetime, tz: str) -> str:
    """``10:32`` today, else ``Sun 22 Nov 10:32`` (trust-local)."""
    if at is None:
        return "—"
    if to_local(at, tz).date() == to_local(now, tz).date():
        return format_local(at, tz)
    return format_local(at, tz, "%a %d %b %H:%M")


def run_href(run_id: int) -> str:
    return f"/surge?run={run_id}"


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------


def layout(query: Mapping[str, str]) -> html.Div:
    showing_run = bool(query.get("run"))
    return html.Div(
        [
            page_header(
                "Surge protocols",
                "Declare, work and stand down escalation and incident protocols",
                right=html.Div(id=IDS.freshness),
            ),
            # Messages float at the top right so they are seen wherever the page is
            # scrolled, and never push the checklist around under the user's pointer.
            html.Div(
                id=IDS.alert,
                role="status",
                style={
                    "position": "fixed",
                    "top": "4.5rem",
                    "right": "1rem",
                    "zIndex": 1080,
                    "maxWidth": "28rem",
                },
                **{"aria-live": "polite"},
            ),
            dcc.Store(id=IDS.changed, data=0),
            dcc.Store(id=IDS.shown_run),
            dcc.Store(id=IDS.note_target),
            dcc.Download(id=IDS.download),
            html.Div(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    html.H2("Active protocols", className="h5"),
                                    html.Div(
                                        id=IDS.active,
                                        children=html.P(
                                            "Loading…", className="text-muted"
                                        ),
                                    ),
                                    html.H2("Stood down", className="h5 mt-4"),
                                    html.Div(id=IDS.stood_down),
                                ],
                                lg=7,
                                className="mb-3",
                            ),
                            dbc.Col(
                                declare_form(query),
                                lg=5,
                                id=IDS.declare_col,
                                style={"display": "none"},  # until the role is known
                            ),
                        ]
                    )
                ],
                id=IDS.list_view,
                style={"display": "none"} if showing_run else {},
            ),
            html.Div(
                [
                    dcc.Link(
                        [_icon("bi-arrow-left"), "All protocols"],
                        href="/surge",
                        className="d-inline-block mb-2",
                    ),
                    html.Div(id=IDS.detail_header),
                    dbc.Row(
                        [
                            dbc.Col(html.Div(id=IDS.detail_blocks), xl=8),
                            dbc.Col(
                                [
                                    report_card(),
                                    html.Div(id=IDS.detail_progress),
                                    roles_card(),
                                    log_card(),
                                ],
                                xl=4,
                            ),
                        ]
                    ),
                    html.Div(id=IDS.detail_extras),
                ],
                id=IDS.detail_view,
                style={} if showing_run else {"display": "none"},
            ),
            html.Div(id=IDS.body),
            note_modal(),
            stand_down_modal(),
        ]
    )


def _field(
    label: str, control: Any, error_id: Any, help_text: str | None = None
) -> html.Div:
    children = [dbc.Label(label, html_for=control.id), control]
    if help_text:
        children.append(dbc.FormText(help_text))
    children.append(dbc.FormFeedback(id=error_id, type="invalid"))
    return html.Div(children, className="mb-3")


def declare_form(query: Mapping[str, str] | None = None) -> dbc.Card:
    """The declaration form; a link from a firing alert pre-fills protocol and trigger
    (``?declare=<template>&trigger=alert&detail=...``)."""
    query = query or {}
    trigger = (
        query.get("trigger")
        if query.get("trigger") in dict(TRIGGER_OPTIONS)
        else "manual"
    )
    methane = [
        _field(
            f"{letter} — {label}",
            dbc.Input(id=IDS.methane(name), type="text", maxLength=500)
            if name != "major_incident_declared"
            else dbc.Select(
                id=IDS.methane(name),
                options=[{"label": "—", "value": ""}]
                + [
                    {"label": v.capitalize(), "value": v}
                    for v in rules.MAJOR_INCIDENT_DECLARED_VALUES
                ],
                value="",
            ),
            IDS.methane_error(name),
        )
        for name, letter, label in rules.METHANE_FIELDS
    ]
    return dbc.Card(
        [
            dbc.CardHeader(
                html.H2(
                    [_icon("bi-megaphone"), "Declare protocol"], className="h5 mb-0"
                )
            ),
            dbc.CardBody(
                [
                    _field(
                        "Protocol",
                        dbc.Select(
                            id=IDS.template,
                            options=[],
                            placeholder="Choose a protocol",
                            value=query.get("declare"),
                        ),
                        IDS.template_error,
                    ),
                    html.Div(id=IDS.template_info, className="small text-muted mb-3"),
                    _field(
                        "Scope",
                        dbc.Select(
                            id=IDS.site,
                            options=[{"label": "Trust-wide", "value": TRUST_WIDE}],
                            value=TRUST_WIDE,
                        ),
                        IDS.site_error,
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                _field(
                                    "Trigger",
                                    dbc.Select(
                                        id=IDS.trigger_kind,
                                        options=[
                                            {"label": t, "value": v}
                                            for v, t in TRIGGER_OPTIONS
                                        ],
                                        value=trigger,
                                    ),
                                    IDS.trigger_error,
                                ),
                                md=5,
                            ),
                            dbc.Col(
                                html.Div(
                                    [
                                        dbc.Label(
                                            "Trigger detail",
                                            html_for=IDS.trigger_detail,
                                        ),
                                        dbc.Input(
                                            id=IDS.trigger_detail,
                                            type="text",
                                            maxLength=200,
                                            value=query.get("detail", "")[:200],
                                            placeholder="e.g. OPEL 3 at 10:15, alert name",
                                        ),
                                    ],
                                    className="mb-3",
                                ),
                                md=7,
                            ),
                        ]
                    ),
                    _field(
                        "Reason",
                        dbc.Textarea(
                            id=IDS.reason,
                            rows=3,
                            maxLength=4000,
                            placeholder="What is happening and why this protocol now",
                        ),
                        IDS.reason_error,
                    ),
                    html.Div(
                        [
                            html.H3("METHANE report", className="h6 mt-2"),
                            html.P(
                                "Required for this protocol. 'None known' is an answer; a blank is not.",
                                className="small text-muted",
                            ),
                            *methane,
                        ],
                        id=IDS.methane_box,
                        style={"display": "none"},
                    ),
                    dbc.Button(
                        [_icon("bi-megaphone"), "Declare"],
                        id=IDS.declare,
                        color="danger",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        className="mb-3",
    )


def _card_header(icon: str, title: str) -> dbc.CardHeader:
    return dbc.CardHeader(html.H3([_icon(icon), title], className="h6 mb-0"))


def report_card() -> dbc.Card:
    """Downloads and stand-down (static: never re-rendered by the poll)."""
    return dbc.Card(
        dbc.CardBody(
            [
                dbc.Button(
                    [_icon("bi-filetype-csv"), "After-action CSV"],
                    id=IDS.csv,
                    color="secondary",
                    size="sm",
                    className="me-2",
                    n_clicks=0,
                ),
                dbc.Button(
                    [_icon("bi-filetype-pdf"), "After-action PDF"],
                    id=IDS.pdf,
                    color="secondary",
                    size="sm",
                    className="me-2",
                    n_clicks=0,
                ),
                dbc.Button(
                    [_icon("bi-flag"), "Stand down…"],
                    id=IDS.stand_down,
                    color="warning",
                    size="sm",
                    n_clicks=0,
                ),
            ],
            className="d-flex flex-wrap gap-1",
        ),
        className="mb-3",
        id=IDS.report_card,
    )


def roles_card() -> dbc.Card:
    """Command roles: the refreshed table, then the (static) handover form."""
    return dbc.Card(
        [
            _card_header("bi-person-badge", "Command roles"),
            html.Div(id=IDS.detail_roles),
            dbc.CardFooter(
                [
                    dbc.Label(
                        "Assign or hand over", html_for=IDS.role, className="small mb-1"
                    ),
                    dbc.Select(id=IDS.role, options=[], size="sm", placeholder="Role"),
                    dbc.Label(
                        "Bleep or phone (optional)",
                        html_for=IDS.contact,
                        className="visually-hidden",
                    ),
                    dbc.InputGroup(
                        [
                            dbc.Input(
                                id=IDS.person,
                                type="text",
                                maxLength=120,
                                placeholder="Person taking the role",
                                size="sm",
                            ),
                            dbc.Input(
                                id=IDS.contact,
                                type="text",
                                maxLength=60,
                                placeholder="Bleep or phone",
                                size="sm",
                            ),
                            dbc.Button(
                                [_icon("bi-arrow-left-right"), "Assign"],
                                id=IDS.assign,
                                color="primary",
                                size="sm",
                                n_clicks=0,
                            ),
                        ],
                        className="mt-1",
                    ),
                ],
                id=IDS.role_card,
            ),
        ],
        className="mb-3",
    )


def log_card() -> dbc.Card:
    """Activity log: the (static) entry form, then the refreshed entries."""
    return dbc.Card(
        [
            _card_header("bi-journal-text", "Activity log (newest first)"),
            dbc.CardBody(
                [
                    dbc.Label(
                        "New entry", html_for=IDS.log_text, className="small mb-1"
                    ),
                    dbc.Textarea(id=IDS.log_text, rows=2, maxLength=4000),
                    dbc.Label(
                        "Written as (role)",
                        html_for=IDS.log_role,
                        className="visually-hidden",
                    ),
                    dbc.InputGroup(
                        [
                            dbc.Select(
                                id=IDS.log_role, options=[], value=AUTO_ROLE, size="sm"
                            ),
                            dbc.Button(
                                [_icon("bi-plus-lg"), "Add entry"],
                                id=IDS.log_add,
                                color="primary",
                                size="sm",
                                n_clicks=0,
                            ),
                        ],
                        className="mt-1",
                    ),
                ],
                id=IDS.log_card,
                className="border-bottom border-secondary",
            ),
            html.Div(id=IDS.detail_log),
        ],
        className="mb-3",
    )


def note_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Mark done with a note")),
            dbc.ModalBody(
                [
                    html.P(id=IDS.note_title),
                    dbc.Label("Note", html_for=IDS.note_text),
                    dbc.Textarea(id=IDS.note_text, rows=3, maxLength=4000),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel", id=IDS.note_cancel, color="secondary", n_clicks=0
                    ),
                    dbc.Button(
                        [_icon("bi-check2-square"), "Mark done"],
                        id=IDS.note_confirm,
                        color="success",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        id=IDS.note_modal,
        is_open=False,
    )


STAND_DOWN_NOTE_LABEL = "Stand-down note (optional)"
STAND_DOWN_REASON_LABEL = "Reason for standing down early (required)"


def stand_down_warning(
    template: rules.ProtocolTemplate, left: Sequence[rules.Action]
) -> dbc.Alert | None:
    """What is still open, shown before an early stand-down (None when all done)."""
    if not left:
        return None
    n, total = len(left), len(template.actions)
    blocks = {a.key: b.title for b in template.blocks for a in b.actions}
    return dbc.Alert(
        [
            html.Strong(
                [
                    _icon("bi-exclamation-triangle"),
                    f"{n} of {total} action{'' if total == 1 else 's'} "
                    f"{'is' if n == 1 else 'are'} still open.",
                ]
            ),
            html.Span(
                " Standing down now is early: give the reason. It is recorded in the "
                "audit trail, the activity log and the after-action report."
            ),
            html.Ul(
                [html.Li(f"{blocks.get(a.key, '')}: {a.text}") for a in left],
                className="mb-0 mt-2 small",
                style={"maxHeight": "14rem", "overflowY": "auto"},
                tabIndex=0,
                **{"aria-label": "Open actions"},
            ),
        ],
        color="warning",
        className="py-2",
    )


def stand_down_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Stand down this protocol?")),
            dbc.ModalBody(
                [
                    html.P(
                        "Standing down closes the checklist, the role assignments and the "
                        "activity log. It is recorded with your name and the time."
                    ),
                    html.Div(id=IDS.stand_down_open),
                    dbc.Label(
                        STAND_DOWN_NOTE_LABEL,
                        id=IDS.stand_down_label,
                        html_for=IDS.stand_down_note,
                    ),
                    dbc.Textarea(id=IDS.stand_down_note, rows=3, maxLength=4000),
                    dbc.FormFeedback(id=IDS.stand_down_error, type="invalid"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel",
                        id=IDS.stand_down_cancel,
                        color="secondary",
                        n_clicks=0,
                    ),
                    dbc.Button(
                        [_icon("bi-flag"), "Stand down"],
                        id=IDS.stand_down_confirm,
                        color="warning",
                        n_clicks=0,
                    ),
                ]
            ),
        ],
        id=IDS.stand_down_modal,
        is_open=False,
    )


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


def message(kind: str, text: str) -> dbc.Alert:
    """A user message: ``kind`` is success, conflict, denied or error (icon + text)."""
    icon, color = {
        "success": ("bi-check-circle", "success"),
        "conflict": ("bi-exclamation-triangle", "warning"),
        "denied": ("bi-shield-lock", "danger"),
        "error": ("bi-x-octagon", "danger"),
    }[kind]
    return dbc.Alert(
        [_icon(icon), text],
        color=color,
        dismissable=True,
        className="py-2 shadow",
        duration=6000 if kind == "success" else None,
    )


def template_info(template: rules.ProtocolTemplate | None) -> Any:
    if template is None:
        return ""
    trig = template.trigger
    parts = []
    if trig.opel_level is not None:
        parts.append(f"OPEL {trig.opel_level}")
    if trig.alert_rules:
        parts.append("alerts: " + ", ".join(trig.alert_rules))
    if trig.incident_type:
        parts.append(f"{trig.incident_type} incident")
    return [
        html.Div(template.summary),
        html.Div(
            f"Suggested by {'; '.join(parts)} · version {template.version} · "
            f"{len(template.actions)} actions · {len(template.roles)} roles"
            + (" · METHANE required" if template.requires_methane else "")
        ),
    ]


# ---------------------------------------------------------------------------
# Lists and banner
# ---------------------------------------------------------------------------


def progress_bar(
    done: int, total: int, label: str | None = None, bar_id: str | None = None
) -> html.Div:
    """A progress bar with the count written beside it (never colour alone)."""
    pct = 0 if total == 0 else round(100 * done / total)
    kwargs = {"id": bar_id} if bar_id else {}
    return html.Div(
        [
            html.Div(
                label,
                className="small text-truncate",
                style={"width": "11rem"},
                title=label,
            )
            if label
            else None,
            # The bar repeats the count written beside it: hidden from screen readers,
            # which read the label and "done/total".
            html.Div(
                dbc.Progress(
                    value=pct,
                    color="success" if done == total and total else "info",
                    style={"height": "0.6rem"},
                ),
                style={"flex": "1"},
                className="mx-2",
                **{"aria-hidden": "true"},
            ),
            html.Span(f"{done}/{total}", className="small text-nowrap", **kwargs),
        ],
        className="d-flex align-items-center mb-1",
    )


def overdue_badge(count: int) -> html.Span:
    if count == 0:
        return status_badge(Status.OK, "None overdue")
    return status_badge(Status.CRITICAL, f"{count} overdue")


def active_list(runs: Sequence[RunSummary], now: datetime, tz: str) -> Any:
    if not runs:
        return html.P(
            [_icon("bi-check-circle"), "No protocol is active."], className="text-muted"
        )
    cards = []
    for s in runs:
        r = s.run
        cards.append(
            dbc.Card(
                dbc.CardBody(
                    [
                        html.Div(
                            [
                                dcc.Link(
                                    html.H3(r.title, className="h6 mb-0"),
                                    href=run_href(r.id),
                                ),
                                overdue_badge(s.overdue),
                            ],
                            className="d-flex justify-content-between align-items-start gap-2",
                        ),
                        html.Div(
                            f"{r.scope_text} · declared by {r.declared_by} at {when_text(r.declared_at, now, tz)} "
                            f"({format_age((now - r.declared_at).total_seconds())} ago)",
                            className="small text-muted mb-2",
                        ),
                        progress_bar(
                            s.overall.done,
                            s.overall.total,
                            "All actions",
                            bar_id=f"surge-run-{r.id}-progress",
                        ),
                        *[progress_bar(b.done, b.total, b.title) for b in s.blocks],
                    ]
                ),
                className="mb-2",
                id=IDS.run_card(r.id),
            )
        )
    return cards


def stood_down_list(runs: Sequence[RunSummary], now: datetime, tz: str) -> Any:
    if not runs:
        return html.P("None yet.", className="text-muted")
    header = html.Thead(
        html.Tr(
            [
                html.Th("Protocol"),
                html.Th("Scope"),
                html.Th("Declared"),
                html.Th("Stood down"),
                html.Th("Actions done"),
            ]
        )
    )
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(s.run.title, href=run_href(s.run.id))),
                html.Td(s.run.scope_text),
                html.Td(
                    f"{when_text(s.run.declared_at, now, tz)} · {s.run.declared_by}"
                ),
                html.Td(
                    f"{when_text(s.run.stood_down_at, now, tz)} · {s.run.stood_down_by or '—'}"
                ),
                html.Td(f"{s.overall.done}/{s.overall.total}"),
            ]
        )
        for s in runs
    ]
    return dbc.Table(
        [header, html.Tbody(rows)],
        size="sm",
        hover=True,
        responsive=True,
        className="small",
    )


def active_protocols_banner(runs: Sequence[BannerRun]) -> html.Div | None:
    """One line per active protocol (title, scope, progress x/y, overdue, link); None if none."""
    if not runs:
        return None
    lines = []
    for r in runs:
        overdue = f" · {r.overdue} overdue" if r.overdue else ""
        lines.append(
            html.Div(
                [
                    _icon(
                        "bi-exclamation-octagon" if r.overdue else "bi-clipboard-check"
                    ),
                    html.Strong("Protocol active: "),
                    f"{r.title} ({r.scope}) · {r.done}/{r.total} actions done{overdue} · ",
                    dcc.Link(
                        "Open checklist", href=run_href(r.id), className="alert-link"
                    ),
                ],
                className="small",
            )
        )
    return html.Div(
        lines,
        className="alert alert-warning py-1 px-3 mb-2 rounded-0",
        id=IDS.banner,
    )


# ---------------------------------------------------------------------------
# Run view
# ---------------------------------------------------------------------------


def _status_badge(detail: RunDetail, now: datetime, tz: str) -> html.Span:
    r = detail.run
    if r.active:
        return status_badge(Status.CRITICAL, "Active")
    return status_badge(
        Status.OK,
        f"Stood down {when_text(r.stood_down_at, now, tz)} by {r.stood_down_by}",
    )


def run_view_parts(detail: RunDetail, now: datetime, tz: str) -> dict[str, Any]:
    """The refreshed parts of the run view (no inputs in them), keyed by IDS name."""
    r, template = detail.run, detail.template
    overdue = (
        rules.overdue_actions(template, detail.states, r.declared_at, now)
        if r.active
        else []
    )
    overdue_keys = {o.action.key: o for o in overdue}
    overall = rules.overall_progress(template, detail.states)
    header = dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.H2(
                            template.title, className="h4 mb-0", id="surge-run-title"
                        ),
                        _status_badge(detail, now, tz),
                    ],
                    className="d-flex justify-content-between align-items-start gap-2 flex-wrap",
                ),
                html.Div(
                    f"Run {r.id} · {r.scope_text} · template version {r.template_version} · "
                    f"trigger: {dict(TRIGGER_OPTIONS).get(r.trigger_kind, r.trigger_kind)}"
                    + (f" — {r.trigger_detail}" if r.trigger_detail else ""),
                    className="small text-muted",
                ),
                html.Div(
                    f"Declared by {r.declared_by} at {when_text(r.declared_at, now, tz)} · Reason: {r.reason}",
                    className="mt-1",
                ),
                html.Div(f"Stand-down note: {r.stand_down_note}", className="mt-1")
                if r.stand_down_note
                else None,
                html.Div(
                    [
                        progress_bar(
                            overall.done,
                            overall.total,
                            "All actions",
                            bar_id="surge-run-progress",
                        ),
                        html.Span(overdue_badge(len(overdue)), id="surge-run-overdue")
                        if r.active
                        else None,
                    ],
                    className="mt-2",
                    style={"maxWidth": "40rem"},
                ),
            ]
        ),
        className="mb-3",
    )
    extras = []
    if r.methane:
        extras.append(dbc.Col(methane_table(r.methane), lg=5))
    extras.append(
        dbc.Col(snapshot_table(r.facility_snapshot, now, tz), lg=7 if r.methane else 12)
    )
    return {
        "detail_header": header,
        "detail_blocks": [
            block_card(b, detail, overdue_keys, now, tz) for b in template.blocks
        ],
        "detail_progress": progress_card(detail),
        "detail_roles": roles_table(detail, now, tz),
        "detail_log": log_list(detail.log, now, tz),
        "detail_extras": dbc.Row(extras, className="mt-2"),
    }


def block_card(
    block: rules.Block,
    detail: RunDetail,
    overdue: Mapping[str, rules.OverdueAction],
    now: datetime,
    tz: str,
) -> dbc.Card:
    r = detail.run
    done = sum(
        1 for a in block.actions if (detail.states.get(a.key) or rules.NOT_DONE).done
    )
    if block.is_stand_down:
        window = "at stand-down"
    else:
        start, end = block.window(r.declared_at)
        window = f"from {when_text(start, now, tz)}" + (
            f", due by {when_text(end, now, tz)}" if end else ""
        )
    roles = {ro.key: ro.title for ro in detail.template.roles}
    items = [
        action_row(
            a,
            detail.states.get(a.key) or rules.NOT_DONE,
            roles,
            overdue.get(a.key),
            r.active,
            now,
            tz,
        )
        for a in block.actions
    ]
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.H3(block.title, className="h6 mb-0"),
                        html.Span(
                            f"{window} · {done}/{len(block.actions)} done",
                            className="small text-muted",
                        ),
                    ],
                    className="d-flex justify-content-between flex-wrap gap-2",
                )
            ),
            dbc.ListGroup(items, flush=True),
        ],
        className="mb-3",
        id=f"surge-block-{block.key}",
    )


def action_row(
    action: rules.Action,
    state: rules.ActionState,
    roles: Mapping[str, str],
    overdue: rules.OverdueAction | None,
    active: bool,
    now: datetime,
    tz: str,
) -> dbc.ListGroupItem:
    status: list[Any] = []
    if state.done:
        status.append(
            html.Span(
                [
                    _icon("bi-check-square-fill text-success"),
                    f"Done by {state.done_by} at {when_text(state.done_at, now, tz)}",
                ],
                className="small",
            )
        )
    else:
        status.append(
            html.Span([_icon("bi-square"), "Not done"], className="small text-muted")
        )
    if overdue is not None:
        status.append(
            html.Span(
                [
                    " ",
                    status_badge(
                        Status.CRITICAL,
                        f"Overdue by {format_age(overdue.overdue_by.total_seconds())}",
                    ),
                ],
            )
        )
    buttons: list[Any] = []
    if active:
        if state.done:
            buttons.append(
                dbc.Button(
                    [_icon("bi-arrow-counterclockwise"), "Undo"],
                    id=IDS.tick(action.key, state.version, False),
                    size="sm",
                    color="light",
                    outline=True,
                    n_clicks=0,
                )
            )
        else:
            if not action.note_required:
                buttons.append(
                    dbc.Button(
                        [_icon("bi-check2"), "Done"],
                        id=IDS.tick(action.key, state.version, True),
                        size="sm",
                        color="success",
                        n_clicks=0,
                        className="me-1",
                    )
                )
            buttons.append(
                dbc.Button(
                    [
                        _icon("bi-pencil"),
                        "Done + note" + (" (required)" if action.note_required else ""),
                    ],
                    id=IDS.note_open(action.key, state.version),
                    size="sm",
                    color="success",
                    outline=True,
                    n_clicks=0,
                )
            )
    return dbc.ListGroupItem(
        html.Div(
            [
                html.Div(
                    [
                        html.Div(action.text),
                        html.Div(
                            [
                                html.Span(
                                    roles.get(action.owner, action.owner),
                                    className="small text-info me-2",
                                ),
                                *status,
                            ],
                        ),
                        html.Div(
                            [_icon("bi-chat-left-text"), state.note],
                            className="small fst-italic mt-1",
                        )
                        if state.note
                        else None,
                    ],
                    className="flex-grow-1",
                ),
                html.Div(buttons, className="text-nowrap"),
            ],
            className="d-flex gap-2 justify-content-between align-items-start",
        ),
        id=IDS.action_row(action.key),
        className="action-done" if state.done else "",
    )


def progress_card(detail: RunDetail) -> dbc.Card:
    by_role = rules.progress_by_role(detail.template, detail.states)
    by_block = rules.progress_by_block(detail.template, detail.states)
    return dbc.Card(
        [
            dbc.CardHeader(html.H3("Progress", className="h6 mb-0")),
            dbc.CardBody(
                [
                    html.Div("By block", className="small fw-bold"),
                    *[
                        progress_bar(p.done, p.total, p.title)
                        for p in by_block.values()
                    ],
                    html.Div("By role", className="small fw-bold mt-2"),
                    *[
                        progress_bar(p.done, p.total, p.title)
                        for p in by_role.values()
                        if p.total
                    ],
                ]
            ),
        ],
        className="mb-3",
    )


def roles_table(detail: RunDetail, now: datetime, tz: str) -> dbc.Table:
    holders: dict[str, AssignmentRow] = {
        a.role_key: a for a in detail.assignments if a.held_to is None
    }
    history: dict[str, list[AssignmentRow]] = {}
    for a in detail.assignments:
        if a.held_to is not None:
            history.setdefault(a.role_key, []).append(a)
    titles = {ro.key: ro.title for ro in detail.template.roles}
    rows = []
    for role in detail.template.roles:
        holder = holders.get(role.key)
        past = history.get(role.key, [])
        rows.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Div(role.title, className="fw-semibold"),
                            html.Div(role.mission, className="small text-muted"),
                            html.Div(
                                f"Reports to {titles.get(role.reports_to, role.reports_to)}",
                                className="small text-muted",
                            )
                            if role.reports_to
                            else None,
                        ]
                    ),
                    html.Td(
                        [
                            html.Div(holder.person, id=f"surge-holder-{role.key}")
                            if holder
                            else html.Div(
                                "Unassigned",
                                className="text-muted",
                                id=f"surge-holder-{role.key}",
                            ),
                            html.Div(
                                [
                                    html.I(
                                        className="bi bi-telephone me-1",
                                        **{"aria-hidden": "true"},
                                    ),
                                    holder.contact,
                                ],
                                id=f"surge-contact-{role.key}",
                                className="small",
                            )  # fmt: skip
                            if holder and holder.contact
                            else None,
                            html.Div(
                                f"since {when_text(holder.held_from, now, tz)}",
                                className="small text-muted",
                            )
                            if holder
                            else None,
                            *[
                                html.Div(
                                    f"{p.person} {when_text(p.held_from, now, tz)}–{when_text(p.held_to, now, tz)}",
                                    className="small text-muted",
                                )
                                for p in past
                            ],
                        ]
                    ),
                ]
            )
        )
    return dbc.Table(html.Tbody(rows), size="sm", className="mb-0 small")


def log_list(entries: Sequence[LogEntry], now: datetime, tz: str) -> Any:
    if entries:
        body: Any = dbc.ListGroup(
            [
                dbc.ListGroupItem(
                    [
                        html.Div(
                            [
                                html.Strong(when_text(e.at, now, tz)),
                                f" · {e.author} · {e.author_role}",
                            ],
                            className="small text-muted",
                        ),
                        html.Div(e.text, style={"whiteSpace": "pre-wrap"}),
                    ],
                    className="surge-log-entry",
                )
                for e in entries
            ],
            flush=True,
            id="surge-log",
        )
    else:
        body = dbc.CardBody(
            html.P("No entries yet.", className="text-muted mb-0"), id="surge-log"
        )
    return body


def methane_table(methane: Mapping[str, str]) -> dbc.Card:
    rows = [
        html.Tr(
            [
                html.Th(letter),
                html.Td(label, className="text-muted"),
                html.Td(methane.get(name) or "—"),
            ]
        )
        for name, letter, label in rules.METHANE_FIELDS
    ]
    return dbc.Card(
        [
            dbc.CardHeader(html.H3("METHANE report", className="h6 mb-0")),
            dbc.Table(html.Tbody(rows), size="sm", className="mb-0 small"),
        ],
        className="mb-3",
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def snapshot_table(snapshot: Mapping[str, Any], now: datetime, tz: str) -> dbc.Card:
    sites = list(snapshot.get("sites") or [])
    taken = snapshot.get("taken_at")
    title = "Facility status at declaration"
    if taken:
        title += f" ({when_text(datetime.fromisoformat(taken), now, tz)})"
    if not sites:
        body: Any = dbc.CardBody(
            html.P("No facility data was available.", className="text-muted mb-0")
        )
    else:
        figures = [*sites]
        columns = [s.get("name") or s.get("code") for s in sites]
        if len(sites) > 1:
            figures.append(snapshot.get("total") or {})
            columns.append("Total")
        body = dbc.Table(
            [
                html.Thead(
                    html.Tr(
                        [
                            html.Th(""),
                            *[html.Th(c, className="text-end") for c in columns],
                        ]
                    )
                ),
                html.Tbody(
                    [
                        html.Tr(
                            [
                                html.Td(label),
                                *[
                                    html.Td(_fmt(f.get(key)), className="text-end")
                                    for f in figures
                                ],
                            ]
                        )
                        for key, label in SNAPSHOT_FIELDS
                    ]
                ),
            ],
            size="sm",
            className="mb-0 small",
            responsive=True,
        )
    return dbc.Card(
        [dbc.CardHeader(html.H3(title, className="h6 mb-0")), body], className="mb-3"
    )
