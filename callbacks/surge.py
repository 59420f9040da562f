"""Surge protocols: thin glue between the page, the protocol store and the rules.

Every write takes the acting user from the server-side session
(``callbacks.identity.require``), never from the browser, and shows conflicts,
refusals and permission denials as messages -- never a traceback.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import query_failed
from callbacks.identity import PermissionDenied, current_actor, require
from callbacks.router import parse_query
from components import surge as ui
from components.protocol_report import report_filename, timeline_csv, timeline_pdf
from components.shell import IDS as SHELL
from data.db import write_session
from data.queries import protocols as reads
from data.queries.common import sites
from data.runtime import current
from data.writes import protocols as writes
from ops import protocol_runs as runs
from ops import protocols as rules
from ops.permissions import Permission, allowed
from ops.protocols import TemplateError
from ops.timeutil import format_local

log = logging.getLogger(__name__)
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}


def run_id_from(search: str | None) -> int | None:
    raw = parse_query(search).get("run")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _templates() -> tuple[dict[str, runs.TemplateFile], str | None]:
    try:
        return runs.available_templates(), None
    except TemplateError as exc:
        log.error("protocol templates cannot be loaded: %s", exc)
        return {}, f"Protocol templates cannot be loaded: {exc}"


# ---------------------------------------------------------------------------
# Refresh
# ---------------------------------------------------------------------------


DETAIL_PARTS = (
    "detail_header",
    "detail_blocks",
    "detail_progress",
    "detail_roles",
    "detail_log",
    "detail_extras",
)
REFRESH_OUTPUTS = (
    "list_view_style",
    "detail_view_style",
    "active",
    "stood_down",
    *DETAIL_PARTS,
    "freshness",
    "shown_run",
    "role_options",
    "log_role_options",
    "role_form_style",
    "log_form_style",
    "stand_down_style",
    "template_options",
    "site_options",
    "declare_style",
)


def _may(permission: Permission) -> bool:
    """Whether to show the controls of ``permission`` (nobody signed in: sign-in is
    off and every control shows). Hiding is a courtesy: every write still checks."""
    actor = current_actor()
    return actor is None or allowed(actor.role, permission)


def _shown_if(visible: bool, permission: Permission) -> dict[str, str]:
    return SHOWN if visible and _may(permission) else HIDDEN


def refresh(
    search: str | None,
    _n: int | None,
    _changed: int | None,
    _body: str,
    shown: dict | None,
    template_options: list | None,
) -> tuple[Any, ...]:
    """Fill the list view or the run view (from ``?run=``) on render, poll and change."""
    runtime = current()
    now, tz = runtime.now(), runtime.settings.timezone
    run_id = run_id_from(search)
    out: dict[str, Any] = dict.fromkeys(REFRESH_OUTPUTS, no_update)
    out["freshness"] = f"as of {format_local(now, tz, '%H:%M:%S')}"
    try:
        with runtime.factory() as session:
            if not template_options:
                files, template_error = _templates()
                out["template_options"] = [
                    {"label": f.template.title, "value": key}
                    for key, f in files.items()
                ]
                out["site_options"] = [
                    {"label": "Trust-wide", "value": ui.TRUST_WIDE}
                ] + [{"label": s.name, "value": str(s.id)} for s in sites(session)]
                if template_error:
                    out["active"] = ui.message("error", template_error)
            if run_id is None:
                active = reads.list_active_runs(session, now)
                stood = reads.list_runs(session, now, active=False, limit=20)
                sig = _signature(
                    format_local(now, tz, "%Y-%m-%d %H:%M"),
                    [
                        (s.run.id, s.run.version, s.overall.done, s.overdue)
                        for s in active
                    ],
                    [(s.run.id, s.run.version) for s in stood],
                    template_options,
                )
                out.update(
                    list_view_style=SHOWN,
                    detail_view_style=HIDDEN,
                    shown_run={"run": None, "sig": sig},
                    declare_style=_shown_if(True, Permission.DECLARE_PROTOCOL),
                )
                if _unchanged(shown, None, sig) and out["active"] is no_update:
                    return tuple(out[k] for k in REFRESH_OUTPUTS)
                active_list = ui.active_list(active, now, tz)
                if out["active"] is not no_update:  # a template error to show first
                    active_list = [out["active"], active_list]
                out.update(
                    active=active_list, stood_down=ui.stood_down_list(stood, now, tz)
                )
                return tuple(out[k] for k in REFRESH_OUTPUTS)
            detail = reads.run_detail(session, run_id)
    except runs.RunNotFound as exc:
        out.update(dict.fromkeys(DETAIL_PARTS, None))
        out.update(
            list_view_style=HIDDEN,
            detail_view_style=SHOWN,
            detail_header=ui.message("error", str(exc)),
            shown_run=None,
            role_form_style=HIDDEN,
            log_form_style=HIDDEN,
            stand_down_style=HIDDEN,
        )
        return tuple(out[k] for k in REFRESH_OUTPUTS)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        out["freshness"] = query_failed("surge", exc).line
        return tuple(out[k] for k in REFRESH_OUTPUTS)
    if not shown or shown.get("run") != run_id or not shown.get("sig"):
        roles = [{"label": r.title, "value": r.key} for r in detail.template.roles]
        out["role_options"] = roles
        out["log_role_options"] = [
            {"label": "As my role in this protocol", "value": ui.AUTO_ROLE}
        ] + [{"label": f"As {r['label']}", "value": r["value"]} for r in roles]
    active = detail.run.active
    sigs = _part_signatures(detail, now, tz)
    out.update(
        list_view_style=HIDDEN,
        detail_view_style=SHOWN,
        shown_run={"run": run_id, "version": detail.run.version, "sig": sigs},
        role_form_style=_shown_if(active, Permission.WORK_PROTOCOL),
        log_form_style=_shown_if(active, Permission.WORK_PROTOCOL),
        stand_down_style=_shown_if(active, Permission.STAND_DOWN),
    )
    before = (shown or {}).get("sig") if (shown or {}).get("run") == run_id else None
    parts = ui.run_view_parts(detail, now, tz)
    for name in DETAIL_PARTS:
        if not isinstance(before, dict) or before.get(name) != sigs[name]:
            out[name] = parts[name]
    return tuple(out[k] for k in REFRESH_OUTPUTS)


def _part_signatures(detail: runs.RunDetail, now: datetime, tz: str) -> dict[str, str]:
    """A signature per refreshed part of the run view: a part is sent to the browser
    only when what it shows changed (re-rendering a big checklist on every poll
    costs the browser seconds and replaces the element under the user's pointer)."""
    run, template, states = detail.run, detail.template, detail.states
    day = format_local(now, tz, "%Y-%m-%d")
    overdue = (
        rules.overdue_actions(template, states, run.declared_at, now)
        if run.active
        else []
    )
    # "Overdue by 20 min" changes every minute, but only while something is overdue.
    clock = format_local(now, tz, "%H:%M") if overdue else ""
    versions = sorted((k, st.version) for k, st in states.items())
    done = sum(st.done for st in states.values())
    return {
        "detail_header": _signature(day, run.version, done, len(overdue)),
        "detail_blocks": _signature(day, clock, run.version, versions),
        "detail_progress": _signature(versions),
        "detail_roles": _signature(
            day,
            [
                (a.role_key, a.person, a.held_from, a.held_to)
                for a in detail.assignments
            ],
        ),
        "detail_log": _signature(day, [e.id for e in detail.log]),
        "detail_extras": _signature(day, run.id),
    }


def _signature(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _unchanged(shown: dict | None, run_id: int | None, sig: str) -> bool:
    """True when the browser already shows this exact view: re-rendering a large
    checklist every poll costs the browser seconds and replaces what users point at."""
    return bool(shown) and shown.get("run") == run_id and shown.get("sig") == sig


def show_template(template_key: str | None) -> tuple[Any, Any]:
    """The chosen template's summary, and the METHANE fields when it needs them."""
    if not template_key:
        return "", HIDDEN
    files, error = _templates()
    found = files.get(template_key)
    if found is None:
        return error or "Unknown protocol.", HIDDEN
    return ui.template_info(
        found.template
    ), SHOWN if found.template.requires_methane else HIDDEN


# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------


def _write(
    permission: Permission, what: str, fn: Callable[[Any, Any, Any, str], Any]
) -> tuple[Any, bool, Any]:
    """Run ``fn(session, actor, now, tz)`` in one transaction.

    Returns (message, succeeded, result); every failure becomes a message.
    """
    try:
        actor = require(permission)
    except PermissionDenied as exc:
        return ui.message("denied", str(exc)), False, None
    runtime = current()
    try:
        with write_session(runtime.factory) as session:
            result = fn(session, actor, runtime.now(), runtime.settings.timezone)
    except runs.ActionConflict as exc:
        return ui.message("conflict", str(exc)), False, exc
    except runs.ProtocolStoreError as exc:
        return ui.message("error", str(exc)), False, exc
    except Exception:
        log.exception("surge: %s failed", what)
        return (
            ui.message("error", f"Could not {what}; nothing was changed. Try again."),
            False,
            None,
        )
    return None, True, result


def declare(
    n_clicks: int | None,
    template_key: str | None,
    site: str | None,
    trigger_kind: str | None,
    trigger_detail: str | None,
    reason: str | None,
    methane_values: list[str | None],
    methane_ids: list[dict],
    changed: int | None,
) -> tuple[Any, ...]:
    if not n_clicks:
        raise PreventUpdate
    fields = [i["field"] for i in methane_ids]
    errors: dict[str, str] = {}
    files, load_error = _templates()
    found = files.get(template_key or "")
    if found is None:
        errors["template"] = load_error or "Choose a protocol."
    site_id = None if not site or site == ui.TRUST_WIDE else int(site)
    methane = {f: (v or "") for f, v in zip(fields, methane_values, strict=True)}
    message = None
    run_id = None
    if found is not None:
        needs_methane = found.template.requires_methane

        def do(session, actor, now, tz):  # noqa: ANN001, ANN202
            return writes.declare_run(
                session,
                found.template,
                actor,
                now,
                runs.RunTrigger(trigger_kind or "manual", trigger_detail),
                reason,
                site_id,
                methane if needs_methane else None,
                template_source=found.path,
                tz=tz,
            )

        message, ok, result = _write(
            Permission.DECLARE_PROTOCOL, "declare the protocol", do
        )
        if ok:
            run_id = result
        elif isinstance(result, runs.Refused):
            errors.update(result.field_errors)
    else:
        message = ui.message("error", "Choose a protocol to declare.")

    def err(name: str) -> tuple[bool, str]:
        return name in errors, errors.get(name, "")

    methane_invalid = [f"methane.{f}" in errors for f in fields]
    methane_text = [errors.get(f"methane.{f}", "") for f in fields]
    if run_id is not None:
        return (
            ui.message("success", "Protocol declared."),
            *err("template"),
            *err("site"),
            *err("trigger"),
            *err("reason"),
            methane_invalid,
            methane_text,
            f"?run={run_id}",
            "",
            (changed or 0) + 1,
        )
    return (
        message,
        *err("template"),
        *err("site"),
        *err("trigger"),
        *err("reason"),
        methane_invalid,
        methane_text,
        no_update,
        no_update,
        no_update,
    )


def _triggered_click() -> dict | None:
    """The pattern id of the button actually clicked (not one just rendered)."""
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return None
    trig = ctx.triggered_id
    return trig if isinstance(trig, dict) else None


def tick(
    _clicks: list[int | None], search: str | None, changed: int | None
) -> tuple[Any, Any]:
    button = _triggered_click()
    run_id = run_id_from(search)
    if button is None or run_id is None:
        raise PreventUpdate
    done = bool(button["done"])

    def do(session, actor, now, tz):  # noqa: ANN001, ANN202
        return writes.set_action(
            session,
            run_id,
            button["key"],
            done,
            actor,
            now,
            expected_version=int(button["v"]),
            tz=tz,
        )

    message, ok, _ = _write(Permission.WORK_PROTOCOL, "record the action", do)
    if ok:
        message = ui.message("success", "Marked done." if done else "Marked not done.")
    return message, (changed or 0) + 1


def open_note(
    _clicks: list[int | None], search: str | None
) -> tuple[Any, Any, Any, Any]:
    button = _triggered_click()
    run_id = run_id_from(search)
    if button is None or run_id is None:
        raise PreventUpdate
    runtime = current()
    try:
        with runtime.factory() as session:
            template = reads.run_detail(session, run_id).template
    except Exception as exc:
        query_failed("surge note", exc)
        raise PreventUpdate from None
    action = template.action(button["key"])
    text = action.text if action else button["key"]
    if action is not None and action.note_required:
        text += " (a note is required)"
    return True, {"key": button["key"], "v": button["v"]}, text, ""


def confirm_note(
    n_clicks: int | None,
    target: dict | None,
    note: str | None,
    search: str | None,
    changed: int | None,
) -> tuple[Any, Any, Any]:
    run_id = run_id_from(search)
    if not n_clicks or not target or run_id is None:
        raise PreventUpdate

    def do(session, actor, now, tz):  # noqa: ANN001, ANN202
        return writes.set_action(
            session,
            run_id,
            target["key"],
            True,
            actor,
            now,
            note=note,
            expected_version=int(target["v"]),
            tz=tz,
        )

    message, ok, result = _write(Permission.WORK_PROTOCOL, "record the action", do)
    if ok:
        return (
            ui.message("success", "Marked done with a note."),
            False,
            (changed or 0) + 1,
        )
    keep_open = isinstance(result, runs.Refused) and "note" in str(result).lower()
    return message, keep_open, no_update


def cancel_note(n_clicks: int | None) -> bool:
    if not n_clicks:
        raise PreventUpdate
    return False


def assign(
    n_clicks: int | None,
    role_key: str | None,
    person: str | None,
    contact: str | None,
    search: str | None,
    changed: int | None,
) -> tuple[Any, Any, Any, Any]:
    run_id = run_id_from(search)
    if not n_clicks or run_id is None:
        raise PreventUpdate
    contact = contact if isinstance(contact, str) else None
    if not role_key:
        return (ui.message("error", "Choose the role to assign."), no_update,
                no_update, no_update)  # fmt: skip

    def do(session, actor, now, tz):  # noqa: ANN001, ANN202
        return writes.assign_role(
            session, run_id, role_key, person or "", actor, now, contact=contact
        )

    message, ok, result = _write(Permission.WORK_PROTOCOL, "assign the role", do)
    if ok:
        return (
            ui.message("success", f"{result.person} now holds the role."),
            "",
            "",
            (changed or 0) + 1,
        )
    return message, no_update, no_update, no_update


def add_log(
    n_clicks: int | None,
    text: str | None,
    as_role: str | None,
    search: str | None,
    changed: int | None,
) -> tuple[Any, Any, Any]:
    run_id = run_id_from(search)
    if not n_clicks or run_id is None:
        raise PreventUpdate

    def do(session, actor, now, tz):  # noqa: ANN001, ANN202
        return writes.add_log_entry(
            session,
            run_id,
            text or "",
            actor,
            now,
            as_role=None if as_role in (None, "", ui.AUTO_ROLE) else as_role,
        )

    message, ok, _ = _write(Permission.WORK_PROTOCOL, "add the log entry", do)
    if ok:
        return ui.message("success", "Log entry added."), "", (changed or 0) + 1
    return message, no_update, no_update


def open_stand_down(
    n_open: int | None, n_cancel: int | None, search: str | None
) -> tuple[Any, ...]:
    """Open the stand-down dialog with what is still open (read now, not from the
    page), or close it. The store checks again when the stand-down is confirmed."""
    if not ctx.triggered_id or not (n_open or n_cancel):
        raise PreventUpdate
    closed = (False, no_update, no_update, False, "", no_update)
    run_id = run_id_from(search)
    if ctx.triggered_id != ui.IDS.stand_down or run_id is None:
        return closed
    try:
        with current().factory() as session:
            detail = reads.run_detail(session, run_id)
    except Exception as exc:  # the dialog still opens; the store decides on confirm
        query_failed("surge", exc)
        return True, None, ui.STAND_DOWN_REASON_LABEL, False, "", ""
    left = rules.outstanding_actions(
        detail.template, detail.states, include_stand_down=True
    )
    label = ui.STAND_DOWN_REASON_LABEL if left else ui.STAND_DOWN_NOTE_LABEL
    warning = ui.stand_down_warning(detail.template, left)
    return True, warning, label, False, "", ""


def confirm_stand_down(
    n_clicks: int | None,
    note: str | None,
    search: str | None,
    shown: dict | None,
    changed: int | None,
) -> tuple[Any, ...]:
    run_id = run_id_from(search)
    if not n_clicks or run_id is None:
        raise PreventUpdate
    expected = (
        (shown or {}).get("version") if (shown or {}).get("run") == run_id else None
    )

    def do(session, actor, now, tz):  # noqa: ANN001, ANN202
        return writes.stand_down(
            session, run_id, actor, now, expected_version=expected, note=note
        )

    message, ok, exc = _write(Permission.STAND_DOWN, "stand the protocol down", do)
    if ok:
        message = ui.message(
            "success", "Protocol stood down. The after-action report is ready."
        )
        return message, False, (changed or 0) + 1, False, ""
    if isinstance(exc, runs.Refused) and "note" in exc.field_errors:
        # the reason is missing: keep the dialog open and say so under the field
        return no_update, True, no_update, True, str(exc)
    return message, False, no_update, False, ""


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def report_csv(run_id: int) -> dict[str, Any]:
    """The after-action CSV for ``run_id`` as a ``dcc.Download`` payload."""
    runtime = current()
    with runtime.factory() as session:
        events = reads.timeline(session, run_id)
        detail = reads.run_detail(session, run_id)
    return {
        "content": timeline_csv(events, runtime.settings.timezone),
        "filename": report_filename(detail, "csv"),
        "type": "text/csv",
    }


def report_pdf(run_id: int) -> dict[str, Any]:
    runtime = current()
    with runtime.factory() as session:
        events = reads.timeline(session, run_id)
        detail = reads.run_detail(session, run_id)
    pdf = timeline_pdf(
        events, detail, runtime.settings.timezone, generated_at=runtime.now()
    )
    return dcc.send_bytes(pdf, report_filename(detail, "pdf"))


def download(
    n_csv: int | None, n_pdf: int | None, search: str | None
) -> tuple[Any, Any]:
    run_id = run_id_from(search)
    if run_id is None or not (n_csv or n_pdf) or ctx.triggered_id is None:
        raise PreventUpdate
    try:
        payload = (
            report_csv(run_id) if ctx.triggered_id == ui.IDS.csv else report_pdf(run_id)
        )
    except runs.RunNotFound as exc:
        return no_update, ui.message("error", str(exc))
    except Exception:
        log.exception("surge: report for run %s failed", run_id)
        return no_update, ui.message(
            "error", "The report could not be made. Try again."
        )
    return payload, no_update


# ---------------------------------------------------------------------------


def register(app: Dash) -> None:
    I = ui.IDS  # noqa: E741
    alert = Output(I.alert, "children", allow_duplicate=True)
    changed_out = Output(I.changed, "data", allow_duplicate=True)
    app.callback(
        Output(I.list_view, "style"),
        Output(I.detail_view, "style"),
        Output(I.active, "children"),
        Output(I.stood_down, "children"),
        *[Output(getattr(I, part), "children") for part in DETAIL_PARTS],
        Output(I.freshness, "children"),
        Output(I.shown_run, "data"),
        Output(I.role, "options"),
        Output(I.log_role, "options"),
        Output(I.role_card, "style"),
        Output(I.log_card, "style"),
        Output(I.stand_down, "style"),
        Output(I.template, "options"),
        Output(I.site, "options"),
        Output(I.declare_col, "style"),
        Input(SHELL.url, "search"),
        Input(SHELL.poll, "n_intervals"),
        Input(I.changed, "data"),
        Input(I.body, "id"),
        State(I.shown_run, "data"),
        State(I.template, "options"),
    )(refresh)
    app.callback(
        Output(I.template_info, "children"),
        Output(I.methane_box, "style"),
        Input(I.template, "value"),
    )(show_template)
    app.callback(
        Output(I.alert, "children"),
        Output(I.template, "invalid"),
        Output(I.template_error, "children"),
        Output(I.site, "invalid"),
        Output(I.site_error, "children"),
        Output(I.trigger_kind, "invalid"),
        Output(I.trigger_error, "children"),
        Output(I.reason, "invalid"),
        Output(I.reason_error, "children"),
        Output({"type": I.METHANE, "field": ALL}, "invalid"),
        Output({"type": I.METHANE_ERROR, "field": ALL}, "children"),
        Output(SHELL.url, "search", allow_duplicate=True),
        Output(I.reason, "value"),
        changed_out,
        Input(I.declare, "n_clicks"),
        State(I.template, "value"),
        State(I.site, "value"),
        State(I.trigger_kind, "value"),
        State(I.trigger_detail, "value"),
        State(I.reason, "value"),
        State({"type": I.METHANE, "field": ALL}, "value"),
        State({"type": I.METHANE, "field": ALL}, "id"),
        State(I.changed, "data"),
        prevent_initial_call=True,
    )(declare)
    app.callback(
        alert,
        changed_out,
        Input({"type": I.TICK, "key": ALL, "v": ALL, "done": ALL}, "n_clicks"),
        State(SHELL.url, "search"),
        State(I.changed, "data"),
        prevent_initial_call=True,
    )(tick)
    app.callback(
        Output(I.note_modal, "is_open"),
        Output(I.note_target, "data"),
        Output(I.note_title, "children"),
        Output(I.note_text, "value"),
        Input({"type": I.NOTE_OPEN, "key": ALL, "v": ALL}, "n_clicks"),
        State(SHELL.url, "search"),
        prevent_initial_call=True,
    )(open_note)
    app.callback(
        alert,
        Output(I.note_modal, "is_open", allow_duplicate=True),
        changed_out,
        Input(I.note_confirm, "n_clicks"),
        State(I.note_target, "data"),
        State(I.note_text, "value"),
        State(SHELL.url, "search"),
        State(I.changed, "data"),
        prevent_initial_call=True,
    )(confirm_note)
    app.callback(
        Output(I.note_modal, "is_open", allow_duplicate=True),
        Input(I.note_cancel, "n_clicks"),
        prevent_initial_call=True,
    )(cancel_note)
    app.callback(
        alert,
        Output(I.person, "value"),
        Output(I.contact, "value"),
        changed_out,
        Input(I.assign, "n_clicks"),
        State(I.role, "value"),
        State(I.person, "value"),
        State(I.contact, "value"),
        State(SHELL.url, "search"),
        State(I.changed, "data"),
        prevent_initial_call=True,
    )(assign)
    app.callback(
        alert,
        Output(I.log_text, "value"),
        changed_out,
        Input(I.log_add, "n_clicks"),
        State(I.log_text, "value"),
        State(I.log_role, "value"),
        State(SHELL.url, "search"),
        State(I.changed, "data"),
        prevent_initial_call=True,
    )(add_log)
    app.callback(
        Output(I.stand_down_modal, "is_open"),
        Output(I.stand_down_open, "children"),
        Output(I.stand_down_label, "children"),
        Output(I.stand_down_note, "invalid"),
        Output(I.stand_down_error, "children"),
        Output(I.stand_down_note, "value"),
        Input(I.stand_down, "n_clicks"),
        Input(I.stand_down_cancel, "n_clicks"),
        State(SHELL.url, "search"),
        prevent_initial_call=True,
    )(open_stand_down)
    app.callback(
        alert,
        Output(I.stand_down_modal, "is_open", allow_duplicate=True),
        changed_out,
        Output(I.stand_down_note, "invalid", allow_duplicate=True),
        Output(I.stand_down_error, "children", allow_duplicate=True),
        Input(I.stand_down_confirm, "n_clicks"),
        State(I.stand_down_note, "value"),
        State(SHELL.url, "search"),
        State(I.shown_run, "data"),
        State(I.changed, "data"),
        prevent_initial_call=True,
    )(confirm_stand_down)
    app.callback(
        Output(I.download, "data"),
        alert,
        Input(I.csv, "n_clicks"),
        Input(I.pdf, "n_clicks"),
        State(SHELL.url, "search"),
        prevent_initial_call=True,
    )(download)
