"""CSV imports page: upload -> preview (every bad row, nothing applied) -> confirm.

Both steps run the same importer (``feeds.csv.importer.run``); the confirm checks the
file again, so what is applied is what the importer finds at that moment.
"""

from __future__ import annotations

import base64
import binascii
import logging

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html, no_update

from callbacks.identity import PermissionDenied, require
from components import imports as page
from components.shell import IDS as SHELL
from data.queries.imports import recent_imports
from data.runtime import current
from feeds.csv import kinds
from feeds.csv.importer import ImportError_, Result, run
from feeds.csv.parse import DEFAULT_DATE_FORMAT
from feeds.hl7.config import Hl7ConfigError, load_hl7_config
from ops.permissions import Permission

log = logging.getLogger(__name__)


def layout(query: dict[str, str]) -> html.Div:
    return page.layout(query, list(kinds.KIND_LABELS.items()), DEFAULT_DATE_FORMAT)


def _alert(
    text: str, color: str = "warning", icon: str = "bi-exclamation-triangle"
) -> dbc.Alert:
    return dbc.Alert([html.I(className=f"bi {icon} me-1"), text], color=color)


def view_of(result: Result) -> dict:
    """The importer's result as plain values for the page."""
    rows = lambda items: [(e.row, e.field, e.message) for e in items]  # noqa: E731
    return {
        "title": f"{kinds.KIND_LABELS[result.kind]} from {result.source}: {result.filename}",
        "rows": result.rows,
        "ok": result.ok and not result.already,
        "already": result.already,
        "applied": result.applied,
        "errors": rows(result.errors),
        "warnings": rows(result.warnings),
        "counts": dict(result.counts),
        "outcomes": dict(result.outcomes),
        "mapping": dict(result.mapping),
        "date_format": result.date_format,
    }


def _decode(contents: object) -> bytes | None:
    if not isinstance(contents, str) or "," not in contents:
        return None
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def _run(contents, filename, kind, source, date_format, *, confirm: bool):  # noqa: ANN001, ANN202
    actor = require(Permission.IMPORT_DATA)
    data = _decode(contents)
    if data is None:
        return None, _alert("The upload could not be read; choose the file again.")
    if not isinstance(kind, str) or kind not in kinds.KINDS:
        return None, _alert("Choose the kind of file.")
    source = source.strip().lower() if isinstance(source, str) else ""
    runtime = current()
    settings = runtime.settings
    try:
        key = load_hl7_config(settings.database_url, settings.demo).key
        result = run(
            runtime.factory, kind, data, source=source,
            filename=str(filename or "upload.csv"), key=key, tz=settings.timezone,
            now=runtime.now(), actor=actor.username, actor_role=actor.role,
            confirm=confirm,
            date_format=date_format.strip() if isinstance(date_format, str) and date_format.strip() else None,
        )  # fmt: skip
    except (ImportError_, Hl7ConfigError) as exc:
        return None, _alert(str(exc))
    return result, None


def show_preview(contents, filename, kind, source, date_format):  # noqa: ANN001, ANN201
    """A new file (or a change of kind, source or date format): check and preview."""
    if not contents:
        return no_update, no_update, True
    try:
        result, problem = _run(
            contents, filename, kind, source, date_format, confirm=False
        )
    except PermissionDenied as exc:
        return _alert(str(exc), "danger", "bi-lock"), None, True
    if problem is not None:
        return problem, None, True
    view = view_of(result)
    stored = {"contents": contents, "filename": filename}
    return page.preview(view), stored, not view["ok"]


def confirm(n_clicks, stored, kind, source, date_format):  # noqa: ANN001, ANN201
    if not n_clicks or not isinstance(stored, dict):
        return no_update, no_update, no_update
    result, problem = _run(
        stored.get("contents"), stored.get("filename"), kind, source, date_format,
        confirm=True,
    )  # fmt: skip
    if problem is not None:
        return problem, no_update, True
    view = view_of(result)
    if result.applied:
        events = sum(result.counts.values())
        message = _alert(
            f"Imported {result.filename}: {result.rows} rows, {events} events "
            f"(import {result.import_id}).",
            "success",
            "bi-check-circle",
        )
        return message, page.preview(view), True
    return (
        _alert("Nothing was applied: see the problems above."),
        page.preview(view),
        True,
    )


def refresh_recent(_n, _message):  # noqa: ANN001, ANN201
    try:
        require(Permission.IMPORT_DATA)
    except PermissionDenied as exc:
        return _alert(str(exc), "danger", "bi-lock")
    runtime = current()
    with runtime.factory() as s:
        rows = [
            {"applied_at": r.applied_at, "source": r.source, "kind": kinds.KIND_LABELS.get(r.kind, r.kind),
             "filename": r.filename, "rows": r.rows, "events": r.events, "actor": r.actor}
            for r in recent_imports(s)
        ]  # fmt: skip
    return page.recent_table(rows, runtime.settings.timezone)


def register(app: Dash) -> None:
    app.callback(
        Output(page.IDS.preview, "children"),
        Output(page.IDS.file, "data"),
        Output(page.IDS.confirm, "disabled"),
        Input(page.IDS.upload, "contents"),
        Input(page.IDS.upload, "filename"),  # the same bytes under another name
        Input(page.IDS.kind, "value"),
        Input(page.IDS.source, "value"),
        Input(page.IDS.date_format, "value"),
        prevent_initial_call=True,
    )(show_preview)
    app.callback(
        Output(page.IDS.message, "children"),
        Output(page.IDS.preview, "children", allow_duplicate=True),
        Output(page.IDS.confirm, "disabled", allow_duplicate=True),
        Input(page.IDS.confirm, "n_clicks"),
        State(page.IDS.file, "data"),
        State(page.IDS.kind, "value"),
        State(page.IDS.source, "value"),
        State(page.IDS.date_format, "value"),
        prevent_initial_call=True,
    )(confirm)
    app.callback(
        Output(page.IDS.recent, "children"),
        Input(SHELL.poll, "n_intervals"),
        Input(page.IDS.message, "children"),
    )(refresh_recent)
