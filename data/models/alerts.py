"""Surge alerts, their history, OPEL assessments and the evaluator's bookkeeping.

* ``alert`` -- one row per rule and scope (the dedupe key, a UNIQUE constraint), so two
  evaluators racing can never create two. The evaluator writes it with a conditional
  UPDATE on ``last_evaluated_at`` (compare-and-set); ``version`` counts the human
  writes (acknowledge, silence) and is what those writes compare against, so a
  background evaluation never invalidates a form someone has open.
* ``alert_event`` -- append-only history: state transitions, OPEL escalations and
  de-escalations, acknowledgements and silences, with who, when, value and reason.
* ``opel_assessment`` -- a computed OPEL level per scope with its configuration version
  and the full per-parameter breakdown (``OpelResult.to_dict()``).
* ``alert_evaluation`` -- when the evaluator last ran (the interval guard lives in the
  database, not in process memory).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

ALERT_STATES = ("normal", "pending", "firing", "recovering", "no_data", "error")
EVENT_KINDS = (
    "transition",
    "escalation",
    "de-escalation",
    "acknowledged",
    "silenced",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Alert(Base):
    """The current state of one rule at one scope."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint(
            "rule_id", "scope_kind", "scope_id", name="uq_alert_rule_scope"
        ),
        CheckConstraint(_in("state", ALERT_STATES), name="state_known"),
        Index("ix_alert_state", "state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64))
    # Display copies taken at the last evaluation (rule title, scope name, metric).
    title: Mapped[str] = mapped_column(String(200))
    scope_label: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    rules_version: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]
    value: Mapped[float | None] = mapped_column(Float)
    episode_started_at: Mapped[datetime | None]
    active_since: Mapped[datetime | None]
    last_evaluated_at: Mapped[datetime]
    status: Mapped[dict] = mapped_column(JSON)  # ops.alerting.AlertStatus.to_dict()
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledged_by_username: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    ack_note: Mapped[str | None] = mapped_column(Text)
    silenced_until: Mapped[datetime | None]
    silenced_at: Mapped[datetime | None]
    silenced_by: Mapped[str | None] = mapped_column(String(120))
    silenced_by_username: Mapped[str | None] = mapped_column(String(64))
    silence_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)


class AlertEvent(Base):
    """Append-only alert history."""

    __tablename__ = "alert_event"
    __table_args__ = (
        CheckConstraint(_in("kind", EVENT_KINDS), name="kind_known"),
        Index("ix_alert_event_at", "at"),
        Index("ix_alert_event_alert_at", "alert_id", "at"),
        Index("ix_alert_event_rule_scope", "rule_id", "scope_kind", "scope_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(
        String(120)
    )  # display name; None = system
    actor_username: Mapped[str | None] = mapped_column(String(64))
    episode_started_at: Mapped[datetime | None]
    rules_version: Mapped[str | None] = mapped_column(String(64))


class OpelAssessment(Base):
    """One computed OPEL level with the reason for it."""

    __tablename__ = "opel_assessment"
    __table_args__ = (
        UniqueConstraint(
            "scope_kind", "scope_id", "assessed_at", name="uq_opel_assessment_scope_at"
        ),
        Index("ix_opel_assessment_at", "assessed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(64))
    scope_label: Mapped[str] = mapped_column(String(200))
    assessed_at: Mapped[datetime]
    level: Mapped[int | None]  # None when too many parameters are missing
    total: Mapped[float] = mapped_column(Float)
    config_version: Mapped[str] = mapped_column(String(64))
    incomplete: Mapped[bool] = mapped_column(Boolean)
    breakdown: Mapped[dict] = mapped_column(JSON)  # ops.opel.OpelResult.to_dict()


class AlertEvaluation(Base):
    """When the evaluator last ran (one row per evaluator name)."""

    __tablename__ = "alert_evaluation"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_run_at: Mapped[datetime]
    rules_version: Mapped[str] = mapped_column(String(64))
    opel_config_version: Mapped[str] = mapped_column(String(64))
    runs: Mapped[int] = mapped_column(default=0)
