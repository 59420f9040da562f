"""CSV imports: the saved column mapping of each source and the record of each file.

A source (``csv_source``) is one system that exports files of one kind (ED
attendances, theatre lists, the discharge sitrep, a bed state snapshot); its column
mapping and date format are saved so the next file from it needs no choices. Every
applied file is kept in ``csv_import`` with the SHA-256 of its bytes: the same file
from the same source again is recognised and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base

CSV_KINDS = ("ed", "theatre", "sitrep", "beds")


class CsvSource(Base):
    __tablename__ = "csv_source"
    name: Mapped[str] = mapped_column(String(24), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)  # field -> header
    date_format: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))


class CsvImport(Base):
    __tablename__ = "csv_import"
    __table_args__ = (
        UniqueConstraint("source", "kind", "sha256", name="uq_csv_import_file"),
        Index("ix_csv_import_applied_at", "applied_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int]
    events: Mapped[int]
    applied_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
