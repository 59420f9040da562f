"""Flow page glue: the polled figures and board, the CSV export and the board round."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from callbacks import delta
from callbacks.common import filter_sync, freshness, query_failed
from callbacks.identity import current_actor
from callbacks.router import parse_query
from components import chart_text, flow
from components.common import empty_figure
from components.shell import IDS as SHELL
from data.db import write_session
from data.queries import flow as q
from data.queries import flow_actions as qa
from data.queries.common import newest_feed_write
from data.runtime import current
from data.writes import discharge, discharge_actions
from data.writes.events import EventError
from ops import flow as rules
from ops.csv_export import csv_text
from ops.permissions import Permission, allowed
from ops.timeutil import ensure_utc, format_local, to_local

log = logging.getLogger(__name__)

# Who may review discharges on the board round (bed managers, site leads and above).
REVIEW_PERMISSION = Permission.WORK_PROTOCOL


def refresh(search: str | None, _n: int | None, _body_id: str | None = None) -> tuple:
    """freshness, bed gap, discharge summary, chart and its text, board rows, count,
    summary,
    and the site, specialty and ward filter options."""
    runtime = current()
    filters = q.FlowFilters.from_query(parse_query(search))
    now = runtime.now()
    tz = runtime.settings.timezone
    try:
        with runtime.factory() as session:
            sites, specialties, wards = q.filter_options(session)
            gap = q.bed_gap(session, filters, now, tz)
            dis = q.discharges(session, filters, now, tz)
            rows = q.board(session, filters, now)
            acts = qa.open_actions(session, [r.stay_ref for r in rows])
            trend = q.nctr_trend(session, filters, now, tz)
            as_of = newest_feed_write(session)
    except Exception as exc:
        fresh = query_failed("flow", exc)
        failed = html.P("Flow figures could not be read.", className="text-danger")
        return (fresh.line, failed, None, empty_figure("Data could not be read"),
                chart_text.alternative(
                    chart_text.unavailable("Flow figures could not be read."),
                    flow.IDS.discharge_chart),
                [], "", None, no_update, no_update, no_update)  # fmt: skip
    fresh = freshness(runtime, as_of)
    hour = to_local(now, tz).hour
    return (
        fresh.line,
        flow.gap_tiles(gap, tz, fresh.as_of_text),
        flow.discharge_summary(dis, hour),
        flow.discharge_figure(dis, hour),
        chart_text.alternative(
            flow.discharge_text(dis, hour), flow.IDS.discharge_chart
        ),
        flow.board_data(rows, tz, acts, now),
        f"{len(rows)} inpatients",
        html.Div([flow.summary(rows), flow.trend_table(trend)]),
        flow.options([(c, f"{n} ({c})") for c, n in sites]),
        flow.options([(s, s) for s in specialties]),
        flow.options(wards),
    )


def filters_changed(
    site: str | None, specialty: str | None, ward: int | None, search: str | None
) -> Any:
    query = parse_query(search)
    new = flow.search_for(
        query,
        site=site or None,
        specialty=specialty or None,
        ward=str(ward) if ward else None,
    )
    return no_update if new == flow.search_for(query) else new


def export(_clicks: int | None, search: str | None) -> Any:
    """The board as CSV (formula-safe), for the filters in the address."""
    if not _clicks:
        return no_update
    runtime = current()
    filters = q.FlowFilters.from_query(parse_query(search))
    now = runtime.now()
    with runtime.factory() as session:
        rows = q.board(session, filters, now)
        acts = qa.open_actions(session, [r.stay_ref for r in rows])
    data = flow.board_data(rows, runtime.settings.timezone, acts, now)
    stamp = format_local(runtime.now(), runtime.settings.timezone, "%Y%m%d-%H%M")
    return {
        "content": csv_text(flow.csv_rows(data)),
        "filename": f"discharge-board-{stamp}.csv",
        "type": "text/csv",
    }


def _local_input(value: datetime | None, tz: str) -> str | None:
    return format_local(value, tz, "%Y-%m-%d %H:%M") if value else None


def _parse_local(text: str | None, tz: str) -> datetime | None:
    """The typed expected discharge ("YYYY-MM-DD HH:MM", or a date alone for
    12:00) in the trust's zone, as UTC; ValueError for anything else."""
    if not text or not text.strip():
        return None
    text = text.strip()
    naive = datetime.fromisoformat(text if len(text) > 10 else f"{text} 12:00")
    if naive.tzinfo is not None:
        raise ValueError("no time zone: the trust's local time is meant")
    return ensure_utc(naive.replace(tzinfo=ZoneInfo(tz), fold=0))


