"""Patient merges (HL7 A40): two patient references become one.

``merge_patients`` is an inpatient-domain event (subject ``patient:<surviving>``,
related ``patient:<prior>``, payload ``patient_ref`` and ``prior_patient_ref``),
folded with the rest of the trust's history by ``data.writes.inpatient``: from the
merge's time the prior reference is an alias of the surviving one. The prior
patient's open stay (and the bed it holds) become the surviving patient's, and every
later admission naming the prior reference is taken as the surviving patient's.
Stays that ended before the merge keep the reference they had; ``patient_merge``
links the two. A merge is refused while both references have an open stay, and a
merge of references that are already one changes nothing ("nothing to merge").

This module holds the alias map (``patient_merge``, a projection of the applied
merges) and the per-event function.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from data.models.merge import PatientMerge
from data.writes import events as ev
from data.writes.events import Event, Outcome

NOTHING_TO_MERGE = "nothing to merge: the two patient references are already one"


def patient_subject(patient_ref: str) -> str:
    return f"patient:{patient_ref}"


def resolve(aliases: dict[str, str], ref: str | None) -> str | None:
    """The surviving reference ``ref`` is known as (itself if never merged)."""
    seen = set()
    while ref in aliases and ref not in seen:
        seen.add(ref)
        ref = aliases[ref]
    return ref


def load_aliases(session: Session, before: datetime | None = None) -> dict[str, str]:
    """prior -> surviving for merges applied before ``before`` (all when None)."""
    stmt = select(PatientMerge.prior_ref, PatientMerge.surviving_ref)
    if before is not None:
        stmt = stmt.where(PatientMerge.merged_at < before)
    return dict(session.execute(stmt).all())


def write_merges(
    session: Session, rows: list[dict], since: datetime | None = None
) -> None:
    """Store the merges a fold applied; with ``since`` (a re-fold from that time)
    the merges from then on are replaced by the fold's."""
    if since is not None:
        session.execute(delete(PatientMerge).where(PatientMerge.merged_at >= since))
    ev.bulk_insert(session, PatientMerge, rows)


def merge_patients(
    session: Session, *, at: datetime, source: str, key: str, patient_ref: str,
    prior_patient_ref: str, received_at: datetime | None = None,
) -> Outcome:  # fmt: skip
    """``prior_patient_ref`` and ``patient_ref`` are one patient from ``at`` on
    (``patient_ref`` survives)."""
    event = Event(
        "merge_patients",
        at,
        key,
        patient_subject(patient_ref),
        {"patient_ref": patient_ref, "prior_patient_ref": prior_patient_ref},
        related=patient_subject(prior_patient_ref),
    )
    return ev.apply_event(session, event, source=source, received_at=received_at)
