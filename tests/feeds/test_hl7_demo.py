"""The embedded demo speaks HL7 (COMMAND_CENTRE_DEMO_HL7): the simulator's inpatient
and ED events go as ADT messages over MLLP (a real TCP listener on a free port) and
the store ends as if the same ticks had been written directly."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data.db import create_db_engine, make_session_factory
from data.models.capacity import Bed, EdAttendance, InpatientStay
from data.models.hl7 import Hl7Message, Hl7Quarantine
from data.models.hl7_demo import Hl7DemoOutbox, Hl7DemoRef
from data.models.system import SimulationState
from feeds.hl7.config import Hl7Config
from feeds.hl7.listener import Hl7Listener
from feeds.hl7.mapping import map_message
from feeds.hl7.parse import parse
from feeds.hl7.sender import DemoSender
from feeds.seed import load_layout, load_world, resolve_scenario, run_tick
from feeds.simulator import SOURCE
from tests.support.apps import FROZEN_NOW, copy_sqlite

KEY = b"demo-hl7-test-key-" + b"x" * 32
TZ = "Europe/London"
TICKS = [FROZEN_NOW + timedelta(minutes=20 * n) for n in range(1, 7)]


@pytest.fixture
def pair(backend: str, tmp_path: Path, request: pytest.FixtureRequest):  # noqa: ANN201
    """Two copies of the seeded demo trust: one written directly, one over HL7."""
    if backend == "sqlite":
        template = request.getfixturevalue("seeded_sqlite_template")
        urls = [copy_sqlite(template, tmp_path), copy_sqlite(template, tmp_path)]
    else:
        server = request.getfixturevalue("pg_server")
        template = request.getfixturevalue("seeded_pg_template")
        urls = [
            server.create_database(f"t_{uuid.uuid4().hex[:10]}", template=template)
            for _ in range(2)
        ]
    engines = [create_db_engine(u) for u in urls]
    yield [make_session_factory(e) for e in engines]
    for engine in engines:
        engine.dispose()


def start_listener(factory, port: int = 0) -> Hl7Listener:  # noqa: ANN001
    listener = Hl7Listener(factory, Hl7Config(key=KEY, port=port))
    listener.start_in_thread()
    return listener


def snapshot(factory, translate: dict[str, str] | None = None) -> dict:  # noqa: ANN001
    """Beds, stays and ED attendances, with HL7 references named by the
    simulator's own (``hl7_demo_ref``) so the two stores can be compared."""
    t = translate or {}

    def ref(value):  # noqa: ANN001, ANN202
        return t.get(value, value)

    with factory() as s:
        beds = sorted(
            (b.id, b.state, b.state_since, b.state_reason, ref(b.patient_ref))
            for b in s.scalars(select(Bed))
        )
        stays = sorted(
            (
                ref(x.stay_ref), ref(x.patient_ref), x.site_id, x.ward_id, x.bed_id,
                x.admitted_at, x.admission_source, x.expected_discharge_at,
                x.medically_ready_at, x.discharge_pathway, x.discharged_at,
                x.on_leave_since,
            )
            for x in s.scalars(select(InpatientStay))
        )  # fmt: skip
        atts = sorted(
            (
                ref(a.ref), a.site_id, a.area_id, a.arrival_at, a.mode, a.triage,
                a.handover_at, a.seen_at, a.decision_to_admit_at, a.departure_at,
                a.disposition,
            )
            for a in s.scalars(select(EdAttendance))
        )  # fmt: skip
    return {"beds": beds, "stays": stays, "attendances": atts}


def translation(factory) -> dict[str, str]:  # noqa: ANN001
    with factory() as s:
        out = {}
        for row in s.scalars(select(Hl7DemoRef)):
            out[row.stored_ref] = row.sim_ref
            if row.kind == "stay":
                out[row.patient_ref] = row.sim_ref
        return out


