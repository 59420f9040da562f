"""Patient merges: two pseudonymous patient references found to be one patient.

A projection of the ``merge_patients`` events (``data.writes.merge``): from
``merged_at`` on, ``prior_ref`` is taken as ``surviving_ref`` everywhere the event
layer meets a patient reference. Each row is an effective edge (both ends already
resolved through earlier merges), so a reference is merged away at most once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base


class PatientMerge(Base):
    __tablename__ = "patient_merge"
    id: Mapped[int] = mapped_column(primary_key=True)
    prior_ref: Mapped[str] = mapped_column(String(32), unique=True)
    surviving_ref: Mapped[str] = mapped_column(String(32), index=True)
    merged_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(128))
