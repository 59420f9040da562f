"""Board-round actions: add an action to an inpatient's discharge (what, owner, due)
and mark it done, or open again.

Optimistic concurrency: a change names the ``version`` of the action it was made
from; if someone changed the action since, nothing is written and the caller is told
who and when (:class:`ActionConflict`). Every change is audited
(``discharge_action_add`` / ``discharge_action_done`` / ``discharge_action_reopen``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.audit import ActorLike, record_audit
from data.models.capacity import InpatientStay
from data.models.flow import DischargeAction
from data.writes.events import EventError, iso
from ops.timeutil import ensure_utc

WHAT_MAX = 200
OWNER_MAX = 80


@dataclass(frozen=True)
class ActionChange:
    by: str
    at: datetime


class ActionConflict(Exception):
    """The action was changed since the page showed it."""

    def __init__(self, last: ActionChange) -> None:
        self.last = last
        super().__init__(f"changed by {last.by} at {last.at}")


def _state(a: DischargeAction) -> dict:
    return {
        "what": a.what,
        "owner": a.owner,
        "due_at": iso(a.due_at) if a.due_at else None,
        "done_at": iso(a.done_at) if a.done_at else None,
        "done_by": a.done_by,
        "version": a.version,
    }


def _clean(text: str | None, field: str, limit: int) -> str:
    value = " ".join((text or "").split())
    if not value:
        raise EventError(f"the action needs {field}")
    if len(value) > limit:
        raise EventError(f"{field} is longer than {limit} characters")
    return value


def add_action(
    session: Session,
    *,
    stay_ref: str,
    what: str | None,
    owner: str | None,
    due_at: datetime | None,
    actor: ActorLike,
    now: datetime,
) -> int:
    """Add an open action to an inpatient's discharge; returns its id.

    ``EventError`` for a stay that is not an inpatient now or an empty or too long
    description or owner."""
    stay = session.scalars(
        select(InpatientStay).where(InpatientStay.stay_ref == stay_ref)
    ).first()
    if stay is None or stay.discharged_at is not None:
        raise EventError(f"{stay_ref} is not an inpatient now")
    action = DischargeAction(
        stay_id=stay.id,
        what=_clean(what, "a description of what is to be done", WHAT_MAX),
        owner=_clean(owner, "an owner", OWNER_MAX),
        due_at=ensure_utc(due_at) if due_at else None,
        created_at=now,
        created_by=actor.display_name,
        done_at=None,
        done_by=None,
        updated_at=now,
        updated_by=actor.display_name,
        version=1,
    )
    session.add(action)
    session.flush()
    record_audit(
        session, actor_username=actor.username, actor_role=actor.role,
        action="discharge_action_add", entity_type="inpatient_stay",
        entity_id=stay_ref, before=None, after={"id": action.id, **_state(action)},
        at=now,
    )  # fmt: skip
    return action.id


def set_done(
    session: Session,
    *,
    action_id: int,
    version: int,
    done: bool,
    actor: ActorLike,
    now: datetime,
) -> DischargeAction:
    """Mark an action done (or open again).

    Raises :class:`ActionConflict` when the action changed since ``version`` and
    ``EventError`` for an unknown action."""
    action = session.scalars(
        select(DischargeAction).where(DischargeAction.id == action_id).with_for_update()
    ).first()
    if action is None:
        raise EventError(f"action {action_id} does not exist")
    if action.version != version:
        raise ActionConflict(
            ActionChange(action.updated_by, ensure_utc(action.updated_at))
        )
    stay_ref = session.scalar(
        select(InpatientStay.stay_ref).where(InpatientStay.id == action.stay_id)
    )
    before = _state(action)
    if done == (action.done_at is not None):
        return action  # nothing to change
    action.done_at = now if done else None
    action.done_by = actor.display_name if done else None
    action.updated_at = now
    action.updated_by = actor.display_name
    action.version = version + 1
    session.flush()
    record_audit(
        session, actor_username=actor.username, actor_role=actor.role,
        action="discharge_action_done" if done else "discharge_action_reopen",
        entity_type="inpatient_stay", entity_id=stay_ref,
        before={"id": action.id, **before}, after={"id": action.id, **_state(action)},
        at=now,
    )  # fmt: skip
    return action
