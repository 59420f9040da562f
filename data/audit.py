"""The append-only audit trail: every write records who, role, when, what, before/after."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from data.models.security import AuditEvent


class ActorLike(Protocol):
    """Who is acting (``callbacks.identity.Actor`` fits)."""

    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def role(self) -> str: ...


def record_audit(
    session: Session,
    *,
    actor_username: str,
    actor_role: str,
    action: str,
    entity_type: str,
    entity_id: str | int | None,
    before: dict | None = None,
    after: dict | None = None,
    request_id: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append an audit row inside the caller's transaction (written with the change)."""
    from ops.timeutil import system_clock

    event = AuditEvent(
        at=at or system_clock(),
        actor_username=actor_username,
        actor_role=actor_role,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
        request_id=request_id or _request_id(),
    )
    session.add(event)
    return event


def _request_id() -> str | None:
    try:
        from flask import g, has_request_context

        if has_request_context():
            return getattr(g, "request_id", None)
    except Exception:
        return None
    return None
