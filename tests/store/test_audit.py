"""The audit trail is append-only for the app's own database role (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from data.audit import record_audit
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from tests.support.apps import FROZEN_NOW


def test_aud001_audit_rows_cannot_be_changed_or_deleted(empty_url):
    engine = create_db_engine(empty_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with write_session(factory) as s:
        record_audit(
            s,
            actor_username="ada",
            actor_role="admin",
            action="user.create",
            entity_type="user",
            entity_id="bob",
            after={"role": "viewer"},
            at=FROZEN_NOW,
        )
    for statement in (
        "DELETE FROM audit_event",
        "UPDATE audit_event SET actor_username = 'eve'",
    ):
        with (
            pytest.raises(DBAPIError, match="append-only"),
            write_session(factory) as s,
        ):
            s.execute(text(statement))
    with factory() as s:
        assert s.execute(
            text("SELECT actor_username FROM audit_event")
        ).scalars().all() == ["ada"]
    engine.dispose()
