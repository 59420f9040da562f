"""Board-round review: applied through the event layer, audited, and refused with who
and when if someone reviewed the patient since the form was filled (both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from data.db import create_db_engine, make_session_factory, write_session
from data.models.capacity import InpatientStay
from data.models.events import FlowEvent
from data.models.security import AuditEvent
from data.queries import flow as q
from data.writes import discharge, inpatient
from data.writes.events import EventError
from ops.flow import load_delay_reasons
from tests.support.apps import FROZEN_NOW

REASONS = load_delay_reasons()


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    role: str


ANNA = Person("anna", "Anna Bed", "bed_manager")
SAM = Person("sam", "Sam Site", "site_lead")


def _open_stay(factory) -> str:  # noqa: ANN001
    with factory() as s:
        return s.scalars(
            select(InpatientStay.stay_ref)
            .where(InpatientStay.discharged_at.is_(None))
            .order_by(InpatientStay.stay_ref)
        ).first()


def test_flow101_review_conflict_and_audit(seeded_url: str) -> None:
    engine = create_db_engine(seeded_url)
    factory = make_session_factory(engine)
    ref = _open_stay(factory)
    with factory() as s:
        token = discharge.last_review(s, ref).token
    edd = FROZEN_NOW + timedelta(days=2)
    with write_session(factory) as s:
        after = discharge.review(
            s, stay_ref=ref, token=token, actor=ANNA, now=FROZEN_NOW,
            expected_discharge_at=edd, meets_criteria=False, pathway="P1",
            delay_reason=REASONS[1], reasons=REASONS,
        )  # fmt: skip
    assert after["pathway"] == "P1" and after["delay_reason"] == REASONS[1]
    # a second person filled the form before Anna saved: refused, told who and when
    later = FROZEN_NOW + timedelta(minutes=3)
    with (
        pytest.raises(discharge.ReviewConflict) as info,
        write_session(factory) as s,
    ):
        discharge.review(
            s, stay_ref=ref, token=token, actor=SAM, now=later,
            expected_discharge_at=edd + timedelta(days=1), meets_criteria=True,
            pathway=None, delay_reason=None, reasons=REASONS,
        )  # fmt: skip
    assert info.value.last.by == "Anna Bed"
    assert info.value.last.at == FROZEN_NOW
    with factory() as s:
        stay = s.scalars(
            select(InpatientStay).where(InpatientStay.stay_ref == ref)
        ).one()
        assert stay.discharge_pathway == "P1"
        assert stay.medically_ready_at is not None
        since = stay.medically_ready_at
        fresh = discharge.last_review(s, ref).token
    # with the fresh token Sam changes the reason: "no criteria to reside since" stays
    with write_session(factory) as s:
        discharge.review(
            s, stay_ref=ref, token=fresh, actor=SAM, now=later,
            expected_discharge_at=edd, meets_criteria=False, pathway="P2",
            delay_reason=REASONS[2], reasons=REASONS,
        )  # fmt: skip
    with factory() as s:
        stay = s.scalars(
            select(InpatientStay).where(InpatientStay.stay_ref == ref)
        ).one()
        assert stay.discharge_pathway == "P2"
        assert stay.delay_reason == REASONS[2]
        assert stay.medically_ready_at == since
        audits = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "discharge_review")
            .order_by(AuditEvent.id)
        ).all()
        assert [(a.actor_username, a.entity_id) for a in audits] == [
            ("anna", ref),
            ("sam", ref),
        ]
        assert audits[1].before["pathway"] == "P1"
        assert audits[1].after["pathway"] == "P2"
        events = s.scalars(
            select(FlowEvent.kind).where(
                FlowEvent.subject == ref, FlowEvent.source == discharge.SOURCE
            )
        ).all()
        assert sorted(events) == [
            "set_criteria_to_reside",
            "set_criteria_to_reside",
            "set_expected_discharge",
        ]
        # the board shows what was set
        row = next(r for r in q.board(s, q.FlowFilters(), later) if r.stay_ref == ref)
        assert row.pathway == "P2" and row.delay_reason == REASONS[2]
        assert row.expected_discharge_at == edd
    # an unknown delay reason is refused and nothing changes
    with pytest.raises(EventError), write_session(factory) as s:
        discharge.review(
            s, stay_ref=ref, token=discharge.last_review(s, ref).token,
            actor=SAM, now=later, expected_discharge_at=None,
            meets_criteria=False, pathway="P2", delay_reason="=HYPERLINK()",
            reasons=REASONS,
        )  # fmt: skip
    # a feed setting the same field is a review too: the form's token goes stale
    with factory() as s:
        token = discharge.last_review(s, ref).token
    with write_session(factory) as s:
        inpatient.set_expected_discharge(
            s, at=later, source="pas", key="edd-1", stay_ref=ref,
            expected_discharge_at=edd,
        )  # fmt: skip
    with (
        pytest.raises(discharge.ReviewConflict) as info,
        write_session(factory) as s,
    ):
        discharge.review(
            s, stay_ref=ref, token=token, actor=ANNA, now=later,
            expected_discharge_at=None, meets_criteria=True, pathway=None,
            delay_reason=None, reasons=REASONS,
        )  # fmt: skip
    assert info.value.last.by == "pas"
    engine.dispose()