def select_patient(selected: list | None, loaded: dict | None = None) -> tuple:
    """Fill the board-round form from the selected row (as the store holds it).

    A poll that refreshes the board keeps the selection: the form (and the token it
    was filled with) stays as it is, so a change made meanwhile is a conflict."""
    if selected and loaded and loaded.get("stay") == selected[0].get("stay"):
        return (no_update,) * 11
    if not selected:
        return ("Select a patient on the board to review their discharge.",
                None, None, None, None, None, True, "", None, True, "")  # fmt: skip
    stay_ref = selected[0].get("stay")
    runtime = current()
    tz = runtime.settings.timezone
    from sqlalchemy import select

    from data.models.capacity import InpatientStay

    with runtime.factory() as session:
        stay = session.scalars(
            select(InpatientStay).where(InpatientStay.stay_ref == stay_ref)
        ).first()
        last = discharge.last_review(session, stay_ref) if stay else None
        actions = qa.actions_for(session, stay_ref) if stay else []
    if stay is None or last is None:
        return ("That patient is no longer on the board.",
                None, None, None, None, None, True, "", None, True, "")  # fmt: skip
    actor = current_actor()
    can = actor is not None and allowed(actor.role, REVIEW_PERMISSION)
    changed = (
        f" Last changed by {last.by} at {format_local(last.at, tz, '%H:%M %d %b')}."
        if last.at
        else ""
    )
    title = f"Patient {stay.patient_ref}.{changed}"
    if not can:
        title += " Viewing only: your role may not change discharge reviews."
    edd = ensure_utc(stay.expected_discharge_at) if stay.expected_discharge_at else None
    return (
        title,
        {"stay": stay_ref, "token": last.token},
        _local_input(edd, tz),
        "yes" if stay.medically_ready_at is None else "no",
        stay.discharge_pathway,
        stay.delay_reason,
        not can,
        "",
        flow.actions_list(actions, tz, runtime.now(), can),
        not can,
        "",
    )


def _actions_view(stay_ref: str, can: bool) -> Any:
    runtime = current()
    with runtime.factory() as session:
        actions = qa.actions_for(session, stay_ref)
    return flow.actions_list(actions, runtime.settings.timezone, runtime.now(), can)


def _warn(text: str, cid: str | None = None) -> html.Span:
    return html.Span(text, className="text-danger", **({"id": cid} if cid else {}))


def add_action(
    _clicks: int | None,
    token: dict | None,
    what: str | None,
    owner: str | None,
    due: str | None,
) -> tuple:
    """Add an action (what, owner, due) to the selected patient; audited."""
    if not _clicks or not token:
        return (no_update,) * 5
    runtime = current()
    tz = runtime.settings.timezone
    actor = current_actor()
    if actor is None or not allowed(actor.role, REVIEW_PERMISSION):
        return (_warn("Your role may not add actions."),) + (no_update,) * 4
    try:
        due_at = _parse_local(due, tz)
    except ValueError:
        return (_warn("The due time is not a date and time."),) + (no_update,) * 4
    try:
        with write_session(runtime.factory) as session:
            discharge_actions.add_action(
                session, stay_ref=token["stay"], what=what, owner=owner,
                due_at=due_at, actor=actor, now=runtime.now(),
            )  # fmt: skip
    except EventError as exc:
        return (_warn(f"Not added: {exc}."),) + (no_update,) * 4
    except Exception as exc:
        log.error("discharge action failed: %s: %s", type(exc).__name__, exc)
        return (_warn("Not added: the store could not be written."),) + (no_update,) * 4
    saved = format_local(runtime.now(), tz, "%H:%M")
    return (
        html.Span(f"Action added at {saved}.", className="text-success",
                  id="flow-action-added"),
        _actions_view(token["stay"], True),
        "",
        "",
        "",
    )  # fmt: skip


