"""Organisation, beds, inpatient stays, ED attendances and theatres."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from data.models.base import Base

BED_STATES = ("occupied", "available", "awaiting_clean", "blocked", "closed")
OPEN_BED_STATES = ("occupied", "available", "awaiting_clean")
WARD_TYPES = (
    "general_acute",
    "paediatric",
    "critical_care",
    "assessment",
    "escalation",
)
ED_AREAS = ("resus", "majors", "minors", "paediatrics", "sdec")
ARRIVAL_MODES = ("ambulance", "walk_in")
DISPOSITIONS = ("admitted", "discharged", "transferred", "left")
CASE_STATUSES = (
    "scheduled",
    "sent_for",
    "anaesthetic_room",
    "in_theatre",
    "recovery",
    "done",
    "cancelled",
)


GENERAL_AND_ACUTE_TYPES = ("general_acute", "assessment", "escalation")


def _general_and_acute_default(context) -> bool:  # noqa: ANN001
    """A ward is G&A by its type unless the organisation file says otherwise."""
    return context.get_current_parameters().get("ward_type") in GENERAL_AND_ACUTE_TYPES


class Trust(Base):
    __tablename__ = "trust"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sites: Mapped[list[Site]] = relationship(back_populates="trust")


class Site(Base):
    __tablename__ = "site"
    id: Mapped[int] = mapped_column(primary_key=True)
    trust_id: Mapped[int] = mapped_column(ForeignKey("trust.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    ods_code: Mapped[str | None] = mapped_column(String(16))
    retired_at: Mapped[datetime | None]
    trust: Mapped[Trust] = relationship(back_populates="sites")
    wards: Mapped[list[Ward]] = relationship(back_populates="site")


class Ward(Base):
    __tablename__ = "ward"
    __table_args__ = (
        CheckConstraint("core_beds >= 0", name="core_beds_nonneg"),
        UniqueConstraint("site_id", "code", name="uq_ward_site_code"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str] = mapped_column(String(64))
    ward_type: Mapped[str] = mapped_column(String(32))
    core_beds: Mapped[int]
    general_and_acute: Mapped[bool] = mapped_column(default=_general_and_acute_default)
    retired_at: Mapped[datetime | None]
    site: Mapped[Site] = relationship(back_populates="wards")
    beds: Mapped[list[Bed]] = relationship(back_populates="ward")


class Bed(Base):
    """A bed and its current state; ``bed_event`` keeps the history."""

    __tablename__ = "bed"
    __table_args__ = (UniqueConstraint("ward_id", "label", name="uq_bed_ward_label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("ward.id"), index=True)
    label: Mapped[str] = mapped_column(String(16))
    is_escalation: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16))
    state_since: Mapped[datetime]
    state_reason: Mapped[str | None] = mapped_column(String(64))
    patient_ref: Mapped[str | None] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    side_room: Mapped[bool] = mapped_column(default=False)
    isolation_capable: Mapped[bool] = mapped_column(default=False)
    retired_at: Mapped[datetime | None]
    ward: Mapped[Ward] = relationship(back_populates="beds")
    __mapper_args__ = {"version_id_col": version}


class BedEvent(Base):
    """Append-only history of bed state and occupancy changes."""

    __tablename__ = "bed_event"
    __table_args__ = (Index("ix_bed_event_bed_at", "bed_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bed_id: Mapped[int] = mapped_column(ForeignKey("bed.id"))
    at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16))
    patient_ref: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))


class InpatientStay(Base):
    """An admission, from arrival on a ward to discharge (pseudonymous reference only)."""

    __tablename__ = "inpatient_stay"
    __table_args__ = (Index("ix_stay_open", "discharged_at", "ward_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # The visit / spell reference feeds name the stay by (the patient's, if none).
    stay_ref: Mapped[str] = mapped_column(
        String(64),
        unique=True,
        default=lambda ctx: ctx.get_current_parameters()["patient_ref"],
    )
    patient_ref: Mapped[str] = mapped_column(String(32), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    ward_id: Mapped[int] = mapped_column(ForeignKey("ward.id"))
    bed_id: Mapped[int | None] = mapped_column(ForeignKey("bed.id"))
    admitted_at: Mapped[datetime]
    admission_source: Mapped[str] = mapped_column(String(16))  # ed, elective, transfer
    expected_discharge_at: Mapped[datetime | None]
    medically_ready_at: Mapped[datetime | None]  # no criteria to reside from
    discharge_pathway: Mapped[str | None] = mapped_column(String(4))  # P0..P3
    # why a patient with no criteria to reside is still in (config/discharge.yaml)
    delay_reason: Mapped[str | None] = mapped_column(String(64))
    discharged_at: Mapped[datetime | None] = mapped_column(index=True)
    on_leave_since: Mapped[datetime | None]  # leave of absence: the bed is held


class EdArea(Base):
    __tablename__ = "ed_area"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_ed_area_site_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    spaces: Mapped[int]  # active spaces (``ed_space`` names them)
    retired_at: Mapped[datetime | None]


class EdAttendance(Base):
    __tablename__ = "ed_attendance"
    __table_args__ = (
        Index("ix_ed_site_arrival", "site_id", "arrival_at"),
        Index("ix_ed_site_departure", "site_id", "departure_at"),
        CheckConstraint(
            "seen_at IS NULL OR seen_at >= arrival_at", name="seen_after_arrival"
        ),
        CheckConstraint(
            "departure_at IS NULL OR departure_at >= arrival_at",
            name="departure_after_arrival",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    area_id: Mapped[int] = mapped_column(ForeignKey("ed_area.id"))
    arrival_at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(16))
    # Manchester triage category 1 (immediate) .. 5 (non-urgent); may come later
    triage: Mapped[int | None]
    handover_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]
    decision_to_admit_at: Mapped[datetime | None]
    departure_at: Mapped[datetime | None]
    disposition: Mapped[str | None] = mapped_column(String(16))


class Theatre(Base):
    __tablename__ = "theatre"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_theatre_site_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    suite: Mapped[str] = mapped_column(String(64))
    is_emergency: Mapped[bool] = mapped_column(default=False)
    retired_at: Mapped[datetime | None]


class TheatreSession(Base):
    __tablename__ = "theatre_session"
    __table_args__ = (Index("ix_session_theatre_start", "theatre_id", "planned_start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: f"TS-{uuid.uuid4().hex[:16]}"
    )
    theatre_id: Mapped[int] = mapped_column(ForeignKey("theatre.id"))
    specialty: Mapped[str] = mapped_column(String(64))
    planned_start: Mapped[datetime] = mapped_column(index=True)
    planned_end: Mapped[datetime]
    cancelled_reason: Mapped[str | None] = mapped_column(String(64))


class TheatreCase(Base):
    __tablename__ = "theatre_case"
    __table_args__ = (Index("ix_case_session", "session_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("theatre_session.id"))
    procedure: Mapped[str] = mapped_column(String(120))
    planned_start: Mapped[datetime]
    planned_minutes: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    sent_for_at: Mapped[datetime | None]
    anaesthetic_at: Mapped[datetime | None]  # touch time starts (anaesthetic start)
    knife_to_skin_at: Mapped[datetime | None]
    procedure_end_at: Mapped[datetime | None]
    in_theatre_at: Mapped[datetime | None]  # into theatre (within touch time)
    out_of_theatre_at: Mapped[datetime | None]  # touch time ends
    recovery_done_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(64))


class WardOccupancyHour(Base):
    """Hourly roll-up of bed states per ward (for heatmaps); derivable from bed_event."""

    __tablename__ = "ward_occupancy_hour"
    ward_id: Mapped[int] = mapped_column(ForeignKey("ward.id"), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    occupied: Mapped[int]
    available: Mapped[int]
    awaiting_clean: Mapped[int]
    blocked: Mapped[int]
    closed: Mapped[int]
