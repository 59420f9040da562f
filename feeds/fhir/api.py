"""The ``/fhir/r4`` blueprint: FHIR clients' HTTP interface (docs/fhir.md).

Only feed bearer tokens authenticate here (``Authorization: Bearer …``): a browser
session's cookie is never read, so the session and CSRF rules of the rest of the
app do not apply and cannot be borrowed (the request guard and the same-origin
check leave ``/fhir/`` to this blueprint). ``GET /fhir/r4/metadata`` is public.
Every answer is ``application/fhir+json``; every error an OperationOutcome.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from data.db import write_session
from data.queries.feed_tokens import check_token
from data.runtime import current
from data.writes.feed_tokens import mark_used
from feeds.fhir.capability import capability_statement
from feeds.fhir.config import fhir_max_bytes
from feeds.fhir.ingest import Reply, handle_bundle, handle_update
from feeds.fhir.outcome import FHIR_JSON, Issue, operation_outcome

log = logging.getLogger("command_centre.fhir")
PREFIX = "/fhir/r4"
ACCEPTED_TYPES = ("application/fhir+json", "application/json")
LIMIT_KEY = "COMMAND_CENTRE_FHIR_MAX_BYTES"

fhir = Blueprint("fhir", __name__, url_prefix=PREFIX)


def _answer(status: int, body: dict | None, headers: dict | None = None) -> Response:
    text = "" if body is None else json.dumps(body, separators=(",", ":"))
    response = Response(text, status=status, content_type=f"{FHIR_JSON}; charset=utf-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _refuse(status: int, code: str, text: str, headers: dict | None = None) -> Response:
    return _answer(status, operation_outcome([Issue(code, text)]), headers)


def _from(reply: Reply) -> Response:
    return _answer(reply.status, reply.body, reply.headers)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _record_refusal(feed: str, status: int, text: str, touch: bool = False) -> None:
    """Count a refused request; ``touch`` (a live token's request) also marks the
    feed's ``feed_status`` row, as every request of a live token does."""
    from data.writes.events import touch_feed
    from data.writes.fhir import record_request

    runtime = current()
    try:
        with write_session(runtime.factory) as session:
            now = runtime.now()
            record_request(
                session, feed, now, interaction=f"{request.method} "
                f"{request.path[len(PREFIX):] or '/'}", status_code=status,
                outcome="refused", detail=text,
            )  # fmt: skip
            if touch:
                touch_feed(session, feed, now, detail=f"refused {status}")
    except Exception as exc:  # bookkeeping only
        log.warning("fhir: refusal not recorded: %s", exc.__class__.__name__)


@fhir.before_request
def _authenticate() -> Response | None:
    if request.endpoint == "fhir.metadata" and request.method == "GET":
        return None
    challenge = {"WWW-Authenticate": 'Bearer realm="fhir"'}
    token = _bearer()
    if token is None:
        return _refuse(401, "login", "a feed bearer token is required "
                       "(Authorization: Bearer …)", challenge)  # fmt: skip
    runtime = current()
    with runtime.factory() as session:
        found = check_token(session, token)
    if found.access is None:
        if found.refused == "revoked" and found.feed:
            _record_refusal(found.feed, 401, "revoked token")
            log.warning("fhir: revoked token of %s refused", found.feed)
        else:
            log.warning("fhir: unknown token refused from %s", request.remote_addr)
        return _refuse(401, "security", f"the token is {found.refused or 'unknown'}",
                       {"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'})  # fmt: skip
    access = found.access
    if not access.feed.startswith("fhir:"):
        _record_refusal(access.feed, 403, "not a FHIR feed's token")
        log.warning("fhir: token of feed %s refused (not a FHIR feed)", access.feed)
        return _refuse(403, "forbidden", f"this token is for feed {access.feed}, "
                       "not a FHIR client")  # fmt: skip
    now = runtime.now()
    if access.last_used_at is None or (now - access.last_used_at).total_seconds() >= 60:
        try:
            with write_session(runtime.factory) as session:
                mark_used(session, access.token_id, now)
        except Exception as exc:  # bookkeeping only
            log.warning("fhir: token use not recorded: %s", exc.__class__.__name__)
    g.fhir_access = access
    limit = _limit()
    # One byte over the limit: werkzeug cuts a body without Content-Length at the
    # maximum silently, so a body that reaches limit + 1 is known to be too large.
    request.max_content_length = limit + 1
    if request.content_length is not None and request.content_length > limit:
        return _too_large(limit)
    if request.method in ("POST", "PUT"):
        mimetype = request.mimetype
        if mimetype not in ACCEPTED_TYPES:
            _record_refusal(access.feed, 415, f"content type {mimetype}", touch=True)
            return _refuse(415, "not-supported", f"content type {mimetype or '(none)'}"
                           " is not supported: send application/fhir+json")  # fmt: skip
    return None


def _too_large(limit: int) -> Response:
    access = getattr(g, "fhir_access", None)
    if access is not None:
        _record_refusal(access.feed, 413, "body too large", touch=True)
    return _refuse(413, "too-costly", f"the body is over the limit of {limit} bytes; "
                   "split the bundle")  # fmt: skip


def _limit() -> int:
    return int(current_app.config.get(LIMIT_KEY) or fhir_max_bytes())


def _key() -> bytes:
    cached = current_app.extensions.get("fhir_key")
    if cached is None:
        from feeds.hl7.config import load_hl7_config

        settings = current().settings
        cached = load_hl7_config(settings.database_url, settings.demo).key
        current_app.extensions["fhir_key"] = cached
    return cached


def _json_body() -> object | Response:
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _too_large(_limit())
    if len(raw) > _limit():
        return _too_large(_limit())
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        _record_refusal(g.fhir_access.feed, 400, "not JSON", touch=True)
        return _refuse(400, "structure", f"the body is not valid JSON: {exc}")


@fhir.get("/metadata")
def metadata() -> Response:
    return _answer(200, capability_statement(request.url_root.rstrip("/") + PREFIX))


@fhir.post("")
@fhir.post("/")
def bundle() -> Response:
    body = _json_body()
    if isinstance(body, Response):
        return body
    return _from(handle_bundle(current().factory, g.fhir_access, body, key=_key(),
                               clock=current().now))  # fmt: skip


@fhir.put("/<resource_type>/<rid>")
def update(resource_type: str, rid: str) -> Response:
    body = _json_body()
    if isinstance(body, Response):
        return body
    return _from(handle_update(
        current().factory, g.fhir_access, resource_type, rid, body, key=_key(),
        if_match=request.headers.get("If-Match"),
        prefer=request.headers.get("Prefer", ""), clock=current().now,
    ))  # fmt: skip


@fhir.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unsupported(rest: str) -> Response:
    first = rest.split("/")[0]
    if first in ("Encounter", "Location"):
        return _refuse(405, "not-supported", f"{request.method} {rest}: only PUT "
                       f"{first}/{{id}} is supported here")  # fmt: skip
    return _refuse(404, "not-supported", f"{rest} is not supported "
                   "(Encounter, Location, Bundle)")  # fmt: skip


@fhir.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    if isinstance(exc, RequestEntityTooLarge):
        return _too_large(_limit())
    code = {405: "not-supported", 404: "not-found"}.get(exc.code or 500, "processing")
    return _refuse(exc.code or 500, code, exc.description or exc.name)


@fhir.errorhandler(Exception)
def _error(exc: Exception) -> Response:
    log.error("fhir: unhandled error on %s %s", request.method, request.path,
              exc_info=exc)  # fmt: skip
    return _refuse(500, "exception", "internal error; the event is logged")


def register(server: Flask) -> None:
    """Add the FHIR endpoint (``COMMAND_CENTRE_FHIR_MAX_BYTES`` read here once)."""
    server.config.setdefault(LIMIT_KEY, fhir_max_bytes())
    server.register_blueprint(fhir)