def toggle_action(_clicks: list | None, token: dict | None) -> tuple:
    """Mark an action done or open it again; refused with who and when if someone
    changed it since the list was drawn."""
    trigger = ctx.triggered_id
    if not token or not isinstance(trigger, dict):
        return no_update, no_update
    # a redrawn list brings new buttons (n_clicks None): only a real click counts
    clicked = next(
        (c for c, i in zip(_clicks or [], ctx.inputs_list[0], strict=False)
         if i["id"] == trigger and c),
        None,
    )  # fmt: skip
    if not clicked:
        return no_update, no_update
    action_id, version, done = (int(p) for p in str(trigger["action"]).split(":"))
    runtime = current()
    tz = runtime.settings.timezone
    actor = current_actor()
    if actor is None or not allowed(actor.role, REVIEW_PERMISSION):
        return _warn("Your role may not change actions."), no_update
    try:
        with write_session(runtime.factory) as session:
            discharge_actions.set_done(
                session, action_id=action_id, version=version, done=bool(done),
                actor=actor, now=runtime.now(),
            )  # fmt: skip
    except discharge_actions.ActionConflict as exc:
        at = format_local(exc.last.at, tz, "%H:%M")
        return (
            html.Span(
                f"Not changed: changed by {exc.last.by} at {at}. The list now "
                "shows it as it is.",
                className="text-warning",
                id="flow-action-conflict",
            ),
            _actions_view(token["stay"], True),
        )
    except EventError as exc:
        return _warn(f"Not changed: {exc}."), _actions_view(token["stay"], True)
    except Exception as exc:
        log.error("discharge action failed: %s: %s", type(exc).__name__, exc)
        return _warn("Not changed: the store could not be written."), no_update
    saved = format_local(runtime.now(), tz, "%H:%M")
    word = "done" if done else "reopened"
    return (
        html.Span(f"Action {word} at {saved}.", className="text-success",
                  id="flow-action-changed"),
        _actions_view(token["stay"], True),
    )  # fmt: skip


def save(
    _clicks: int | None,
    token: dict | None,
    edd: str | None,
    ctr: str | None,
    pathway: str | None,
    reason: str | None,
) -> tuple:
    """Apply the review; on a conflict say who changed it and when, change nothing."""
    if not _clicks or not token:
        return no_update, no_update
    runtime = current()
    tz = runtime.settings.timezone
    actor = current_actor()
    if actor is None or not allowed(actor.role, REVIEW_PERMISSION):
        return html.Span("Your role may not change discharge reviews.",
                         className="text-danger"), no_update  # fmt: skip
    try:
        when = _parse_local(edd, tz)
    except ValueError:
        return html.Span("The expected discharge is not a date and time.",
                         className="text-danger"), no_update  # fmt: skip
    try:
        with write_session(runtime.factory) as session:
            discharge.review(
                session, stay_ref=token["stay"], token=int(token["token"]),
                actor=actor, now=runtime.now(), expected_discharge_at=when,
                meets_criteria=ctr != "no", pathway=pathway or None,
                delay_reason=reason or None, reasons=rules.load_delay_reasons(),
            )  # fmt: skip
            last = discharge.last_review(session, token["stay"])
    except discharge.ReviewConflict as exc:
        at = format_local(exc.last.at, tz, "%H:%M") if exc.last.at else "?"
        return (
            html.Span(
                f"Not saved: changed by {exc.last.by} at {at}. Select the patient "
                "again to see their review, then make your change.",
                className="text-warning",
                id="flow-edit-conflict",
            ),
            no_update,
        )
    except EventError as exc:
        return html.Span(f"Not saved: {exc}", className="text-danger"), no_update
    except Exception as exc:
        log.error("discharge review failed: %s: %s", type(exc).__name__, exc)
        return html.Span("Not saved: the store could not be written.",
                         className="text-danger"), no_update  # fmt: skip
    saved = format_local(runtime.now(), tz, "%H:%M")
    return (
        html.Span(f"Saved at {saved}.", className="text-success", id="flow-edit-saved"),
        {"stay": token["stay"], "token": last.token},
    )


