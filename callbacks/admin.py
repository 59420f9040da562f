"""Admin callbacks: users (create; per row: role, disable/enable, password reset),
feed tokens (issue, revoke) and the audit trail."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from callbacks.identity import PermissionDenied, require
from components import admin, feed_tokens
from components.shell import IDS as SHELL
from data.audit import record_audit
from data.db import write_session
from data.queries.admin import AuditFilter, audit_events, users
from data.runtime import current
from data.security import UserError, create_user, update_user
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


def open_edit(_cancel, _clicks) -> tuple:  # noqa: ANN001
    """A row's "Change" opens the dialog with that user's role and status; Cancel
    closes it. A redrawn table (every poll) clicks nothing."""
    closed = (False, no_update, no_update, no_update, no_update, "", "")
    try:
        require(Permission.MANAGE_USERS, audit=False)
    except PermissionDenied:
        return (no_update,) * 7  # a read: nothing to show, nothing written
    trigger = ctx.triggered_id
    if trigger == admin.IDS.edit_cancel or not isinstance(trigger, dict):
        return closed
    if not any(t.get("value") for t in ctx.triggered):
        return (no_update,) * 7
    name = str(trigger.get("user", ""))
    with current().factory() as s:
        found = next((u for u in users(s) if u.username == name), None)
    if found is None:
        return closed
    return (True, f"Change {found.display_name} ({found.username})", found.username,
            found.role, bool(found.is_active), "", "")  # fmt: skip


def save_user(n_clicks, username, role, active, password) -> tuple:  # noqa: ANN001
    """Save the dialog: each change audited (``user.update``, before and after in
    words on the audit trail); an error keeps the dialog open and says why."""
    if not n_clicks:
        return no_update, no_update, no_update
    actor = require(Permission.MANAGE_USERS)  # a refusal answers 403
    if not isinstance(username, str) or not username:
        return no_update, False, ""
    runtime = current()
    try:
        with write_session(runtime.factory) as s:
            before, after = update_user(
                s, username, runtime.now(), actor_username=actor.username,
                role=role if isinstance(role, str) else None,
                active=active if isinstance(active, bool) else None,
                password=password if isinstance(password, str) and password else None,
            )  # fmt: skip
            if after:
                record_audit(
                    s,
                    actor_username=actor.username,
                    actor_role=actor.role,
                    action="user.update",
                    entity_type="user",
                    entity_id=username,
                    before=before or None,
                    after=after,
                    at=runtime.now(),
                )
    except UserError as exc:
        return no_update, True, dbc.Alert(sentence(str(exc)), color="warning")
    if not after:
        return dbc.Alert(f"Nothing to change for {username}.", color="info"), False, ""
    said = []
    if "role" in after:
        said.append(f"role now {after['role'].replace('_', ' ')}")
    if "active" in after:
        said.append("enabled" if after["active"] else "disabled and signed out")
    if "password" in after:
        said.append("password reset (signed out)")
    return (
        dbc.Alert(
            [html.I(className="bi bi-check-circle me-1"),
             f"{username}: {', '.join(said)}."],
            color="success",
        ),
        False,
        "",
    )  # fmt: skip


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
        Output(admin.IDS.edit_modal, "is_open"),
        Output(admin.IDS.edit_title, "children"),
        Output(admin.IDS.edit_target, "data"),
        Output(admin.IDS.edit_role, "value"),
        Output(admin.IDS.edit_active, "value"),
        Output(admin.IDS.edit_password, "value"),
        Output(admin.IDS.edit_error, "children"),
        Input(admin.IDS.edit_cancel, "n_clicks"),
        Input({"type": admin.IDS.EDIT, "user": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(open_edit)
    app.callback(
        Output(admin.IDS.message, "children", allow_duplicate=True),
        Output(admin.IDS.edit_modal, "is_open", allow_duplicate=True),
        Output(admin.IDS.edit_error, "children", allow_duplicate=True),
        Input(admin.IDS.edit_save, "n_clicks"),
        State(admin.IDS.edit_target, "data"),
        State(admin.IDS.edit_role, "value"),
        State(admin.IDS.edit_active, "value"),
        State(admin.IDS.edit_password, "value"),
        prevent_initial_call=True,
    )(save_user)
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
