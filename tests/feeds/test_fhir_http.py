"""The FHIR endpoint's HTTP rules: bearer tokens only (none, revoked, another
feed's), content types, the body limit, If-Match, unknown types, the public
CapabilityStatement; every refusal an OperationOutcome. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.db import write_session
from data.models.feeds import FeedToken, FhirRequest
from data.models.security import AuditEvent
from data.models.system import FeedStatus
from data.writes.feed_tokens import revoke_feed_token
from tests.feeds.fhir_support import (
    AT,
    FHIR_JSON,
    HL7_KEY,
    Feed,
    at_location,
    encounter,
    headers,
    issue,
    issues,
    put,
)

ENC = encounter("att-20", "arrived", "EMER", start=AT,
                locations=[at_location("RGH-ED-MAJORS", "active", AT)])  # fmt: skip


@pytest.fixture
def feed(empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", HL7_KEY)
    f = Feed(empty_url, tmp_path, AT + timedelta(hours=6))
    yield f
    f.close()


def test_fhirh001_metadata_is_public_and_a_valid_capability_statement(
    feed: Feed,
) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    r = feed.client.get("/fhir/r4/metadata")
    assert r.status_code == 200
    assert r.mimetype == FHIR_JSON
    body = r.get_json()
    statement = CapabilityStatement.model_validate(body)
    assert statement.fhirVersion == "4.0.1"
    resources = {res.type: res for res in statement.rest[0].resource}
    assert set(resources) == {"Encounter", "Location"}
    assert [i.code for i in resources["Encounter"].interaction] == ["update"]
    assert {i.code for i in statement.rest[0].interaction} == {"batch", "transaction"}


def test_fhirh002_no_token_revoked_token_and_another_feeds_token(feed: Feed) -> None:
    # No token: 401 with a Bearer challenge, never the sign-in page.
    r = feed.client.put("/fhir/r4/Encounter/att-20", data=json.dumps(ENC),
                        headers=headers(None))  # fmt: skip
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert issues(r)[0]["code"] == "login"
    # A made-up token.
    r = put(feed.client, "Encounter/att-20", ENC, "ccfeed_not-a-real-token")
    assert r.status_code == 401 and issues(r)[0]["code"] == "security"
    # The real token works …
    r = feed.put("Encounter/att-20", ENC)
    assert r.status_code == 201, r.get_json()
    # … until it is revoked (audited); its next request is refused and counted.
    with write_session(feed.factory) as s:
        revoke_feed_token(s, feed.token_id, actor="admin", actor_role="admin",
                          now=AT)  # fmt: skip
    r = feed.put("Encounter/att-20", ENC)
    assert r.status_code == 401
    assert "revoked" in issues(r)[0]["diagnostics"]
    # A token of another feed (a CSV source) is not a FHIR client's.
    _, csv_token = issue(feed.factory, "csv:sitrep")
    r = put(feed.client, "Encounter/att-20", ENC, csv_token)
    assert r.status_code == 403 and issues(r)[0]["code"] == "forbidden"
    # Another FHIR feed's token writes only its own feed's resources.
    _, other = issue(feed.factory, "fhir:edis")
    r = put(feed.client, "Encounter/att-20", ENC, other)
    assert r.status_code == 201  # its own Encounter/att-20, not fhir:pas's
    with feed.factory() as s:
        audit = s.scalars(select(AuditEvent.action).where(
            AuditEvent.entity_type == "feed_token")).all()  # fmt: skip
        refused = s.execute(
            select(FhirRequest.feed, FhirRequest.status_code)
            .where(FhirRequest.outcome == "refused").order_by(FhirRequest.id)
        ).all()  # fmt: skip
        rows = {r.feed for r in s.scalars(select(FeedStatus))}
        hashes = s.scalars(select(FeedToken.token_hash)).all()
    assert audit == ["feed_token.issue", "feed_token.revoke", "feed_token.issue",
                     "feed_token.issue"]  # fmt: skip
    assert refused == [("fhir:pas", 401), ("csv:sitrep", 403)]
    assert {"fhir:pas", "fhir:edis", "fhir:pas:ed", "fhir:edis:ed"} <= rows
    assert feed.token not in hashes and all(re.fullmatch("[0-9a-f]{64}", h)
                                            for h in hashes)  # fmt: skip


def test_fhirh003_a_signed_in_browser_session_is_not_a_token(feed: Feed) -> None:
    from tests.support.auth import DEFAULT_PASSWORD, create_user

    create_user(feed.url, "alice", "admin")
    page = feed.client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = feed.client.post("/login", data={"username": "alice", "csrf_token": csrf,
                                         "password": DEFAULT_PASSWORD, "next": "/"})  # fmt: skip
    assert r.status_code == 302 and r.headers["Location"] == "/"
    r = feed.client.put("/fhir/r4/Encounter/att-20", data=json.dumps(ENC),
                        headers=headers(None))  # fmt: skip
    assert r.status_code == 401
    # The rest of the app still refuses a cross-site write (CSRF rules unchanged).
    r = feed.client.post("/_dash-update-component", json={},
                         headers={"Origin": "https://evil.example"})  # fmt: skip
    assert r.status_code == 403


def test_fhirh004_content_type_body_limit_and_malformed_bodies(feed: Feed) -> None:
    r = feed.put("Encounter/att-20", ENC, content_type="application/xml")
    assert r.status_code == 415 and issues(r)[0]["code"] == "not-supported"
    r = feed.put("Encounter/att-20", ENC, content_type="application/json")
    assert r.status_code == 201  # plain JSON is accepted too
    big = json.dumps({**ENC, "text": {"status": "generated",
                                      "div": "<div>" + "x" * (20 << 20) + "</div>"}})  # fmt: skip
    r = feed.client.put("/fhir/r4/Encounter/att-20", data=big,
                        headers=headers(feed.token))  # fmt: skip
    assert r.status_code == 413 and issues(r)[0]["code"] == "too-costly"
    # The same body streamed without a Content-Length is cut off at the limit.
    r = feed.client.put(
        "/fhir/r4/Encounter/att-20", input_stream=io.BytesIO(big.encode()),
        headers={**headers(feed.token), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets it
    )  # fmt: skip
    assert r.status_code == 413, r.get_json()
    r = feed.client.put("/fhir/r4/Encounter/att-20", data="{not json",
                        headers=headers(feed.token))  # fmt: skip
    assert r.status_code == 400 and issues(r)[0]["code"] == "structure"
    with feed.factory() as s:
        counted = s.scalars(
            select(FhirRequest.status_code).where(FhirRequest.outcome == "refused")
        ).all()
        row = s.get(FeedStatus, "fhir:pas")
    assert counted == [415, 413, 413, 400] and row.detail == "refused 400"
    r = feed.put("Encounter/other-id", ENC)
    assert r.status_code == 400 and issues(r)[0]["expression"] == ["Encounter.id"]
    r = feed.put("Encounter/att-20", {**ENC, "unknownElement": 1})
    assert r.status_code == 400
    assert issues(r)[0]["expression"] == ["Encounter.unknownElement"]


def test_fhirh005_if_match_unknown_types_and_methods(feed: Feed) -> None:
    assert feed.put("Encounter/att-20", ENC).status_code == 201
    r = feed.put("Encounter/att-20", ENC, **{"If-Match": 'W/"7"'})
    assert r.status_code == 412 and issues(r)[0]["code"] == "conflict"
    r = feed.put("Encounter/att-20", ENC, **{"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"1"'  # same content
    r = feed.put("Encounter/att-20", ENC, Prefer="return=minimal")
    assert r.status_code == 200 and r.get_data() == b""
    r = feed.put("Patient/p1", {"resourceType": "Patient", "id": "p1"})
    assert r.status_code == 404 and issues(r)[0]["code"] == "not-supported"
    r = feed.client.get("/fhir/r4/Encounter/att-20", headers=headers(feed.token))
    assert r.status_code == 405
