"""Writes for CSV imports: a source's saved mapping and the record of a file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from data.models.imports import CsvImport, CsvSource


def save_source(
    session: Session, *, name: str, kind: str, mapping: dict[str, str],
    date_format: str, at: datetime, actor: str,
) -> CsvSource:  # fmt: skip
    row = session.get(CsvSource, (name, kind))
    if row is None:
        row = CsvSource(name=name, kind=kind)
        session.add(row)
    row.mapping = dict(mapping)
    row.date_format = date_format
    row.updated_at = at
    row.updated_by = actor[:64]
    return row


def record_import(
    session: Session, *, source: str, kind: str, sha256: str, filename: str,
    rows: int, events: int, at: datetime, actor: str, summary: dict,
) -> CsvImport:  # fmt: skip
    row = CsvImport(
        source=source, kind=kind, sha256=sha256, filename=filename[:200], rows=rows,
        events=events, applied_at=at, actor=actor[:64], summary=summary,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row
