"""The event layer: idempotency, refusals, late events, cancels, on SQLite and PostgreSQL.

The property test applies a random valid sequence of inpatient, bed and ED events in
order, and the same events shuffled with duplicates (one call each, rolling up the
hours seen so far after every call, as a live feed would), and checks that both give
the same bed board, bed history, stays, attendances, hourly roll-up and event log.
"""

from __future__ import annotations

import random
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.writes import ed, inpatient, theatres
from data.writes.events import Event, EventError, apply_events
from data.writes.rollup import roll_up
from feeds.demo_layout import SiteSpec, WardSpec
from feeds.seed import create_organisation

T0 = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # the night before the clock change
SRC = "test-feed"
TINY = (
    SiteSpec(
        code="TST",
        name="Test General",
        daily_ed_arrivals=10.0,
        wards=(
            WardSpec(
                "W1", "Ward 1", "Acute medicine", "general_acute", 3, 1, "medicine"
            ),
            WardSpec(
                "W2", "Ward 2", "General surgery", "general_acute", 3, 0, "surgery"
            ),
        ),
        ed_spaces={"majors": 4, "minors": 4},
        theatres=(("T1", "Theatre 1", "Main"),),
    ),
)
BEDS = list(range(1, 8))  # W1-01..03, W1-E1, W2-01..03 (ids in creation order)
ESCALATION = {4}


def _create(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    with write_session(make_session_factory(engine)) as s:
        create_organisation(s, T0 - timedelta(days=1), TINY)
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "tiny.db"
    _create(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def pg_template(pg_server) -> str:  # noqa: ANN001
    name = "tiny_template"
    _create(pg_server.create_database(name))
    return name


@pytest.fixture
def new_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest):  # noqa: ANN201
    """A factory of fresh copies of the tiny trust on the test's backend."""
    engines = []

    def make():  # noqa: ANN202
        if backend == "sqlite":
            target = tmp_path / f"{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
            url = f"sqlite:///{target}"
        else:
            server = request.getfixturevalue("pg_server")
            url = server.create_database(
                f"e_{uuid.uuid4().hex[:10]}",
                template=request.getfixturevalue("pg_template"),
            )
        engine = create_db_engine(url)
        engines.append(engine)
        return make_session_factory(engine)

    yield make
    for engine in engines:
        engine.dispose()


def _apply(factory, *events: Event):  # noqa: ANN001, ANN202
    with write_session(factory) as s:
        return apply_events(s, list(events), source=SRC)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _admit(key: str, minutes: float, stay: str, bed: int) -> Event:
    return Event(
        "admit", _t(minutes), key, stay, {"patient_ref": f"P{stay}", "bed_id": bed}
    )


def _board(factory) -> list[tuple]:  # noqa: ANN001
    with factory() as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT id, state, state_reason, patient_ref FROM bed ORDER BY id"
        ))]  # fmt: skip


def snapshot(factory) -> dict[str, list[tuple]]:  # noqa: ANN001
    """Everything the layer derives, without row ids."""
    queries = {
        "bed": "SELECT id, state, state_since, state_reason, patient_ref FROM bed "
        "ORDER BY id",
        "bed_event": "SELECT bed_id, at, state, patient_ref, reason, source "
        "FROM bed_event ORDER BY bed_id, at, id",
        "stay": "SELECT stay_ref, patient_ref, site_id, ward_id, bed_id, admitted_at, "
        "admission_source, expected_discharge_at, medically_ready_at, "
        "discharge_pathway, discharged_at, on_leave_since FROM inpatient_stay "
        "ORDER BY stay_ref",
        "ed": "SELECT ref, area_id, arrival_at, mode, triage, seen_at, departure_at, "
        "disposition FROM ed_attendance ORDER BY ref",
        "hours": "SELECT ward_id, hour_start, occupied, available, awaiting_clean, "
        "blocked, closed FROM ward_occupancy_hour ORDER BY ward_id, hour_start",
        "log": "SELECT key, status, voided_by IS NOT NULL FROM flow_event ORDER BY key",
    }
    out = {}
    with factory() as s:
        for name, sql in queries.items():
            out[name] = [tuple(str(v) for v in r) for r in s.execute(text(sql))]
    return out


# ---------------------------------------------------------------------------
# Rules, one at a time
# ---------------------------------------------------------------------------


