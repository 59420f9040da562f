"""HL7 A40 patient merge and the cancels of ED events (A11/A12/A13 with patient
class E), over a real MLLP client against the listener, on SQLite and PostgreSQL:
checked against the bed board, the stays, ED attendances and the event log."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.models.capacity import Bed, EdArea, EdAttendance, InpatientStay
from data.models.events import FlowEvent
from data.models.hl7 import Hl7Quarantine
from data.models.merge import PatientMerge
from feeds.hl7.mapping import digest
from tests.feeds.hl7_support import (
    AT,
    KEY,
    MllpClient,
    ack_code,
    ack_text,
    adt,
    prepare,
    running_listener,
)

H = timedelta(hours=1)


def ref(number: str, authority: str = "RGH") -> str:
    """The pseudonymous reference the feed gives PID-3 ``number^^^authority``."""
    return "P" + digest(KEY, "patient", f"{number}^{authority}")[:24]


def a40(control_id: str, *, at, surviving: str, prior: str) -> str:  # noqa: ANN001
    """ADT^A40 (ADT_A39): MSH, EVN, PID (surviving patient), MRG (MRG-1 prior
    patient identifier list), PV1."""
    segs = adt("A40", control_id, at=at, patient=surviving, structure="ADT_A39")
    msh, evn, pid, pv1 = segs.split("\r")
    mrg = f"MRG|{prior}^^^RGH^MR"
    return "\r".join([msh, evn, pid, mrg, pv1])


@pytest.fixture
def feed(empty_url: str, tmp_path: Path):  # noqa: ANN201
    engine, factory = prepare(empty_url, tmp_path)
    with running_listener(factory) as listener:
        client = MllpClient(listener.port)
        yield factory, client
        client.close()
    engine.dispose()


def send_ok(client: MllpClient, message: str) -> str:
    ack = client.send(message)
    assert ack_code(ack) == "AA", ack_text(ack)
    return ack


def board(factory) -> dict[str, str]:  # noqa: ANN001
    """Occupied beds: label -> patient reference."""
    with factory() as s:
        return dict(
            s.execute(
                select(Bed.label, Bed.patient_ref).where(Bed.state == "occupied")
            ).all()
        )


def stays(factory) -> dict[str, tuple]:  # noqa: ANN001
    with factory() as s:
        return {
            r.stay_ref: (r.patient_ref, r.bed_id, r.admitted_at, r.discharged_at)
            for r in s.scalars(select(InpatientStay))
        }


def merges(factory) -> list[tuple[str, str]]:  # noqa: ANN001
    with factory() as s:
        return s.execute(
            select(PatientMerge.prior_ref, PatientMerge.surviving_ref).order_by(
                PatientMerge.prior_ref
            )
        ).all()


# -- A40 -------------------------------------------------------------------------
def test_hl7m001_a40_the_two_references_become_one(feed) -> None:
    factory, client = feed
    send_ok(client, adt("A01", "M1", at=AT, patient="111", visit="V1",
                        location="CAR^^CAR-01^RGH"))  # fmt: skip
    assert board(factory) == {"CAR-01": ref("111")}
    send_ok(client, a40("M2", at=AT + H, surviving="222", prior="111"))
    # the open stay and its bed are the surviving patient's now
    assert board(factory) == {"CAR-01": ref("222")}
    [(patient, _, _, discharged)] = stays(factory).values()
    assert (patient, discharged) == (ref("222"), None)
    assert merges(factory) == [(ref("111"), ref("222"))]
    # repeating the merge (a new control id) changes nothing and is accepted
    ack = send_ok(client, a40("M3", at=AT + 2 * H, surviving="222", prior="111"))
    assert "nothing to merge" in ack
    # later messages under the prior number are the surviving patient's
    send_ok(client, adt("A02", "M4", at=AT + 3 * H, patient="111", visit="V1",
                        location="CAR^^CAR-02^RGH"))  # fmt: skip
    send_ok(client, adt("A03", "M5", at=AT + 4 * H, patient="111", visit="V1"))
    send_ok(client, adt("A01", "M6", at=AT + 5 * H, patient="111", visit="V2",
                        location="RES^^RES-01^RGH"))  # fmt: skip
    assert board(factory) == {"RES-01": ref("222")}
    # one patient: an admission under the other number while V2 is open is refused
    ack = client.send(adt("A01", "M7", at=AT + 6 * H, patient="222", visit="V3",
                          location="RES^^RES-02^RGH"))  # fmt: skip
    assert ack_code(ack) == "AE" and "already has an open stay" in ack
    assert {p for p, *_ in stays(factory).values()} == {ref("222")}
    with factory() as s:
        assert "111" not in str(s.scalars(select(FlowEvent.payload)).all())


def test_hl7m002_a40_waits_while_both_references_have_an_open_stay(feed) -> None:
    factory, client = feed
    send_ok(client, adt("A01", "B1", at=AT, patient="111", visit="V1",
                        location="CAR^^CAR-01^RGH"))  # fmt: skip
    send_ok(client, adt("A01", "B2", at=AT, patient="222", visit="V2",
                        location="CAR^^CAR-02^RGH"))  # fmt: skip
    ack = client.send(a40("B3", at=AT + 2 * H, surviving="222", prior="111"))
    assert ack_code(ack) == "AE" and "both patient references have an open stay" in ack
    assert merges(factory) == []
    with factory() as s:
        assert s.scalar(select(Hl7Quarantine.reason_code)) == "refused"
    # the duplicate registration's stay ends (its discharge, earlier than the merge,
    # arrives late): the merge is judged again, applies, and leaves quarantine
    send_ok(client, adt("A03", "B4", at=AT + H, patient="111", visit="V1"))
    assert merges(factory) == [(ref("111"), ref("222"))]
    assert board(factory) == {"CAR-02": ref("222")}
    with factory() as s:
        assert s.scalar(select(Hl7Quarantine.resolved_at)) is not None


def test_hl7m003_a40_needs_mrg(feed) -> None:
    factory, client = feed
    ack = client.send(adt("A40", "N1", at=AT, patient="222", structure="ADT_A39"))
    assert ack_code(ack) == "AR" and "needs a PID and an MRG" in ack
    msg = a40("N2", at=AT, surviving="222", prior="").replace("MRG|^^^RGH^MR", "MRG|")
    ack = client.send(msg)
    assert ack_code(ack) == "AR" and "MRG-1 (patient identifier) is missing" in ack


JOURNEY = [
    ("A01", "J1", 0, "111", "V1", "CAR^^CAR-01^RGH"),
    ("A02", "J2", 1, "111", "V1", "CAR^^CAR-03^RGH"),
    ("A01", "J3", 1, "333", "V3", "RES^^RES-02^RGH"),
    ("A40", "J4", 2, "222", "111", ""),
    ("A03", "J5", 3, "111", "V1", ""),
    ("A01", "J6", 4, "111", "V2", "RES^^RES-01^RGH"),
    ("A02", "J7", 5, "222", "V2", "CAR^^CAR-02^RGH"),
]


def _send_journey(factory, order: list[int]) -> None:  # noqa: ANN001
    with running_listener(factory) as listener:
        client = MllpClient(listener.port)
        for i in order:
            trigger, cid, hours, patient, visit, location = JOURNEY[i]
            at = AT + hours * H
            if trigger == "A40":
                msg = a40(cid, at=at, surviving=patient, prior=visit)
            else:
                msg = adt(trigger, cid, at=at, patient=patient, visit=visit,
                          location=location)  # fmt: skip
            assert ack_code(client.send(msg)) in ("AA", "AE")
        client.close()


def _other_url(empty_url: str, tmp_path: Path, request) -> str:  # noqa: ANN001
    if empty_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'other.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:10]}")


def test_hl7m004_merge_result_does_not_depend_on_arrival_order(
    empty_url: str, tmp_path: Path, request
) -> None:  # noqa: ANN001
    results = []
    urls = [empty_url, _other_url(empty_url, tmp_path, request)]
    orders = ([0, 1, 2, 3, 4, 5, 6], [6, 3, 5, 4, 2, 1, 0])
    for n, (url, order) in enumerate(zip(urls, orders, strict=True)):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        engine, factory = prepare(url, folder)
        try:
            _send_journey(factory, order)
            with factory() as s:
                quarantined = s.scalar(
                    select(Hl7Quarantine.id).where(Hl7Quarantine.resolved_at.is_(None))
                )
                labels = dict(s.execute(select(Bed.id, Bed.label)).all())
            results.append(
                (
                    board(factory),
                    {
                        k: (v[0], labels.get(v[1]), v[3])
                        for k, v in stays(factory).items()
                    },
                    merges(factory),
                    quarantined,
                )
            )
        finally:
            engine.dispose()
    assert results[0] == results[1]
    occupied, by_stay, merged, quarantined = results[0]
    assert occupied == {"CAR-02": ref("222"), "RES-02": ref("333")}
    assert merged == [(ref("111"), ref("222"))] and quarantined is None
    assert sorted(v[0] for v in by_stay.values()) == sorted(
        [ref("222"), ref("222"), ref("333")]
    )


# -- ED cancels ---------------------------------------------------------------------
def attendance(factory) -> tuple | None:  # noqa: ANN001
    with factory() as s:
        row = s.execute(
            select(
                EdArea.code, EdAttendance.departure_at, EdAttendance.disposition
            ).join(EdArea, EdArea.id == EdAttendance.area_id)
        ).one_or_none()
        return None if row is None else tuple(row)


def test_hl7m005_ed_cancels_undo_from_our_history(feed) -> None:
    factory, client = feed
    send_ok(client, adt("A04", "E1", at=AT, cls="E", location="ED^majors^^RGH"))
    send_ok(client, adt("A02", "E2", at=AT + H, cls="E", location="ED^resus^^RGH",
                        prior_location="ED^majors^^RGH"))  # fmt: skip
    assert attendance(factory) == ("resus", None, None)
    # A12: the move into resus (PV1-6) is cancelled; PV1-3 is not trusted
    send_ok(client, adt("A12", "E3", at=AT + 2 * H, cls="E",
                        location="ED^resus^^RGH", prior_location="ED^resus^^RGH"))  # fmt: skip
    assert attendance(factory) == ("majors", None, None)
    send_ok(client, adt("A03", "E4", at=AT + 3 * H, cls="E"))
    assert attendance(factory) == ("majors", AT + 3 * H, "discharged")
    send_ok(client, adt("A13", "E5", at=AT + 4 * H, cls="E"))
    assert attendance(factory) == ("majors", None, None)  # back in the department
    for cid in ("E6", "E7"):  # repeating a cancel changes nothing
        ack = send_ok(client, adt("A13", cid, at=AT + 5 * H, cls="E"))
        assert "nothing to cancel" in ack
        send_ok(client, adt("A12", cid + "b", at=AT + 5 * H, cls="E"))
        assert attendance(factory) == ("majors", None, None)
    send_ok(client, adt("A11", "E8", at=AT + 6 * H, cls="E"))
    assert attendance(factory) is None  # as if the attendance never happened
    send_ok(client, adt("A11", "E9", at=AT + 7 * H, cls="E"))
    assert attendance(factory) is None
    with factory() as s:
        statuses = dict(
            s.execute(select(FlowEvent.kind, FlowEvent.status).where(
                FlowEvent.kind.in_(("ed_arrival", "ed_area_move", "ed_departure"))
            )).all()
        )  # fmt: skip
        assert statuses == {
            "ed_arrival": "void",
            "ed_area_move": "void",
            "ed_departure": "void",
        }
        assert s.scalar(select(Hl7Quarantine.id)) is None


def test_hl7m006_an_ed_cancel_before_what_it_cancels(feed) -> None:
    """The A13 arrives before the A03 it cancels (out of order): the history is
    the same as in order, so the attendance is open."""
    factory, client = feed
    send_ok(client, adt("A04", "L1", at=AT, cls="E", location="ED^majors^^RGH"))
    send_ok(client, adt("A13", "L3", at=AT + 2 * H, cls="E"))
    send_ok(client, adt("A03", "L2", at=AT + H, cls="E"))
    assert attendance(factory) == ("majors", None, None)
    # and an A11 before its arrival: the arrival, when it comes, is void
    send_ok(client, adt("A11", "L5", at=AT + 2 * H, cls="E", visit="V7"))
    send_ok(client, adt("A04", "L4", at=AT + H, cls="E", visit="V7",
                        location="ED^resus^^RGH"))  # fmt: skip
    with factory() as s:
        assert s.scalar(select(EdAttendance.id).where(EdAttendance.area_id.in_(
            select(EdArea.id).where(EdArea.code == "resus")))) is None  # fmt: skip
