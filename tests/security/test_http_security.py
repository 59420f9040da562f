"""Server-side checks on every request: sign-in, JSON-only callbacks, same-origin,
session end on logout/idle, failed-login limiting across workers, headers."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app import create_app
from data.models.security import LoginAttempt
from ops.signin import RULES
from tests.security.test_callback_fuzz import _outputs
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for
from tests.support.auth import DEFAULT_PASSWORD, create_user
from tests.support.clock import MovableClock

CALLBACK = "/_dash-update-component"


def _overview_payload(pathname: str = "/") -> dict:
    return {
        "output": "..shell-nav.children...shell-page.children...shell-rendered-path.data..",
        "outputs": [
            {"id": "shell-nav", "property": "children"},
            {"id": "shell-page", "property": "children"},
            {"id": "shell-rendered-path", "property": "data"},
        ],
        "inputs": [
            {"id": "shell-url", "property": "pathname", "value": pathname},
            {"id": "shell-url", "property": "search", "value": ""},
        ],
        "changedPropIds": ["shell-url.pathname"],
        "state": [{"id": "shell-rendered-path", "property": "data", "value": None}],
    }


@pytest.fixture
def secured(seeded_sqlite_url):  # noqa: ANN201
    create_user(seeded_sqlite_url, "vera.viewer", "viewer", display_name="Vera Viewer")
    clock = MovableClock(FROZEN_NOW)
    app = create_app(
        settings_for(seeded_sqlite_url, auth_required=True, clock=clock), prepare=False
    )
    return app, clock, seeded_sqlite_url


def _login(client, username: str = "vera.viewer", password: str = DEFAULT_PASSWORD):  # noqa: ANN001, ANN202
    client.get("/login")
    with client.session_transaction() as sess:
        token = sess["cc_csrf"]
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token,
            "next": "/",
        },
    )


def _post_callback(client, payload: dict, **headers: str):  # noqa: ANN001, ANN202
    return client.post(
        CALLBACK,
        data=json.dumps(payload),
        content_type="application/json",
        headers=headers,
    )


def test_sec001_unauthenticated_callback_is_401(secured):
    app, _, _ = secured
    client = app.server.test_client()
    assert _post_callback(client, _overview_payload()).status_code == 401
    assert client.get("/api/v1/beds").status_code == 401
    assert client.get("/_dash-layout").status_code == 401
    page = client.get("/beds")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_sec002_forged_pathname_does_not_pass_the_check(secured):
    app, _, _ = secured
    client = app.server.test_client()
    for forged in ("/login", "/healthz", "/assets/x.css", "/wall"):
        assert _post_callback(client, _overview_payload(forged)).status_code == 401


def test_sec003_signed_in_callback_works_and_plain_text_is_415(secured):
    app, _, _ = secured
    client = app.server.test_client()
    assert _login(client).status_code == 302
    assert _post_callback(client, _overview_payload()).status_code == 200
    text = client.post(
        CALLBACK, data=json.dumps(_overview_payload()), content_type="text/plain"
    )
    assert text.status_code == 415


def test_sec004_foreign_origin_is_refused(secured):
    app, _, _ = secured
    client = app.server.test_client()
    _login(client)
    foreign = _post_callback(client, _overview_payload(), Origin="https://evil.example")
    assert foreign.status_code == 403
    cross = _post_callback(
        client, _overview_payload(), **{"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    same = _post_callback(client, _overview_payload(), Origin="http://localhost")
    assert same.status_code == 200


def test_sec005_logout_ends_the_session_and_an_old_cookie_replays_to_401(secured):
    app, _, _ = secured
    client = app.server.test_client()
    _login(client)
    # logout is a POST with the form token: a GET or a tokenless POST ends nothing
    client.get("/logout")
    assert client.post("/logout").status_code == 400
    assert _post_callback(client, _overview_payload()).status_code == 200
    client.get("/login")  # renders a form token for this signed-in session
    old_cookie = client.get_cookie("session").value
    with client.session_transaction() as sess:
        csrf = sess["cc_csrf"]
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    replay = app.server.test_client()
    replay.set_cookie("session", old_cookie)
    assert _post_callback(replay, _overview_payload()).status_code == 401


def test_sec006_idle_timeout_ends_the_session(secured):
    app, clock, _ = secured
    client = app.server.test_client()
    _login(client)
    clock.advance(minutes=29)
    assert _post_callback(client, _overview_payload()).status_code == 200
    clock.advance(minutes=31)
    assert _post_callback(client, _overview_payload()).status_code == 401


def test_sec007_absolute_timeout_ends_the_session(secured):
    app, clock, _ = secured
    client = app.server.test_client()
    _login(client)
    for _ in range(25):  # active every 29 minutes for 12 h+
        clock.advance(minutes=29)
        status = _post_callback(client, _overview_payload()).status_code
    assert status == 401


def test_sec008_failed_logins_are_limited_across_workers(secured):
    """Two app instances (as two gunicorn workers) share the count in the database:
    past the free allowance a delay runs on both; it is a delay, not a lock."""
    app_a, clock, url = secured
    app_b = create_app(
        settings_for(url, auth_required=True, clock=clock), prepare=False
    )
    a, b = app_a.server.test_client(), app_b.server.test_client()
    free = min(rule.free for rule in RULES)
    for i in range(free + 1):
        client = a if i % 2 else b
        r = _login(client, password="not the password at all")
        assert r.status_code == 200 and b"wrong password" in r.data
    refused = _login(b)  # the right password, on the other worker, during the delay
    assert refused.status_code == 429 and b"Try again in" in refused.data
    assert _login(a).status_code == 429  # refused attempts are not counted ...
    clock.advance(seconds=int(refused.headers["Retry-After"]))
    assert _login(a).status_code == 302  # ... and after the wait the user gets in
    runtime = runtime_for(settings_for(url))
    with runtime.factory() as s:
        failures = s.scalar(
            select(func.count(LoginAttempt.id)).where(LoginAttempt.success.is_(False))
        )
    assert failures == free + 1


def test_sec009_security_headers_and_generic_errors(secured):
    app, _, _ = secured
    client = app.server.test_client()
    r = client.get("/login")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'sha256-" in csp and "''" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in r.headers["Strict-Transport-Security"]
    assert r.headers["Referrer-Policy"] == "same-origin"
    _login(client)
    broken = _post_callback(
        client, {"output": "no-such.children", "outputs": {}, "inputs": []}
    )
    assert broken.status_code in (400, 500)
    assert b"Traceback" not in broken.data


def test_sec010_a_viewers_write_is_403_and_recorded(secured):
    app, _, url = secured
    client = app.server.test_client()
    _login(client)
    payload = {
        "output": "..admin-message.children@" + "x" * 0,
        "outputs": [],
        "inputs": [{"id": "admin-edit-save", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "admin-edit-target", "property": "data", "value": "vera.viewer"},
            {"id": "admin-edit-role", "property": "value", "value": None},
            {"id": "admin-edit-active", "property": "value", "value": False},
            {"id": "admin-edit-password", "property": "value", "value": None},
        ],
        "changedPropIds": ["admin-edit-save.n_clicks"],
    }
    # find the exact output key Dash registered for the toggle callback
    key = next(
        k
        for k, v in app.callback_map.items()
        if "admin-message.children" in k
        and any(i["id"] == "admin-edit-save" for i in v["inputs"])
    )
    payload["output"] = key
    payload["outputs"] = _outputs(key)
    r = _post_callback(client, payload)
    assert r.status_code == 403
    assert b"Traceback" not in r.data
    runtime = runtime_for(settings_for(url))
    from data.models.security import AppUser, AuditEvent

    with runtime.factory() as s:
        denial = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "denied")
        ).all()
        vera = s.scalar(select(AppUser).where(AppUser.username == "vera.viewer"))
    assert [d.actor_username for d in denial] == ["vera.viewer"]
    assert vera.is_active
