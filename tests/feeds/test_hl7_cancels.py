"""Cancels that reach across domains: an A11 of an admission from ED, over a real
MLLP connection to the listener."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.models.capacity import Bed, EdAttendance, InpatientStay
from tests.feeds.hl7_support import (
    AT,
    MllpClient,
    ack_code,
    ack_text,
    adt,
    prepare,
    running_listener,
)

H = timedelta(hours=1)


@pytest.fixture
def feed(empty_url: str, tmp_path: Path):  # noqa: ANN201
    engine, factory = prepare(empty_url, tmp_path)
    with running_listener(factory) as listener:
        client = MllpClient(listener.port)
        yield factory, client
        client.close()
    engine.dispose()


def send_ok(client: MllpClient, message: str) -> None:
    ack = client.send(message)
    assert ack_code(ack) == "AA", ack_text(ack)


def attendance(factory) -> tuple:  # noqa: ANN001
    with factory() as s:
        att = s.scalar(select(EdAttendance))
        return att.departure_at, att.disposition


def stays_and_bed(factory) -> tuple:  # noqa: ANN001
    with factory() as s:
        n = len(s.scalars(select(InpatientStay)).all())
        bed = s.scalar(select(Bed.state).where(Bed.label == "RES-03"))
        return n, bed


@pytest.mark.parametrize("how", ["mrg5", "same_visit"])
def test_a11_of_an_admission_from_ed_reopens_the_attendance(feed, how: str) -> None:  # noqa: ANN001
    factory, client = feed
    send_ok(client, adt("A04", "C1", at=AT, cls="E", visit="ED77",
                        location="ED^majors^MAJ-02^RGH"))  # fmt: skip
    if how == "mrg5":  # A06 names the ED visit in MRG-5
        mrg = "MRG|9990001^^^RGH^MR||||ED77"
        admit = adt("A06", "C2", at=AT + 2 * H, visit="IP88",
                    location="RES^^RES-03^RGH", extra=[mrg])  # fmt: skip
    else:  # A01 of the same visit number
        admit = adt("A01", "C2", at=AT + 2 * H, visit="ED77",
                    location="RES^^RES-03^RGH")  # fmt: skip
    send_ok(client, admit)
    assert attendance(factory) == (AT + 2 * H, "admitted")
    assert stays_and_bed(factory) == (1, "occupied")
    visit = "IP88" if how == "mrg5" else "ED77"
    send_ok(client, adt("A11", "C3", at=AT + 3 * H, visit=visit))
    # the admission never happened: the patient is back in the department
    assert stays_and_bed(factory) == (0, "available")
    assert attendance(factory) == (None, None)
    # a repeated cancel changes nothing
    send_ok(client, adt("A11", "C4", at=AT + 4 * H, visit=visit))
    assert attendance(factory) == (None, None)
    # and the patient can then be admitted again
    send_ok(client, adt("A01", "C5", at=AT + 5 * H, visit="IP99",
                        location="RES^^RES-03^RGH", pv1={50: "ED77"}))  # fmt: skip
    assert attendance(factory) == (AT + 5 * H, "admitted")
    assert stays_and_bed(factory) == (1, "occupied")


def a40(control_id: str, *, at, surviving: str, prior: str) -> str:  # noqa: ANN001
    """ADT^A40 (ADT_A39): MSH, EVN, PID (surviving), MRG (MRG-1 prior), PV1."""
    msh, evn, pid, pv1 = adt(
        "A40", control_id, at=at, patient=surviving, structure="ADT_A39"
    ).split("\r")
    return "\r".join([msh, evn, pid, f"MRG|{prior}^^^RGH^MR", pv1])


def test_a40_merge_carries_stays_without_a_visit_number(feed) -> None:  # noqa: ANN001
    """A stay named by patient + admit time (no PV1-19) is found under the
    surviving patient's number after a merge."""
    factory, client = feed
    admitted = {44: "20260302090000+0000"}
    send_ok(client, adt("A01", "M1", at=AT, patient="111", visit="",
                        location="RES^^RES-03^RGH", pv1=admitted))  # fmt: skip
    assert stays_and_bed(factory) == (1, "occupied")
    send_ok(client, a40("M2", at=AT + H, surviving="222", prior="111"))
    # the surviving number, the same admit time: the same stay
    send_ok(client, adt("A02", "M3", at=AT + 2 * H, patient="222", visit="",
                        location="RES^^RES-04^RGH", pv1=admitted))  # fmt: skip
    with factory() as s:
        [stay] = s.scalars(select(InpatientStay)).all()
        bed = s.scalar(select(Bed.label).where(Bed.id == stay.bed_id))
    assert bed == "RES-04"
    send_ok(client, adt("A03", "M4", at=AT + 3 * H, patient="222", visit="",
                        pv1=admitted))  # fmt: skip
    with factory() as s:
        [stay] = s.scalars(select(InpatientStay)).all()
    assert stay.discharged_at == AT + 3 * H
    # the prior number still names it too (a late message from another system)
    send_ok(client, adt("A13", "M5", at=AT + 4 * H, patient="111", visit="",
                        pv1=admitted))  # fmt: skip
    with factory() as s:
        assert s.scalar(select(InpatientStay.discharged_at)) is None
