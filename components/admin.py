"""Admin page: users and the audit trail (layout builders only)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.a11y import labelled
from components.common import date_input, page_header
from components.feed_tokens import card as feed_tokens_card
from ops.audit_diff import differences
from ops.csv_export import csv_text
from ops.permissions import Role
from ops.timeutil import format_local


class IDS:
    users = "admin-users"
    new_username = "admin-new-username"
    new_name = "admin-new-name"
    new_role = "admin-new-role"
    new_password = "admin-new-password"
    create = "admin-create"
    EDIT = "admin-user-edit"  # a row's "Change" button: {"type": EDIT, "user": name}
    edit_modal = "admin-edit-modal"
    edit_title = "admin-edit-title"
    edit_target = "admin-edit-target"
    edit_role = "admin-edit-role"
    edit_active = "admin-edit-active"
    edit_password = "admin-edit-password"
    edit_error = "admin-edit-error"
    edit_save = "admin-edit-save"
    edit_cancel = "admin-edit-cancel"
    message = "admin-message"
    f_actor = "admin-filter-actor"
    f_action = "admin-filter-action"
    f_entity = "admin-filter-entity"
    f_since = "admin-filter-since"
    f_until = "admin-filter-until"
    audit = "admin-audit"
    export = "admin-export"
    download = "admin-download"


def layout(query: dict[str, str]) -> html.Div:
    role_options = [{"label": r.label, "value": r.value} for r in Role]
    users_card = dbc.Card(
        [
            dbc.CardHeader(html.H2("Users", className="h5 mb-0")),
            dbc.CardBody(
                [
                    html.Div(id=IDS.users),
                    html.H3("Create a user", className="h6 mt-3"),
                    dbc.Row(
                        [
                            dbc.Col(
                                labelled(
                                    "User name",
                                    dbc.Input(
                                        id=IDS.new_username, placeholder="user name"
                                    ),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                labelled(
                                    "Display name",
                                    dbc.Input(
                                        id=IDS.new_name, placeholder="display name"
                                    ),
                                ),
                                md=3,
                            ),
                            dbc.Col(
                                labelled(
                                    "Role",
                                    dcc.Dropdown(
                                        id=IDS.new_role,
                                        options=role_options,
                                        placeholder="role",
                                        clearable=False,
                                    ),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                labelled(
                                    "Initial password",
                                    dbc.Input(
                                        id=IDS.new_password,
                                        type="password",
                                        placeholder="12 or more characters",
                                    ),
                                ),
                                md=3,
                            ),
                            dbc.Col(
                                dbc.Button("Create", id=IDS.create, color="primary"),
                                md=2,
                            ),
                        ],
                        className="g-2 align-items-end",
                    ),
                    html.Div(id=IDS.message, className="mt-3", role="status"),
                ]
            ),
        ],
        className="mb-3",
    )
    audit_card = dbc.Card(
        [
            dbc.CardHeader(html.H2("Audit trail", className="h5 mb-0")),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                labelled(
                                    "User",
                                    dbc.Input(
                                        id=IDS.f_actor,
                                        placeholder="user",
                                        value=query.get("actor", ""),
                                    ),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                labelled(
                                    "Action",
                                    dbc.Input(
                                        id=IDS.f_action,
                                        placeholder="action",
                                        value=query.get("action", ""),
                                    ),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                labelled(
                                    "Entity type",
                                    dbc.Input(
                                        id=IDS.f_entity,
                                        placeholder="entity type",
                                        value=query.get("entity", ""),
                                    ),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                labelled(
                                    "Since (local date)",
                                    date_input(IDS.f_since, query.get("since")),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                labelled(
                                    "Until (local date)",
                                    date_input(IDS.f_until, query.get("until")),
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                dbc.Button(
                                    "Export CSV", id=IDS.export, color="secondary"
                                ),
                                md=2,
                            ),
                        ],
                        className="g-2 mb-3 align-items-end",
                    ),
                    html.Div(id=IDS.audit),
                    dcc.Download(id=IDS.download),
                ]
            ),
        ]
    )
    return html.Div(
        [
            page_header(
                "Administration",
                "Users and the audit trail",
                right=html.A(
                    [
                        html.I(
                            className="bi bi-display me-1", **{"aria-hidden": "true"}
                        ),
                        "Wall displays: profiles and screen tokens",
                    ],
                    href="/wall?admin=1",
                    id="admin-wall-editor",
                    className="btn btn-sm btn-outline-secondary",
                ),
            ),
            users_card,
            edit_modal(role_options),
            feed_tokens_card(),
            audit_card,
        ]
    )


def edit_modal(role_options: list[dict[str, str]]) -> dbc.Modal:
    """One user's role, whether they can sign in, and a password reset; opened by
    the row's "Change" button."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(id=IDS.edit_title)),
            dbc.ModalBody(
                [
                    dcc.Store(id=IDS.edit_target),
                    html.Div(
                        labelled(
                            "Role",
                            dcc.Dropdown(
                                id=IDS.edit_role, options=role_options, clearable=False
                            ),
                        ),
                        className="mb-3",
                    ),
                    dbc.Switch(
                        id=IDS.edit_active,
                        label="Can sign in (active)",
                        value=True,
                        className="mb-3",
                    ),
                    html.Div(
                        labelled(
                            "New password (leave empty to keep the current one)",
                            dbc.Input(
                                id=IDS.edit_password,
                                type="password",
                                autocomplete="new-password",
                                placeholder="12 or more characters",
                            ),
                        )
                    ),
                    html.P(
                        "Disabling a user or resetting their password signs them out.",
                        className="small text-muted mt-2 mb-0",
                    ),
                    html.Div(id=IDS.edit_error, className="mt-2", role="status"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel", id=IDS.edit_cancel, color="secondary", outline=True
                    ),
                    dbc.Button("Save", id=IDS.edit_save, color="primary"),
                ]
            ),
        ],
        id=IDS.edit_modal,
        is_open=False,
    )


