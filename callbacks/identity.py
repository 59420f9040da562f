"""Who is acting: the one place identity comes from (server-side session, Flask-Login).

Callbacks never take identity or role from their inputs: they call
:func:`current_actor` or :func:`require`, which read the server-side session behind
the browser's cookie. The login and logout routes and the request guard live here.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from html import escape
from urllib.parse import urlparse

from flask import Flask, Response, current_app, g, jsonify, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user
from sqlalchemy.exc import SQLAlchemyError

from data.audit import request_id_for
from data.db import write_session
from data.runtime import current
from data.security import (
    LoginRefused,
    authenticate,
    end_session,
    record_failed_login,
    resolve_session,
    throttled_message,
)
from ops.permissions import Permission, allowed

log = logging.getLogger(__name__)
TOKEN_KEY = "cc_session"
CSRF_KEY = "cc_csrf"
# A display session (an unattended wall screen): the id of its display token. The
# token is re-checked in the database on every request, so revoking it takes effect
# at the screen's next poll.
DISPLAY_KEY = "cc_display"
# What a display session may fetch besides public files: the wall page and the Dash
# bootstrapping GETs. Callback POSTs are checked against the wall's allow-list.
DISPLAY_GET_PATHS = frozenset({"/wall", "/_dash-layout", "/_dash-dependencies"})
DISPLAY_OUTPUTS_KEY = "command_centre.display_outputs"  # set by callbacks/wall.py

# Paths anyone may fetch: the login page and health check (exactly these paths) and
# static files (below these folders, never with a "." or ".." segment).
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/_favicon.ico"})
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
# Paths that authenticate every request themselves with a feed bearer token and
# never read the browser session (feeds/fhir/api.py): the guard leaves them alone.
BEARER_PREFIXES = ("/fhir/",)


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


def require(permission: Permission, *, audit: bool = True) -> Actor:
    """The signed-in user if their role has ``permission``; otherwise PermissionDenied.

    A refusal is logged and audited as ``denied``; ``audit=False`` is for reads
    that only decide what a page shows (opening a page is not a refused write)."""
    actor = current_actor()
    if actor is None:
        raise PermissionDenied("Sign in to do this.")
    if not allowed(actor.role, permission):
        log.warning(
            "permission denied: user=%s role=%s permission=%s path=%s",
            actor.username,
            actor.role,
            permission.value,
            request.path,
        )
        if audit:
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
                s,
                actor_username=actor.username,
                actor_role=actor.role,
                action="denied",
                entity_type="permission",
                entity_id=permission.value,
                after={"path": request.path},
                at=runtime.now(),
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
    return _LoginUser(
        Actor(found.user_id, found.username, found.display_name, found.role)
    )


def _is_public(path: str) -> bool:
    if path in PUBLIC_PATHS:
        return True
    if path.startswith(BEARER_PREFIXES):
        return not any(part in (".", "..") for part in path.split("/"))
    if not path.startswith(PUBLIC_PREFIXES):
        return False
    return not any(part in (".", "..") for part in path.split("/"))


# ---------------------------------------------------------------------------
# Display tokens (wall screens)
# ---------------------------------------------------------------------------

_NO_DISPLAY = object()


def display_access():  # noqa: ANN201
    """The display token's access (``ops.display.DisplayAccess``) of this
    request, or None: a signed-in user or an anonymous request has none."""
    found = getattr(g, "display_access", _NO_DISPLAY)
    if found is _NO_DISPLAY:
        found = _session_display(touch=False)
        g.display_access = found
    return found


def _session_display(touch: bool):  # noqa: ANN202
    token_id = session.get(DISPLAY_KEY)
    if not isinstance(token_id, int):
        return None
    from data.queries.display import check_access

    runtime = current()
    with runtime.factory() as s:
        found = check_access(s, token_id)
    if found is None:
        session.pop(DISPLAY_KEY, None)
    elif touch:
        _touch(found)
    return found


def _touch(access) -> None:  # noqa: ANN001
    from data.writes.display import touch_token
    from ops.display import needs_touch

    runtime = current()
    now = runtime.now()
    if not needs_touch(access, now):
        return
    try:  # bookkeeping only: a busy database must not refuse the screen
        with write_session(runtime.factory) as s:
            touch_token(s, access.token_id, now)
    except SQLAlchemyError as exc:
        log.warning("display token %s: last use not recorded: %s", access.token_id,
                    exc.__class__.__name__)  # fmt: skip


DISPLAY_REFUSED_PAGE = """<!doctype html>
<html lang="en-GB" data-bs-theme="dark"><head><meta charset="utf-8"><title>Display refused</title>
<link rel="stylesheet" href="/assets/00-bootstrap-darkly.min.css"></head>
<body style="cursor:none"><main class="container" style="margin-top:20vh">
<h1 class="display-4">This display link is not valid</h1>
<p class="lead">It may have been revoked. Ask an administrator for a new display link.</p>
</main></body></html>"""


DISPLAY_RETRY_PAGE = """<!doctype html>
<html lang="en-GB" data-bs-theme="dark"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="30"><title>Display waiting</title>
<link rel="stylesheet" href="/assets/00-bootstrap-darkly.min.css"></head>
<body style="cursor:none"><main class="container" style="margin-top:20vh">
<h1 class="display-4">Waiting for the database</h1>
<p class="lead">No figures can be shown. This screen retries every 30 seconds.</p>
</main></body></html>"""


def _display_refused(status: int = 403) -> Response:
    if request.path.startswith("/_dash-") or request.path.startswith("/api/"):
        return jsonify({"error": "not allowed for a display token"}), status  # type: ignore[return-value]
    return Response(DISPLAY_REFUSED_PAGE, status=status, mimetype="text/html")


def _exchange_display_token() -> Response | None:
    """``GET /wall?token=...``: a valid token becomes the session's display marker."""
    from data.queries.display import resolve_token

    with current().factory() as s:
        found = resolve_token(s, request.args.get("token", ""))
    if found is None:
        session.pop(DISPLAY_KEY, None)
        log.warning("display token refused on %s", request.path)
        return _display_refused()
    session[DISPLAY_KEY] = found.token_id
    g.display_access = found
    _touch(found)
    return None


