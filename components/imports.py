"""CSV imports page: upload a file, see every bad row, confirm (layout builders only)."""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.common import page_header
from ops.timeutil import format_local


class IDS:
    kind = "imports-kind"
    source = "imports-source"
    date_format = "imports-date-format"
    upload = "imports-upload"
    file = "imports-file"  # the uploaded file, kept for the confirm
    preview = "imports-preview"
    confirm = "imports-confirm"
    message = "imports-message"
    recent = "imports-recent"


MAX_UPLOAD_BYTES = (
    3_000_000  # the request limit is 4 MB and an upload travels as base64
)


def layout(
    query: dict[str, str],
    kinds: Sequence[tuple[str, str]] = (),
    default_format: str = "",
) -> html.Div:
    form = dbc.Card(
        dbc.CardBody(
            [
                dbc.Row(
                    [
                        dbc.Col(
                            [
                                dbc.Label("Kind of file", html_for=IDS.kind),
                                dcc.Dropdown(
                                    id=IDS.kind,
                                    options=[
                                        {"label": lb, "value": v} for v, lb in kinds
                                    ],
                                    value=query.get("kind")
                                    or (kinds[0][0] if kinds else None),
                                    clearable=False,
                                ),
                            ],
                            md=3,
                        ),
                        dbc.Col(
                            [
                                dbc.Label(
                                    "Source (sending system)", html_for=IDS.source
                                ),
                                dbc.Input(
                                    id=IDS.source,
                                    placeholder="e.g. theatreman",
                                    value=query.get("source", ""),
                                    maxLength=24,
                                ),
                            ],
                            md=3,
                        ),
                        dbc.Col(
                            [
                                dbc.Label(
                                    "Date format (local time)", html_for=IDS.date_format
                                ),
                                dbc.Input(
                                    id=IDS.date_format,
                                    placeholder=f"saved for the source, else {default_format}",
                                    maxLength=40,
                                ),
                            ],
                            md=3,
                        ),
                    ],
                    className="g-3 mb-3",
                ),
                dcc.Upload(
                    id=IDS.upload,
                    children=html.Div(
                        [
                            html.I(
                                className="bi bi-upload me-2", **{"aria-hidden": "true"}
                            ),
                            "Drop a CSV file here or ",
                            html.A("choose one", href="#"),
                            " — it is checked and previewed; nothing is applied until you confirm.",
                        ]
                    ),
                    accept=".csv,text/csv",
                    max_size=MAX_UPLOAD_BYTES,
                    multiple=False,
                    className="imports-upload border border-secondary rounded p-4 text-center",
                ),
            ]
        ),
        className="mb-3",
    )
    return html.Div(
        [
            page_header(
                "Imports",
                "CSV files from theatre systems, ED exports, the discharge sitrep and bed "
                "snapshots (docs/csv-imports.md)",
            ),
            form,
            dcc.Store(id=IDS.file),
            html.Div(id=IDS.preview),
            html.Div(
                dbc.Button(
                    [html.I(className="bi bi-check2-circle me-1"), "Confirm import"],
                    id=IDS.confirm,
                    color="primary",
                    disabled=True,
                ),
                className="mb-3",
            ),
            html.Div(id=IDS.message),
            dbc.Card(
                [
                    dbc.CardHeader(html.H2("Recent imports", className="h5 mb-0")),
                    dbc.CardBody(html.Div(id=IDS.recent)),
                ]
            ),
        ]
    )


def _problems(
    title: str, items: Sequence[tuple[int, str | None, str]], color: str
) -> html.Div:
    return html.Div(
        [
            html.H3(f"{title} ({len(items)})", className=f"h6 text-{color}"),
            dbc.Table(
                [
                    html.Thead(
                        html.Tr([html.Th("Row"), html.Th("Column"), html.Th("Problem")])
                    ),
                    html.Tbody(
                        [
                            html.Tr([html.Td(str(r)), html.Td(f or "—"), html.Td(m)])
                            for r, f, m in items
                        ]
                    ),
                ],
                size="sm",
                bordered=False,
                striped=True,
                className=f"imports-{title.lower()}",
            ),
        ]
    )


def preview(view: dict) -> html.Div:
    """``view``: title, rows, ok, already, applied, errors/warnings as (row, column,
    problem), counts (event kind -> n), outcomes, mapping (field -> header), date_format."""
    parts: list = [html.H2(view["title"], className="h5")]
    if view.get("already"):
        parts.append(
            dbc.Alert(view["already"], color="info", className="imports-status")
        )
        return dbc.Card(dbc.CardBody(parts), className="mb-3")
    if view["errors"]:
        status = dbc.Alert(
            [
                html.I(className="bi bi-x-octagon me-1"),
                f"{len(view['errors'])} problem(s) in {view['rows']} rows: nothing can be "
                "applied until the file is corrected.",
            ],
            color="danger",
            className="imports-status",
        )
    elif view.get("applied"):
        status = dbc.Alert(
            [
                html.I(className="bi bi-check-circle-fill me-1"),
                f"Applied: {view['rows']} rows, {sum(view['counts'].values())} events.",
            ],
            color="success",
            className="imports-status",
        )
    else:
        events = sum(view["counts"].values())
        status = dbc.Alert(
            [
                html.I(className="bi bi-check-circle me-1"),
                f"{view['rows']} rows checked: {events} events ready to apply"
                + (
                    f", {view['outcomes'].get('duplicate', 0)} already known"
                    if view["outcomes"].get("duplicate")
                    else ""
                )
                + ". Confirm to apply them all.",
            ],
            color="success",
            className="imports-status",
        )
    parts.append(status)
    if view["errors"]:
        parts.append(_problems("Errors", view["errors"], "danger"))
    if view["warnings"]:
        parts.append(_problems("Warnings", view["warnings"], "warning"))
    if view["counts"]:
        parts.append(
            html.P(
                "Events: "
                + ", ".join(
                    f"{k.replace('_', ' ')} {v}"
                    for k, v in sorted(view["counts"].items())
                ),
                className="small imports-counts",
            )
        )
    if view["mapping"]:
        parts.append(
            html.P(
                "Columns: "
                + "; ".join(f"{k} ← {v}" for k, v in view["mapping"].items())
                + f". Dates read as {view['date_format']} (local time).",
                className="small text-muted",
            )
        )
    return dbc.Card(dbc.CardBody(parts), className="mb-3")


def recent_table(rows: Sequence[dict], tz: str) -> object:
    if not rows:
        return html.P("No file has been imported yet.", className="text-muted mb-0")
    return dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th(h)
                        for h in (
                            "When",
                            "Source",
                            "Kind",
                            "File",
                            "Rows",
                            "Events",
                            "By",
                        )
                    ]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(
                                format_local(r["applied_at"], tz, "%d/%m/%Y %H:%M")
                            ),
                            html.Td(r["source"]),
                            html.Td(r["kind"]),
                            html.Td(r["filename"]),
                            html.Td(str(r["rows"])),
                            html.Td(str(r["events"])),
                            html.Td(r["actor"]),
                        ]
                    )
                    for r in rows
                ]
            ),
        ],
        size="sm",
        striped=True,
        className="mb-0",
    )
