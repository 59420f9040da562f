"""HTTP hardening: JSON-only callback POSTs, same-origin writes, security headers,
generic error pages. See docs/security.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from dash import Dash
from flask import Flask, Response, current_app, jsonify, request

log = logging.getLogger(__name__)
MALFORMED_INPUT = (TypeError, ValueError, KeyError, AttributeError, IndexError)


# ---------------------------------------------------------------------------
# A callback request's identity
# ---------------------------------------------------------------------------
# Dash binds a callback's arguments by *position* (inputs, then state), and finds the
# callback by the body's ``output`` string. A check that looks a value up by its
# property anywhere in the body can be fooled by reordering the inputs; a check must
# first confirm the body is this callback's declaration, in order.

_WILDCARDS = ("ALL", "MATCH", "ALLSMALLER")


def _declared_id(raw: str) -> str | dict[str, Any]:
    if raw.startswith("{"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return raw
        return parsed if isinstance(parsed, dict) else raw
    return raw


def _is_wildcard(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 1 and value[0] in _WILDCARDS


def _one_matches(item: Any, want_id: str | dict[str, Any], prop: str) -> bool:
    if not isinstance(item, Mapping) or item.get("property") != prop:
        return False
    got = item.get("id")
    if isinstance(want_id, str):
        return got == want_id
    if not isinstance(got, Mapping) or set(got) != set(want_id):
        return False
    return all(_is_wildcard(v) or got[k] == v for k, v in want_id.items())


def _dependency_matches(item: Any, declared: Mapping[str, Any]) -> bool:
    want_id = _declared_id(str(declared.get("id")))
    prop = declared.get("property")
    if isinstance(want_id, dict) and any(
        v in (["ALL"], ["ALLSMALLER"]) for v in want_id.values()
    ):
        # ALL / ALLSMALLER: a list of the matching components (possibly empty)
        return isinstance(item, list) and all(
            _one_matches(one, want_id, prop) for one in item
        )
    return _one_matches(item, want_id, prop)


def _outputs_of(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    declared = spec.get("output")
    outputs = declared if isinstance(declared, list | tuple) else [declared]
    return [(str(o.component_id), str(o.component_property)) for o in outputs]


def declared_values(
    body: Any, spec: Mapping[str, Any]
) -> dict[tuple[str, str], Any] | None:
    """The body's input and state values by their declared (id, property), or None
    when the body is not exactly this callback's declaration: outputs, inputs and
    state with the declared ids and properties in the declared order (the order Dash
    binds them to the function's arguments).

    ``spec`` is the callback's entry in ``Dash.callback_map``.
    """
    if not isinstance(body, Mapping):
        return None
    outputs = body.get("outputs")
    sent_outputs = outputs if isinstance(outputs, list) else [outputs]
    want_outputs = _outputs_of(spec)
    if len(sent_outputs) != len(want_outputs) or not all(
        isinstance(o, Mapping) and (o.get("id"), o.get("property")) == want
        for o, want in zip(sent_outputs, want_outputs, strict=True)
    ):
        return None
    values: dict[tuple[str, str], Any] = {}
    for part in ("inputs", "state"):
        sent = body.get(part, [])
        declared = spec.get(part) or []
        if not isinstance(sent, list) or len(sent) != len(declared):
            return None
        for item, dep in zip(sent, declared, strict=True):
            if not _dependency_matches(item, dep):
                return None
            if isinstance(item, Mapping):
                values[(str(dep["id"]), str(dep["property"]))] = item.get("value")
    return values


MAX_BODY_BYTES = 4 * 1024 * 1024


def _origin_allowed() -> bool:
    """POSTs must come from this site: a foreign Origin or a cross-site fetch is refused."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        parsed = urlparse(origin)
        if parsed.netloc != request.host or parsed.scheme != _request_scheme():
            return False
    elif origin == "null":
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in (
        "same-origin",
        "none",
    )


def _request_scheme() -> str:
    """The scheme the browser used: behind a trusted proxy, its X-Forwarded-Proto."""
    try:
        from data.runtime import current

        trusted = current().settings.trusted_proxy
    except Exception:
        trusted = False
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    if trusted and forwarded in ("http", "https"):
        return forwarded
    return request.scheme


def _declared(app: Dash) -> bool:
    """True when this callback request is exactly one registered declaration."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return False
    spec = app.callback_map.get(body["output"])
    return spec is not None and declared_values(body, spec) is not None


# Bearer-token APIs with their own size limit, content types and error format
# (feeds/fhir/api.py); no browser session is read there, so no same-origin check.
OWN_LIMIT_PREFIXES = ("/fhir/",)


def _check_size() -> tuple[Response, int] | None:
    if request.path.startswith(OWN_LIMIT_PREFIXES):
        return None
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        return jsonify({"error": f"request body over {limit // 1024} KB"}), 413
    return None


def _check_request() -> Response | tuple[Response, int] | None:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    if request.path.startswith(OWN_LIMIT_PREFIXES):
        return None
    if not _origin_allowed():
        log.warning(
            "refused %s %s: foreign origin %r",
            request.method,
            request.path,
            request.headers.get("Origin"),
        )
        return jsonify({"error": "cross-origin request refused"}), 403
    if request.path.startswith("/_dash-update-component") and not request.is_json:
        return jsonify({"error": "callbacks accept application/json only"}), 415
    return None


def content_security_policy(app: Dash) -> str:
    scripts = " ".join(app.csp_hashes())  # already quoted: 'sha256-...'
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {scripts}",
            # Dash components and plotly.js set inline styles on elements.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def init_hardening(server: Flask, app: Dash, *, debug: bool = False) -> None:
    csp_cache: dict[str, str] = {}

    def headers(response: Response) -> Response:
        if "csp" not in csp_cache:
            csp_cache["csp"] = content_security_policy(app)
        response.headers.setdefault("Content-Security-Policy", csp_cache["csp"])
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
        )
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        if request.path.startswith(("/_dash-update-component", "/api/", "/login")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def server_error(exc: Exception):  # noqa: ANN202
        from sqlalchemy.exc import OperationalError
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return exc  # 404, 405 … keep their own status
        if request.path.startswith("/_dash-component-suites/"):
            # an unknown or mistyped package file: the client's error, one line
            log.info("no component file %s (%s)", request.path, exc.__class__.__name__)
            return jsonify({"error": "not found"}), 404
        if request.path.startswith("/_dash-update-component") and not _declared(app):
            # The body is no callback of this app (no outputs, inputs missing ...):
            # the client's error, one line, no traceback.
            log.info("refused a callback request that matches no declaration")
            return jsonify({"error": "not a callback of this app"}), 400
        log.error(
            "unhandled error on %s %s", request.method, request.path, exc_info=exc
        )
        if request.path.startswith("/_dash-update-component"):
            if isinstance(exc, OperationalError):
                return jsonify({"error": "the database is unavailable"}), 503
            if isinstance(exc, MALFORMED_INPUT):
                # Callback inputs are untrusted: a value of the wrong shape is the
                # client's error. The log keeps the detail.
                return jsonify({"error": "invalid callback input"}), 400
        return jsonify({"error": "internal error; the event is logged"}), 500

    from callbacks.identity import PermissionDenied

    def denied(exc: PermissionDenied):  # noqa: ANN202
        # require() has already logged the denial and written it to the audit trail.
        return jsonify({"error": str(exc)}), 403

    # Callback bodies are small (ids, values, hashes of what was sent); anything this
    # large is refused before it is read.
    if server.config.get("MAX_CONTENT_LENGTH") is None:
        server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # first of all checks, before the sign-in guard reads the body
    server.before_request_funcs.setdefault(None, []).insert(0, _check_size)

    server.register_error_handler(PermissionDenied, denied)
    server.before_request(_check_request)
    server.after_request(headers)
    if not debug:
        server.register_error_handler(Exception, server_error)