def register(app: Dash) -> None:
    app.callback(
        Output(flow.IDS.freshness, "children"),
        Output(flow.IDS.gap, "children"),
        Output(flow.IDS.discharges, "children"),
        Output(flow.IDS.discharge_chart, "figure"),
        Output(chart_text.text_id(flow.IDS.discharge_chart), "children"),
        Output(flow.IDS.board, "rowData"),
        Output(flow.IDS.board_count, "children"),
        Output(flow.IDS.summary, "children"),
        Output(flow.IDS.site, "options"),
        Output(flow.IDS.specialty, "options"),
        Output(flow.IDS.ward, "options"),
        Output(flow.IDS.sent, "data"),
        Input(SHELL.url, "search"),
        Input(SHELL.poll, "n_intervals"),
        Input(flow.IDS.body, "id"),
        State(flow.IDS.sent, "data"),
    )(delta.filtered_page_poll("flow", refresh))
    app.callback(
        Output(flow.IDS.url, "search"),
        Output(flow.IDS.site, "value"),
        Output(flow.IDS.specialty, "value"),
        Output(flow.IDS.ward, "value"),
        Input(flow.IDS.site, "value"),
        Input(flow.IDS.specialty, "value"),
        Input(flow.IDS.ward, "value"),
        Input(flow.IDS.url, "search"),
        prevent_initial_call=True,
    )(filter_sync(flow.IDS.url, flow.filter_values, filters_changed))
    app.callback(
        Output(flow.IDS.download, "data"),
        Input(flow.IDS.export, "n_clicks"),
        State(SHELL.url, "search"),
        prevent_initial_call=True,
    )(export)
    app.callback(
        Output(flow.IDS.edit_title, "children"),
        Output(flow.IDS.edit_token, "data"),
        Output(flow.IDS.edit_edd, "value"),
        Output(flow.IDS.edit_ctr, "value"),
        Output(flow.IDS.edit_pathway, "value"),
        Output(flow.IDS.edit_reason, "value"),
        Output(flow.IDS.edit_save, "disabled"),
        Output(flow.IDS.edit_message, "children"),
        Output(flow.IDS.actions, "children"),
        Output(flow.IDS.action_add, "disabled"),
        Output(flow.IDS.action_message, "children"),
        Input(flow.IDS.board, "selectedRows"),
        State(flow.IDS.edit_token, "data"),
    )(select_patient)
    app.callback(
        Output(flow.IDS.action_message, "children", allow_duplicate=True),
        Output(flow.IDS.actions, "children", allow_duplicate=True),
        Output(flow.IDS.action_what, "value"),
        Output(flow.IDS.action_owner, "value"),
        Output(flow.IDS.action_due, "value"),
        Input(flow.IDS.action_add, "n_clicks"),
        State(flow.IDS.edit_token, "data"),
        State(flow.IDS.action_what, "value"),
        State(flow.IDS.action_owner, "value"),
        State(flow.IDS.action_due, "value"),
        prevent_initial_call=True,
    )(add_action)
    app.callback(
        Output(flow.IDS.action_message, "children", allow_duplicate=True),
        Output(flow.IDS.actions, "children", allow_duplicate=True),
        Input({"type": flow.IDS.action_toggle, "action": ALL}, "n_clicks"),
        State(flow.IDS.edit_token, "data"),
        prevent_initial_call=True,
    )(toggle_action)
    app.callback(
        Output(flow.IDS.edit_message, "children", allow_duplicate=True),
        Output(flow.IDS.edit_token, "data", allow_duplicate=True),
        Input(flow.IDS.edit_save, "n_clicks"),
        State(flow.IDS.edit_token, "data"),
        State(flow.IDS.edit_edd, "value"),
        State(flow.IDS.edit_ctr, "value"),
        State(flow.IDS.edit_pathway, "value"),
        State(flow.IDS.edit_reason, "value"),
        prevent_initial_call=True,
    )(save)
