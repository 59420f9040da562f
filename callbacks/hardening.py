"""HTTP hardening: JSON-only callback POSTs, same-origin writes, security headers,
generic error pages. See docs/security.md.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from dash import Dash
from flask import Flask, Response, jsonify, request

log = logging.getLogger(__name__)
MALFORMED_INPUT = (TypeError, ValueError, KeyError, AttributeError, IndexError)


def _origin_allowed() -> bool:
    """POSTs must come from this site: a foreign Origin or a cross-site fetch is refused."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        parsed = urlparse(origin)
        if parsed.netloc != request.host:
            return False
    elif origin == "null":
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in (
        "same-origin",
        "none",
    )


def _check_request() -> Response | tuple[Response, int] | None:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
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

    server.register_error_handler(PermissionDenied, denied)
    server.before_request(_check_request)
    server.after_request(headers)
    if not debug:
        server.register_error_handler(Exception, server_error)