def count(factory, model, *where) -> int:  # noqa: ANN001
    with factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_hl7_ticks_end_as_direct_ticks(pair) -> None:  # noqa: ANN001
    direct, via_hl7 = pair
    listener = start_listener(via_hl7)
    sender = DemoSender("127.0.0.1", listener.port, KEY, direct_source=SOURCE)
    try:
        for now in TICKS:
            run_tick(direct, now=now, tz=TZ)
            counts = run_tick(via_hl7, now=now, tz=TZ, hl7=sender)
            assert "pending" not in counts
    finally:
        listener.stop()
    assert count(via_hl7, Hl7DemoOutbox) == 0
    applied = count(via_hl7, Hl7Message, Hl7Message.outcome == "applied")
    assert applied > 20  # admissions, transfers, discharges, ED arrivals and departures
    with via_hl7() as s:
        types = set(s.scalars(select(Hl7Message.message_type)))
    assert {"ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08"} <= types
    assert count(via_hl7, Hl7Quarantine) == 0
    assert count(via_hl7, Hl7Message, Hl7Message.outcome != "applied") == 0
    # The new stays and attendances are stored under the listener's keyed
    # references, not the simulator's.
    assert count(via_hl7, InpatientStay, InpatientStay.stay_ref.in_(
        select(Hl7DemoRef.stored_ref))) > 0  # fmt: skip
    assert snapshot(via_hl7, translation(via_hl7)) == snapshot(direct)


def test_listener_down_loses_nothing(pair, caplog) -> None:  # noqa: ANN001
    direct, via_hl7 = pair
    listener = start_listener(via_hl7)
    port = listener.port
    sender = DemoSender("127.0.0.1", port, KEY, direct_source=SOURCE, timeout=5)
    t1, t2, t3, t4 = TICKS[0], TICKS[1], TICKS[2], TICKS[3]
    run_tick(via_hl7, now=t1, tz=TZ, hl7=sender)
    listener.stop()
    caplog.set_level(logging.WARNING, logger="command_centre.hl7")
    run_tick(via_hl7, now=t2, tz=TZ, hl7=sender)  # decided, not delivered
    waiting = count(via_hl7, Hl7DemoOutbox)
    assert waiting > 0
    assert run_tick(via_hl7, now=t3, tz=TZ, hl7=sender) == {"pending": waiting}
    with via_hl7() as s:  # the model waits for its messages to be delivered
        assert s.get(SimulationState, 1).simulated_until == t2
    outage = [r for r in caplog.records if "cannot deliver" in r.getMessage()]
    assert len(outage) == 1
    listener = start_listener(via_hl7, port)
    try:
        run_tick(via_hl7, now=t4, tz=TZ, hl7=sender)
    finally:
        listener.stop()
    assert any("delivering to the listener again" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert count(via_hl7, Hl7DemoOutbox) == 0
    for now in (t1, t2, t4):  # the same steps, written directly
        run_tick(direct, now=now, tz=TZ)
    assert count(via_hl7, Hl7Quarantine) == 0
    assert snapshot(via_hl7, translation(via_hl7)) == snapshot(direct)


def test_every_message_parses_and_maps(seeded_sqlite_url: str) -> None:
    """Round trip: each message the sender makes for a few hours of the model is
    read by the listener's parser and mapped to events without a problem."""
    factory = make_session_factory(create_db_engine(seeded_sqlite_url))
    sender = DemoSender("127.0.0.1", 9, KEY, direct_source=SOURCE)
    with factory() as session:
        state = session.get(SimulationState, 1)
        layout = load_layout(session, __import__("zoneinfo").ZoneInfo(TZ))
        world = load_world(
            session, layout, state.seed, state.simulated_until,
            resolve_scenario(session, state.scenario or {}),
        )  # fmt: skip
        world.apply_closures(state.simulated_until)
        world.advance(state.simulated_until + timedelta(hours=4))
        items, links = sender.translate(session, world.events, set())
        messages = [i.body for i in items if i.kind == "hl7"]
        assert len(messages) > 20
        triggers = set()
        for text in messages:
            msg = parse(text)
            assert msg.version == "2.5"
            triggers.add(msg.trigger)
            mapped = map_message(session, msg, KEY)
            assert mapped.problem is None, (text, mapped.problem)
            assert mapped.events, (text, mapped.note)
        assert {"A01", "A03", "A04", "A08"} <= triggers
        # patient numbers are the simulator's synthetic ones, under its authority
        for text in messages:
            assert parse(text).get("PID", 3).startswith("DEMO-")
        assert {link.kind for link in links} == {"stay", "attendance"}


def test_the_switch_is_read_from_the_environment(tmp_path: Path) -> None:
    from ops.settings import load_settings

    base = {"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    assert load_settings(base).demo_hl7 is False
    assert load_settings({**base, "COMMAND_CENTRE_DEMO_HL7": "1"}).demo_hl7 is True