def _display_may(path: str) -> bool:
    """A display session's request: the wall page, Dash's bootstrapping GETs and the
    wall's read callbacks (by output id, with the body's extra check); nothing else."""
    if request.method == "GET":
        return path in DISPLAY_GET_PATHS
    if request.method != "POST" or path != "/_dash-update-component":
        return False
    allow = current_app.config.get(DISPLAY_OUTPUTS_KEY)
    body = request.get_json(silent=True)
    if allow is None or not isinstance(body, dict):
        return False
    allowed = allow.get()
    output = body.get("output")
    if not isinstance(output, str) or output not in allowed:
        return False
    # Each check confirms the body is the callback's declaration (outputs, inputs and
    # state in declared order) before it reads a value; no check, no access.
    check = allowed[output]
    return callable(check) and bool(check(body))


def _guard() -> Response | None:
    g.request_id = request_id_for(
        request.headers.get("X-Request-Id"),
        trusted_proxy=current().settings.trusted_proxy,
    )
    path = request.path
    if _is_public(path):
        return None
    try:
        if path == "/wall" and request.method == "GET" and request.args.get("token"):
            return _exchange_display_token()
        if not current().settings.auth_required or current_actor() is not None:
            return None
        had_display = DISPLAY_KEY in session
        access = _session_display(touch=True) if had_display else None
    except SQLAlchemyError as exc:  # cannot check who is asking: refuse, say why
        log.error("request guard: database unavailable: %s", exc.__class__.__name__)
        if request.method == "GET" and path == "/wall":  # an unattended screen retries
            return Response(DISPLAY_RETRY_PAGE, status=503, mimetype="text/html")
        return jsonify({"error": "database unavailable"}), 503  # type: ignore[return-value]
    if access is not None:
        g.display_access = access
        if _display_may(path):
            return None
        log.warning(
            "display token %s refused %s %s", access.token_id, request.method, path
        )
        return _display_refused()
    if had_display:  # revoked since the screen opened: stop it
        return _display_refused()
    if path.startswith("/_dash-") or path.startswith("/api/"):
        return jsonify({"error": "sign in required"}), 401  # type: ignore[return-value]
    return redirect(f"/login?next={request.full_path.rstrip('?')}")


