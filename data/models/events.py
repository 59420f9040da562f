"""The event log: every real-world event any feed reported, as it arrived.

The operational tables (``bed``, ``bed_event``, ``inpatient_stay``, ``ed_attendance``,
``theatre_*``, ``ward_occupancy_hour``) are projections of this log, computed by
``data.writes`` in event-time order; see docs/events.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

EVENT_STATUSES = ("applied", "refused", "void")


class FlowEvent(Base):
    """One event from one feed; ``(source, key)`` is its idempotency key."""

    __tablename__ = "flow_event"
    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_flow_event_source_key"),
        Index("ix_flow_event_domain_at", "domain", "at"),
        Index("ix_flow_event_domain_subject", "domain", "subject"),
        Index("ix_flow_event_related", "related"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str] = mapped_column(String(16))  # inpatient, ed, theatre
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]  # when it happened (UTC), not when it arrived
    received_at: Mapped[datetime]
    subject: Mapped[str] = mapped_column(String(64))  # stay, bed, attendance, case ref
    related: Mapped[str | None] = mapped_column(String(64))  # second stay, session ref
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(200))
    voided_by: Mapped[int | None]
