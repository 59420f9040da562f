"""The seed is deterministic and the simulator keeps its invariants over a week.

Runs against SQLite and a real PostgreSQL server.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from data.db import create_db_engine, make_session_factory, upgrade
from data.models.capacity import (
    Bed,
    BedEvent,
    EdAttendance,
    InpatientStay,
    TheatreCase,
    TheatreSession,
)
from feeds.seed import run_tick, seed_demo
from tests.support.apps import FROZEN_NOW

TABLES = (
    "bed",
    "bed_event",
    "inpatient_stay",
    "ed_attendance",
    "theatre_session",
    "theatre_case",
    "ward_occupancy_hour",
)


def _digest(url: str) -> dict[str, str]:
    engine = create_db_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2")).all()
            h = hashlib.sha256()
            for row in rows:
                h.update(repr(tuple(row)).encode())
            out[table] = f"{len(rows)}:{h.hexdigest()[:16]}"
    engine.dispose()
    return out


def _seed(url: str, days: int, seed: int = 7) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    seed_demo(
        make_session_factory(engine),
        seed=seed,
        now=FROZEN_NOW,
        history_days=days,
        tz="Europe/London",
    )
    engine.dispose()


def test_sim001_seed_is_deterministic(tmp_path):
    a, b, c = (f"sqlite:///{tmp_path / n}.db" for n in "abc")
    _seed(a, 3)
    _seed(b, 3)
    _seed(c, 3, seed=8)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_sim002_demo_trust_has_the_promised_shape(seeded_runtime):
    with seeded_runtime.factory() as s:
        wards = s.execute(text("SELECT specialty, ward_type FROM ward")).all()
        beds = s.scalar(text("SELECT count(*) FROM bed"))
        sites = s.scalar(text("SELECT count(*) FROM site"))
        areas = {r[0] for r in s.execute(text("SELECT code FROM ed_area"))}
        theatres = s.scalar(text("SELECT count(*) FROM theatre"))
        first = s.scalar(text("SELECT min(arrival_at) FROM ed_attendance"))
    assert sites >= 2
    assert len(wards) >= 25
    assert len({w[0] for w in wards}) >= 6
    assert {"critical_care", "assessment", "escalation"} <= {w[1] for w in wards}
    assert 600 <= beds <= 900
    assert {"resus", "majors", "minors", "paediatrics"} <= areas
    assert theatres >= 10
    assert first is not None


def assert_invariants(session) -> None:  # noqa: ANN001
    beds = session.scalars(select(Bed)).all()
    open_stays = {
        s.patient_ref: s
        for s in session.scalars(
            select(InpatientStay).where(InpatientStay.discharged_at.is_(None))
        )
    }
    occupants = {}
    for bed in beds:
        if bed.state == "occupied":
            assert bed.patient_ref, f"occupied bed {bed.label} has no patient"
            assert bed.patient_ref not in occupants, "one patient in two beds"
            occupants[bed.patient_ref] = bed.id
        else:
            assert bed.patient_ref is None, (
                f"{bed.state} bed {bed.label} holds a patient"
            )
    assert set(occupants) == set(open_stays), "open stays and occupied beds disagree"
    for ref, stay in open_stays.items():
        assert stay.bed_id == occupants[ref]
    # ED timestamps are ordered.
    bad = session.scalar(
        select(text("count(*)"))
        .select_from(EdAttendance)
        .where(
            text(
                "seen_at < arrival_at OR departure_at < arrival_at OR handover_at < arrival_at"
                " OR decision_to_admit_at < seen_at OR (departure_at < seen_at)"
            )
        )
    )
    assert bad == 0
    admitted_without_dta = session.scalar(
        select(text("count(*)"))
        .select_from(EdAttendance)
        .where(text("disposition = 'admitted' AND decision_to_admit_at IS NULL"))
    )
    assert admitted_without_dta == 0
    # The event history replays to the current state of every bed.
    last = {}
    for ev in session.scalars(select(BedEvent).order_by(BedEvent.at, BedEvent.id)):
        last[ev.bed_id] = (ev.state, ev.patient_ref)
    for bed in beds:
        assert last[bed.id] == (bed.state, bed.patient_ref), bed.label
    # Occupancy never exceeds open beds in the hourly roll-up; every bed is counted.
    per_ward = dict(
        session.execute(
            text("SELECT ward_id, count(*) FROM bed GROUP BY ward_id")
        ).all()
    )
    for ward_id, occ, avail, clean, blocked, closed in session.execute(
        text(
            "SELECT ward_id, occupied, available, awaiting_clean, blocked, closed FROM ward_occupancy_hour"
        )
    ):
        assert occ <= occ + avail + clean
        assert occ + avail + clean + blocked + closed == per_ward[ward_id]
    # Theatre case times follow their states.
    for case in session.scalars(
        select(TheatreCase).where(TheatreCase.status == "done")
    ):
        assert case.sent_for_at <= case.anaesthetic_at <= case.in_theatre_at
        assert case.in_theatre_at <= case.out_of_theatre_at <= case.recovery_done_at


@pytest.mark.postgres
def test_sim003_invariants_hold_over_a_simulated_week(empty_url):
    engine = create_db_engine(empty_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    seed_demo(factory, seed=11, now=FROZEN_NOW, history_days=2, tz="Europe/London")
    with factory() as s:
        assert_invariants(s)
    now = FROZEN_NOW
    end = FROZEN_NOW + timedelta(days=7)
    ticks = 0
    while now < end:
        now += timedelta(hours=6)
        counts = run_tick(factory, now=now, tz="Europe/London")
        assert counts is not None
        ticks += 1
    with factory() as s:
        assert_invariants(s)
        until = s.scalar(text("SELECT simulated_until FROM simulation_state"))
        departed = s.scalar(
            select(text("count(*)"))
            .select_from(EdAttendance)
            .where(
                EdAttendance.arrival_at > FROZEN_NOW,
                EdAttendance.departure_at.is_not(None),
            )
        )
        done = s.scalar(
            select(text("count(*)"))
            .select_from(TheatreCase)
            .where(TheatreCase.planned_start > FROZEN_NOW, TheatreCase.status == "done")
        )
    assert ticks == 28
    assert str(until)[:10] == str(end)[:10]
    assert departed > 7 * 250, "the live simulator moved patients through ED"
    assert done > 50, "theatre lists ran"
    engine.dispose()


def test_sim004_a_store_written_before_the_event_log_carries_on(tmp_path):
    """Rows with no events behind them (a database from before the log, or an import)
    are the starting state: the next events extend them, none is refused."""
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    _seed(url, 2)
    engine = create_db_engine(url)
    factory = make_session_factory(engine)
    with factory.begin() as s:
        s.execute(text("DELETE FROM flow_event"))
    now = FROZEN_NOW
    for _ in range(4):
        now += timedelta(hours=3)
        counts = run_tick(factory, now=now, tz="Europe/London")
        assert counts.get("refused", 0) == 0, counts
        assert counts["applied"] > 0
    with factory() as s:
        assert_invariants(s)
    engine.dispose()


def test_sim005_no_criteria_to_reside_by_pathway_with_sitrep_delay_reasons(
    seeded_runtime,
):
    """Every patient with no criteria to reside has a pathway and a delay reason of
    the national sitrep's categories (config/discharge.yaml) that fits the pathway,
    and they are a realistic share of the inpatients."""
    from feeds.simulator import DELAY_REASONS
    from ops.flow import load_delay_reasons

    configured = set(load_delay_reasons())
    with seeded_runtime.factory() as s:
        stays = s.execute(
            select(
                InpatientStay.medically_ready_at,
                InpatientStay.discharge_pathway,
                InpatientStay.delay_reason,
            ).where(
                InpatientStay.discharged_at.is_(None),
                InpatientStay.admitted_at <= FROZEN_NOW,
            )
        ).all()
    nctr = [r for r in stays if r.medically_ready_at is not None]
    assert 0.08 <= len(nctr) / len(stays) <= 0.25, (len(nctr), len(stays))
    pathways = {r.discharge_pathway for r in nctr}
    assert pathways == {"P0", "P1", "P2", "P3"}
    for r in nctr:
        assert r.delay_reason in configured, r.delay_reason
        assert r.delay_reason in {n for n, _ in DELAY_REASONS[r.discharge_pathway]}
    # patients who meet the criteria carry no delay reason
    assert all(r.delay_reason is None for r in stays if r.medically_ready_at is None)


def test_sim006_theatre_lists_planned_ahead_and_the_emergency_theatre_never_closes(
    empty_url,
):
    """Lists are planned a fortnight ahead (listed, not started: no patient sent for,
    no cancellation drawn), the emergency theatre has a list day and night, and at
    02:00 the board names each elective theatre's next list."""
    from data.queries.theatres import load_window
    from ops.theatres import TheatreState, board, window_for
    from ops.timeutil import to_local

    engine = create_db_engine(empty_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    tz = "Europe/London"
    seed_demo(factory, seed=5, now=FROZEN_NOW, history_days=2, tz=tz)
    today = to_local(FROZEN_NOW, tz).date()
    with factory() as s:
        rows = s.execute(
            select(TheatreSession.planned_start, TheatreSession.planned_end,
                   TheatreSession.cancelled_reason, TheatreSession.specialty,
                   TheatreCase.status, TheatreCase.sent_for_at, TheatreCase.cancelled_at)
            .join(TheatreCase, TheatreCase.session_id == TheatreSession.id)
        ).all()  # fmt: skip
    days = {to_local(r[0], tz).date() for r in rows}
    assert today + timedelta(days=13) in days
    future = [r for r in rows if to_local(r[0], tz).date() > today]
    assert future and all(
        r[2] is None and r[4] == "scheduled" and r[5] is None and r[6] is None
        for r in future
    ), "a list planned ahead has not started"
    night = [r for r in rows if r[3].startswith("Emergency")
             and to_local(r[0], tz).hour == 20]  # fmt: skip
    assert night and all(r[1] - r[0] == timedelta(hours=12) for r in night)

    two_am = FROZEN_NOW.replace(hour=2, minute=0) + timedelta(days=1)  # Tue 02:00
    assert run_tick(factory, now=two_am, tz=tz) is not None
    with factory() as s:
        start, end = window_for(two_am, tz, 2)
        live = {r.theatre.code: r for r in board(load_window(s, start, end), two_am, tz)
                if r.theatre.site_code == "RGH"}  # fmt: skip
    emergency = [
        r for r in live.values() if (r.specialty or "").startswith("Emergency")
    ]
    assert emergency and all(r.state is not TheatreState.CLOSED for r in emergency)
    assert live["T1"].state is TheatreState.CLOSED
    assert live["T1"].detail == "No session now · next 08:00"  # today's lists ahead
    engine.dispose()