def client_address() -> str | None:
    """The client's address: behind a trusted proxy (COMMAND_CENTRE_TRUSTED_PROXY)
    the last ``X-Forwarded-For`` entry, the one the proxy added; else the peer."""
    if current().settings.trusted_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.remote_addr


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parsed = urlparse(target)
    if (
        parsed.scheme
        or parsed.netloc
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return "/"
    return target


LOGIN_PAGE = """<!doctype html>
<html lang="en-GB" data-bs-theme="dark"><head><meta charset="utf-8">
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


def demo_credentials_path(database_url: str):  # noqa: ANN201
    """Demo credentials live beside the SQLite file they belong to."""
    from pathlib import Path

    from sqlalchemy import make_url

    database = make_url(database_url).database
    folder = (
        Path(database).resolve().parent
        if database and database != ":memory:"
        else Path("var")
    )
    return folder / "demo-credentials.txt"


def _demo_hint() -> str:
    """In the embedded demo only: where the demo accounts' passwords are."""
    try:
        settings = current().settings
        if not (settings.demo and settings.is_sqlite):
            return ""
        path = demo_credentials_path(settings.database_url)
        if not path.is_file():
            return ""
    except Exception:  # a hint is never worth failing the sign-in page for
        log.exception("demo credentials hint")
        return ""
    return (
        '<div class="alert alert-info small" id="login-demo-hint">'
        '<i class="bi bi-info-circle me-1" aria-hidden="true"></i>'
        "Demo: one account per role was created on first start. The user names and "
        f"passwords are in <code>{escape(str(path))}</code> on the machine running "
        "the app.</div>"
    )


def _login_page(message: str = "", username: str = "", status: int = 200) -> Response:
    box = (
        f'<div class="alert alert-danger" role="alert" id="login-error">'
        f'<i class="bi bi-x-octagon me-1" aria-hidden="true"></i>{escape(message)}</div>'
        if message
        else ""
    ) + _demo_hint()
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
    try:
        return _sign_in(username, password)
    except SQLAlchemyError as exc:  # disk full, database down: refuse, one line
        log.error(
            "sign-in for %r not possible: the database cannot record it: %s",
            username, _db_reason(exc),
        )  # fmt: skip
        page = _login_page(SIGN_IN_UNAVAILABLE, username=username, status=503)
        page.headers["Retry-After"] = "30"
        return page


SIGN_IN_UNAVAILABLE = (
    "Sign-in is unavailable: the database cannot record it just now. "
    "Try again in a minute; if it persists, call the service desk."
)


def _db_reason(exc: SQLAlchemyError) -> str:
    """The driver's first line (e.g. 'database or disk is full'), no traceback."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {detail[0] if detail else ''}"


def _sign_in(username: str, password: str) -> Response:
    runtime = current()
    address = client_address()
    try:
        with write_session(runtime.factory) as s:
            user, token = authenticate(s, username, password, runtime.now(), address)
    except LoginRefused as refused:
        if refused.limited:  # a delay is running: not a guess, nothing more to count
            log.warning(
                "sign-in throttled for %r from %s: %s s to wait",
                username, address, refused.retry_after,
            )  # fmt: skip
            page = _login_page(str(refused), username=username, status=429)
            page.headers["Retry-After"] = str(refused.retry_after or 1)
            return page
        with write_session(runtime.factory) as s:
            wait = record_failed_login(s, username, runtime.now(), address)
        log.warning("sign-in refused for %r from %s", username, address)
        message = str(refused)
        if wait is not None:
            message += " " + throttled_message(wait)
        return _login_page(message, username=username)
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
        try:
            with write_session(runtime.factory) as s:
                end_session(s, token, runtime.now())
        except SQLAlchemyError as exc:
            # This browser forgets the session all the same (a shared ward PC must
            # not stay signed in); the server's row ends at its idle timeout.
            log.error("sign-out not recorded: %s", _db_reason(exc))
            session.clear()
            return Response(
                "You are signed out in this browser, but the database could not "
                "record it; the session ends by itself after 30 minutes idle.",
                status=503,
                headers={"Retry-After": "30"},
            )
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