def test_evt001_same_event_twice_changes_nothing(new_db):
    f = new_db()
    first = _apply(f, _admit("a1", 10, "S1", 1))
    before = snapshot(f)
    again = _apply(f, _admit("a1", 10, "S1", 1))
    assert first[0].status == "applied"
    assert again[0].status == "duplicate"
    assert snapshot(f) == before
    with write_session(f) as s:  # the same key, different content: still that event
        out = inpatient.admit(
            s,
            at=_t(11),
            source=SRC,
            key="a1",
            stay_ref="S9",
            patient_ref="P9",
            bed_id=2,
        )
    assert out.status == "duplicate"
    assert snapshot(f) == before


def test_evt002_impossible_events_are_refused_with_a_reason(new_db):
    f = new_db()
    out = _apply(
        f,
        _admit("a1", 10, "S1", 1),
        _admit("a2", 20, "S2", 1),  # bed held
        Event("discharge", _t(30), "d1", "S3"),  # never admitted
        Event("transfer", _t(40), "t1", "S1", {"bed_id": 99}),  # no such bed
        Event("cleaning_done", _t(50), "c1", "bed:2"),  # bed 2 is not awaiting clean
    )
    assert [o.status for o in out] == ["applied"] + ["refused"] * 4
    assert "held by another patient" in out[1].reason
    assert "not admitted" in out[2].reason
    assert "unknown bed" in out[3].reason
    assert "available" in out[4].reason
    assert _board(f)[0] == (1, "occupied", None, "PS1")
    with f() as s:  # kept, with the reason, for the feed to show
        reasons = dict(s.execute(text("SELECT key, reason FROM flow_event")).all())
    assert reasons["a2"] == out[1].reason


def test_evt003_malformed_events_raise_before_anything_is_written(new_db):
    f = new_db()
    with pytest.raises(EventError, match="timezone"):
        _apply(f, Event("admit", datetime(2026, 1, 1), "x", "S1", {}))
    with pytest.raises(EventError, match="unknown event kind"):
        _apply(f, Event("teleport", _t(1), "y", "S1", {}))
    with f() as s:
        assert s.scalar(text("SELECT count(*) FROM flow_event")) == 0


def test_evt004_a_late_discharge_lands_in_history_and_corrects_past_hours(new_db):
    f = new_db()
    _apply(f, _admit("a1", 0, "S1", 1))
    _apply(f, Event("cleaning_requested", _t(500), "c1", "bed:2"))  # later than all
    with write_session(f) as s:
        roll_up(s, _t(480))
    with f() as s:
        occupied = s.execute(text(
            "SELECT hour_start, occupied FROM ward_occupancy_hour WHERE ward_id = 1 "
            "ORDER BY hour_start"
        )).all()  # fmt: skip
    assert all(n == 1 for _, n in occupied[-4:])
    # The discharge at +130 min arrives now, after hours past it were rolled up.
    out = _apply(f, Event("discharge", _t(130), "d1", "S1"))
    assert out[0].status == "applied"
    with f() as s:
        history = s.execute(text(
            "SELECT at, state FROM bed_event WHERE bed_id = 1 ORDER BY at, id"
        )).all()  # fmt: skip
        hours = dict(s.execute(text(
            "SELECT hour_start, occupied FROM ward_occupancy_hour WHERE ward_id = 1"
        )).all())  # fmt: skip
    assert [s for _, s in history] == ["available", "occupied", "awaiting_clean"]
    late = [n for h, n in hours.items() if str(h) >= str(_t(180))[:19]]
    assert late and all(n == 0 for n in late)


def test_evt005_cancels_undo_from_our_own_history(new_db):
    f = new_db()
    out = _apply(
        f,
        _admit("a1", 0, "S1", 1),
        Event("transfer", _t(60), "t1", "S1", {"bed_id": 2}),
        Event("transfer", _t(120), "t2", "S1", {"bed_id": 5}),
        Event("cancel_transfer", _t(130), "x1", "S1", {"bed_id": 5}),
        Event("cancel_transfer", _t(131), "x2", "S1", {"bed_id": 5}),  # repeat
        Event("discharge", _t(200), "d1", "S1"),
        Event("cancel_discharge", _t(210), "x3", "S1"),
    )
    status = {o.key: o.status for o in out}
    assert status == {
        "a1": "applied", "t1": "applied", "t2": "void", "x1": "applied",
        "x2": "refused", "d1": "void", "x3": "applied",
    }  # fmt: skip
    board = _board(f)
    assert board[1] == (2, "occupied", None, "PS1")  # back in bed 2, still admitted
    assert board[4][1] == "available"  # bed 5 as if never used
    with f() as s:
        bed5 = s.scalar(text("SELECT count(*) FROM bed_event WHERE bed_id = 5"))
        stay = s.execute(text(
            "SELECT bed_id, discharged_at FROM inpatient_stay WHERE stay_ref = 'S1'"
        )).one()  # fmt: skip
    assert bed5 == 1  # only its creation
    assert tuple(stay) == (2, None)
    # Cancel the admission: the stay disappears, every bed is as before.
    _apply(f, Event("cancel_admit", _t(300), "x4", "S1"))
    with f() as s:
        assert s.scalar(text("SELECT count(*) FROM inpatient_stay")) == 0
        assert (
            s.scalar(
                text("SELECT count(*) FROM bed_event WHERE source = :s"), {"s": SRC}
            )
            == 0
        )
    assert all(b[3] is None for b in _board(f))


