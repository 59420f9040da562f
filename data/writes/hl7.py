"""Writes for the HL7 feed: archive a message, quarantine it, resolve it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data.models.hl7 import Hl7Message, Hl7Quarantine


def archive_message(
    session: Session, *, message_key: str, sender: str, control_id: str,
    content_hash: str, message_type: str, event_at: datetime | None,
    received_at: datetime, redacted: str,
) -> Hl7Message:  # fmt: skip
    """Store a message (redacted) before it is mapped; flushed, so a concurrent
    identical message fails here on the unique key."""
    row = Hl7Message(
        message_key=message_key,
        sender=sender[:120],
        control_id=control_id[:64],
        content_hash=content_hash,
        message_type=message_type[:16],
        event_at=event_at,
        received_at=received_at,
        outcome="pending",
        ack_code="AA",
        error=None,
        event_keys=[],
        redacted=redacted,
    )
    session.add(row)
    session.flush()
    return row


def set_outcome(
    row: Hl7Message, outcome: str, ack_code: str, error: str | None = None,
    event_keys: list[str] | None = None,
) -> None:  # fmt: skip
    row.outcome = outcome
    row.ack_code = ack_code
    row.error = error[:200] if error else None
    if event_keys is not None:
        row.event_keys = list(event_keys)


def quarantine(
    session: Session, row: Hl7Message, *, reason_code: str, reason: str, raw: str,
    at: datetime,
) -> Hl7Quarantine:  # fmt: skip
    """Put ``row`` in quarantine (or update its open quarantine entry)."""
    entry = session.scalar(
        select(Hl7Quarantine).where(Hl7Quarantine.message_id == row.id)
    )
    if entry is None:
        entry = Hl7Quarantine(
            message_id=row.id,
            reason_code=reason_code[:32],
            reason=reason[:200],
            raw=raw,
            created_at=at,
            resolved_at=None,
            attempts=1,
        )
        session.add(entry)
    else:
        entry.reason_code = reason_code[:32]
        entry.reason = reason[:200]
        entry.attempts += 1
    return entry


def resolve(entry: Hl7Quarantine, at: datetime) -> None:
    """The message has been applied: the raw original is dropped."""
    entry.resolved_at = at
    entry.raw = None


def purge_raw(session: Session, before: datetime) -> int:
    """Drop the raw original of quarantine entries created before ``before`` (the
    retention limit): the redacted archive copy stays. Returns how many."""
    result = session.execute(
        update(Hl7Quarantine)
        .where(Hl7Quarantine.created_at < before, Hl7Quarantine.raw.is_not(None))
        .values(raw=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
