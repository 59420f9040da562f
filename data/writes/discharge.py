"""Board-round review of a patient's discharge: expected discharge date, criteria to
reside, pathway and delay reason, set by a person through the event layer.

The same fields a feed sets (``set_expected_discharge`` / ``set_criteria_to_reside``);
a person's review is one more source (``board-round``). Optimistic concurrency: the
form carries the id of the newest review event it was filled from (any source); if
another review was applied since, nothing is written and the caller is told who made
it and when. Every change is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.audit import ActorLike, record_audit
from data.models.capacity import InpatientStay
from data.models.events import FlowEvent
from data.writes import inpatient
from data.writes.events import EventError, iso
from ops.timeutil import ensure_utc

SOURCE = "board-round"
REVIEW_KINDS = inpatient.ATTRIBUTE_KINDS


@dataclass(frozen=True)
class LastReview:
    token: int  # flow_event id of the newest applied review (0: none)
    by: str | None  # the person, or the feed that sent it
    at: datetime | None  # when it was recorded (UTC)


class ReviewConflict(Exception):
    """Someone changed the patient's review since the form was filled."""

    def __init__(self, last: LastReview) -> None:
        self.last = last
        super().__init__(f"changed by {last.by} at {last.at}")


def last_review(session: Session, stay_ref: str) -> LastReview:
    row = session.execute(
        select(FlowEvent.id, FlowEvent.source, FlowEvent.payload, FlowEvent.received_at)
        .where(
            FlowEvent.domain == "inpatient",
            FlowEvent.subject == stay_ref,
            FlowEvent.kind.in_(REVIEW_KINDS),
            FlowEvent.status == "applied",
        )
        .order_by(FlowEvent.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return LastReview(0, None, None)
    payload = row.payload or {}
    return LastReview(
        row.id, payload.get("by") or row.source, ensure_utc(row.received_at)
    )


def _state(stay: InpatientStay) -> dict:
    return {
        "expected_discharge_at": iso(stay.expected_discharge_at)
        if stay.expected_discharge_at
        else None,
        "meets_criteria": stay.medically_ready_at is None,
        "pathway": stay.discharge_pathway,
        "delay_reason": stay.delay_reason,
    }


def review(
    session: Session,
    *,
    stay_ref: str,
    token: int,
    actor: ActorLike,
    now: datetime,
    expected_discharge_at: datetime | None,
    meets_criteria: bool,
    pathway: str | None,
    delay_reason: str | None,
    reasons: tuple[str, ...],
) -> dict:
    """Apply a board-round review; returns the stay's fields after it.

    Raises :class:`ReviewConflict` when a review newer than ``token`` exists and
    ``EventError`` for an unknown stay, pathway or delay reason.
    """
    stay = session.scalars(
        select(InpatientStay)
        .where(InpatientStay.stay_ref == stay_ref)
        .with_for_update()
    ).first()
    if stay is None or stay.discharged_at is not None:
        raise EventError(f"{stay_ref} is not an inpatient now")
    last = last_review(session, stay_ref)
    if last.token != token:
        raise ReviewConflict(last)
    if delay_reason is not None and delay_reason not in reasons:
        raise EventError(f"unknown delay reason {delay_reason!r}")
    if meets_criteria:
        pathway, delay_reason = None, None
    before = _state(stay)
    who = actor.display_name
    key = uuid.uuid4().hex
    outcomes = []
    if iso(expected_discharge_at) != before["expected_discharge_at"]:
        outcomes.append(
            inpatient.set_expected_discharge(
                session,
                at=now,
                source=SOURCE,
                key=f"{key}:edd",
                stay_ref=stay_ref,
                expected_discharge_at=expected_discharge_at,
                received_at=now,
                by=who,
            )  # fmt: skip
        )
    if (meets_criteria, pathway, delay_reason) != (
        before["meets_criteria"],
        before["pathway"],
        before["delay_reason"],
    ):
        # still not met (pathway or reason changed): "since when" stays
        since = None
        if not meets_criteria and stay.medically_ready_at is not None:
            since = ensure_utc(stay.medically_ready_at)
        outcomes.append(
            inpatient.set_criteria_to_reside(
                session,
                at=now,
                source=SOURCE,
                key=f"{key}:ctr",
                stay_ref=stay_ref,
                meets_criteria=meets_criteria,
                pathway=pathway,
                delay_reason=delay_reason,
                received_at=now,
                by=who,
                since=since,
            )  # fmt: skip
        )
    refused = [o for o in outcomes if not o.ok]
    if refused:
        raise EventError(refused[0].reason or "the review was refused")
    session.refresh(stay)
    after = _state(stay)
    if outcomes:
        record_audit(
            session, actor_username=actor.username, actor_role=actor.role,
            action="discharge_review", entity_type="inpatient_stay",
            entity_id=stay_ref, before=before, after=after, at=now,
        )  # fmt: skip
    return after
