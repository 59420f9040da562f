"""Reads for the HL7 feed: archived messages, the quarantine, open ED attendances."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
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


def ed_departure_of_admission(
    session: Session, source: str, stay_ref: str
) -> str | None:
    """The ED attendance the standing admission of ``stay_ref`` closed (the same
    message recorded the departure *admitted* and the admission, keys ``K`` and
    ``K:1``), if any."""
    admit_key = session.scalar(
        select(FlowEvent.key)
        .where(
            FlowEvent.source == source,
            FlowEvent.domain == "inpatient",
            FlowEvent.subject == stay_ref,
            FlowEvent.kind == "admit",
            FlowEvent.status == "applied",
        )
        .order_by(FlowEvent.at.desc(), FlowEvent.id.desc())
        .limit(1)
    )
    if admit_key is None or not admit_key.endswith(":1"):
        return None
    return session.scalar(
        select(FlowEvent.subject).where(
            FlowEvent.source == source,
            FlowEvent.key == admit_key[:-2],
            FlowEvent.kind == "ed_departure",
            FlowEvent.status == "applied",
        )
    )


def merged_patients(session: Session, patient_ref: str) -> list[str]:
    """``patient_ref`` and every reference merged with it (either way, through
    chains of merges), ``patient_ref`` first."""
    from data.models.merge import PatientMerge

    seen, todo = [patient_ref], [patient_ref]
    while todo:
        ref = todo.pop()
        rows = session.execute(
            select(PatientMerge.prior_ref, PatientMerge.surviving_ref).where(
                (PatientMerge.prior_ref == ref) | (PatientMerge.surviving_ref == ref)
            )
        ).all()
        for pair in rows:
            for other in pair:
                if other not in seen:
                    seen.append(other)
                    todo.append(other)
    return seen


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


@dataclass(frozen=True)
class SenderSummary:
    sender: str
    last_message_at: datetime
    messages_last_hour: int


@dataclass(frozen=True)
class FeedSummary:
    """The HL7 feed at a glance (for a feeds page and /healthz): ``None`` times when
    nothing has been received yet."""

    last_message_at: datetime | None
    messages_last_minute: int
    messages_last_hour: int
    senders: list[SenderSummary]
    quarantined: dict[str, int]  # unresolved, by reason code
    rejected_last_hour: int


def feed_summary(session: Session, now: datetime) -> FeedSummary:
    from datetime import timedelta

    hour, minute = now - timedelta(hours=1), now - timedelta(minutes=1)
    last = session.scalar(select(func.max(Hl7Message.received_at)))
    per_minute = session.scalar(
        select(func.count(Hl7Message.id)).where(Hl7Message.received_at > minute)
    )
    per_hour = session.scalar(
        select(func.count(Hl7Message.id)).where(Hl7Message.received_at > hour)
    )
    rejected = session.scalar(
        select(func.count(Hl7Message.id)).where(
            Hl7Message.received_at > hour, Hl7Message.outcome == "rejected"
        )
    )
    recent = func.sum(case((Hl7Message.received_at > hour, 1), else_=0))
    senders = [
        SenderSummary(sender, at, int(n or 0))
        for sender, at, n in session.execute(
            select(Hl7Message.sender, func.max(Hl7Message.received_at), recent)
            .group_by(Hl7Message.sender)
            .order_by(Hl7Message.sender)
        )
    ]
    quarantined = dict(
        session.execute(
            select(Hl7Quarantine.reason_code, func.count(Hl7Quarantine.id))
            .where(Hl7Quarantine.resolved_at.is_(None))
            .group_by(Hl7Quarantine.reason_code)
        ).all()
    )
    return FeedSummary(
        last, per_minute or 0, per_hour or 0, senders, quarantined, rejected or 0
    )
