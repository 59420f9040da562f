"""The HL7 v2 ADT feed end to end: a real MLLP client over TCP against the listener
(started in a thread on a free port), checked against the bed board (``bed``), the
stay history (``inpatient_stay``, ``bed_event``), ED attendances, the archive and the
quarantine."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data.models.capacity import (
    Bed,
    BedEvent,
    EdArea,
    EdAttendance,
    InpatientStay,
    Site,
    Ward,
)
from data.models.events import FlowEvent
from data.models.hl7 import Hl7Message, Hl7Quarantine
from data.models.system import FeedStatus
from feeds.hl7.ingest import replay_quarantine
from tests.feeds.hl7_support import (
    AT,
    KEY,
    ORGANISATION_WITH_GAS,
    MllpClient,
    ack_code,
    ack_text,
    adt,
    bed_ids,
    load_org,
    prepare,
    running_listener,
)

H = timedelta(hours=1)


@pytest.fixture
def feed(tmp_path: Path):  # noqa: ANN201
    engine, factory = prepare(f"sqlite:///{tmp_path / 'hl7.db'}", tmp_path)
    with running_listener(factory) as listener:
        client = MllpClient(listener.port)
        yield factory, client, listener, tmp_path
        client.close()
    engine.dispose()


def board(factory) -> dict[str, tuple[str, str | None]]:  # noqa: ANN001
    with factory() as s:
        return {
            label: (state, ref)
            for label, state, ref in s.execute(
                select(Bed.label, Bed.state, Bed.patient_ref)
            )
        }


def stays(factory) -> list[InpatientStay]:  # noqa: ANN001
    with factory() as s:
        return list(s.scalars(select(InpatientStay).order_by(InpatientStay.id)))


def occupancy_history(factory, ref: str) -> list[str]:  # noqa: ANN001
    """The beds the patient occupied, in time order (from bed_event)."""
    with factory() as s:
        rows = s.execute(
            select(Bed.label)
            .join(BedEvent, BedEvent.bed_id == Bed.id)
            .where(BedEvent.patient_ref == ref, BedEvent.state == "occupied")
            .order_by(BedEvent.at, BedEvent.id)
        )
        return [r[0] for r in rows]


def occupied(factory) -> dict[str, str]:  # noqa: ANN001
    return {k: v[1] for k, v in board(factory).items() if v[0] == "occupied"}


def send_ok(client: MllpClient, message: str) -> str:
    ack = client.send(message)
    assert ack_code(ack) == "AA", ack_text(ack)
    return ack


# -- each event type -----------------------------------------------------------
def test_hl7l001_a01_admits_and_a03_discharges(feed) -> None:
    factory, client, _, _ = feed
    ack = send_ok(client, adt("A01", "M1", at=AT, location="CAR^^CAR-01^RGH"))
    assert ack.split("\r")[0].split("|")[8] == "ACK^A01^ACK"
    assert "MSA|AA|M1" in ack
    [stay] = stays(factory)
    assert stay.discharged_at is None and stay.admitted_at == AT
    assert occupied(factory) == {"CAR-01": stay.patient_ref}
    # pseudonymous: nothing of PID is in the operational tables
    assert "9990001" not in stay.patient_ref and len(stay.patient_ref) <= 32
    send_ok(client, adt("A03", "M2", at=AT + H, location="CAR^^CAR-01^RGH"))
    [stay] = stays(factory)
    assert stay.discharged_at == AT + H
    assert board(factory)["CAR-01"] == ("awaiting_clean", None)


def test_hl7l002_ed_arrival_area_move_and_departure(feed) -> None:
    factory, client, _, _ = feed
    send_ok(client, adt("A04", "E1", at=AT, cls="E", location="ED^majors^^RGH",
                        pv2={38: "A"}))  # fmt: skip
    send_ok(client, adt("A02", "E2", at=AT + H, cls="E", location="ED^resus^RESUS-01"))
    with factory() as s:
        att = s.scalar(select(EdAttendance))
        area = s.scalar(select(EdArea.code).where(EdArea.id == att.area_id))
        assert (att.mode, area, att.arrival_at) == ("ambulance", "resus", AT)
    send_ok(client, adt("A03", "E3", at=AT + 2 * H, cls="E"))
    with factory() as s:
        att = s.scalar(select(EdAttendance))
        assert (att.departure_at, att.disposition) == (AT + 2 * H, "discharged")


def test_hl7l003_a01_class_e_opens_an_attendance_and_a06_admits_from_it(feed) -> None:
    factory, client, _, _ = feed
    send_ok(client, adt("A01", "E1", at=AT, cls="E", visit="ED77",
                        location="ED^majors^MAJ-02^RGH"))  # fmt: skip
    with factory() as s:
        assert s.scalar(select(EdAttendance.mode)) == "walk_in"
    mrg = "MRG|9990001^^^RGH^MR||||ED77"
    send_ok(client, adt("A06", "E2", at=AT + 3 * H, cls="I", visit="IP88",
                        location="RES^^RES-03^RGH", extra=[mrg]))  # fmt: skip
    with factory() as s:
        att = s.scalar(select(EdAttendance))
        assert (att.departure_at, att.disposition) == (AT + 3 * H, "admitted")
    [stay] = stays(factory)
    assert (stay.admission_source, stay.admitted_at) == ("ed", AT + 3 * H)
    assert occupied(factory) == {"RES-03": stay.patient_ref}


def test_hl7l004_admission_of_the_same_visit_closes_the_ed_attendance(feed) -> None:
    factory, client, _, _ = feed
    send_ok(client, adt("A04", "E1", at=AT, cls="E", location="ED^majors"))
    send_ok(client, adt("A01", "E2", at=AT + H, location="CAR^^CAR-02"))
    with factory() as s:
        assert s.scalar(select(EdAttendance.disposition)) == "admitted"
    assert stays(factory)[0].admission_source == "ed"


def test_hl7l005_registrations_and_updates_are_recorded_without_events(feed) -> None:
    factory, client, _, _ = feed
    for msg in (
        adt("A05", "R1", at=AT, location="CAR^^CAR-01"),  # pre-admission
        adt("A04", "R2", at=AT, cls="O", location="CAR"),  # outpatient
        adt("A08", "R3", at=AT, location="CAR^^CAR-01"),  # demographics
        adt("A01", "R4", at=AT, cls="P", location="CAR^^CAR-01"),  # pre-admit
    ):
        send_ok(client, msg)
    with factory() as s:
        assert s.scalar(select(func.count(FlowEvent.id))) == 0
        outcomes = s.scalars(select(Hl7Message.outcome)).all()
        assert outcomes == ["recorded"] * 4
    assert occupied(factory) == {}


def test_hl7l006_a08_sets_the_expected_discharge_and_a07_discharges(feed) -> None:
    factory, client, _, _ = feed
    send_ok(client, adt("A01", "U1", at=AT, location="CAR^^CAR-01"))
    send_ok(client, adt("A08", "U2", at=AT + H, location="CAR^^CAR-01",
                        pv2={9: "20260305"}))  # fmt: skip
    [stay] = stays(factory)
    assert stay.expected_discharge_at is not None
    assert stay.expected_discharge_at.date().isoformat() == "2026-03-05"
    send_ok(client, adt("A07", "U3", at=AT + 2 * H, cls="O"))
    assert stays(factory)[0].discharged_at == AT + 2 * H


def test_hl7l007_a11_cancels_the_admission(feed) -> None:
    factory, client, _, _ = feed
    send_ok(client, adt("A01", "C1", at=AT, location="CAR^^CAR-01"))
    send_ok(client, adt("A11", "C2", at=AT + H, location="RES^^RES-04"))
    assert stays(factory) == []
    assert board(factory)["CAR-01"][1] is None
    # repeating the cancel changes nothing
    send_ok(client, adt("A11", "C3", at=AT + 2 * H))
    assert stays(factory) == [] and occupied(factory) == {}


def test_hl7l008_a17_swaps_and_a21_a22_leave(feed) -> None:
    factory, client, _, _ = feed
    send_ok(client, adt("A01", "S1", at=AT, location="CAR^^CAR-01"))
    send_ok(client, adt("A01", "S2", at=AT, patient="777", visit="V2",
                        location="CAR^^CAR-02"))  # fmt: skip
    before = occupied(factory)
    second = adt("A01", "x", at=AT, patient="777", visit="V2",
                 location="CAR^^CAR-01").split("\r")[2:4]  # fmt: skip
    send_ok(client, adt("A17", "S3", at=AT + H, location="CAR^^CAR-02", extra=second))
    after = occupied(factory)
    assert after == {"CAR-01": before["CAR-02"], "CAR-02": before["CAR-01"]}
    send_ok(client, adt("A21", "S4", at=AT + 2 * H))
    by_ref = {s.stay_ref: s for s in stays(factory)}
    assert sum(s.on_leave_since is not None for s in by_ref.values()) == 1
    assert occupied(factory) == after  # the bed is held
    send_ok(client, adt("A22", "S5", at=AT + 3 * H))
    assert all(s.on_leave_since is None for s in stays(factory))


def test_hl7l009_unsupported_messages_are_rejected(feed) -> None:
    factory, client, _, _ = feed
    ack = client.send(adt("A40", "X1", at=AT))  # a merge without MRG
    assert ack_code(ack) == "AR" and "needs a PID and an MRG segment" in ack
    ack = client.send(adt("A99", "X2", at=AT))
    assert ack_code(ack) == "AR" and "ERR|" in ack and "|201^" in ack
    ack = client.send(adt("A99", "X2", at=AT))  # resent: rejected again
    assert ack_code(ack) == "AR" and "A99 is not supported" in ack
    oru = adt("A01", "X3", at=AT).replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01")
    ack = client.send(oru)
    assert ack_code(ack) == "AR" and "|200^" in ack
    with factory() as s:  # rejected, not quarantined: the sender must fix them
        assert s.scalar(select(Hl7Quarantine.id)) is None


# -- the journey -----------------------------------------------------------------
def journey(factory, client: MllpClient) -> None:  # noqa: ANN001
    """admit -> transfer -> transfer -> cancel transfer -> transfer -> discharge ->
    cancel discharge."""
    send_ok(client, adt("A01", "J1", at=AT, location="CAR^^CAR-01^RGH"))
    send_ok(client, adt("A02", "J2", at=AT + H, location="CAR^^CAR-02^RGH",
                        prior_location="CAR^^CAR-01^RGH"))  # fmt: skip
    send_ok(client, adt("A02", "J3", at=AT + 2 * H, location="RES^^RES-01^RGH",
                        prior_location="CAR^^CAR-02^RGH"))  # fmt: skip
    # A12: PV1-3 where the patient is back, PV1-6 the transfer being cancelled
    send_ok(client, adt("A12", "J4", at=AT + 3 * H, location="CAR^^CAR-02^RGH",
                        prior_location="RES^^RES-01^RGH"))  # fmt: skip
    send_ok(client, adt("A02", "J5", at=AT + 4 * H, location="RES^^RES-02^RGH",
                        prior_location="CAR^^CAR-02^RGH"))  # fmt: skip
    send_ok(client, adt("A03", "J6", at=AT + 5 * H, location="RES^^RES-02^RGH"))
    send_ok(client, adt("A13", "J7", at=AT + 6 * H, location="RES^^RES-02^RGH"))


def check_journey(factory) -> None:  # noqa: ANN001
    [stay] = stays(factory)
    assert stay.discharged_at is None  # the discharge was cancelled
    assert stay.admitted_at == AT
    ids = {v: k for k, v in _bed_ids(factory).items()}
    assert ids[stay.bed_id] == "RES-02"
    b = board(factory)
    assert b["RES-02"] == ("occupied", stay.patient_ref)
    assert b["CAR-01"][0] == "awaiting_clean" and b["CAR-02"][0] == "awaiting_clean"
    assert b["RES-01"] == ("available", None)  # the cancelled transfer never happened
    assert occupancy_history(factory, stay.patient_ref) == [
        "CAR-01",
        "CAR-02",
        "RES-02",
    ]


def _bed_ids(factory) -> dict[str, int]:  # noqa: ANN001
    with factory() as s:
        return bed_ids(s)


def test_hl7l010_journey_on_sqlite(feed) -> None:
    factory, client, _, _ = feed
    journey(factory, client)
    check_journey(factory)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
def test_hl7l011_journey_on_postgresql(empty_url: str, tmp_path: Path) -> None:
    engine, factory = prepare(empty_url, tmp_path)
    try:
        with running_listener(factory) as listener:
            client = MllpClient(listener.port)
            journey(factory, client)
            client.close()
        check_journey(factory)
    finally:
        engine.dispose()


# -- duplicates and order ----------------------------------------------------------
def test_hl7l012_duplicates(feed) -> None:
    factory, client, _, _ = feed
    first = adt("A01", "D1", at=AT, location="CAR^^CAR-01")
    send_ok(client, first)
    ack = send_ok(client, first)  # identical resend
    assert "duplicate" in ack
    # the same control id, other content (a sender that reuses ids): a new message
    other = adt("A01", "D1", at=AT, patient="555", visit="V9", location="CAR^^CAR-03")
    send_ok(client, other)
    assert set(occupied(factory)) == {"CAR-01", "CAR-03"}
    with factory() as s:
        assert s.scalar(select(func.count(Hl7Message.id))) == 2
        assert s.scalar(select(func.count(FlowEvent.id))) == 2


def test_hl7l013_out_of_order_delivery(feed) -> None:
    factory, client, _, _ = feed
    # A transfer that arrives before its admission: refused (AE, quarantined as an
    # unknown patient) until the admission comes, then applied in event-time order.
    ack = client.send(adt("A02", "O2", at=AT + 2 * H, location="RES^^RES-01"))
    assert ack_code(ack) == "AE" and "|204^" in ack
    with factory() as s:
        assert s.scalar(select(Hl7Quarantine.reason_code)) == "unknown_patient"
    send_ok(client, adt("A01", "O1", at=AT, location="CAR^^CAR-01"))
    # a late transfer between the two
    send_ok(client, adt("A02", "O3", at=AT + H, location="CAR^^CAR-04"))
    [stay] = stays(factory)
    assert occupancy_history(factory, stay.patient_ref) == [
        "CAR-01",
        "CAR-04",
        "RES-01",
    ]
    assert occupied(factory) == {"RES-01": stay.patient_ref}
    with factory() as s:
        q = s.scalar(select(Hl7Quarantine))
        assert q.resolved_at is not None and q.raw is None


# -- quarantine and replay ---------------------------------------------------------
def test_hl7l014_unknown_location_quarantine_fix_replay(feed) -> None:
    factory, client, _, folder = feed
    ack = client.send(adt("A01", "Q1", at=AT, location="GAS^^GAS-01^RGH"))
    assert ack_code(ack) == "AE"
    assert "unknown location GAS//GAS-01/RGH (PV1-3)" in ack
    assert "ERR||PV1^1^3|103^" in ack
    with factory() as s:
        q = s.scalar(select(Hl7Quarantine))
        assert (q.reason_code, q.resolved_at) == ("unknown_location", None)
        assert "SMITH" in q.raw  # the raw original, kept until resolved
        archived = s.scalar(select(Hl7Message))
        assert "SMITH" not in archived.redacted and archived.outcome == "quarantined"
    assert replay_quarantine(factory, key=KEY) == {"quarantined: unknown_location": 1}
    load_org(factory, folder, ORGANISATION_WITH_GAS)  # the organisation is fixed
    assert replay_quarantine(factory, key=KEY) == {"applied": 1}
    [stay] = stays(factory)
    assert occupied(factory) == {"GAS-01": stay.patient_ref}
    with factory() as s:
        q = s.scalar(select(Hl7Quarantine))
        assert q.resolved_at is not None and q.raw is None
        assert s.scalar(select(Hl7Message.outcome)) == "applied"
    assert replay_quarantine(factory, key=KEY) == {}


# -- bad input, while another connection keeps working ------------------------------
def _still_serving(port: int, n: int) -> None:
    other = MllpClient(port)
    try:
        send_ok(other, adt("A05", f"ALIVE-{n}", at=AT))
    finally:
        other.close()


def test_hl7l015_garbage_no_msh_broken_framing_and_oversize(tmp_path: Path) -> None:
    engine, factory = prepare(f"sqlite:///{tmp_path / 'hl7.db'}", tmp_path)
    with running_listener(factory, max_bytes=20_000, message_seconds=2) as listener:
        port = listener.port
        keep = MllpClient(port)  # a second sender, served throughout
        send_ok(keep, adt("A01", "K1", at=AT, location="CAR^^CAR-01"))

        # garbage before a frame is skipped; the frame after it is answered
        bad = MllpClient(port)
        bad.send_raw(b"\x00\xffnoise noise")
        send_ok(bad, adt("A05", "G1", at=AT))
        # garbage inside a frame: AR
        assert ack_code(bad.send(b"\x00\x01\x02 random bytes")) == "AR"
        # no MSH
        ack = bad.send("EVN|A01|20260302090000\rPID|1||123")
        assert ack_code(ack) == "AR" and "MSH" in ack
        # broken framing: a frame that never ends, then a new start block
        bad.send_raw(b"\x0bMSH|^~\\&|PAS|RGH|||2026||ADT^A05|LOST|P|2.5\r")
        send_ok(bad, adt("A05", "G2", at=AT))
        bad.close()
        send_ok(keep, adt("A02", "K2", at=AT + H, location="CAR^^CAR-02"))

        # over the limit: answered AR and closed
        big = MllpClient(port)
        huge = adt("A05", "BIG", at=AT) + "\rNTE|1||" + "x" * 50_000
        big.send_raw(b"\x0b" + huge.encode() + b"\x1c\r")
        ack = big.read_ack()
        assert ack_code(ack) == "AR" and "longer than 20000 bytes" in ack
        assert "MSA|AR|BIG|" in ack
        assert big.closed()
        big.close()

        # a slow sender is cut off after message_seconds, others unaffected
        slow = MllpClient(port)
        slow.send_raw(b"\x0bMSH|^~")
        _still_serving(port, 1)
        slow.sock.settimeout(10)
        assert slow.closed()
        slow.close()

        send_ok(keep, adt("A03", "K3", at=AT + 2 * H))
        keep.close()
        assert listener.stats.oversized == 1 and listener.stats.timeouts >= 1
    with factory() as s:
        assert s.scalar(select(InpatientStay.discharged_at)) == AT + 2 * H
    engine.dispose()


def test_hl7l016_500_connections_at_once(feed) -> None:
    import concurrent.futures

    factory, _, listener, _ = feed
    clients = [MllpClient(listener.port) for _ in range(500)]
    try:
        for _ in range(200):  # every connection is open at the same time
            if listener.stats.open_connections == 501:  # and the fixture's
                break
            time.sleep(0.05)
        assert listener.stats.open_connections == 501

        def one(i: int) -> str:
            return ack_code(clients[i].send(adt("A05", f"MANY-{i}", at=AT)))

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(one, range(len(clients))))
    finally:
        for c in clients:
            c.close()
    assert codes == ["AA"] * 500
    with factory() as s:
        assert s.scalar(select(func.count(Hl7Message.id))) == 500


def test_hl7l017_quarantined_originals_are_kept_for_the_retention_days(feed) -> None:
    from feeds.hl7.ingest import purge_expired

    factory, client, _, _ = feed
    assert ack_code(client.send(adt("A01", "P1", at=AT, location="NOPE^^1"))) == "AE"
    with factory() as s:
        created = s.scalar(select(Hl7Quarantine.created_at))
    assert purge_expired(factory, 30, now=created + timedelta(days=29)) == 0
    assert purge_expired(factory, 30, now=created + timedelta(days=31)) == 1
    with factory() as s:
        q = s.scalar(select(Hl7Quarantine))
        assert q.raw is None and q.resolved_at is None
        assert "***" in s.scalar(select(Hl7Message.redacted))  # the archive stays
    assert replay_quarantine(factory, key=KEY) == {"expired (raw original purged)": 1}


def test_hl7l018_feed_summary(feed) -> None:
    from datetime import UTC, datetime

    from data.queries.hl7 import feed_summary

    factory, client, _, _ = feed
    with factory() as s:
        empty = feed_summary(s, datetime.now(UTC))
    assert empty.last_message_at is None and empty.senders == []
    assert (empty.messages_last_hour, empty.quarantined) == (0, {})
    send_ok(client, adt("A01", "F1", at=AT, location="CAR^^CAR-01"))
    client.send(adt("A02", "F2", at=AT + H, location="NOPE"))
    client.send(adt("A99", "F3", at=AT, facility="SGH"))
    with factory() as s:
        now = datetime.now(UTC)
        summary = feed_summary(s, now)
        later = feed_summary(s, now + 2 * H)
    assert summary.messages_last_minute == summary.messages_last_hour == 3
    assert summary.quarantined == {"unknown_location": 1}
    assert summary.rejected_last_hour == 1
    assert [(x.sender, x.messages_last_hour) for x in summary.senders] == [
        ("PAS^RGH", 2),
        ("PAS^SGH", 1),
    ]
    assert later.messages_last_hour == 0 and later.last_message_at is not None


def test_hl7l019_the_seeded_demo_trust_takes_hl7_beside_its_simulator(
    seeded_sqlite_url: str, frozen_now
) -> None:
    """The demo organisation carries the default HL7 codes (ward code ^ ^ bed label ^
    site code): a real message lands in a free demo bed."""
    from data.db import create_db_engine, make_session_factory

    engine = create_db_engine(seeded_sqlite_url)
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            ward, label, site = s.execute(
                select(Ward.code, Bed.label, Site.code)
                .join(Bed, Bed.ward_id == Ward.id)
                .join(Site, Site.id == Ward.site_id)
                .where(Bed.state == "available", Bed.is_escalation.is_(False))
                .order_by(Bed.id)
                .limit(1)
            ).one()
        at = frozen_now + timedelta(minutes=1)
        with running_listener(factory) as listener:
            client = MllpClient(listener.port)
            send_ok(client, adt("A01", "DEMO1", at=at, facility=site,
                                location=f"{ward}^^{label}^{site}"))  # fmt: skip
            client.close()
        with factory() as s:
            bed = s.scalar(select(Bed).where(Bed.label == label))
            assert bed.state == "occupied" and bed.patient_ref.startswith("P")
            feeds = {f for (f,) in s.execute(select(FeedStatus.feed))}
            assert f"hl7:{site}:beds" in feeds
    finally:
        engine.dispose()


def test_hl7l020_a01_to_a_ward_then_a02_to_a_bed_on_it(feed) -> None:
    """A PAS often admits to a ward before a bed is assigned (PV1-3 = ward only)."""
    factory, client, _, _ = feed
    send_ok(client, adt("A01", "W1", at=AT, location="CAR^^^RGH"))
    [stay] = stays(factory)
    assert stay.bed_id is None and stay.discharged_at is None
    with factory() as s:
        ward = s.scalar(select(Bed.ward_id).where(Bed.label == "CAR-01"))
    assert stay.ward_id == ward
    assert occupied(factory) == {}
    send_ok(client, adt("A02", "W2", at=AT + H, location="CAR^^CAR-02^RGH"))
    [stay] = stays(factory)
    assert occupied(factory) == {"CAR-02": stay.patient_ref}