def users_table(rows: Sequence, tz: str) -> dbc.Table:  # noqa: ANN001
    head = html.Thead(
        html.Tr(
            [html.Th(h) for h in ("User", "Name", "Role", "Status", "Last sign-in", "")]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(u.username),
                    html.Td(u.display_name),
                    html.Td(u.role.replace("_", " ")),
                    html.Td(
                        [html.I(className="bi bi-check-circle me-1"), "active"]
                        if u.is_active
                        else [html.I(className="bi bi-slash-circle me-1"), "disabled"]
                    ),
                    html.Td(format_local(u.last_login_at, tz, "%d %b %H:%M")),
                    html.Td(
                        html.Button(
                            [
                                html.I(
                                    className="bi bi-pencil me-1",
                                    **{"aria-hidden": "true"},
                                ),
                                "Change",
                            ],
                            id={"type": IDS.EDIT, "user": u.username},
                            type="button",
                            n_clicks=0,
                            className="btn btn-sm btn-outline-secondary",
                            **{"aria-label": f"Change {u.username}"},
                        ),
                        className="text-end",
                    ),
                ]
            )
            for u in rows
        ]
    )
    return dbc.Table([head, body], size="sm", striped=True, hover=True, responsive=True)


def _changes(before: object, after: object) -> Any:
    """The audit row's differences in words, one per line (``ops.audit_diff``); the
    raw before/after stay in the CSV export."""
    lines = differences(before, after)
    if not lines:
        return html.Span("—", className="text-muted")
    return html.Ul([html.Li(line) for line in lines], className="list-unstyled mb-0")


def audit_table(events: Sequence, tz: str) -> html.Div:  # noqa: ANN001
    if not events:
        return html.P("No audit events match.", className="text-muted")
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in ("Time", "User", "Role", "Action", "Entity", "What changed")
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(format_local(e.at, tz, "%d %b %H:%M:%S")),
                    html.Td(e.actor_username),
                    html.Td(e.actor_role.replace("_", " ")),
                    html.Td(e.action),
                    html.Td(f"{e.entity_type} {e.entity_id or ''}"),
                    html.Td(_changes(e.before, e.after), className="small text-break"),
                ]
            )
            for e in events
        ]
    )
    return dbc.Table([head, body], size="sm", striped=True, responsive=True)


def audit_csv(events: Sequence, tz: str) -> str:  # noqa: ANN001
    header = [
        "time_local",
        "time_utc",
        "user",
        "role",
        "action",
        "entity_type",
        "entity_id",
        "before",
        "after",
        "request_id",
    ]
    rows = (
        [
            format_local(e.at, tz, "%Y-%m-%d %H:%M:%S %z"),
            e.at.isoformat(),
            e.actor_username,
            e.actor_role,
            e.action,
            e.entity_type,
            e.entity_id or "",
            json.dumps(e.before, default=str, ensure_ascii=False) if e.before else "",
            json.dumps(e.after, default=str, ensure_ascii=False) if e.after else "",
            e.request_id or "",
        ]
        for e in events
    )
    return csv_text([header, *rows])
