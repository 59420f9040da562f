"""Run-time bookkeeping kept in the database (never in process memory)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base


class FeedStatus(Base):
    """When each feed last wrote: the basis of freshness checks and /healthz."""

    __tablename__ = "feed_status"
    feed: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_write_at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(String(200))


class SimulationState(Base):
    """The simulator's position in time and its scenario switches (one row)."""

    __tablename__ = "simulation_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    seed: Mapped[int]
    simulated_until: Mapped[datetime]
    scenario: Mapped[dict] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}


class LeaderLease(Base):
    """A named lease so background work runs once per deployment."""

    __tablename__ = "leader_lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]
    renewed_at: Mapped[datetime]
