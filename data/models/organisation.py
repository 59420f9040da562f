"""Named ED spaces and the external codes (HL7 v2 PL, FHIR identifiers) of locations.

The organisation file (``ops.organisation``) names every ED space and gives each
location its codes; feeds resolve a message's location through ``location_code``
(``data.queries.organisation``). Rows are never deleted: a space or code that leaves
the file gets ``retired_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

LOCATION_CODE_SCHEMES = ("hl7", "fhir")


class EdSpace(Base):
    """One named space (cubicle, trolley, chair) in an ED area."""

    __tablename__ = "ed_space"
    __table_args__ = (
        UniqueConstraint("ed_area_id", "label", name="uq_ed_space_area_label"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    ed_area_id: Mapped[int] = mapped_column(ForeignKey("ed_area.id"), index=True)
    label: Mapped[str] = mapped_column(String(16))
    retired_at: Mapped[datetime | None]


class LocationCode(Base):
    """An external code naming one location (exactly one of the location columns
    below ``site_id`` is set, or none for the site itself).

    - ``scheme`` ``hl7``: ``value`` is PL components 1-3 joined with ``^``
      (``CAR^^CAR-01``), ``facility`` PL component 4 (``""`` when absent),
      ``system`` ``""``;
    - ``scheme`` ``fhir``: ``system`` and ``value`` of a ``Location.identifier``,
      ``facility`` ``""``.

    Empty strings rather than NULL keep the active-code index unique on both
    SQLite and PostgreSQL.
    """

    __tablename__ = "location_code"
    __table_args__ = (
        Index(
            "uq_location_code_active",
            "scheme",
            "system",
            "value",
            "facility",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
        Index("ix_location_code_lookup", "scheme", "value"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(8))
    system: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[str] = mapped_column(String(200))
    facility: Mapped[str] = mapped_column(String(64), default="")
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"), index=True)
    ward_id: Mapped[int | None] = mapped_column(ForeignKey("ward.id"))
    bed_id: Mapped[int | None] = mapped_column(ForeignKey("bed.id"))
    ed_area_id: Mapped[int | None] = mapped_column(ForeignKey("ed_area.id"))
    ed_space_id: Mapped[int | None] = mapped_column(ForeignKey("ed_space.id"))
    theatre_id: Mapped[int | None] = mapped_column(ForeignKey("theatre.id"))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
