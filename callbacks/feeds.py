"""Feeds page (/feeds): every feed's health, the HL7 listener and its quarantine.

* ``page`` -- the router's builder: the page for those who may view feeds (bed
  managers and admins, ``Permission.VIEW_FEEDS``), a refusal for everyone else.
* ``poll`` -- the registered refresh (``callbacks.delta``: one render per view).
* ``replay`` / ``open_discard`` / ``confirm_discard`` / ``show_original`` -- admin
  actions (``Permission.MANAGE_FEEDS``), each audited (``data.writes.feed_admin``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from callbacks import delta
from callbacks.common import freshness, query_failed
from callbacks.identity import PermissionDenied, current_actor, require
from components import chart_text
from components import feeds as ui
from components.shell import IDS as SHELL
from data.db import write_session
from data.queries import feeds as reads
from data.queries.hl7 import feed_summary, unresolved_quarantine
from data.runtime import current
from data.writes import feed_admin
from ops.alerting import current_alert_rules
from ops.config_errors import ConfigError
from ops.permissions import Permission, allowed

log = logging.getLogger(__name__)

DENIED = "The feeds page is for bed managers and administrators."


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None


def access() -> tuple[bool, bool]:
    """(may view the page, may replay/discard and see raw originals). Without
    sign-in (the embedded demo with authentication off) the page is shown but
    nothing can be managed: actions and originals need a named, audited user."""
    actor = current_actor()
    if actor is None:
        return (not current().settings.auth_required, False)
    return (
        allowed(actor.role, Permission.VIEW_FEEDS),
        allowed(actor.role, Permission.MANAGE_FEEDS),
    )


def page(query: dict[str, str]) -> html.Div:
    """The router's builder for /feeds."""
    can_view, _ = access()
    if not can_view:
        return ui.denied(DENIED)
    return ui.layout(query)


def expectations(feeds: list[str]) -> dict[str, float | None]:
    """Each feed's expected longest silence (seconds) from the silence rule of the
    alert rules (``expect``); None where no rule watches the feed."""
    try:
        rules = [
            r
            for r in current_alert_rules().rules
            if r.expect and r.metric == "data_age_seconds"
        ]
    except ConfigError as exc:
        log.warning("feeds page: alert rules unreadable: %s", exc)
        rules = []
    out: dict[str, float | None] = {}
    for feed in feeds:
        found = [r.expectation_for(feed) for r in rules]
        known = [s for s in found if s is not None]
        out[feed] = min(known) if known else None
    return out


def refresh(can_manage: bool) -> tuple[Any, Any, Any, Any]:
    """Freshness, the page body, the HL7 minutes chart and that chart in words
    (components/chart_text.py)."""
    runtime = current()
    now = runtime.now()
    tz = runtime.settings.timezone
    try:
        with runtime.factory() as session:
            lines = reads.feed_lines(session)
            summary = feed_summary(session, now)
            outcomes = reads.hl7_outcomes(session, now - timedelta(hours=1))
            minutes = reads.hl7_minutes(session, now)
            items = unresolved_quarantine(session)
            expired = reads.purged_originals(session)
            hour_ago = now - timedelta(hours=1)
            recent = {
                **reads.csv_last_hour(session, hour_ago),
                **reads.fhir_last_hour(session, hour_ago, [ln.feed for ln in lines]),
            }
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("feeds", exc)
        return (
            fresh.line,
            ui.error_box("Feeds could not be read."),
            no_update,
            _chart_text(chart_text.unavailable("The HL7 counts could not be read.")),
        )
    newest = max(
        [line.last_write_at for line in lines]
        + ([summary.last_message_at] if summary.last_message_at else []),
        default=None,
    )
    fresh = freshness(runtime, newest)
    body = ui.body(
        lines,
        expectations([line.feed for line in lines]),
        summary,
        outcomes,
        items,
        tz,
        now,
        can_manage=can_manage,
        expired=expired,
        recent=recent,
    )
    return (
        fresh.line,
        body,
        ui.minutes_figure(minutes, tz),
        _chart_text(chart_text.hl7_minutes_text(minutes, tz)),
    )


