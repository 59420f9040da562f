"""Board-round actions: added, listed on the board, done and reopened, refused with
who and when after someone else's change, audited; and the migration that adds them
upgrades a populated store. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from components import flow
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import InpatientStay
from data.models.flow import DischargeAction
from data.models.security import AuditEvent
from data.queries import flow as q
from data.queries import flow_actions as qa
from data.writes import discharge_actions as acts
from data.writes.events import EventError
from tests.support.apps import FROZEN_NOW

TZ = "Europe/London"


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    role: str


ANNA = Person("anna", "Anna Bed", "bed_manager")
SAM = Person("sam", "Sam Site", "site_lead")


def _open_stays(factory, n: int = 2) -> list[str]:  # noqa: ANN001
    with factory() as s:
        return list(
            s.scalars(
                select(InpatientStay.stay_ref)
                .where(InpatientStay.discharged_at.is_(None))
                .order_by(InpatientStay.stay_ref)
                .limit(n)
            )
        )


def _audits(factory, ref: str) -> list[tuple[str, str]]:  # noqa: ANN001
    with factory() as s:
        return [
            (a, u)
            for a, u in s.execute(
                select(AuditEvent.action, AuditEvent.actor_username)
                .where(
                    AuditEvent.entity_id == ref,
                    AuditEvent.action.like("discharge_action%"),
                )
                .order_by(AuditEvent.id)
            )
        ]


def test_flow201_add_list_done_conflict_reopen_audited(seeded_url: str) -> None:
    engine = create_db_engine(seeded_url)
    factory = make_session_factory(engine)
    ref, other = _open_stays(factory)
    due = FROZEN_NOW + timedelta(hours=3)
    with write_session(factory) as s:
        later_id = acts.add_action(
            s, stay_ref=ref, what="Book transport", owner="Ward clerk",
            due_at=None, actor=ANNA, now=FROZEN_NOW,
        )  # fmt: skip
        first_id = acts.add_action(
            s, stay_ref=ref, what="  Chase   care package ", owner="Social worker",
            due_at=due, actor=ANNA, now=FROZEN_NOW,
        )  # fmt: skip
        acts.add_action(
            s, stay_ref=other, what="TTO to pharmacy", owner="F1",
            due_at=FROZEN_NOW - timedelta(hours=1), actor=SAM, now=FROZEN_NOW,
        )  # fmt: skip
    with factory() as s:
        open_ = qa.open_actions(s, [ref, other, "not-a-stay"])
    # soonest due first, no due time last; whitespace tidied
    assert [a.id for a in open_[ref]] == [first_id, later_id]
    assert open_[ref][0].what == "Chase care package"
    assert "not-a-stay" not in open_
    assert open_[other][0].overdue(FROZEN_NOW) and not open_[ref][0].overdue(FROZEN_NOW)

    # the board's "open actions" column, overdue flagged
    with factory() as s:
        rows = [
            r
            for r in q.board(s, q.FlowFilters(), FROZEN_NOW)
            if r.stay_ref in {ref, other}
        ]
    data = {d["stay"]: d for d in flow.board_data(rows, TZ, open_, FROZEN_NOW)}
    assert data[ref]["actions"].startswith(
        "2 open: Chase care package (Social worker, due "
    )
    assert not data[ref]["actions_overdue"]
    assert data[other]["actions"].endswith("(overdue))")
    assert data[other]["actions_overdue"]

    # Sam marks it done; Anna, still looking at version 1, is told who and when
    with write_session(factory) as s:
        acts.set_done(s, action_id=first_id, version=1, done=True, actor=SAM,
                      now=FROZEN_NOW + timedelta(minutes=5))  # fmt: skip
    with pytest.raises(acts.ActionConflict) as info, write_session(factory) as s:
        acts.set_done(s, action_id=first_id, version=1, done=True, actor=ANNA,
                      now=FROZEN_NOW + timedelta(minutes=6))  # fmt: skip
    assert info.value.last.by == "Sam Site"
    assert info.value.last.at == FROZEN_NOW + timedelta(minutes=5)
    with factory() as s:
        listed = qa.actions_for(s, ref)
        still_open = qa.open_actions(s, [ref])[ref]
    assert [a.id for a in listed] == [later_id, first_id]  # open first, then done
    assert listed[1].done_by == "Sam Site" and listed[1].version == 2
    assert [a.id for a in still_open] == [later_id]
    # reopened from the version now shown
    with write_session(factory) as s:
        acts.set_done(s, action_id=first_id, version=2, done=False, actor=ANNA,
                      now=FROZEN_NOW + timedelta(minutes=7))  # fmt: skip
    with factory() as s:
        assert len(qa.open_actions(s, [ref])[ref]) == 2
    assert _audits(factory, ref) == [
        ("discharge_action_add", "anna"),
        ("discharge_action_add", "anna"),
        ("discharge_action_done", "sam"),
        ("discharge_action_reopen", "anna"),
    ]
    engine.dispose()


def test_flow202_bad_actions_are_refused_and_nothing_is_written(
    seeded_url: str,
) -> None:
    engine = create_db_engine(seeded_url)
    factory = make_session_factory(engine)
    (ref,) = _open_stays(factory, 1)
    with factory() as s:
        gone = s.scalar(
            select(InpatientStay.stay_ref).where(
                InpatientStay.discharged_at.is_not(None)
            )
        )
    cases = [
        (ref, "   ", "Ward clerk", "needs a description"),
        (ref, "Book transport", "", "needs an owner"),
        (ref, "x" * 201, "Ward clerk", "longer than 200"),
        (gone, "Book transport", "Ward clerk", "is not an inpatient now"),
        ("no-such-stay", "Book transport", "Ward clerk", "is not an inpatient now"),
    ]
    for stay_ref, what, owner, message in cases:
        with pytest.raises(EventError, match=message), write_session(factory) as s:
            acts.add_action(s, stay_ref=stay_ref, what=what, owner=owner,
                            due_at=None, actor=ANNA, now=FROZEN_NOW)  # fmt: skip
    with pytest.raises(EventError, match="does not exist"), write_session(factory) as s:
        acts.set_done(s, action_id=999999, version=1, done=True, actor=ANNA,
                      now=FROZEN_NOW)  # fmt: skip
    with factory() as s:
        assert s.scalar(select(func.count(DischargeAction.id))) == 0
        assert (
            s.scalar(
                select(func.count(AuditEvent.id)).where(
                    AuditEvent.action.like("discharge_action%")
                )
            )
            == 0
        )
    engine.dispose()


def test_flow203_migration_0017_upgrades_a_populated_store(seeded_url: str) -> None:
    """A store populated before board-round actions existed (the table and its
    revision removed) upgrades with its data intact and then takes actions."""
    engine = create_db_engine(seeded_url)
    with engine.begin() as c:
        c.execute(text("DROP TABLE discharge_action"))
        c.execute(text("DELETE FROM alembic_version WHERE version_num = '0017'"))
    factory = make_session_factory(engine)
    with factory() as s:
        stays = s.scalar(select(func.count(InpatientStay.id)))
        audits = s.scalar(select(func.count(AuditEvent.id)))
    assert stays > 100
    upgrade(engine)
    with engine.connect() as c:
        versions = {
            v for (v,) in c.execute(text("SELECT version_num FROM alembic_version"))
        }
    assert "0017" in versions
    (ref,) = _open_stays(factory, 1)
    with write_session(factory) as s:
        acts.add_action(s, stay_ref=ref, what="Book transport", owner="Ward clerk",
                        due_at=None, actor=ANNA, now=FROZEN_NOW)  # fmt: skip
    with factory() as s:
        assert s.scalar(select(func.count(InpatientStay.id))) == stays
        assert s.scalar(select(func.count(AuditEvent.id))) == audits + 1
        assert [a.what for a in qa.open_actions(s, [ref])[ref]] == ["Book transport"]
    engine.dispose()