def test_evt006_swap_leave_and_stay_details(new_db):
    f = new_db()
    out = _apply(
        f,
        _admit("a1", 0, "S1", 1),
        _admit("a2", 1, "S2", 2),
        Event("swap_beds", _t(10), "s1", "S1", related="S2"),
        Event("leave_start", _t(20), "l1", "S1"),
        Event("leave_start", _t(21), "l2", "S1"),
        Event("set_expected_discharge", _t(22), "e1", "S2",
              {"expected_discharge_at": _t(3000).isoformat()}),
        Event("set_criteria_to_reside", _t(23), "r1", "S2",
              {"meets_criteria": False, "pathway": "P1"}),
        Event("leave_end", _t(30), "l3", "S1"),
    )  # fmt: skip
    assert [o.status for o in out] == [
        "applied", "applied", "applied", "applied", "refused", "applied", "applied",
        "applied",
    ]  # fmt: skip
    board = _board(f)
    assert board[0][3] == "PS2" and board[1][3] == "PS1"
    with f() as s:
        row = s.execute(text(
            "SELECT bed_id, medically_ready_at, discharge_pathway, on_leave_since "
            "FROM inpatient_stay WHERE stay_ref = 'S2'"
        )).one()  # fmt: skip
    assert row[0] == 1 and row[2] == "P1" and row[1] is not None and row[3] is None


def test_evt007_ed_events_in_any_order(new_db):
    f = new_db()
    events = [
        Event("ed_arrival", _t(0), "e1", "A1",
              {"site_id": 1, "area": "majors", "mode": "ambulance", "triage": None}),
        Event("ed_handover", _t(12), "e2", "A1"),
        Event("ed_triage", _t(15), "e3", "A1", {"triage": 2}),
        Event("ed_seen", _t(40), "e4", "A1"),
        Event("ed_decision_to_admit", _t(90), "e5", "A1"),
        Event("ed_area_move", _t(100), "e6", "A1", {"area": "minors"}),
        Event("ed_departure", _t(200), "e7", "A1", {"disposition": "admitted"}),
    ]  # fmt: skip
    a, b = new_db(), new_db()
    for e in events:
        _apply(a, e)
    for e in reversed(events):
        _apply(b, e)
    assert snapshot(a)["ed"] == snapshot(b)["ed"]
    assert snapshot(a)["log"] == snapshot(b)["log"]
    assert all(status == "applied" for _, status, _ in snapshot(b)["log"])
    out = _apply(a, Event("ed_seen", _t(300), "e8", "A1"))
    assert out[0].status == "refused" and "left the department" in out[0].reason
    del f


def test_evt008_theatre_case_waits_for_its_session(new_db):
    f = new_db()
    start = _t(12 * 60)
    with write_session(f) as s:
        listed = theatres.case_listed(
            s, at=_t(0), source=SRC, key="c1", case_ref="K1", session_ref="L1",
            procedure="Hernia repair", planned_start=start, planned_minutes=60,
        )  # fmt: skip
    assert listed.status == "refused" and "unknown session" in listed.reason
    with write_session(f) as s:
        planned = theatres.session_planned(
            s, at=_t(-60), source=SRC, key="s1", session_ref="L1", theatre_id=1,
            specialty="General surgery", planned_start=start,
            planned_end=start + timedelta(hours=4),
        )  # fmt: skip
        theatres.case_stage(
            s, "case_in_anaesthetic", at=start, source=SRC, key="c2", case_ref="K1"
        )
        theatres.case_stage(
            s, "case_knife_to_skin", at=start + timedelta(minutes=20), source=SRC,
            key="c3", case_ref="K1",
        )  # fmt: skip
    assert planned.status == "applied"
    with f() as s:
        case = s.execute(text(
            "SELECT status, anaesthetic_at IS NOT NULL, knife_to_skin_at IS NOT NULL "
            "FROM theatre_case WHERE ref = 'K1'"
        )).one()  # fmt: skip
        statuses = dict(s.execute(text("SELECT key, status FROM flow_event")).all())
    assert tuple(case) == ("in_theatre", True, True)
    assert statuses["c1"] == "applied"


