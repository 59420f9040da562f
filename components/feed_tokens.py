"""Admin page: the feed tokens section (FHIR clients' bearer tokens)."""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import html

from ops.timeutil import format_local


class IDS:
    table = "admin-feedtok-table"
    feed = "admin-feedtok-feed"
    label = "admin-feedtok-label"
    issue = "admin-feedtok-issue"
    revoke_id = "admin-feedtok-revoke-id"
    revoke = "admin-feedtok-revoke"
    message = "admin-feedtok-message"


def _field(label: str, control, width: int) -> dbc.Col:  # noqa: ANN001
    return dbc.Col(
        [dbc.Label(label, html_for=control.id, className="small mb-1"), control],
        md=width,
    )


def card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.H2("Feed tokens", className="h5 mb-0")),
            dbc.CardBody(
                [
                    html.P(
                        "Bearer tokens for FHIR clients (docs/fhir.md). A token is "
                        "shown once when issued; only its hash is kept.",
                        className="text-muted small",
                    ),
                    html.Div(id=IDS.table),
                    dbc.Row(
                        [
                            _field(
                                "Feed",
                                dbc.Input(id=IDS.feed, placeholder="fhir:pas"),
                                3,
                            ),  # fmt: skip
                            _field(
                                "Held by",
                                dbc.Input(
                                    id=IDS.label, placeholder="PAS integration engine"
                                ),
                                4,
                            ),  # fmt: skip
                            dbc.Col(
                                dbc.Button(
                                    "Issue token", id=IDS.issue, color="primary"
                                ),
                                md="auto",
                            ),  # fmt: skip
                            _field(
                                "Token id",
                                dbc.Input(
                                    id=IDS.revoke_id, type="number", min=1, step=1
                                ),
                                2,
                            ),  # fmt: skip
                            dbc.Col(
                                dbc.Button(
                                    "Revoke",
                                    id=IDS.revoke,
                                    color="danger",
                                    outline=True,
                                ),
                                md="auto",
                            ),  # fmt: skip
                        ],
                        className="g-2 mt-2 align-items-end",
                    ),
                    html.Div(id=IDS.message, className="mt-3", role="status"),
                ]
            ),
        ],
        className="mb-3",
    )


def tokens_table(rows: Sequence, tz: str) -> html.Div | dbc.Table:  # noqa: ANN001
    if not rows:
        return html.P("No feed tokens issued.", className="text-muted mb-0")
    heads = ("Id", "Feed", "Trust", "Held by", "Issued", "Last used", "Status")
    body = [
        html.Tr(
            [
                html.Td(str(t.id)),
                html.Td(t.feed),
                html.Td(t.trust),
                html.Td(t.label or "—"),
                html.Td(
                    f"{format_local(t.created_at, tz, '%d %b %Y %H:%M')} "
                    f"by {t.created_by}"
                ),  # fmt: skip
                html.Td(
                    format_local(t.last_used_at, tz, "%d %b %H:%M")
                    if t.last_used_at
                    else "never"
                ),  # fmt: skip
                html.Td(
                    [
                        html.I(
                            className="bi bi-slash-circle me-1",
                            **{"aria-hidden": "true"},
                        ),
                        f"revoked {format_local(t.revoked_at, tz, '%d %b %H:%M')} "
                        f"by {t.revoked_by}",
                    ]
                    if t.revoked_at
                    else [
                        html.I(
                            className="bi bi-check-circle me-1",
                            **{"aria-hidden": "true"},
                        ),
                        "active",
                    ]
                ),  # fmt: skip
            ]
        )
        for t in rows
    ]
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in heads])), html.Tbody(body)],
        size="sm", striped=True, hover=True, responsive=True,
    )  # fmt: skip


def issued(token_id: int, feed: str, token: str) -> dbc.Alert:
    return dbc.Alert(
        [
            html.Div(
                [
                    html.I(className="bi bi-key me-1", **{"aria-hidden": "true"}),
                    f"Token {token_id} for {feed}. Copy it now: it is not shown again.",
                ]
            ),  # fmt: skip
            html.Code(token, id="admin-feedtok-secret", className="user-select-all"),
        ],
        color="success",
    )
