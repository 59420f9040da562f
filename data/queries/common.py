"""Queries every screen needs: sites, feed freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.models.capacity import Site
from data.models.system import FeedStatus


@dataclass(frozen=True)
class SiteRow:
    id: int
    code: str
    name: str


def sites(session: Session) -> list[SiteRow]:
    return [
        SiteRow(r.id, r.code, r.name)
        for r in session.execute(
            select(Site.id, Site.code, Site.name).order_by(Site.code)
        )
    ]


def newest_feed_write(session: Session) -> datetime | None:
    """When any feed last wrote: the 'as of' of every live figure."""
    return session.scalar(select(func.max(FeedStatus.last_write_at)))


def feed_statuses(session: Session) -> dict[str, datetime]:
    return {
        r.feed: r.last_write_at
        for r in session.execute(select(FeedStatus.feed, FeedStatus.last_write_at))
    }
