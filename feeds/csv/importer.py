"""Check, preview and apply one CSV file: the only path (CLI and upload page).

1. The file is read and its columns mapped (the source's saved mapping, else the
   header names each field knows); a missing required column is an error of row 1.
2. Every row is checked against the organisation and, for a sitrep or a bed
   snapshot, against what the store knows at the row's time. Every bad row is listed.
3. With no bad row, the events are tried through the event layer in a transaction:
   an event the layer refuses (a second arrival for one attendance, a bed held by a
   patient …) is listed against its row too. A preview (or any error) rolls the
   transaction back; a confirmed import commits it whole: the events, the file's
   record (its SHA-256), the saved mapping and the audit row, together.

The same file from the same source again is recognised by its SHA-256 and changes
nothing; the same rows in another file are duplicates for the event layer (event keys
are built from what each event says).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from data.audit import record_audit
from data.db import write_session
from data.queries import imports as q
from data.writes.events import apply_events
from data.writes.imports import record_import, save_source
from feeds.csv import kinds
from feeds.csv.parse import (
    DEFAULT_DATE_FORMAT,
    CsvFileError,
    RowError,
    map_rows,
    read_table,
)

SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,23}")


REFUSED_ACTION = "csv.import.refused"  # data.queries.feeds.csv_last_hour


class ImportError_(ValueError):  # noqa: N801
    """The import cannot start (bad source name, unknown kind)."""


@dataclass
class Result:
    kind: str
    source: str
    filename: str
    sha256: str = ""
    rows: int = 0
    headers: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str = DEFAULT_DATE_FORMAT
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # event kind -> n
    outcomes: dict[str, int] = field(default_factory=dict)  # applied / duplicate …
    already: str | None = None  # the same file was imported before: when, by whom
    applied: bool = False
    import_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict:
        return {"rows": self.rows, "events": self.counts, "outcomes": self.outcomes,
                "warnings": len(self.warnings)}  # fmt: skip


class _Rollback(Exception):
    pass


def feed_name(source: str) -> str:
    return f"csv:{source}"


def check_source(kind: str, source: str) -> None:
    if kind not in kinds.KINDS:
        raise ImportError_(f"unknown kind {kind!r}: one of {', '.join(kinds.KINDS)}")
    if not SOURCE_NAME.fullmatch(source or ""):
        raise ImportError_(
            "a source name is 1-24 of a-z 0-9 . _ - (starting with a letter or digit)"
        )


def run(
    factory: sessionmaker[Session], kind: str, data: bytes, *, source: str,
    filename: str, key: bytes, tz: str, now: datetime, actor: str = "cli",
    actor_role: str = "cli", confirm: bool = False,
    mapping: dict[str, str] | None = None, date_format: str | None = None,
) -> Result:  # fmt: skip
    """Preview (``confirm=False``) or apply a file; see the module docstring."""
    check_source(kind, source)
    result = Result(kind, source, filename[:200])
    try:
        with write_session(factory) as session:
            _run(session, result, data, key=key, tz=ZoneInfo(tz), now=now,
                 mapping=mapping, date_format=date_format)  # fmt: skip
            if not confirm or not result.ok or result.already:
                raise _Rollback
            row = record_import(
                session, source=source, kind=kind, sha256=result.sha256,
                filename=result.filename, rows=result.rows,
                events=sum(result.counts.values()), at=now, actor=actor,
                summary=result.summary(),
            )  # fmt: skip
            save_source(session, name=source, kind=kind, mapping=result.mapping,
                        date_format=result.date_format, at=now, actor=actor)  # fmt: skip
            record_audit(
                session, actor_username=actor, actor_role=actor_role,
                action="csv.import", entity_type="csv_import", entity_id=row.id,
                after={"source": source, "kind": kind, "file": result.filename,
                       "sha256": result.sha256, **result.summary()}, at=now,
            )  # fmt: skip
            result.applied, result.import_id = True, row.id
    except _Rollback:
        pass
    if confirm and result.errors and not result.already:
        # A refused file leaves nothing else behind: the feeds page counts these.
        with write_session(factory) as session:
            record_audit(
                session, actor_username=actor, actor_role=actor_role,
                action=REFUSED_ACTION, entity_type="csv_source",
                entity_id=f"{source}:{kind}"[:64],
                after={"source": source, "kind": kind, "file": result.filename,
                       "rows": result.rows, "errors": len(result.errors)}, at=now,
            )  # fmt: skip
    return result


def _run(
    session: Session, result: Result, data: bytes, *, key: bytes, tz: ZoneInfo,
    now: datetime, mapping: dict | None, date_format: str | None,
) -> None:  # fmt: skip
    try:
        table = read_table(data)
    except CsvFileError as exc:
        result.errors.append(RowError(1, None, str(exc)))
        return
    result.sha256, result.headers = table.sha256, table.headers
    earlier = q.earlier_import(session, result.source, result.kind, table.sha256)
    if earlier is not None:
        result.rows = earlier.rows
        result.already = (
            f"this file was imported on {earlier.applied_at.astimezone(tz):%d/%m/%Y %H:%M}"
            f" by {earlier.actor} (import {earlier.id}); nothing changes"
        )
        return
    saved = q.saved_source(session, result.source, result.kind)
    fields = kinds.KINDS[result.kind]
    chosen = mapping if mapping is not None else (saved.mapping if saved else None)
    result.date_format = date_format or (
        saved.date_format if saved else DEFAULT_DATE_FORMAT
    )
    rows = map_rows(table, fields, chosen)
    result.mapping, result.rows = rows.mapping, len(rows.items)
    ctx = kinds.Context(q.org_codes(session), tz, result.date_format, key,
                        _delay_reasons() if result.kind == "sitrep" else ())  # fmt: skip
    plan = _plan(session, result.kind, rows, ctx)
    result.errors, result.warnings, result.counts = (
        plan.errors,
        plan.warnings,
        plan.counts,
    )
    if plan.errors or not plan.events:
        return
    outcomes = apply_events(
        session, plan.events, source=feed_name(result.source), received_at=now
    )
    for o in outcomes:
        result.outcomes[o.status] = result.outcomes.get(o.status, 0) + 1
        if o.status in ("refused", "void"):
            row = plan.event_rows.get(o.key, 0)
            what = next(e.kind for e in plan.events if e.key == o.key).replace("_", " ")
            result.errors.append(RowError(row, None, f"{what}: {o.reason or o.status}"))
    result.errors.sort(key=lambda e: e.row)


def _plan(session: Session, kind: str, rows, ctx: kinds.Context) -> kinds.Plan:  # noqa: ANN001
    if kind == "ed":
        return kinds.plan_ed(rows, ctx)
    if kind == "theatre":
        return kinds.plan_theatre(rows, ctx)
    if kind == "beds":
        parsed, errors = kinds.parse_beds(rows, ctx)
        states = q.bed_states_at(session, [(r.bed_id, r.at) for r in parsed])
        return kinds.plan_beds(parsed, errors, _lookup(states), len(rows.items))
    parsed, errors = kinds.parse_sitrep(rows, ctx)
    bed_rows = [(r.bed[0], r.at) for r in parsed if r.bed is not None]
    states = q.bed_states_at(session, bed_rows)
    patients = [s.patient_ref for s in states.values() if s and s.patient_ref]
    facts = kinds.SitrepFacts(
        stays=q.existing_stays(session, [r.spell_ref for r in parsed if r.spell_ref]),
        occupant=_lookup(states),
        stay_of_patient=q.stays_of_patients(session, patients),
    )
    return kinds.plan_sitrep(parsed, errors, facts, len(rows.items))


def _delay_reasons() -> tuple[str, ...]:
    from ops.config_errors import ConfigError
    from ops.flow import load_delay_reasons

    try:
        return load_delay_reasons()
    except ConfigError as exc:
        raise ImportError_(f"the delay reasons cannot be read: {exc}") from None


def _lookup(states: dict) -> Callable:  # noqa: ANN001
    return lambda bed_id, at: states.get((bed_id, at))
