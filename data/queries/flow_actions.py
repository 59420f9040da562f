"""Board-round actions as the Flow page shows them: each stay's open actions (for the
board's "open actions" column) and one patient's actions (for the board round)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.capacity import InpatientStay
from data.models.flow import DischargeAction
from data.writes.events import chunks
from ops.timeutil import ensure_utc


@dataclass(frozen=True)
class Action:
    id: int
    stay_ref: str
    what: str
    owner: str
    due_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    created_by: str
    updated_by: str
    updated_at: datetime
    version: int

    def overdue(self, now: datetime) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < now


def _select():  # noqa: ANN202
    return (
        select(DischargeAction, InpatientStay.stay_ref)
        .join(InpatientStay, InpatientStay.id == DischargeAction.stay_id)
        .order_by(
            DischargeAction.due_at.is_(None),
            DischargeAction.due_at,
            DischargeAction.id,
        )
    )


def _action(a: DischargeAction, stay_ref: str) -> Action:
    return Action(
        id=a.id,
        stay_ref=stay_ref,
        what=a.what,
        owner=a.owner,
        due_at=ensure_utc(a.due_at) if a.due_at else None,
        done_at=ensure_utc(a.done_at) if a.done_at else None,
        done_by=a.done_by,
        created_by=a.created_by,
        updated_by=a.updated_by,
        updated_at=ensure_utc(a.updated_at),
        version=a.version,
    )


def open_actions(session: Session, stay_refs: Iterable[str]) -> dict[str, list[Action]]:
    """The open actions of each of ``stay_refs`` (soonest due first; no due date
    last); stays with none are absent."""
    out: dict[str, list[Action]] = {}
    for chunk in chunks(sorted(set(stay_refs))):
        stmt = _select().where(
            InpatientStay.stay_ref.in_(chunk), DischargeAction.done_at.is_(None)
        )
        for a, ref in session.execute(stmt):
            out.setdefault(ref, []).append(_action(a, ref))
    return out


def actions_for(session: Session, stay_ref: str) -> list[Action]:
    """Every action of one stay: open ones first (soonest due first), then done."""
    rows = [
        _action(a, ref)
        for a, ref in session.execute(
            _select().where(InpatientStay.stay_ref == stay_ref)
        )
    ]
    return [a for a in rows if a.done_at is None] + [
        a for a in rows if a.done_at is not None
    ]
