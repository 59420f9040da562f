"""Writes of the FHIR R4 endpoint besides the events themselves: the latest version
of each resource a feed sent, ward/bed Location proposals and their confirmation by
an administrator (audited), and one row per request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from data.audit import record_audit
from data.models.feeds import FhirLocationProposal, FhirRequest, FhirResource
from data.queries.fhir import proposal_for, stored_resource


class ProposalError(ValueError):
    """A proposal cannot be decided as asked; the message says why."""


def save_resource(
    session: Session, feed: str, resource_type: str, resource_id: str, *,
    content_hash: str, status: str | None, detail: dict, now: datetime,
    row: FhirResource | None = None,
) -> tuple[FhirResource, bool]:  # fmt: skip
    """Store the new version (a new version only when the content changed);
    returns (row, created). ``row``: the stored row, when the caller read it."""
    if row is None:
        row = stored_resource(session, feed, resource_type, resource_id)
    if row is None:
        row = FhirResource(
            feed=feed, resource_type=resource_type, resource_id=resource_id,
            version=1, content_hash=content_hash, status=status, detail=detail,
            updated_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row, True
    if row.content_hash != content_hash:
        row.version += 1
        row.content_hash = content_hash
        row.updated_at = now
    row.status = status
    row.detail = detail
    return row, False


def propose_location(
    session: Session, feed: str, trust_id: int, resource_id: str, *,
    physical_type: str, name: str, identifiers: list, part_of: str | None,
    now: datetime,
) -> FhirLocationProposal:  # fmt: skip
    row = proposal_for(session, feed, resource_id)
    if row is None:
        row = FhirLocationProposal(
            feed=feed, trust_id=trust_id, resource_id=resource_id,
            physical_type=physical_type, name=name[:200], identifiers=identifiers,
            part_of=part_of, status="pending", received_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
    elif row.status != "confirmed":
        row.physical_type, row.name = physical_type, name[:200]
        row.identifiers, row.part_of, row.received_at = identifiers, part_of, now
        if row.status == "rejected":  # sent again: ask again
            row.status, row.decided_at, row.decided_by = "pending", None, None
    return row


def decide_proposal(
    session: Session, proposal_id: int, *, confirm: bool, ward_id: int | None,
    bed_id: int | None, actor: str, actor_role: str, now: datetime,
) -> FhirLocationProposal:  # fmt: skip
    row = session.get(FhirLocationProposal, proposal_id)
    if row is None:
        raise ProposalError(f"no location proposal {proposal_id}")
    if row.status != "pending":
        raise ProposalError(f"proposal {proposal_id} is already {row.status}")
    before = {"status": row.status}
    row.status = "confirmed" if confirm else "rejected"
    row.decided_at, row.decided_by = now, actor[:64]
    row.ward_id, row.bed_id = (ward_id, bed_id) if confirm else (None, None)
    record_audit(
        session, actor_username=actor, actor_role=actor_role,
        action="fhir_location.confirm" if confirm else "fhir_location.reject",
        entity_type="fhir_location_proposal", entity_id=row.id, before=before,
        after={"status": row.status, "feed": row.feed, "location": row.resource_id,
               "ward_id": row.ward_id, "bed_id": row.bed_id},
        at=now,
    )  # fmt: skip
    return row


def record_request(
    session: Session, feed: str, received_at: datetime, *, interaction: str,
    status_code: int, outcome: str, entries: int = 1, detail: str | None = None,
) -> None:  # fmt: skip
    session.add(
        FhirRequest(
            feed=feed,
            received_at=received_at,
            interaction=interaction[:64],
            status_code=status_code,
            outcome=outcome,
            entries=entries,
            detail=(detail or "")[:500] or None,
        )  # fmt: skip
    )