def test_evt009_each_write_marks_its_feed(new_db):
    f = new_db()
    with write_session(f) as s:
        ed.ed_arrival(
            s, at=_t(5), source="pas-a", key="k", attendance_ref="A1", site_id=1,
            area="minors", mode="walk_in", received_at=_t(6),
        )  # fmt: skip
    with f() as s:
        row = s.execute(text(
            "SELECT last_write_at FROM feed_status WHERE feed = 'pas-a'"
        )).scalar_one()  # fmt: skip
    assert str(row)[:16] == str(_t(6).replace(tzinfo=None))[:16]


# ---------------------------------------------------------------------------
# Shuffled with duplicates == in order
# ---------------------------------------------------------------------------


@dataclass
class Model:
    """A tiny model of the trust that only makes events valid in time order."""

    t: float = 0.0
    n: int = 0
    state: dict[int, str] = field(default_factory=lambda: {
        b: ("closed" if b in ESCALATION else "available") for b in BEDS
    })  # fmt: skip
    holder: dict[int, str | None] = field(default_factory=lambda: dict.fromkeys(BEDS))
    bed_of: dict[str, int] = field(default_factory=dict)
    last_touch: dict[int, int] = field(default_factory=dict)  # bed -> event index
    stay_events: dict[str, int] = field(default_factory=dict)
    undo: dict[str, tuple] = field(default_factory=dict)
    on_leave: set[str] = field(default_factory=set)
    ed_open: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def add(self, kind: str, subject: str, payload: dict | None = None,
            related: str | None = None, beds: tuple[int, ...] = ()) -> None:  # fmt: skip
        self.events.append(
            Event(
                kind,
                _t(self.t),
                f"k{len(self.events):04d}",
                subject,
                payload or {},
                related,
            )  # fmt: skip
        )
        for b in beds:
            self.last_touch[b] = len(self.events) - 1
        self.stay_events[subject] = len(self.events) - 1


