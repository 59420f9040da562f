"""Reads for the HL7 feed: archived messages, the quarantine, open ED attendances."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.models.capacity import EdAttendance, InpatientStay
from data.models.events import FlowEvent
from data.models.hl7 import Hl7Message, Hl7Quarantine


def message_by_key(session: Session, message_key: str) -> Hl7Message | None:
    return session.scalar(
        select(Hl7Message).where(Hl7Message.message_key == message_key)
    )


def open_attendance(session: Session, refs: Iterable[str]) -> str | None:
    """The first of ``refs`` that is an ED attendance still in the department."""
    refs = [r for r in refs if r]
    if not refs:
        return None
    found = set(
        session.scalars(
            select(EdAttendance.ref).where(
                EdAttendance.ref.in_(refs), EdAttendance.departure_at.is_(None)
            )
        )
    )
    return next((r for r in refs if r in found), None)


def stay_exists(session: Session, stay_ref: str) -> bool:
    return (
        session.scalar(
            select(InpatientStay.id).where(InpatientStay.stay_ref == stay_ref)
        )
        is not None
    )


def event_statuses(session: Session, source: str, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    return dict(
        session.execute(
            select(FlowEvent.key, FlowEvent.status).where(
                FlowEvent.source == source, FlowEvent.key.in_(keys)
            )
        ).all()
    )


@dataclass(frozen=True)
class QuarantineItem:
    id: int
    message_id: int
    message_type: str
    sender: str
    control_id: str
    reason_code: str
    reason: str
    created_at: datetime
    attempts: int


def unresolved_quarantine(
    session: Session, reason_codes: tuple[str, ...] | None = None
) -> list[QuarantineItem]:
    stmt = (
        select(
            Hl7Quarantine.id,
            Hl7Quarantine.message_id,
            Hl7Message.message_type,
            Hl7Message.sender,
            Hl7Message.control_id,
            Hl7Quarantine.reason_code,
            Hl7Quarantine.reason,
            Hl7Quarantine.created_at,
            Hl7Quarantine.attempts,
        )
        .join(Hl7Message, Hl7Message.id == Hl7Quarantine.message_id)
        .where(Hl7Quarantine.resolved_at.is_(None))
        .order_by(Hl7Message.event_at, Hl7Quarantine.id)
    )
    if reason_codes:
        stmt = stmt.where(Hl7Quarantine.reason_code.in_(reason_codes))
    return [QuarantineItem(*row) for row in session.execute(stmt)]


def quarantine_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(Hl7Quarantine.id)).where(
                Hl7Quarantine.resolved_at.is_(None)
            )
        )
        or 0
    )
