"""HL7 v2 ADT feed: the message archive and the quarantine.

Every message the listener (or a replay) accepts is archived before it is mapped,
with the patient's identifying fields (PID, NK1, MRG names, identifiers, dates of
birth, addresses, telephone numbers) redacted. A message that could not be applied
(unknown location, unknown patient, refused by the event layer, not supported yet)
also gets a quarantine row that keeps the raw original until it is resolved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

HL7_OUTCOMES = ("applied", "recorded", "quarantined", "rejected")


class Hl7Message(Base):
    """One received message; ``message_key`` (sender + control id + content hash) is
    unique, so an identical resend is recognised and a reused control id with other
    content is a new message."""

    __tablename__ = "hl7_message"
    __table_args__ = (Index("ix_hl7_message_received_at", "received_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_key: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(120))  # MSH-3 ^ MSH-4
    control_id: Mapped[str] = mapped_column(String(64))  # MSH-10
    content_hash: Mapped[str] = mapped_column(String(64))
    message_type: Mapped[str] = mapped_column(String(16))  # ADT^A01
    event_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    ack_code: Mapped[str] = mapped_column(String(2))
    error: Mapped[str | None] = mapped_column(String(200))
    event_keys: Mapped[list] = mapped_column(JSON, default=list)
    redacted: Mapped[str] = mapped_column(Text)


class Hl7Quarantine(Base):
    """A message waiting for a fix (organisation, mapping) and a replay."""

    __tablename__ = "hl7_quarantine"
    __table_args__ = (Index("ix_hl7_quarantine_resolved_at", "resolved_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("hl7_message.id", ondelete="CASCADE"), unique=True
    )
    reason_code: Mapped[str] = mapped_column(String(32))  # unknown_location, ...
    reason: Mapped[str] = mapped_column(String(200))
    raw: Mapped[str | None] = mapped_column(Text)  # cleared once resolved
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=1)
