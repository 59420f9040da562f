"""Feed credentials and the FHIR R4 endpoint's own records.

- ``feed_token``: a bearer token for one feed (``fhir:<name>``) of one trust. Only
  the SHA-256 of the token is stored (the token is 256 random bits, shown once);
  revoked tokens are kept for the audit trail.
- ``fhir_resource``: the latest version of each Encounter and Location a FHIR
  client has sent (its id is the client's, scoped by feed): version, content hash,
  status and what the mapping needs to know about the last version. No patient
  identifiers: the subject is kept as its pseudonymous reference only.
- ``fhir_location_proposal``: a ward or bed Location that matches no code of the
  organisation, waiting for an administrator to link it to a ward or bed (or to
  reject it).
- ``fhir_request``: one row per request (accepted or refused) for the feeds page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

PROPOSAL_STATUSES = ("pending", "confirmed", "rejected")


class FeedToken(Base):
    __tablename__ = "feed_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(32), index=True)  # fhir:<name>
    trust_id: Mapped[int] = mapped_column(ForeignKey("trust.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class FhirResource(Base):
    __tablename__ = "fhir_resource"
    __table_args__ = (
        UniqueConstraint(
            "feed", "resource_type", "resource_id", name="uq_fhir_resource_feed_id"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(16))  # Encounter, Location
    resource_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(32))
    # Encounter: the pseudonymous attendance/stay references and counters the
    # mapping keys by; Location: its identifiers and what they matched.
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class FhirLocationProposal(Base):
    __tablename__ = "fhir_location_proposal"
    __table_args__ = (
        UniqueConstraint("feed", "resource_id", name="uq_fhir_proposal_feed_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(32))
    trust_id: Mapped[int] = mapped_column(ForeignKey("trust.id"))
    resource_id: Mapped[str] = mapped_column(String(64))
    physical_type: Mapped[str] = mapped_column(String(8))  # ward, bed
    name: Mapped[str] = mapped_column(String(200), default="")
    identifiers: Mapped[list] = mapped_column(JSON, default=list)
    part_of: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    received_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("ward.id"))
    bed_id: Mapped[int | None] = mapped_column(ForeignKey("bed.id"))


class FhirRequest(Base):
    __tablename__ = "fhir_request"
    __table_args__ = (
        Index("ix_fhir_request_received_at", "received_at"),
        Index("ix_fhir_request_feed", "feed", "received_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]
    interaction: Mapped[str] = mapped_column(String(64))  # PUT Encounter/x, batch …
    status_code: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(16))  # applied, recorded, refused
    entries: Mapped[int] = mapped_column(default=1)
    detail: Mapped[str | None] = mapped_column(String(500))