def _chart_text(text: chart_text.ChartText) -> list:
    return chart_text.alternative(text, ui.IDS.chart)


def poll(
    _n: int | None,
    _body_id: str | None = None,
    _changed: int | None = None,
    sent: list | None = None,
) -> tuple:
    can_view, can_manage = access()
    if not can_view:
        return no_update, ui.denied(DENIED), no_update, no_update, no_update
    runtime = current()
    return delta.poll(
        ("feeds", can_manage),
        lambda: refresh(can_manage),
        sent,
        version=delta.version_of(runtime),
    )


def _counts_text(counts: dict[str, int]) -> str:
    if not counts:
        return "Nothing to replay."
    total = sum(counts.values())
    parts = ", ".join(f"{label} {n}" for label, n in sorted(counts.items()))
    return f"Replayed {total}: {parts}."


def replay(n_clicks: int | None, changed: int | None) -> tuple[Any, Any, Any]:
    """Run every unresolved quarantined message again; audited with the counts.
    The click count is reset to 0 for the reason given in :func:`_clicked`."""
    if not n_clicks:
        return no_update, no_update, no_update
    actor = require(Permission.MANAGE_FEEDS)  # a refusal answers 403
    runtime = current()
    from feeds.hl7.config import Hl7ConfigError, load_hl7_config
    from feeds.hl7.ingest import replay_quarantine

    try:
        config = load_hl7_config(runtime.settings.database_url, runtime.settings.demo)
    except Hl7ConfigError as exc:
        return ui.error_box(f"Cannot replay: {exc}"), no_update, 0
    try:
        counts = replay_quarantine(runtime.factory, key=config.key, clock=runtime.now)
        with write_session(runtime.factory) as session:
            feed_admin.record_replay(
                session,
                actor_username=actor.username,
                actor_role=actor.role,
                counts=counts,
                at=runtime.now(),
            )
    except Exception as exc:
        log.error("quarantine replay failed: %s: %s", exc.__class__.__name__, exc)
        return (
            ui.error_box("The replay could not be completed; try again."),
            no_update,
            0,
        )
    return ui.done_box(_counts_text(counts)), (_int(changed) or 0) + 1, 0


def _clicked(clicks: list) -> tuple[int | None, list[int]]:
    """The quarantine id of the row button that was clicked, if one was, and the
    buttons' click counts reset to 0.

    The page body is updated as a difference (``callbacks.delta``), so a redrawn
    row keeps its button's ``n_clicks`` and Dash fires the row callbacks again for
    it; each callback therefore resets the counts it reads, and a redraw then
    arrives with 0 and is not taken as a click."""
    reset = [0] * len(clicks)
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(t.get("value") for t in ctx.triggered):
        return None, reset
    return _int(trigger.get("id")), reset


