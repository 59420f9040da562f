"""Admin callbacks: users (create, disable/enable), feed tokens (issue, revoke)
and the audit trail."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html, no_update

from callbacks.identity import PermissionDenied, require
from components import admin, feed_tokens
from components.shell import IDS as SHELL
from data.audit import record_audit
from data.db import write_session
from data.queries.admin import AuditFilter, audit_events, users
from data.runtime import current
from data.security import UserError, create_user, set_active
from ops.permissions import Permission
from ops.timeutil import local_day_start_utc

log = logging.getLogger(__name__)


def sentence(text: str) -> str:
    """A message as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _denied(exc: PermissionDenied) -> dbc.Alert:
    return dbc.Alert([html.I(className="bi bi-lock me-1"), str(exc)], color="danger")


def refresh_users(_n, _message) -> object:  # noqa: ANN001
    try:
        require(Permission.MANAGE_USERS, audit=False)
    except PermissionDenied as exc:
        return _denied(exc)
    runtime = current()
    with runtime.factory() as s:
        rows = users(s)
    return admin.users_table(rows, runtime.settings.timezone)


def create(n_clicks, username, name, role, password) -> object:  # noqa: ANN001
    if not n_clicks:
        return no_update
    actor = require(
        Permission.MANAGE_USERS
    )  # a refusal answers 403 (callbacks.hardening)
    runtime = current()
    if (
        not isinstance(username, str)
        or not isinstance(password, str)
        or not isinstance(role, str)
    ):
        return dbc.Alert(
            "Give a user name, a role and an initial password.", color="warning"
        )
    try:
        with write_session(runtime.factory) as s:
            user = create_user(
                s, username, password, role, str(name or ""), runtime.now()
            )
            record_audit(
                s,
                actor_username=actor.username,
                actor_role=actor.role,
                action="user.create",
                entity_type="user",
                entity_id=user.username,
                after={"role": user.role, "display_name": user.display_name},
                at=runtime.now(),
            )
    except UserError as exc:
        return dbc.Alert(sentence(str(exc)), color="warning")
    return dbc.Alert(
        [html.I(className="bi bi-check-circle me-1"), f"Created {user.username}."],
        color="success",
    )


def toggle(n_clicks, username) -> object:  # noqa: ANN001
    if not n_clicks:
        return no_update
    actor = require(Permission.MANAGE_USERS)
    if not isinstance(username, str) or not username.strip():
        return dbc.Alert("Give the user name to disable or enable.", color="warning")
    runtime = current()
    try:
        with write_session(runtime.factory) as s:
            now_active = not any(
                u.is_active for u in users(s) if u.username == username.strip().lower()
            )
            if username.strip().lower() == actor.username and not now_active:
                return dbc.Alert(
                    "You cannot disable your own account.", color="warning"
                )
            set_active(s, username, now_active, runtime.now())
            record_audit(
                s,
                actor_username=actor.username,
                actor_role=actor.role,
                action="user.enable" if now_active else "user.disable",
                entity_type="user",
                entity_id=username.strip().lower(),
                after={"active": now_active},
                at=runtime.now(),
            )
    except UserError as exc:
        return dbc.Alert(sentence(str(exc)), color="warning")
    word = "enabled" if now_active else "disabled; their sessions have ended"
    return dbc.Alert(f"{username.strip().lower()} {word}.", color="success")


def _filter(actor, action, entity, since, until, tz: str) -> AuditFilter:  # noqa: ANN001
    def day(value) -> date | None:  # noqa: ANN001
        try:
            return (
                date.fromisoformat(value) if isinstance(value, str) and value else None
            )
        except ValueError:
            return None

    s, u = day(since), day(until)
    return AuditFilter(
        actor=actor if isinstance(actor, str) and actor.strip() else None,
        action=action if isinstance(action, str) and action.strip() else None,
        entity_type=entity if isinstance(entity, str) and entity.strip() else None,
        since=local_day_start_utc(s, tz) if s else None,
        until=local_day_start_utc(u + timedelta(days=1), tz) if u else None,
    )


def refresh_audit(_n, actor, action, entity, since, until, _msg) -> object:  # noqa: ANN001
    try:
        require(Permission.MANAGE_USERS, audit=False)
    except PermissionDenied as exc:
        return _denied(exc)
    runtime = current()
    tz = runtime.settings.timezone
    with runtime.factory() as s:
        events = audit_events(s, _filter(actor, action, entity, since, until, tz))
    return admin.audit_table(events, tz)


def export(n_clicks, actor, action, entity, since, until) -> object:  # noqa: ANN001
    if not n_clicks:
        return no_update
    require(Permission.MANAGE_USERS)
    runtime = current()
    tz = runtime.settings.timezone
    with runtime.factory() as s:
        events = audit_events(
            s, _filter(actor, action, entity, since, until, tz), limit=100_000
        )
    return {
        "content": admin.audit_csv(events, tz),
        "filename": "audit-trail.csv",
        "type": "text/csv",
    }


