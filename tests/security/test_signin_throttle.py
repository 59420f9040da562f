"""Sign-in guessing is slowed, never turned into a lock-out: growing delays per
address and per account (shared by every worker through the database), the wait
shown to the user, and sign-ins, failures and throttling in the audit trail."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app import create_app
from data.models.security import AuditEvent
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for
from tests.support.auth import DEFAULT_PASSWORD, create_user
from tests.support.clock import MovableClock

WRONG = "not the password at all"


@pytest.fixture
def two_workers(seeded_sqlite_url):  # noqa: ANN201
    url = seeded_sqlite_url
    create_user(url, "ada.commander", "incident_commander", display_name="Ada")
    for i in range(12):
        create_user(url, f"user{i}", "viewer")
    clock = MovableClock(FROZEN_NOW)
    apps = [
        create_app(settings_for(url, auth_required=True, clock=clock), prepare=False)
        for _ in range(2)
    ]
    return apps, clock, url


def _client(app, address: str):  # noqa: ANN001, ANN202
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login(client, username: str, password: str = DEFAULT_PASSWORD):  # noqa: ANN001, ANN202
    client.get("/login")
    with client.session_transaction() as sess:
        token = sess["cc_csrf"]
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token,
              "next": "/"},
    )  # fmt: skip


def _wait_seconds(response) -> int:  # noqa: ANN001
    text = response.get_data(as_text=True)
    found = re.search(r"Try again in (\d+) (second|minute)s?", text)
    assert found, text[-600:]
    n = int(found.group(1))
    return n * 60 if found.group(2) == "minute" else n


def _actions(url: str) -> list[tuple[str, str]]:
    runtime = runtime_for(settings_for(url))
    with runtime.factory() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.actor_username)
            .where(AuditEvent.action.like("sign_in%"))
            .order_by(AuditEvent.id)
        ).all()
    runtime.engine.dispose()
    return [tuple(r) for r in rows]


def test_thr001_an_attacker_cannot_lock_out_the_real_user(two_workers):
    (a, b), clock, _ = two_workers
    attacker = [_client(a, "203.0.113.9"), _client(b, "203.0.113.9")]
    for i in range(100):
        r = _login(attacker[i % 2], "ada.commander", WRONG)
        assert r.status_code in (200, 429)
        clock.advance(seconds=1)
    # the commander, from her own address, signs in at once with the right password
    ok = _login(_client(b, "10.1.2.3"), "ada.commander")
    assert ok.status_code in (302, 429)
    if ok.status_code == 429:  # the account-wide delay is short: a minute at most
        wait = _wait_seconds(ok)
        assert 0 < wait <= 60
        clock.advance(seconds=wait)
        ok = _login(_client(b, "10.1.2.3"), "ada.commander")
    assert ok.status_code == 302


def test_thr002_delays_grow_and_say_how_long_to_wait(two_workers):
    (a, b), clock, _ = two_workers
    same = [_client(a, "198.51.100.7"), _client(b, "198.51.100.7")]
    waits = []
    for i in range(8):
        r = _login(same[i % 2], "user1", WRONG)
        if r.status_code == 429:
            waits.append(_wait_seconds(r))
            assert int(r.headers["Retry-After"]) == waits[-1]
            clock.advance(seconds=waits[-1])
            r = _login(same[i % 2], "user1", WRONG)
        assert r.status_code == 200 and "wrong password" in r.get_data(as_text=True)
    assert waits and waits == sorted(waits) and waits[-1] > waits[0]
    # during a delay even the right password waits (on the other worker too) ...
    refused = _login(same[1], "user1")
    assert refused.status_code == 429
    # ... and after it the right password works: a delay, not a lock
    clock.advance(seconds=_wait_seconds(refused))
    assert _login(same[0], "user1").status_code == 302


def test_thr003_guessing_across_many_accounts_is_throttled_per_address(two_workers):
    (a, b), clock, _ = two_workers
    spray = [_client(a, "192.0.2.50"), _client(b, "192.0.2.50")]
    statuses = []
    for i in range(12):  # one guess per account: no account sees more than one
        statuses.append(_login(spray[i % 2], f"user{i}", WRONG).status_code)
        clock.advance(seconds=1)
    assert 429 in statuses
    # another address is not slowed by it
    assert _login(_client(a, "192.0.2.51"), "user11").status_code == 302


def test_thr004_sign_ins_failures_and_throttling_are_audited(two_workers):
    (a, _), clock, url = two_workers
    client = _client(a, "198.51.100.20")
    assert _login(client, "user2").status_code == 302
    throttled = None
    for _ in range(10):
        r = _login(_client(a, "198.51.100.21"), "user3", WRONG)
        if r.status_code == 429:
            throttled = r
            break
    assert throttled is not None
    actions = _actions(url)
    assert ("sign_in", "user2") in actions
    assert ("sign_in.failed", "user3") in actions
    assert ("sign_in.throttled", "user3") in actions
