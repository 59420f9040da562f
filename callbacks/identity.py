"""Who is acting: the one place identity comes from (server-side session, Flask-Login).

Callbacks never take identity or role from their inputs: they call
:func:`current_actor` or :func:`require`, which read the server-side session behind
the browser's cookie. The login and logout routes and the request guard live here.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from html import escape
from urllib.parse import urlparse

from flask import Flask, Response, g, jsonify, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user

from data.db import write_session
from data.runtime import current
from data.security import (
    LoginRefused,
    authenticate,
    end_session,
    record_failed_login,
    resolve_session,
)
from ops.permissions import Permission, allowed

log = logging.getLogger(__name__)
TOKEN_KEY = "cc_session"
CSRF_KEY = "cc_csrf"

# Paths anyone may fetch: the login page, health check and static files.
PUBLIC_PREFIXES = ("/login", "/healthz", "/assets/", "/_dash-component-suites/", "/_favicon.ico")


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    display_name: str
    role: str


class PermissionDenied(Exception):
    """The acting user may not do this; the message is safe to show."""


class _LoginUser(UserMixin):
    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.id = str(actor.user_id)


def current_actor() -> Actor | None:
    """The signed-in user of this request, or None."""
    if not getattr(current_user, "is_authenticated", False):
        return None
    return current_user.actor


def require(permission: Permission) -> Actor:
    """The signed-in user if their role has ``permission``; otherwise PermissionDenied."""
    actor = current_actor()
    if actor is None:
        raise PermissionDenied("Sign in to do this.")
    if not allowed(actor.role, permission):
        log.warning(
            "permission denied: user=%s role=%s permission=%s path=%s",
            actor.username, actor.role, permission.value, request.path,
        )
        _record_denial(actor, permission)
        raise PermissionDenied(
            f"Your role ({actor.role.replace('_', ' ')}) may not {permission.value.replace('_', ' ')}."
        )
    return actor


def _record_denial(actor: Actor, permission: Permission) -> None:
    from data.audit import record_audit

    try:
        runtime = current()
        with write_session(runtime.factory) as s:
            record_audit(
                s, actor_username=actor.username, actor_role=actor.role, action="denied",
                entity_type="permission", entity_id=permission.value,
                after={"path": request.path}, at=runtime.now(),
            )
    except Exception:
        log.exception("could not record a permission denial")


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not token:
        token = secrets.token_urlsafe(24)
        session[CSRF_KEY] = token
    return token


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    expected = session.get(CSRF_KEY, "")
    return bool(expected) and hmac.compare_digest(sent, expected)


def _load_user_from_request(_request) -> _LoginUser | None:  # noqa: ANN001
    token = session.get(TOKEN_KEY)
    if not token:
        return None
    runtime = current()
    with write_session(runtime.factory) as s:
        found = resolve_session(s, token, runtime.now())
    if found is None:
        session.pop(TOKEN_KEY, None)
        return None
    return _LoginUser(Actor(found.user_id, found.username, found.display_name, found.role))


def _is_public(path: str) -> bool:
    return any(path == p or path.startswith(p) for p in PUBLIC_PREFIXES)


def _guard() -> Response | None:
    g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    if _is_public(request.path) or not current().settings.auth_required:
        return None
    if current_actor() is not None:
        return None
    if request.path.startswith("/_dash-") or request.path.startswith("/api/"):
        return jsonify({"error": "sign in required"}), 401  # type: ignore[return-value]
    return redirect(f"/login?next={request.full_path.rstrip('?')}")


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


LOGIN_PAGE = """<!doctype html>
<html lang="en" data-bs-theme="dark"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — Command Centre</title>
<link rel="stylesheet" href="/assets/00-bootstrap-darkly.min.css">
<link rel="stylesheet" href="/assets/01-fonts.css">
<link rel="stylesheet" href="/assets/icons/bootstrap-icons.min.css">
</head><body>
<main class="container" style="max-width: 28rem; margin-top: 10vh">
<h1 class="h3 mb-3"><i class="bi bi-broadcast me-2" aria-hidden="true"></i>Command Centre</h1>
{message}
<form method="post" action="/login" class="card card-body">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label class="form-label" for="username">User name</label>
<input class="form-control mb-3" id="username" name="username" autocomplete="username" required autofocus value="{username}">
<label class="form-label" for="password">Password</label>
<input class="form-control mb-3" id="password" name="password" type="password" autocomplete="current-password" required>
<button class="btn btn-primary" id="sign-in" type="submit">Sign in</button>
</form></main></body></html>"""


def _login_page(message: str = "", username: str = "", status: int = 200) -> Response:
    box = (
        f'<div class="alert alert-danger" role="alert" id="login-error">'
        f'<i class="bi bi-x-octagon me-1" aria-hidden="true"></i>{escape(message)}</div>'
        if message
        else ""
    )
    html = LOGIN_PAGE.format(
        message=box,
        csrf=csrf_token(),
        next=escape(_safe_next(request.values.get("next"))),
        username=escape(username),
    )
    return Response(html, status=status, mimetype="text/html")


def login_view() -> Response:
    if request.method == "GET":
        return _login_page()
    if not _csrf_ok():
        return _login_page("Your sign-in form expired. Please try again.", status=400)
    username = request.form.get("username", "")[:64]
    password = request.form.get("password", "")[:1024]
    runtime = current()
    try:
        with write_session(runtime.factory) as s:
            user, token = authenticate(s, username, password, runtime.now(), request.remote_addr)
    except LoginRefused as refused:
        with write_session(runtime.factory) as s:
            record_failed_login(s, username, runtime.now(), request.remote_addr)
        log.warning("sign-in refused for %r%s", username, " (rate limited)" if refused.limited else "")
        return _login_page(str(refused), username=username, status=429 if refused.limited else 200)
    session.clear()
    session[TOKEN_KEY] = token
    session.permanent = False
    log.info("signed in: %s (%s)", user.username, user.role)
    return redirect(_safe_next(request.form.get("next")))


def logout_view() -> Response:
    if not _csrf_ok():
        return Response("Sign-out needs the form's token.", status=400)
    token = session.get(TOKEN_KEY)
    if token:
        runtime = current()
        with write_session(runtime.factory) as s:
            end_session(s, token, runtime.now())
    session.clear()
    return redirect("/login")


def init_auth(server: Flask) -> None:
    manager = LoginManager()
    manager.init_app(server)
    manager.request_loader(_load_user_from_request)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    server.before_request(_guard)
    server.add_url_rule("/login", "login", login_view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout_view, methods=["POST"])
