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
def feed(tmp_path: Path):  # noqa: ANN201
    engine, factory = prepare(f"sqlite:///{tmp_path / 'hl7.db'}", tmp_path)
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