@st.composite
def histories(draw) -> list[Event]:  # noqa: ANN001
    m = Model()
    for _ in range(draw(st.integers(4, 28))):
        m.t += draw(st.integers(1, 150))
        free = [b for b in BEDS if m.holder[b] is None and m.state[b] != "closed"]
        options = []
        if free:
            options += ["admit", "admit"]
        if m.bed_of and free:
            options.append("transfer")
        if m.bed_of:
            options += ["discharge", "edd", "leave"]
        options += [u for u in ("cancel_transfer", "cancel_discharge", "cancel_admit")
                    if any(k[0] == u for k in m.undo.values())]  # fmt: skip
        if any(m.state[b] == "awaiting_clean" for b in BEDS):
            options.append("clean")
        if any(m.state[b] == "available" and m.holder[b] is None for b in BEDS):
            options.append("block")
        if any(m.state[b] == "blocked" for b in BEDS):
            options.append("unblock")
        options += ["arrive"] + (["depart"] if m.ed_open else [])
        action = draw(st.sampled_from(options))
        if action == "admit":
            m.n += 1
            stay, bed = f"S{m.n}", draw(st.sampled_from(free))
            m.add("admit", stay, {"patient_ref": f"P{m.n}", "bed_id": bed}, beds=(bed,))
            m.undo[stay] = ("cancel_admit", bed, m.state[bed], len(m.events) - 1)
            m.holder[bed], m.state[bed], m.bed_of[stay] = stay, "occupied", bed
        elif action == "transfer":
            stay = draw(st.sampled_from(sorted(m.bed_of)))
            old, new = m.bed_of[stay], draw(st.sampled_from(free))
            m.add("transfer", stay, {"bed_id": new}, beds=(old, new))
            m.undo[stay] = (
                "cancel_transfer",
                (old, new),
                m.state[new],
                len(m.events) - 1,
            )
            m.holder[old], m.state[old] = None, "awaiting_clean"
            m.holder[new], m.state[new], m.bed_of[stay] = stay, "occupied", new
        elif action == "discharge":
            stay = draw(st.sampled_from(sorted(m.bed_of)))
            bed = m.bed_of.pop(stay)
            was_on_leave = stay in m.on_leave
            m.on_leave.discard(stay)
            m.add("discharge", stay, beds=(bed,))
            m.undo[stay] = ("cancel_discharge", bed, was_on_leave, len(m.events) - 1)
            m.holder[bed], m.state[bed] = None, "awaiting_clean"
        elif action == "edd":
            stay = draw(st.sampled_from(sorted(m.bed_of)))
            when = _t(m.t + draw(st.integers(60, 5000))).isoformat()
            m.add("set_expected_discharge", stay, {"expected_discharge_at": when})
        elif action == "leave":
            stay = draw(st.sampled_from(sorted(m.bed_of)))
            kind = "leave_end" if stay in m.on_leave else "leave_start"
            m.on_leave.symmetric_difference_update({stay})
            m.add(kind, stay)
        elif action.startswith("cancel"):
            stay, (kind, beds, saved, index) = draw(st.sampled_from(
                sorted((s, u) for s, u in m.undo.items() if u[0] == action)
            ))  # fmt: skip
            touched = beds if isinstance(beds, tuple) else (beds,)
            if m.stay_events.get(stay) != index or any(
                m.last_touch.get(b) != index for b in touched
            ):
                continue  # something happened since: the cancel would not be valid
            del m.undo[stay]
            if kind == "cancel_admit":
                m.add(kind, stay)
                m.holder[beds], m.state[beds] = None, saved
                del m.bed_of[stay]
                m.on_leave.discard(stay)
            elif kind == "cancel_transfer":
                old, new = beds
                m.add(kind, stay, {"bed_id": new})
                m.holder[new], m.state[new] = None, saved
                m.holder[old], m.state[old], m.bed_of[stay] = stay, "occupied", old
            else:
                if m.holder[beds] is not None:
                    continue
                m.add(kind, stay)
                m.holder[beds], m.state[beds], m.bed_of[stay] = stay, "occupied", beds
                if saved:  # as if never discharged: still on leave
                    m.on_leave.add(stay)
            for b in touched:  # the cancelled event's beds are as before it
                m.last_touch[b] = len(m.events) - 1
        elif action in ("clean", "block", "unblock"):
            want = {"clean": "awaiting_clean", "block": "available",
                    "unblock": "blocked"}[action]  # fmt: skip
            bed = draw(st.sampled_from(
                [b for b in BEDS if m.state[b] == want and m.holder[b] is None]
            ))  # fmt: skip
            kind = {"clean": "cleaning_done", "block": "bed_blocked",
                    "unblock": "bed_unblocked"}[action]  # fmt: skip
            payload = {"reason": "infection control"} if action == "block" else {}
            m.add(kind, f"bed:{bed}", payload, beds=(bed,))
            m.state[bed] = {"clean": "available", "block": "blocked",
                            "unblock": "available"}[action]  # fmt: skip
        elif action == "arrive":
            ref = f"A{len(m.events)}"
            area = draw(st.sampled_from(["majors", "minors"]))
            m.add("ed_arrival", ref, {"site_id": 1, "area": area, "mode": "walk_in",
                                      "triage": draw(st.integers(1, 5))})  # fmt: skip
            m.ed_open[ref] = area
        else:
            ref = draw(st.sampled_from(sorted(m.ed_open)))
            del m.ed_open[ref]
            m.add("ed_departure", ref, {"disposition": "discharged"})
    return m.events


def _run_in_order(factory, events: list[Event]) -> None:  # noqa: ANN001
    for e in events:
        out = _apply(factory, e)
        assert out[0].status in ("applied", "void"), (e, out)
    with write_session(factory) as s:
        roll_up(s, _t(60 * 24 * 3))


