"""X-Request-Id is believed only from a trusted proxy, and only when well formed
(<= 64 of A-Z a-z 0-9 . _ : -); otherwise the app makes its own. On PostgreSQL an
over-long id used to break the audit insert, so a denial left no audit row."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from app import create_app
from data.db import create_db_engine, make_session_factory
from data.models.security import AuditEvent
from tests.security.test_callback_fuzz import _outputs
from tests.support.apps import settings_for
from tests.support.auth import DEFAULT_PASSWORD, create_user

CALLBACK = "/_dash-update-component"


@pytest.fixture
def pg_url(pg_server) -> str:  # noqa: ANN001
    url = pg_server.create_database(f"t_{uuid.uuid4().hex[:10]}")
    create_user(url, "vera.viewer", "viewer", display_name="Vera Viewer")
    return url


def _client(url: str, **changes: object):  # noqa: ANN202
    app = create_app(settings_for(url, auth_required=True, **changes), prepare=False)
    client = app.server.test_client()
    client.get("/login")
    with client.session_transaction() as sess:
        csrf = sess["cc_csrf"]
    signed_in = client.post(
        "/login",
        data={"username": "vera.viewer", "password": DEFAULT_PASSWORD,
              "csrf_token": csrf, "next": "/"},
    )  # fmt: skip
    assert signed_in.status_code == 302
    return app, client


def _denied_write(app, client, request_id: str):  # noqa: ANN001, ANN202
    """A viewer presses an administrator's button: 403, and an audit row."""
    key = next(
        k
        for k, v in app.callback_map.items()
        if "admin-message.children" in k
        and any(i["id"] == "admin-edit-save" for i in v["inputs"])
    )
    payload = {
        "output": key,
        "outputs": _outputs(key),
        "inputs": [{"id": "admin-edit-save", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "admin-edit-target", "property": "data", "value": "vera.viewer"},
            {"id": "admin-edit-role", "property": "value", "value": None},
            {"id": "admin-edit-active", "property": "value", "value": False},
            {"id": "admin-edit-password", "property": "value", "value": None},
        ],
        "changedPropIds": ["admin-edit-save.n_clicks"],
    }
    return client.post(
        CALLBACK,
        data=json.dumps(payload),
        content_type="application/json",
        headers={"X-Request-Id": request_id},
    )


def _denials(url: str) -> list[str | None]:
    engine = create_db_engine(url)
    with make_session_factory(engine)() as s:
        rows = s.scalars(
            select(AuditEvent.request_id)
            .where(AuditEvent.action == "denied")
            .order_by(AuditEvent.id)
        ).all()
    engine.dispose()
    return list(rows)


@pytest.mark.parametrize("trusted", [False, True])
def test_rid001_an_over_long_request_id_still_leaves_an_audit_row(pg_url, trusted):
    app, client = _client(pg_url, trusted_proxy=trusted)
    sent = "x" * 200
    assert _denied_write(app, client, sent).status_code == 403
    (stored,) = _denials(pg_url)
    assert stored and stored != sent and len(stored) <= 64


def test_rid002_only_a_trusted_proxy_sets_the_request_id(pg_url):
    app, client = _client(pg_url)
    _denied_write(app, client, "proxy-id-123")
    app, client = _client(pg_url, trusted_proxy=True)
    _denied_write(app, client, "proxy-id-456")
    _denied_write(app, client, "bad id with spaces; DROP")
    untrusted, trusted, malformed = _denials(pg_url)
    assert untrusted != "proxy-id-123" and len(untrusted) <= 64
    assert trusted == "proxy-id-456"
    assert malformed != "bad id with spaces; DROP" and " " not in malformed