def refresh_feed_tokens(_n, _message) -> object:  # noqa: ANN001
    try:
        require(Permission.MANAGE_FEEDS, audit=False)
    except PermissionDenied as exc:
        return _denied(exc)
    from data.queries.feed_tokens import list_feed_tokens

    runtime = current()
    with runtime.factory() as s:
        rows = list_feed_tokens(s)
    return feed_tokens.tokens_table(rows, runtime.settings.timezone)


def issue_feed_token(n_clicks, feed, label) -> object:  # noqa: ANN001
    """Issue a token (audited); it is shown once, in the answer to this click."""
    if not n_clicks:
        return no_update
    try:
        actor = require(Permission.MANAGE_FEEDS)
    except PermissionDenied as exc:
        return _denied(exc)
    from data.writes.feed_tokens import FeedTokenError
    from data.writes.feed_tokens import issue_feed_token as issue

    runtime = current()
    try:
        with write_session(runtime.factory) as s:
            row, token = issue(
                s, str(feed or ""), actor=actor.username, actor_role=actor.role,
                now=runtime.now(), label=str(label or ""),
            )  # fmt: skip
            token_id, name = row.id, row.feed
    except FeedTokenError as exc:
        return dbc.Alert(sentence(str(exc)), color="warning")
    return feed_tokens.issued(token_id, name, token)


def revoke_feed_token(n_clicks, token_id) -> object:  # noqa: ANN001
    if not n_clicks:
        return no_update
    try:
        actor = require(Permission.MANAGE_FEEDS)
    except PermissionDenied as exc:
        return _denied(exc)
    from data.writes.feed_tokens import FeedTokenError
    from data.writes.feed_tokens import revoke_feed_token as revoke

    if isinstance(token_id, bool) or not isinstance(token_id, int | float):
        return dbc.Alert("Give the id of the token to revoke.", color="warning")
    runtime = current()
    try:
        with write_session(runtime.factory) as s:
            row = revoke(s, int(token_id), actor=actor.username,
                         actor_role=actor.role, now=runtime.now())  # fmt: skip
            feed = row.feed
    except FeedTokenError as exc:
        return dbc.Alert(sentence(str(exc)), color="warning")
    return dbc.Alert(f"Token {int(token_id)} for {feed} revoked.", color="success")


def register(app: Dash) -> None:
    filters = [
        Input(admin.IDS.f_actor, "value"),
        Input(admin.IDS.f_action, "value"),
        Input(admin.IDS.f_entity, "value"),
        Input(admin.IDS.f_since, "date"),
        Input(admin.IDS.f_until, "date"),
    ]
    app.callback(
        Output(admin.IDS.users, "children"),
        Input(SHELL.poll, "n_intervals"),
        Input(admin.IDS.message, "children"),
    )(refresh_users)
    app.callback(
        Output(admin.IDS.message, "children", allow_duplicate=True),
        Input(admin.IDS.create, "n_clicks"),
        State(admin.IDS.new_username, "value"),
        State(admin.IDS.new_name, "value"),
        State(admin.IDS.new_role, "value"),
        State(admin.IDS.new_password, "value"),
        prevent_initial_call=True,
    )(create)
    app.callback(
        Output(admin.IDS.message, "children", allow_duplicate=True),
        Input(admin.IDS.toggle, "n_clicks"),
        State(admin.IDS.toggle_user, "value"),
        prevent_initial_call=True,
    )(toggle)
    app.callback(
        Output(admin.IDS.audit, "children"),
        Input(SHELL.poll, "n_intervals"),
        *filters,
        Input(admin.IDS.message, "children"),
    )(refresh_audit)
    app.callback(
        Output(feed_tokens.IDS.table, "children"),
        Input(SHELL.poll, "n_intervals"),
        Input(feed_tokens.IDS.message, "children"),
    )(refresh_feed_tokens)
    app.callback(
        Output(feed_tokens.IDS.message, "children", allow_duplicate=True),
        Input(feed_tokens.IDS.issue, "n_clicks"),
        State(feed_tokens.IDS.feed, "value"),
        State(feed_tokens.IDS.label, "value"),
        prevent_initial_call=True,
    )(issue_feed_token)
    app.callback(
        Output(feed_tokens.IDS.message, "children", allow_duplicate=True),
        Input(feed_tokens.IDS.revoke, "n_clicks"),
        State(feed_tokens.IDS.revoke_id, "value"),
        prevent_initial_call=True,
    )(revoke_feed_token)
    app.callback(
        Output(admin.IDS.download, "data"),
        Input(admin.IDS.export, "n_clicks"),
        State(admin.IDS.f_actor, "value"),
        State(admin.IDS.f_action, "value"),
        State(admin.IDS.f_entity, "value"),
        State(admin.IDS.f_since, "date"),
        State(admin.IDS.f_until, "date"),
        prevent_initial_call=True,
    )(export)
