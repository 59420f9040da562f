"""The append-only audit trail: every write records who, role, when, what, before/after."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from data.models.security import AuditEvent

# A request id fits audit_event.request_id (64): letters, digits and . _ : - only.
REQUEST_ID_MAX = 64
_REQUEST_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{REQUEST_ID_MAX - 1}}}")


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def well_formed_request_id(value: object) -> str | None:
    """``value`` when it is a usable request id (<= 64 of A-Z a-z 0-9 . _ : -)."""
    if isinstance(value, str) and _REQUEST_ID.fullmatch(value):
        return value
    return None


def request_id_for(header: str | None, *, trusted_proxy: bool) -> str:
    """The id of this request: a trusted proxy's well-formed ``X-Request-Id``, else
    a new one. A client's own header is never believed (it would go into the audit
    trail as if the proxy had set it)."""
    if trusted_proxy:
        found = well_formed_request_id(header)
        if found:
            return found
    return new_request_id()


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
        # an id that does not fit the column would lose the whole write
        request_id=well_formed_request_id(request_id or _request_id()),
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
