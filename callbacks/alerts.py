"""Alerts page, the alert banner on every page, and the read APIs.

* ``refresh`` -- the /alerts page from one pass of store reads.
* ``open_action`` / ``submit_action`` -- acknowledge and silence dialogs; the actor
  comes from ``callbacks.identity.require(Permission.ACK_ALERT)``, never from inputs.
* ``banner`` -- fills ``components.shell.IDS.banner`` on every poll and page change
  (not on /wall) and adds a toast when an alert starts firing since the last poll.
* ``GET /api/v1/alerts`` and ``GET /api/v1/opel``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, no_update
from flask import jsonify

from callbacks.common import freshness, query_failed
from callbacks.identity import PermissionDenied, current_actor, require
from callbacks.router import CHROMELESS, parse_query
from components import alert_banner as banner_ui
from components import alerts as ui
from components import chart_text
from components.common import empty_figure
from components.shell import IDS as SHELL
from components.surge import active_protocols_banner
from data.db import write_session
from data.queries import alerts as reads
from data.queries.common import newest_feed_write
from data.queries.protocols import active_run_summaries
from data.runtime import current
from data.writes import alerts as writes
from jobs.worker import silent_since
from ops import alert_views, alerting
from ops.permissions import Permission, allowed
from ops.timeutil import format_local

log = logging.getLogger(__name__)

ALERTS_API = "/api/v1/alerts"
OPEL_API = "/api/v1/opel"
TREND_DAYS = 7


def _text(value: object) -> str | None:
    """A callback input that must be text; anything else counts as absent."""
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# ---------------------------------------------------------------------------
# Page refresh
# ---------------------------------------------------------------------------


def refresh(
    search: str | None,
    _n: int | None,
    _body: str | None = None,
    _changed: int | None = None,
) -> tuple:
    """Freshness, OPEL cards, breakdown scope options, breakdown, trend, current alerts,
    history, the history filters' options, and the trend's text."""
    runtime = current()
    tz = runtime.settings.timezone
    now = runtime.now()
    query = parse_query(_text(search))
    filters = alert_views.EventFilters.from_query(query)
    since = now - timedelta(days=TREND_DAYS)
    try:
        config = alerting.load_and_validate_config()
        with runtime.factory() as session:
            alerts = reads.current_alerts(session, now)
            events = reads.alert_events(session, filters, tz)
            options = reads.history_options(session)
            opel = reads.latest_opel(session)
            trend = reads.opel_trend(session, since, now)
            evaluated = reads.last_evaluation(session)
            as_of_feed = newest_feed_write(session)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("alerts", exc)
        message = ui.error_box("Alerts could not be read.")
        return (
            fresh.line,
            message,
            [],
            None,
            None,
            empty_figure("Data could not be read"),
            message,
            message,
            no_update,
            no_update,
            chart_text.alternative(
                chart_text.unavailable("OPEL figures could not be read."),
                ui.IDS.opel_trend,
            ),
        )
    if evaluated is None:
        fresh = freshness(runtime, None, "alerts have not been evaluated yet")
    else:
        as_of = min(evaluated.last_run_at, as_of_feed or evaluated.last_run_at)
        fresh = freshness(runtime, as_of)
    selected = query.get("opel")
    by_scope = {ui.scope_value(v): v for v in opel}
    view = by_scope.get(selected or "") or (opel[0] if opel else None)
    bands = {
        (p.key, b.band): b.describe() for p in config.opel.parameters for b in p.bands
    }
    thresholds = [(lv.level, lv.max_total) for lv in config.opel.levels]
    breakdown = ui.opel_breakdown(
        view, bands, config.opel.source, config.opel.version, thresholds, tz
    )
    figure = ui.opel_trend_figure(trend, since, now, tz)
    actor = current_actor()
    can_act = (not runtime.settings.auth_required and actor is None) or (
        actor is not None and allowed(actor.role, Permission.ACK_ALERT)
    )
    return (
        fresh.line,
        ui.opel_cards(opel, tz, now),
        ui.opel_scope_options(opel),
        ui.scope_value(view) if view else None,
        breakdown,
        figure,
        ui.current_table(
            alerts,
            tz,
            now,
            can_act=can_act,
            suggestions={
                r.id: r.suggests_protocol
                for r in config.rules.rules
                if r.suggests_protocol
            },
        ),
        ui.history_table(events, tz, now, reads.HISTORY_LIMIT, filters.problem()),
        ui.rule_options(options.rules),
        ui.scope_options(options.scopes),
        chart_text.alternative(
            chart_text.opel_trend_text(trend, since, now, tz), ui.IDS.opel_trend
        ),
    )


def filters_changed(
    rule: str | None,
    scope: str | None,
    state: str | None,
    date_from: str | None,
    date_to: str | None,
    opel_scope: str | None,
    search: str | None,
) -> str:
    query = parse_query(_text(search))
    new = ui.search_for(
        query,
        rule=_text(rule) or None,
        scope=_text(scope) or None,
        state=_text(state) or None,
        **{"from": _text(date_from) or None, "to": _text(date_to) or None},
        opel=_text(opel_scope) or None,
    )
    return no_update if new == ui.search_for(query) else new


# ---------------------------------------------------------------------------
# Acknowledge / silence
# ---------------------------------------------------------------------------


def open_action(_ack: list, _silence: list, _cancel: int | None) -> tuple:
    """Open the dialog for the clicked alert (or close it on Cancel)."""
    trigger = ctx.triggered_id
    if trigger == ui.IDS.cancel:
        return (
            False,
            no_update,
            no_update,
            no_update,
            no_update,
            no_update,
            None,
            "",
            "",
        )
    clicked = [t for t in ctx.triggered if t.get("value")]
    if not clicked or not isinstance(trigger, dict):
        return (no_update,) * 9
    action = "ack" if trigger.get("type") == ui.IDS.ACK else "silence"
    alert_id, version = _int(trigger.get("id")), _int(trigger.get("version"))
    if alert_id is None or version is None:
        return (no_update,) * 9
    runtime = current()
    with runtime.factory() as session:
        alert = reads.alert_by_id(session, alert_id, runtime.now())
    if alert is None:
        return (no_update,) * 9
    target = {"alert_id": alert.id, "version": version, "action": action}
    title = "Acknowledge alert" if action == "ack" else "Silence alert"
    show, hide = {}, {"display": "none"}
    return (
        True,
        title,
        ui.action_summary(alert, runtime.settings.timezone),
        show if action == "ack" else hide,
        hide if action == "ack" else show,
        target,
        None,
        "",
        "",
    )


def submit_action(
    _n: int | None,
    target: dict | None,
    note: str | None,
    duration: str | None,
    reason: str | None,
    changed: int | None,
) -> tuple:
    """Do the write; close the dialog with a confirmation, or show why not."""
    changed = _int(changed) or 0
    if not isinstance(target, dict) or target.get("action") not in ("ack", "silence"):
        return no_update, no_update, no_update, no_update
    alert_id, version = _int(target.get("alert_id")), _int(target.get("version"))
    if alert_id is None or version is None:
        return no_update, no_update, no_update, no_update
    note, duration, reason = _text(note), _text(duration), _text(reason)
    runtime = current()
    tz = runtime.settings.timezone
    try:
        actor = require(Permission.ACK_ALERT)
        with write_session(runtime.factory) as session:
            if target["action"] == "ack":
                view = writes.acknowledge(
                    session, alert_id, actor, note, runtime.now(), version, tz=tz
                )
                message = f"Acknowledged “{view.title}” ({view.scope_label})."
            else:
                view = writes.silence(
                    session,
                    alert_id,
                    actor,
                    duration or "",
                    reason,
                    runtime.now(),
                    version,
                    tz=tz,
                )
                message = (
                    f"Silenced “{view.title}” ({view.scope_label}) until "
                    f"{format_local(view.silenced_until, tz)}."
                )
    except (PermissionDenied, writes.AlertStoreError) as exc:
        bump = changed + 1 if isinstance(exc, writes.AlertConflict) else no_update
        return no_update, ui.error_box(str(exc)), no_update, bump
    except Exception as exc:
        log.error("alert action failed: %s: %s", exc.__class__.__name__, exc)
        return (
            no_update,
            ui.error_box("The change could not be saved; try again."),
            no_update,
            no_update,
        )
    return False, None, ui.done_box(message), changed + 1


# ---------------------------------------------------------------------------
# Banner on every page
# ---------------------------------------------------------------------------


def _opel_levels() -> list[tuple[int, float]]:
    """The OPEL levels' score ceilings in force (the banner's distance to the next
    level); none while the file cannot be read."""
    from ops.opel import DEFAULT_OPEL_CONFIG_PATH, load_opel_config

    try:
        config = load_opel_config(DEFAULT_OPEL_CONFIG_PATH)
    except Exception as exc:  # start-up refuses a bad file; an edit while running
        log.warning("OPEL levels unavailable: %s", exc)
        return []
    return [(lv.level, lv.max_total) for lv in config.levels]


def banner(_n: int | None, pathname: str | None, seen_stores: list | None) -> Any:
    """The banner for this page; a toast for alerts that fired since the last poll."""
    path = (_text(pathname) or "/").rstrip("/") or "/"
    if path in CHROMELESS:
        return []
    runtime = current()
    try:
        with runtime.factory() as session:
            alerts = reads.current_alerts(session, runtime.now())
            opel = next(
                (v for v in reads.latest_opel(session) if v.scope_kind == "trust"), None
            )
            protocols = active_run_summaries(session, runtime.now())
            worker_since = silent_since(session, runtime.now(), runtime.settings)
    except Exception as exc:
        log.error("alert banner failed: %s: %s", exc.__class__.__name__, exc)
        return no_update
    keys = alert_views.firing_keys(alerts)
    previous = seen_stores[0] if isinstance(seen_stores, list) and seen_stores else None
    new: list = []
    if isinstance(previous, list):
        fresh_keys = set(keys) - {k for k in previous if isinstance(k, str)}
        new = [
            a
            for a in banner_ui.firing_sorted(alerts)
            if alert_views.firing_key(a) in fresh_keys
        ]
    alert_part = banner_ui.alert_banner(
        alerts,
        opel,
        tz=runtime.settings.timezone,
        seen=keys,
        new_alerts=new,
        opel_levels=_opel_levels(),
        now=runtime.now(),
    )
    # Active surge protocols show on every page too (none on the surge page itself,
    # which lists them in full).
    protocol_part = None if path == "/surge" else active_protocols_banner(protocols)
    # The worker cannot report its own death: judged here, from its lease row.
    worker_part = (
        banner_ui.worker_silent_notice(worker_since, runtime.settings.timezone)
        if worker_since is not None
        else None
    )
    parts = [p for p in (worker_part, alert_part, protocol_part) if p is not None]
    return parts if len(parts) > 1 else alert_part


# ---------------------------------------------------------------------------
# Read APIs
# ---------------------------------------------------------------------------


def api_alerts():  # noqa: ANN201
    """``GET /api/v1/alerts``: current (non-normal) alerts and the last 100 events."""
    runtime = current()
    now = runtime.now()
    try:
        with runtime.factory() as session:
            alerts = reads.current_alerts(session, now)
            events = reads.alert_events(
                session,
                alert_views.EventFilters(),
                runtime.settings.timezone,
                reads.API_EVENTS,
            )
            evaluated = reads.last_evaluation(session)
    except Exception as exc:
        log.error("alerts api failed: %s: %s", exc.__class__.__name__, exc)
        return jsonify({"error": "alerts could not be read"}), 503
    body = {
        "generated_at": now.isoformat(),
        "evaluated_at": evaluated.last_run_at.isoformat() if evaluated else None,
        "rules_version": evaluated.rules_version if evaluated else None,
        "alerts": [a.to_json() for a in alerts],
        "events": [e.to_json() for e in events],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def api_opel():  # noqa: ANN201
    """``GET /api/v1/opel``: the latest assessment per scope with its breakdown."""
    runtime = current()
    try:
        with runtime.factory() as session:
            views = reads.latest_opel(session)
            evaluated = reads.last_evaluation(session)
    except Exception as exc:
        log.error("opel api failed: %s: %s", exc.__class__.__name__, exc)
        return jsonify({"error": "OPEL could not be read"}), 503
    body = {
        "generated_at": runtime.now().isoformat(),
        "evaluated_at": evaluated.last_run_at.isoformat() if evaluated else None,
        "config_version": evaluated.opel_config_version if evaluated else None,
        "assessments": [v.to_json() for v in views],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Dash) -> None:
    app.callback(
        Output(ui.IDS.freshness, "children"),
        Output(ui.IDS.opel_cards, "children"),
        Output(ui.IDS.opel_scope, "options"),
        Output(ui.IDS.opel_scope, "value"),
        Output(ui.IDS.opel_breakdown, "children"),
        Output(ui.IDS.opel_trend, "figure"),
        Output(ui.IDS.current, "children"),
        Output(ui.IDS.history, "children"),
        Output(ui.IDS.f_rule, "options"),
        Output(ui.IDS.f_scope, "options"),
        Output(chart_text.text_id(ui.IDS.opel_trend), "children"),
        Input(SHELL.url, "search"),
        Input(SHELL.poll, "n_intervals"),
        Input(ui.IDS.body, "id"),
        Input(ui.IDS.changed, "data"),
    )(refresh)
    app.callback(
        Output(SHELL.url, "search", allow_duplicate=True),
        Input(ui.IDS.f_rule, "value"),
        Input(ui.IDS.f_scope, "value"),
        Input(ui.IDS.f_state, "value"),
        Input(ui.IDS.f_from, "date"),
        Input(ui.IDS.f_to, "date"),
        Input(ui.IDS.opel_scope, "value"),
        State(SHELL.url, "search"),
        prevent_initial_call=True,
    )(filters_changed)
    app.callback(
        Output(ui.IDS.modal, "is_open"),
        Output(ui.IDS.modal_title, "children"),
        Output(ui.IDS.modal_alert, "children"),
        Output(ui.IDS.ack_form, "style"),
        Output(ui.IDS.silence_form, "style"),
        Output(ui.IDS.target, "data"),
        Output(ui.IDS.action_error, "children"),
        Output(ui.IDS.ack_note, "value"),
        Output(ui.IDS.silence_reason, "value"),
        Input({"type": ui.IDS.ACK, "id": ALL, "version": ALL}, "n_clicks"),
        Input({"type": ui.IDS.SILENCE, "id": ALL, "version": ALL}, "n_clicks"),
        Input(ui.IDS.cancel, "n_clicks"),
        prevent_initial_call=True,
    )(open_action)
    app.callback(
        Output(ui.IDS.modal, "is_open", allow_duplicate=True),
        Output(ui.IDS.action_error, "children", allow_duplicate=True),
        Output(ui.IDS.message, "children"),
        Output(ui.IDS.changed, "data"),
        Input(ui.IDS.submit, "n_clicks"),
        State(ui.IDS.target, "data"),
        State(ui.IDS.ack_note, "value"),
        State(ui.IDS.silence_duration, "value"),
        State(ui.IDS.silence_reason, "value"),
        State(ui.IDS.changed, "data"),
        prevent_initial_call=True,
    )(submit_action)
    app.callback(
        Output(SHELL.banner, "children"),
        Input(SHELL.poll, "n_intervals"),
        Input(SHELL.url, "pathname"),
        State({"type": banner_ui.SEEN_TYPE, "id": ALL}, "data"),
    )(banner)
    app.server.add_url_rule(ALERTS_API, "api_v1_alerts", api_alerts, methods=["GET"])
    app.server.add_url_rule(OPEL_API, "api_v1_opel", api_opel, methods=["GET"])
