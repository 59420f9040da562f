"""Admin → Feed tokens in the browser: an admin issues a token, a FHIR client uses it
over HTTP against the live server, the admin revokes it and the client is refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from app import create_app
from data.models.security import AuditEvent
from tests.feeds.fhir_support import FHIR_JSON, HL7_KEY, location
from tests.support.apps import runtime_for, settings_for, start_app
from tests.support.auth import create_user, login


def _put(base: str, token: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{base}/fhir/r4/Location/{body['id']}", data=json.dumps(body).encode(),
        method="PUT", headers={"Content-Type": FHIR_JSON,
                               "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_fhiru001_admin_issues_and_revokes_a_feed_token(
    dash_duo, seeded_sqlite_url, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", HL7_KEY)
    create_user(seeded_sqlite_url, "ada.admin", "admin", display_name="Ada Admin")
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "ada.admin", next_path="/admin")
    dash_duo.wait_for_contains_text("#admin-feedtok-table", "No feed tokens issued")
    dash_duo.find_element("#admin-feedtok-feed").send_keys("pas")
    dash_duo.find_element("#admin-feedtok-issue").click()
    dash_duo.wait_for_contains_text("#admin-feedtok-message", "fhir:<name>")
    feed = dash_duo.find_element("#admin-feedtok-feed")
    feed.clear()
    feed.send_keys("fhir:edis")
    dash_duo.find_element("#admin-feedtok-label").send_keys("ED system")
    dash_duo.find_element("#admin-feedtok-issue").click()
    dash_duo.wait_for_contains_text("#admin-feedtok-message", "not shown again")
    token = dash_duo.find_element("#admin-feedtok-secret").text
    assert token.startswith("ccfeed_")
    dash_duo.wait_for_contains_text("#admin-feedtok-table", "ED system")
    ward = location("ward-z", "RDT-WZ", "wa", "Ward Z")
    assert _put(dash_duo.server.url, token, ward) == 201
    dash_duo.find_element("#admin-feedtok-revoke-id").send_keys("1")
    dash_duo.find_element("#admin-feedtok-revoke").click()
    dash_duo.wait_for_contains_text("#admin-feedtok-message", "revoked")
    dash_duo.wait_for_contains_text("#admin-feedtok-table", "revoked")
    assert token not in dash_duo.find_element("#admin-feedtok-table").text
    assert _put(dash_duo.server.url, token, ward) == 401
    with runtime_for(settings_for(seeded_sqlite_url)).factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "feed_token")
        ).all()
    assert actions == ["feed_token.issue", "feed_token.revoke"]
    assert dash_duo.get_logs() == []
