"""Surge-protocol runs: template versions, runs, action states, roles and the log.

A run keeps the template version it was declared under (``protocol_template_version``
holds the content as JSON), so editing a YAML file never changes a running checklist.
Action states carry a ``version`` counter: a tick is a conditional UPDATE on the
version the writer read, so two commanders cannot overwrite each other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

TRIGGER_KINDS = ("manual", "alert", "opel")


class ProtocolTemplateVersion(Base):
    """A template's content as first used under ``(key, version)``; never changed."""

    __tablename__ = "protocol_template_version"
    __table_args__ = (
        UniqueConstraint(
            "key", "version", name="uq_protocol_template_version_key_version"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[dict] = mapped_column(JSON)
    stored_at: Mapped[datetime]


class ProtocolRun(Base):
    """One declaration of a protocol, from declaration to stand-down."""

    __tablename__ = "protocol_run"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'stood_down')", name="status_known"),
        CheckConstraint(
            "trigger_kind IN ('manual', 'alert', 'opel')", name="trigger_kind_known"
        ),
        Index("ix_protocol_run_status", "status", "declared_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("protocol_template_version.id"))
    template_key: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int]
    trigger_kind: Mapped[str] = mapped_column(String(16))
    trigger_detail: Mapped[str | None] = mapped_column(String(200))
    declared_by: Mapped[str] = mapped_column(String(120))  # display name
    declared_by_username: Mapped[str] = mapped_column(String(64))
    declared_by_role: Mapped[str] = mapped_column(String(32))
    declared_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))  # None = trust
    status: Mapped[str] = mapped_column(String(16), default="active")
    # "<template key>@<site id or 'trust'>" while active, NULL once stood down: a
    # unique key, so one template runs at most once per scope even under races.
    active_scope: Mapped[str | None] = mapped_column(String(100), unique=True)
    stood_down_by: Mapped[str | None] = mapped_column(String(120))
    stood_down_by_username: Mapped[str | None] = mapped_column(String(64))
    stood_down_at: Mapped[datetime | None]
    stand_down_note: Mapped[str | None] = mapped_column(Text)
    methane: Mapped[dict | None] = mapped_column(JSON)
    facility_snapshot: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(default=1)


class ProtocolActionState(Base):
    """The current state of one action of a run (a row per action from declaration)."""

    __tablename__ = "protocol_action_state"
    __table_args__ = (
        UniqueConstraint(
            "run_id", "action_key", name="uq_protocol_action_state_run_action"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("protocol_run.id"), index=True)
    action_key: Mapped[str] = mapped_column(String(64))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=0)


class ProtocolActionEvent(Base):
    """Append-only history of ticks and unticks (the current state forgets unticks)."""

    __tablename__ = "protocol_action_event"
    __table_args__ = (Index("ix_protocol_action_event_run_at", "run_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("protocol_run.id"))
    action_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    done: Mapped[bool] = mapped_column(Boolean)
    by: Mapped[str] = mapped_column(String(120))
    by_username: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int]  # the action state's version after this change


class ProtocolRoleAssignment(Base):
    """Who held a command role of a run, from when to when (``held_to`` NULL = now)."""

    __tablename__ = "protocol_role_assignment"
    __table_args__ = (
        Index("ix_protocol_role_assignment_run", "run_id", "role_key"),
        # At most one current holder per role, even if two handovers race.
        Index(
            "uq_protocol_role_assignment_open",
            "run_id",
            "role_key",
            unique=True,
            sqlite_where=text("held_to IS NULL"),
            postgresql_where=text("held_to IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("protocol_run.id"))
    role_key: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(120))
    # how to reach them during the incident: a bleep or phone number (free text)
    contact: Mapped[str | None] = mapped_column(String(60))
    held_from: Mapped[datetime]
    held_to: Mapped[datetime | None]
    assigned_by: Mapped[str] = mapped_column(String(120))


class IncidentLogEntry(Base):
    """HICS 214-style activity log: timestamped free text with author and role."""

    __tablename__ = "incident_log_entry"
    __table_args__ = (Index("ix_incident_log_entry_run_at", "run_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("protocol_run.id"))
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(120))
    author_username: Mapped[str] = mapped_column(String(64))
    author_role: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
