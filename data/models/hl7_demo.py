"""The embedded demo's HL7 sender (``COMMAND_CENTRE_DEMO_HL7``): its outbox and its
references.

``hl7_demo_outbox`` holds, in order, what one simulator tick decided and has not yet
been delivered: ADT messages still to be acknowledged by the listener, and the
events with no ADT form, applied directly in their turn. ``hl7_demo_ref`` links a
simulated stay or attendance (its visit number in the messages) to the reference
the listener stores for it (a keyed HMAC that cannot be reversed), so the simulator
can carry on with the patient it admitted. Visit numbers here are the simulator's
own synthetic ones; no real patient ever appears in these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base


class Hl7DemoOutbox(Base):
    __tablename__ = "hl7_demo_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "hl7" (a message) or "direct"
    body: Mapped[str] = mapped_column(Text)  # the message, or the events as JSON
    created_at: Mapped[datetime]
    failed_at: Mapped[datetime | None]  # first failed delivery of this outage


class Hl7DemoRef(Base):
    __tablename__ = "hl7_demo_ref"
    sim_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # stay, attendance
    stored_ref: Mapped[str] = mapped_column(String(64), unique=True)
    patient_ref: Mapped[str | None] = mapped_column(String(32), index=True)
