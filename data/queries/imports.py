"""Reads for CSV imports: the organisation's codes, saved mappings, earlier files,
and the facts a file is checked against (bed states and occupants at a time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.models.capacity import (
    Bed,
    BedEvent,
    EdArea,
    InpatientStay,
    Site,
    Theatre,
    Ward,
)
from data.models.imports import CsvImport, CsvSource
from data.writes.events import chunks


def norm(code: str) -> str:
    return code.strip().upper()


@dataclass
class OrgCodes:
    """Codes of locations in service, upper-cased: what a file may name."""

    sites: dict[str, int] = field(default_factory=dict)
    wards: dict[str, list[tuple[int, int]]] = field(
        default_factory=dict
    )  # code -> [(site, ward)]
    beds: dict[tuple[int, str], tuple[int, bool, str]] = field(default_factory=dict)
    ed_areas: dict[str, list[tuple[int, str]]] = field(
        default_factory=dict
    )  # code -> [(site, code)]
    theatres: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def only_site(self) -> int | None:
        return next(iter(self.sites.values())) if len(self.sites) == 1 else None


def org_codes(session: Session) -> OrgCodes:
    org = OrgCodes()
    for sid, code in session.execute(
        select(Site.id, Site.code).where(Site.retired_at.is_(None))
    ):
        org.sites[norm(code)] = sid
    for wid, sid, code in session.execute(
        select(Ward.id, Ward.site_id, Ward.code).where(Ward.retired_at.is_(None))
    ):
        org.wards.setdefault(norm(code), []).append((sid, wid))
    for bid, wid, label, esc in session.execute(
        select(Bed.id, Bed.ward_id, Bed.label, Bed.is_escalation).where(
            Bed.retired_at.is_(None)
        )
    ):
        org.beds[(wid, norm(label))] = (bid, bool(esc), label)
    for sid, code in session.execute(
        select(EdArea.site_id, EdArea.code).where(EdArea.retired_at.is_(None))
    ):
        org.ed_areas.setdefault(norm(code), []).append((sid, code))
    for tid, sid, code in session.execute(
        select(Theatre.id, Theatre.site_id, Theatre.code).where(
            Theatre.retired_at.is_(None)
        )
    ):
        org.theatres.setdefault(norm(code), []).append((sid, tid))
    return org


def saved_source(session: Session, name: str, kind: str) -> CsvSource | None:
    return session.get(CsvSource, (name, kind))


def earlier_import(
    session: Session, source: str, kind: str, sha256: str
) -> CsvImport | None:
    return session.scalar(
        select(CsvImport).where(
            CsvImport.source == source,
            CsvImport.kind == kind,
            CsvImport.sha256 == sha256,
        )
    )


def recent_imports(session: Session, limit: int = 20) -> list[CsvImport]:
    return list(
        session.scalars(
            select(CsvImport)
            .order_by(CsvImport.applied_at.desc(), CsvImport.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class BedAt:
    state: str
    patient_ref: str | None
    reason: str | None = None


def bed_states_at(
    session: Session, wanted: list[tuple[int, datetime]]
) -> dict[tuple[int, datetime], BedAt | None]:
    """Each bed's state and occupant at a time (the last history row at or before
    it); ``None`` when the bed has no history by then."""
    out: dict[tuple[int, datetime], BedAt | None] = {}
    by_time: dict[datetime, list[int]] = {}
    for bed_id, at in wanted:
        by_time.setdefault(at, []).append(bed_id)
    for at, beds in by_time.items():
        for chunk in chunks(sorted(set(beds))):
            last = (
                select(BedEvent.bed_id, func.max(BedEvent.id).label("last_id"))
                .where(BedEvent.bed_id.in_(chunk), BedEvent.at <= at)
                .group_by(BedEvent.bed_id)
                .subquery()
            )
            found = {
                bid: BedAt(state, ref, reason)
                for bid, state, ref, reason in session.execute(
                    select(
                        BedEvent.bed_id,
                        BedEvent.state,
                        BedEvent.patient_ref,
                        BedEvent.reason,
                    ).join(last, BedEvent.id == last.c.last_id)
                )
            }
            for bid in chunk:
                out[(bid, at)] = found.get(bid)
    return out


def stays_of_patients(session: Session, patient_refs: list[str]) -> dict[str, str]:
    """patient ref -> stay ref of their open stay."""
    out: dict[str, str] = {}
    for chunk in chunks(sorted(set(patient_refs))):
        for patient, stay in session.execute(
            select(InpatientStay.patient_ref, InpatientStay.stay_ref).where(
                InpatientStay.patient_ref.in_(chunk),
                InpatientStay.discharged_at.is_(None),
            )
        ):
            out[patient] = stay
    return out


def existing_stays(session: Session, stay_refs: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(sorted(set(stay_refs))):
        found |= set(
            session.scalars(
                select(InpatientStay.stay_ref).where(InpatientStay.stay_ref.in_(chunk))
            )
        )
    return found
