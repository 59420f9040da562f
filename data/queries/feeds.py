"""Which feeds have reported, and for which domains: the basis of "no data yet".

A figure about beds, the ED or theatres is known only once a feed that describes that
domain has written. The organisation file describes the hospital (sites, wards, beds,
ED areas, theatres) but is not a feed: its initial bed rows are not a report of the
beds' state, so a trust with an organisation and no feed shows "no data yet".

How a ``feed_status`` row (``data.writes.touch_feed``) names its domains:

- ``"<feed>:<domain>"`` — a feed writing to one domain touches one row per domain it
  writes, e.g. ``"hl7-adt:beds"``, ``"hl7-adt:ed"``, ``"theatre-csv:theatres"``;
- a bare ``"<domain>"`` row (``"beds"``, ``"ed"``, ``"theatres"``) stands for itself;
- the demo simulator (``"simulator"``) writes every domain under one row;
- any other row (a benchmark, a test writer) counts as a write for freshness but
  reports no domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.capacity import Trust
from data.models.system import FeedStatus

BEDS = "beds"
ED = "ed"
THEATRES = "theatres"
DOMAINS: tuple[str, ...] = (BEDS, ED, THEATRES)
DOMAIN_LABELS: dict[str, str] = {
    BEDS: "inpatient beds",
    ED: "emergency department",
    THEATRES: "theatres",
}
# Feeds that write every domain under one feed_status row.
ALL_DOMAIN_FEEDS: frozenset[str] = frozenset({"simulator"})


def feed_domains(feed: str) -> frozenset[str]:
    """The domains a ``feed_status`` row reports (see the module docstring)."""
    if feed in ALL_DOMAIN_FEEDS:
        return frozenset(DOMAINS)
    if feed in DOMAINS:
        return frozenset({feed})
    _, sep, domain = feed.rpartition(":")
    if sep and domain in DOMAINS:
        return frozenset({domain})
    return frozenset()


def reported_domains(session: Session) -> set[str]:
    """Domains some feed has written to at least once."""
    found: set[str] = set()
    for feed in session.scalars(select(FeedStatus.feed)):
        found |= feed_domains(feed)
    return found


def organisation_loaded(session: Session) -> bool:
    """True once a trust (the organisation) is in the store."""
    return session.scalar(select(Trust.id).limit(1)) is not None


@dataclass(frozen=True)
class FeedRow:
    feed: str
    last_write_at: datetime
    detail: str | None
    domains: tuple[str, ...]


@dataclass(frozen=True)
class FeedReport:
    feeds: list[FeedRow]
    never_reported: list[str]  # domains no feed has ever written to, in DOMAINS order


def feed_report(session: Session) -> FeedReport:
    """Each feed with its last write and domains; the domains never reported."""
    rows = [
        FeedRow(
            feed=r.feed,
            last_write_at=r.last_write_at,
            detail=r.detail,
            domains=tuple(d for d in DOMAINS if d in feed_domains(r.feed)),
        )
        for r in session.execute(
            select(
                FeedStatus.feed, FeedStatus.last_write_at, FeedStatus.detail
            ).order_by(FeedStatus.feed)
        )
    ]
    reported = {d for row in rows for d in row.domains}
    return FeedReport(rows, [d for d in DOMAINS if d not in reported])
