"""What people do on the feeds page: discard a quarantined message, and the audit
rows of a replay and of viewing a quarantined raw original."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from data.audit import record_audit
from data.models.hl7 import Hl7Message, Hl7Quarantine
from data.writes import hl7 as store


class FeedAdminError(Exception):
    """The action cannot be done; the message is safe to show."""


def discard_quarantined(
    session: Session,
    quarantine_id: int,
    *,
    actor_username: str,
    actor_role: str,
    reason: str,
    at: datetime,
) -> Hl7Quarantine:
    """Take a message out of the quarantine without applying it: the entry is
    resolved, its raw original dropped and the archived message marked
    ``discarded``; the audit row keeps who, when and why."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise FeedAdminError("Give a reason for discarding the message.")
    entry = session.get(Hl7Quarantine, quarantine_id)
    if entry is None:
        raise FeedAdminError("That quarantined message no longer exists.")
    if entry.resolved_at is not None:
        raise FeedAdminError("That message has already left the quarantine.")
    message = session.get(Hl7Message, entry.message_id)
    before = {"reason_code": entry.reason_code, "reason": entry.reason}
    store.resolve(entry, at)
    store.set_outcome(message, "discarded", message.ack_code, entry.reason)
    record_audit(
        session,
        actor_username=actor_username,
        actor_role=actor_role,
        action="hl7.quarantine.discard",
        entity_type="hl7_message",
        entity_id=f"{message.sender} {message.control_id}",
        before=before,
        after={"quarantine_id": entry.id, "discard_reason": reason[:200]},
        at=at,
    )
    return entry


def record_replay(
    session: Session,
    *,
    actor_username: str,
    actor_role: str,
    counts: dict[str, int],
    at: datetime,
) -> None:
    record_audit(
        session,
        actor_username=actor_username,
        actor_role=actor_role,
        action="hl7.quarantine.replay",
        entity_type="hl7_quarantine",
        entity_id=None,
        after={"counts": dict(sorted(counts.items()))},
        at=at,
    )


def record_original_viewed(
    session: Session,
    quarantine_id: int,
    *,
    actor_username: str,
    actor_role: str,
    at: datetime,
    available: bool,
) -> None:
    """Every view of a quarantined raw original is audited (it holds the patient's
    identifying fields)."""
    record_audit(
        session,
        actor_username=actor_username,
        actor_role=actor_role,
        action="hl7.quarantine.view_original",
        entity_type="hl7_quarantine",
        entity_id=quarantine_id,
        after={"raw_available": available},
        at=at,
    )