def open_discard(
    clicks: list, _cancel: int | None
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Open the discard dialog for the clicked entry (or close it on Cancel)."""
    if ctx.triggered_id == ui.IDS.discard_cancel:
        return False, no_update, None, "", None, [0] * len(clicks)
    qid, reset = _clicked(clicks)
    if qid is None:
        return (*(no_update,) * 5, reset)
    runtime = current()
    with runtime.factory() as session:
        item = next((i for i in unresolved_quarantine(session) if i.id == qid), None)
    if item is None:
        return (*(no_update,) * 5, reset)
    summary = html.P(
        [
            html.Strong(item.message_type),
            f" from {item.sender}, control id {item.control_id}: {item.reason}",
        ]
    )
    return True, summary, {"id": qid}, "", None, reset


def confirm_discard(
    n_clicks: int | None, target: dict | None, reason: str | None, changed: int | None
) -> tuple[Any, Any, Any, Any]:
    """Discard the entry (audited); close the dialog with a confirmation."""
    if not n_clicks or not isinstance(target, dict):
        return (no_update,) * 4
    qid = _int(target.get("id"))
    if qid is None:
        return (no_update,) * 4
    actor = require(Permission.MANAGE_FEEDS)
    runtime = current()
    try:
        with write_session(runtime.factory) as session:
            feed_admin.discard_quarantined(
                session,
                qid,
                actor_username=actor.username,
                actor_role=actor.role,
                reason=reason if isinstance(reason, str) else "",
                at=runtime.now(),
            )
    except feed_admin.FeedAdminError as exc:
        return no_update, ui.error_box(str(exc)), no_update, no_update
    except Exception as exc:
        log.error("quarantine discard failed: %s: %s", exc.__class__.__name__, exc)
        return (
            no_update,
            ui.error_box("The change could not be saved; try again."),
            no_update,
            no_update,
        )
    return (
        False,
        None,
        ui.done_box("Message discarded; the audit trail records why."),
        (_int(changed) or 0) + 1,
    )


def show_original(clicks: list) -> tuple[Any, Any, Any]:
    """An admin opens a quarantined raw original: every view is audited."""
    qid, reset = _clicked(clicks)
    if qid is None:
        return no_update, no_update, reset
    actor = require(Permission.MANAGE_FEEDS)
    runtime = current()
    with write_session(runtime.factory) as session:
        original = reads.quarantine_original(session, qid)
        if original is not None:
            feed_admin.record_original_viewed(
                session,
                qid,
                actor_username=actor.username,
                actor_role=actor.role,
                at=runtime.now(),
                available=original.raw is not None,
            )
    return True, ui.original_view(original), reset


def register(app: Dash) -> None:
    app.callback(
        Output(ui.IDS.freshness, "children"),
        Output(ui.IDS.body, "children"),
        Output(ui.IDS.chart, "figure"),
        Output(chart_text.text_id(ui.IDS.chart), "children"),
        Output(ui.IDS.sent, "data"),
        Input(SHELL.poll, "n_intervals"),
        Input(ui.IDS.body, "id"),
        Input(ui.IDS.changed, "data"),
        State(ui.IDS.sent, "data"),
    )(poll)
    app.callback(
        Output(ui.IDS.message, "children"),
        Output(ui.IDS.changed, "data"),
        Output(ui.IDS.replay, "n_clicks"),
        Input(ui.IDS.replay, "n_clicks"),
        State(ui.IDS.changed, "data"),
        prevent_initial_call=True,
    )(replay)
    app.callback(
        Output(ui.IDS.discard_modal, "is_open"),
        Output(ui.IDS.discard_summary, "children"),
        Output(ui.IDS.discard_target, "data"),
        Output(ui.IDS.discard_reason, "value"),
        Output(ui.IDS.discard_error, "children"),
        Output({"type": ui.IDS.DISCARD, "id": ALL}, "n_clicks"),
        Input({"type": ui.IDS.DISCARD, "id": ALL}, "n_clicks"),
        Input(ui.IDS.discard_cancel, "n_clicks"),
        prevent_initial_call=True,
    )(open_discard)
    app.callback(
        Output(ui.IDS.discard_modal, "is_open", allow_duplicate=True),
        Output(ui.IDS.discard_error, "children", allow_duplicate=True),
        Output(ui.IDS.message, "children", allow_duplicate=True),
        Output(ui.IDS.changed, "data", allow_duplicate=True),
        Input(ui.IDS.discard_confirm, "n_clicks"),
        State(ui.IDS.discard_target, "data"),
        State(ui.IDS.discard_reason, "value"),
        State(ui.IDS.changed, "data"),
        prevent_initial_call=True,
    )(confirm_discard)
    app.callback(
        Output(ui.IDS.original_modal, "is_open"),
        Output(ui.IDS.original_body, "children"),
        Output({"type": ui.IDS.ORIGINAL, "id": ALL}, "n_clicks"),
        Input({"type": ui.IDS.ORIGINAL, "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(show_original)


__all__ = ["PermissionDenied", "page", "poll", "register"]
