"""Board-round actions: what must happen for a patient to go home, who owns it, by
when, and when it was done.

One row per action on an inpatient stay. An action is open until it is marked done; ``version`` rises with
every change so two people changing the same action at once are told (optimistic
concurrency). Every change is audited (``audit_event``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base


class DischargeAction(Base):
    __tablename__ = "discharge_action"
    __table_args__ = (Index("ix_discharge_action_open", "stay_id", "done_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # an admission voided by its feed (entered in error) takes its actions with it;
    # the audit trail keeps them
    stay_id: Mapped[int] = mapped_column(
        ForeignKey("inpatient_stay.id", ondelete="CASCADE")
    )
    what: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