def _run_shuffled(factory, events: list[Event], seed: int) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    arrival = events + [rng.choice(events) for _ in range(max(1, len(events) // 4))]
    rng.shuffle(arrival)
    seen = T0
    for e in arrival:
        _apply(factory, e)
        seen = max(seen, e.at)
        with write_session(factory) as s:
            roll_up(s, seen)
    with write_session(factory) as s:
        roll_up(s, _t(60 * 24 * 3))


def _property(new_db, events: list[Event], seed: int) -> None:  # noqa: ANN001
    ordered, shuffled = new_db(), new_db()
    _run_in_order(ordered, events)
    _run_shuffled(shuffled, events, seed)
    a, b = snapshot(ordered), snapshot(shuffled)
    for table in a:
        assert a[table] == b[table], table


@pytest.mark.parametrize("backend", ["sqlite"])
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(events=histories(), seed=st.integers(0, 10**6))
def test_evt010_shuffled_with_duplicates_equals_in_order_sqlite(new_db, events, seed):
    _property(new_db, events, seed)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(events=histories(), seed=st.integers(0, 10**6))
def test_evt011_shuffled_with_duplicates_equals_in_order_postgresql(
    new_db, events, seed
):
    _property(new_db, events, seed)


def test_evt012_a_feed_reports_the_domains_it_wrote(new_db):
    from data.queries.feeds import reported_domains

    f = new_db()
    with f() as s:
        assert reported_domains(s) == set()
    _apply(f, _admit("a1", 0, "S1", 1), Event("discharge", _t(5), "d0", "S9"))
    with f() as s:
        assert reported_domains(s) == {"beds"}
    _apply(f, Event("ed_seen", _t(1), "x", "A9"))  # refused: reports nothing
    with f() as s:
        assert reported_domains(s) == {"beds"}


def test_evt013_an_admission_and_its_transfer_in_the_same_second(new_db):
    """Feeds stamp to the second: the transfer must not be judged before its admission,
    whatever their keys."""
    f = new_db()
    out = _apply(
        f,
        Event("transfer", _t(5), "a-first-by-key", "S1", {"bed_id": 2}),
        Event("discharge", _t(5), "b-key", "S1"),
        _admit("z-last-by-key", 5, "S1", 1),
    )
    assert [o.status for o in out] == ["applied"] * 3


def test_evt014_admitted_to_a_ward_before_a_bed_is_assigned(new_db):
    f = new_db()
    out = _apply(
        f,
        Event("admit", _t(0), "w1", "S1", {"patient_ref": "P1", "ward_id": 2}),
        Event("transfer", _t(30), "w2", "S1", {"bed_id": 5}),  # a W2 bed
        Event("transfer", _t(60), "w3", "S1", {"ward_id": 1}),  # moved, no bed yet
    )
    assert [o.status for o in out] == ["applied"] * 3
    with f() as s:
        row = s.execute(text(
            "SELECT ward_id, bed_id FROM inpatient_stay WHERE stay_ref = 'S1'"
        )).one()  # fmt: skip
    assert tuple(row) == (1, None)
    assert _board(f)[4][1] == "awaiting_clean"
    # The bed move arrives late and in between: history is re-folded around it.
    late = _apply(f, Event("transfer", _t(45), "w4", "S1", {"bed_id": 6}))
    assert late[0].status == "applied"
    with f() as s:
        bed6 = [r[0] for r in s.execute(text(
            "SELECT state FROM bed_event WHERE bed_id = 6 ORDER BY at, id"
        ))]  # fmt: skip
    assert bed6 == ["available", "occupied", "awaiting_clean"]
    refused = _apply(f, Event("transfer", _t(90), "w5", "S1", {"ward_id": 99}))
    assert refused[0].status == "refused" and "unknown ward" in refused[0].reason


def test_evt015_ed_patient_becomes_an_inpatient(new_db):
    f = new_db()
    with write_session(f) as s:
        ed.ed_arrival(
            s, at=_t(0), source=SRC, key="a", attendance_ref="A1", site_id=1,
            area="majors", mode="walk_in", triage=3,
        )  # fmt: skip
        out = inpatient.change_class_to_inpatient(
            s, at=_t(200), source=SRC, key="c", attendance_ref="A1", stay_ref="S1",
            patient_ref="P1", bed_id=3,
        )  # fmt: skip
    assert [o.status for o in out] == ["applied", "applied"]
    with f() as s:
        departed = s.execute(
            text("SELECT disposition FROM ed_attendance WHERE ref = 'A1'")
        ).scalar_one()
    assert departed == "admitted"
    assert _board(f)[2] == (3, "occupied", None, "P1")


def test_evt016_a_bed_freed_and_taken_in_the_same_second(new_db):
    f = new_db()
    _apply(f, _admit("a1", 0, "S1", 1))
    out = _apply(
        f,
        _admit("a-admit-first", 60, "S2", 1),  # same second as the discharge
        Event("discharge", _t(60), "z-discharge", "S1"),
    )
    assert [o.status for o in out] == ["applied", "applied"]
    assert _board(f)[0] == (1, "occupied", None, "PS2")
