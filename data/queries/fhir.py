"""Reads for the FHIR R4 endpoint: the resources a feed has sent, location
proposals, the trust of each site, a ward or bed as a ``LocationMatch``, and what
the event log holds for an encounter's subjects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.capacity import Bed, Site, Ward
from data.models.events import FlowEvent
from data.models.feeds import FhirLocationProposal, FhirResource
from data.queries.organisation import LocationMatch


def stored_resource(
    session: Session, feed: str, resource_type: str, resource_id: str
) -> FhirResource | None:
    return session.scalar(
        select(FhirResource).where(
            FhirResource.feed == feed,
            FhirResource.resource_type == resource_type,
            FhirResource.resource_id == resource_id,
        )
    )


def site_trusts(session: Session) -> dict[int, int]:
    return {sid: tid for sid, tid in session.execute(select(Site.id, Site.trust_id))}


def proposal_for(
    session: Session, feed: str, resource_id: str
) -> FhirLocationProposal | None:
    return session.scalar(
        select(FhirLocationProposal).where(
            FhirLocationProposal.feed == feed,
            FhirLocationProposal.resource_id == resource_id,
        )
    )


def location_of(
    session: Session, ward_id: int | None, bed_id: int | None
) -> LocationMatch | None:
    """A ward (or one of its beds) in service, as the organisation resolver names it."""
    if bed_id is not None:
        row = session.execute(
            select(Bed.id, Bed.label, Ward.id, Ward.code, Site.id, Site.code)
            .join(Ward, Ward.id == Bed.ward_id)
            .join(Site, Site.id == Ward.site_id)
            .where(Bed.id == bed_id, Bed.retired_at.is_(None))
        ).first()
        if row is None:
            return None
        bid, label, wid, wcode, sid, scode = row
        return LocationMatch("bed", sid, scode, wid, wcode, bid, label)
    if ward_id is None:
        return None
    row = session.execute(
        select(Ward.id, Ward.code, Site.id, Site.code)
        .join(Site, Site.id == Ward.site_id)
        .where(Ward.id == ward_id, Ward.retired_at.is_(None))
    ).first()
    if row is None:
        return None
    wid, wcode, sid, scode = row
    return LocationMatch("ward", sid, scode, wid, wcode)


def applied_kinds(
    session: Session, source: str, subjects: list[str]
) -> set[tuple[str, str]]:
    """(kind, subject) of applied (not voided) events of this feed on ``subjects``."""
    subjects = [s for s in subjects if s]
    if not subjects:
        return set()
    return set(
        (kind, subject)
        for kind, subject in session.execute(
            select(FlowEvent.kind, FlowEvent.subject).where(
                FlowEvent.source == source,
                FlowEvent.subject.in_(subjects),
                FlowEvent.status == "applied",
            )
        )
    )


@dataclass(frozen=True)
class ProposalRow:
    id: int
    feed: str
    resource_id: str
    physical_type: str
    name: str
    identifiers: list
    part_of: str | None
    status: str
    received_at: datetime
    decided_by: str | None
    ward_id: int | None
    bed_id: int | None


def list_proposals(session: Session, status: str | None = None) -> list[ProposalRow]:
    stmt = select(FhirLocationProposal).order_by(FhirLocationProposal.id)
    if status:
        stmt = stmt.where(FhirLocationProposal.status == status)
    return [
        ProposalRow(
            p.id,
            p.feed,
            p.resource_id,
            p.physical_type,
            p.name,
            list(p.identifiers or []),
            p.part_of,
            p.status,
            p.received_at,
            p.decided_by,
            p.ward_id,
            p.bed_id,
        )  # fmt: skip
        for p in session.scalars(stmt)
    ]


def find_ward_or_bed(
    session: Session, site_code: str, ward_code: str, bed_label: str | None
) -> LocationMatch | None:
    """A ward (or bed) in service by site code, ward code (and bed label)."""
    ward_id = session.scalar(
        select(Ward.id)
        .join(Site, Site.id == Ward.site_id)
        .where(
            Site.code == site_code, Ward.code == ward_code, Ward.retired_at.is_(None)
        )
    )
    if ward_id is None:
        return None
    if bed_label is None:
        return location_of(session, ward_id, None)
    bed_id = session.scalar(
        select(Bed.id).where(Bed.ward_id == ward_id, Bed.label == bed_label)
    )
    return location_of(session, ward_id, bed_id) if bed_id is not None else None


# -- the feeds page ---------------------------------------------------------------


def fhir_minutes(
    session: Session, now: datetime, minutes: int = 60, feed: str | None = None
) -> list:
    """FHIR requests per minute over the last ``minutes`` (oldest first, zero where
    none), as ``data.queries.feeds.MinuteCount``: accepted (applied or recorded)
    and refused; ``feed`` limits them to one client."""
    from datetime import UTC, timedelta

    from sqlalchemy import case, func

    from data.models.feeds import FhirRequest
    from data.queries.feeds import MinuteCount
    from data.queries.sql import utc_minute

    end = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    bucket = utc_minute(FhirRequest.received_at)
    accepted = func.sum(case((FhirRequest.outcome != "refused", 1), else_=0))
    stmt = (
        select(bucket, accepted, func.count(FhirRequest.id))
        .where(FhirRequest.received_at >= start, FhirRequest.received_at < end)
        .group_by(bucket)
    )
    if feed is not None:
        stmt = stmt.where(FhirRequest.feed == feed)
    found = {
        label: (int(a or 0), int(n or 0) - int(a or 0))
        for label, a, n in session.execute(stmt)
    }
    out = []
    for i in range(minutes):
        at = start + timedelta(minutes=i)
        a, r = found.get(at.strftime("%Y-%m-%d %H:%M"), (0, 0))
        out.append(MinuteCount(at, a, r))
    return out


def fhir_outcomes(session: Session, since: datetime, feed: str | None = None):  # noqa: ANN201
    """FHIR requests since ``since`` as ``data.queries.feeds.OutcomeCounts``
    (accepted = applied or recorded, rejected = refused; FHIR has no quarantine)."""
    from sqlalchemy import func

    from data.models.feeds import FhirRequest
    from data.queries.feeds import OutcomeCounts

    stmt = (
        select(FhirRequest.outcome, func.count(FhirRequest.id))
        .where(FhirRequest.received_at > since)
        .group_by(FhirRequest.outcome)
    )
    if feed is not None:
        stmt = stmt.where(FhirRequest.feed == feed)
    found = {outcome: n for outcome, n in session.execute(stmt)}
    return OutcomeCounts(
        accepted=found.get("applied", 0) + found.get("recorded", 0),
        quarantined=0,
        rejected=found.get("refused", 0),
        discarded=0,
    )
