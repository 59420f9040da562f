"""``flask --app app feed-token issue|list|revoke`` and ``fhir-location`` as an
operator runs them, with the issued token then used over HTTP; SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.models.capacity import InpatientStay, Ward
from data.models.security import AuditEvent
from tests.feeds.fhir_support import (
    AT,
    HL7_KEY,
    at_location,
    encounter,
    location,
    make_app,
    prepare,
    put,
)
from tests.support.clock import MovableClock

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Zx9!kq2LmP0vR7tW3yB8nC5dF1gH6jK4-secret"


def flask(args: list[str], url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMAND_CENTRE")}
    env.update(DATABASE_URL=url, COMMAND_CENTRE_DEMO="0", SECRET_KEY=SECRET,
               COMMAND_CENTRE_HL7_KEY=HL7_KEY)  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_fhirc001_issue_use_list_and_revoke_a_token(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", HL7_KEY)
    engine, factory = prepare(empty_url, tmp_path)
    done = flask(
        ["feed-token", "issue", "fhir:pas", "--label", "PAS engine"], empty_url
    )
    assert done.returncode == 0, done.stderr[-800:]
    head, token = done.stdout.strip().splitlines()
    assert head.startswith("token 1 for fhir:pas") and token.startswith("ccfeed_")
    bad = flask(["feed-token", "issue", "PAS"], empty_url)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "fhir:<name>" in bad.stderr

    clock = MovableClock(AT + timedelta(hours=1))
    app = make_app(empty_url, clock)
    client = app.server.test_client()
    enc = encounter("adm-30", "in-progress", "IMP", start=AT,
                    locations=[at_location("Location/ward-x", "active", AT)])  # fmt: skip
    # An unknown ward Location is proposed; the CLI lists and confirms it.
    r = put(client, "Location/ward-x", location("ward-x", "RGH-WX", "wa", "Ward X"),
            token)  # fmt: skip
    assert r.status_code == 201, r.get_json()
    listed = flask(["fhir-location", "list"], empty_url)
    assert "Location/ward-x\tward\tWard X" in listed.stdout, listed.stderr[-800:]
    wrong = flask(["fhir-location", "confirm", "1", "--site", "RGH", "--ward", "NOPE"],
                  empty_url)  # fmt: skip
    assert wrong.returncode == 2 and "no ward NOPE" in wrong.stderr
    ok = flask(["fhir-location", "confirm", "1", "--site", "RGH", "--ward", "RES"],
               empty_url)  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-800:]
    clock.advance(seconds=5)
    r = put(client, "Encounter/adm-30", enc, token)
    assert r.status_code == 201, r.get_json()
    with factory() as s:
        ward = s.scalar(
            select(Ward.code).join(InpatientStay, InpatientStay.ward_id == Ward.id)
        )
    assert ward == "RES"

    listing = flask(["feed-token", "list"], empty_url)
    assert listing.returncode == 0
    [row] = listing.stdout.strip().splitlines()[1:]
    assert row.startswith("1\tfhir:pas\tTST\tPAS engine\t")
    assert token not in listing.stdout
    revoked = flask(["feed-token", "revoke", "1"], empty_url)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    clock.advance(seconds=5)
    assert put(client, "Encounter/adm-30", enc, token).status_code == 401
    again = flask(["feed-token", "revoke", "1"], empty_url)
    assert again.returncode == 2 and "already revoked" in again.stderr
    with factory() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(
                AuditEvent.action.like("feed_token.%")
                | AuditEvent.action.like("fhir_location.%")
            ).order_by(AuditEvent.id)
        ).all()  # fmt: skip
    assert actions == ["feed_token.issue", "fhir_location.confirm",
                       "feed_token.revoke"]  # fmt: skip
    app.server.extensions["command_centre"].engine.dispose()
    engine.dispose()
