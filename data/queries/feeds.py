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
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from data.models.capacity import Trust
from data.models.system import FeedStatus
from data.queries.sql import utc_minute

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


# -- the feeds page -------------------------------------------------------------------


def feed_kind(feed: str) -> str:
    """What brings a ``feed_status`` row's data in, from its name."""
    if feed in ALL_DOMAIN_FEEDS:
        return "demo simulator"
    head = feed.split(":", 1)[0]
    return {
        "hl7": "HL7 v2 ADT (MLLP)",
        "fhir": "FHIR R4 client",
        "csv": "CSV import",
        "organisation": "organisation file",
    }.get(head, "other writer")


@dataclass(frozen=True)
class FeedLine:
    """One feed on the feeds page: its own ``feed_status`` row and its domain rows
    (``"<feed>:<domain>"``) folded in."""

    feed: str
    kind: str
    last_write_at: datetime
    detail: str | None
    domains: tuple[str, ...]
    domain_writes: dict[str, datetime]  # domain -> when the feed last wrote it


def feed_lines(session: Session) -> list[FeedLine]:
    """Every feed that has written, domain rows folded into their feed."""
    rows = session.execute(
        select(FeedStatus.feed, FeedStatus.last_write_at, FeedStatus.detail)
    ).all()
    names = {r.feed for r in rows}
    base: dict[str, tuple[datetime, str | None]] = {}
    by_domain: dict[str, dict[str, datetime]] = {}
    for r in rows:
        head, sep, tail = r.feed.rpartition(":")
        if sep and tail in DOMAINS and head in names:
            by_domain.setdefault(head, {})[tail] = r.last_write_at
        else:
            base[r.feed] = (r.last_write_at, r.detail)
    out = []
    for feed in sorted(base):
        at, detail = base[feed]
        writes = by_domain.get(feed, {})
        domains = feed_domains(feed) | set(writes)
        out.append(
            FeedLine(
                feed=feed,
                kind=feed_kind(feed),
                last_write_at=at,
                detail=detail or None,
                domains=tuple(d for d in DOMAINS if d in domains),
                domain_writes=dict(writes),
            )
        )
    return out


@dataclass(frozen=True)
class MinuteCount:
    minute: datetime  # start of the minute (UTC)
    accepted: int  # applied or recorded (ACK AA), duplicates not counted again
    refused: int  # quarantined (AE) or rejected (AR)


def hl7_minutes(
    session: Session, now: datetime, minutes: int = 60
) -> list[MinuteCount]:
    """HL7 messages received per minute over the last ``minutes`` (oldest first, one
    entry per minute, zero where nothing arrived), counted in SQL."""
    from data.models.hl7 import Hl7Message

    end = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    bucket = utc_minute(Hl7Message.received_at)
    accepted = func.sum(
        case((Hl7Message.outcome.in_(("applied", "recorded")), 1), else_=0)
    )
    found = {
        label: (int(a or 0), int(n or 0) - int(a or 0))
        for label, a, n in session.execute(
            select(bucket, accepted, func.count(Hl7Message.id))
            .where(Hl7Message.received_at >= start, Hl7Message.received_at < end)
            .group_by(bucket)
        )
    }
    out = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        a, r = found.get(at.strftime("%Y-%m-%d %H:%M"), (0, 0))
        out.append(MinuteCount(at, a, r))
    return out


@dataclass(frozen=True)
class OutcomeCounts:
    accepted: int
    quarantined: int
    rejected: int
    discarded: int


def hl7_outcomes(session: Session, since: datetime) -> OutcomeCounts:
    """Messages received since ``since`` by what became of them."""
    from data.models.hl7 import Hl7Message

    found = dict(
        session.execute(
            select(Hl7Message.outcome, func.count(Hl7Message.id))
            .where(Hl7Message.received_at > since)
            .group_by(Hl7Message.outcome)
        ).all()
    )
    return OutcomeCounts(
        accepted=found.get("applied", 0) + found.get("recorded", 0),
        quarantined=found.get("quarantined", 0),
        rejected=found.get("rejected", 0),
        discarded=found.get("discarded", 0),
    )


@dataclass(frozen=True)
class QuarantineOriginal:
    id: int
    message_type: str
    sender: str
    control_id: str
    reason: str
    raw: str | None  # None once past the retention limit (or resolved)
    redacted: str


def quarantine_original(
    session: Session, quarantine_id: int
) -> QuarantineOriginal | None:
    """A quarantined message with its raw original (admins only: the caller checks
    the permission and audits the view)."""
    from data.models.hl7 import Hl7Message, Hl7Quarantine

    row = session.execute(
        select(
            Hl7Quarantine.id,
            Hl7Message.message_type,
            Hl7Message.sender,
            Hl7Message.control_id,
            Hl7Quarantine.reason,
            Hl7Quarantine.raw,
            Hl7Message.redacted,
        )
        .join(Hl7Message, Hl7Message.id == Hl7Quarantine.message_id)
        .where(Hl7Quarantine.id == quarantine_id)
    ).first()
    return QuarantineOriginal(*row) if row is not None else None


def purged_originals(session: Session) -> frozenset[int]:
    """Unresolved quarantine entries whose raw original is gone (past retention):
    they can no longer be replayed or shown."""
    from data.models.hl7 import Hl7Quarantine

    return frozenset(
        session.scalars(
            select(Hl7Quarantine.id).where(
                Hl7Quarantine.resolved_at.is_(None), Hl7Quarantine.raw.is_(None)
            )
        )
    )


@dataclass(frozen=True)
class RecentCounts:
    """What a feed sent recently: ``accepted`` and ``refused`` in ``unit``s."""

    accepted: int
    refused: int
    unit: str  # "request", "file"
    events: int | None = None  # events applied (CSV files)


def csv_last_hour(session: Session, since: datetime) -> dict[str, RecentCounts]:
    """CSV files applied (``csv_import``) and refused (audit ``csv.import.refused``:
    a refused file writes nothing else) since ``since``, by feed ``csv:<source>``."""
    from data.models.imports import CsvImport
    from data.models.security import AuditEvent

    applied = {
        source: (int(n), int(e or 0))
        for source, n, e in session.execute(
            select(
                CsvImport.source, func.count(CsvImport.id), func.sum(CsvImport.events)
            )
            .where(CsvImport.applied_at > since)
            .group_by(CsvImport.source)
        )
    }
    refused: dict[str, int] = {}
    for entity, n in session.execute(
        select(AuditEvent.entity_id, func.count(AuditEvent.id))
        .where(AuditEvent.action == "csv.import.refused", AuditEvent.at > since)
        .group_by(AuditEvent.entity_id)
    ):
        source = (entity or "").rsplit(":", 1)[0]
        refused[source] = refused.get(source, 0) + int(n)
    return {
        f"csv:{source}": RecentCounts(
            applied.get(source, (0, 0))[0],
            refused.get(source, 0),
            "file",
            applied.get(source, (0, 0))[1],
        )
        for source in set(applied) | set(refused)
    }


def fhir_last_hour(
    session: Session, since: datetime, feeds: list[str]
) -> dict[str, RecentCounts]:
    """Each FHIR client's requests since ``since`` (``data.queries.fhir.fhir_outcomes``)."""
    from data.queries.fhir import fhir_outcomes

    out = {}
    for feed in feeds:
        if feed_kind(feed) == "FHIR R4 client":
            o = fhir_outcomes(session, since, feed=feed)
            out[feed] = RecentCounts(o.accepted, o.rejected, "request")
    return out
