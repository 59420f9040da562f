"""CSV imports through the event layer, on SQLite and PostgreSQL: bad files are
refused row by row with nothing applied; good files show in the figures the pages
read; the same file twice changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from data.db import create_db_engine, make_session_factory, write_session
from data.models.capacity import (
    Bed,
    EdAttendance,
    InpatientStay,
    TheatreCase,
    TheatreSession,
    Ward,
)
from data.models.events import FlowEvent
from data.models.imports import CsvImport, CsvSource
from data.models.system import FeedStatus
from data.queries.beds import ward_counts
from data.queries.metrics import snapshot_metrics
from data.writes.events import Event, apply_events
from feeds.csv.importer import run
from feeds.hl7.mapping import digest
from tests.support.apps import FROZEN_NOW
from tests.support.organisation import load_organisation_into

KEY = b"csv-test-key-" + b"q" * 32
TZ = "Europe/London"
NOW = FROZEN_NOW  # Monday 23/11/2026 10:30 GMT
LATER = NOW + timedelta(hours=1)  # after the organisation was loaded (its beds at NOW)


@pytest.fixture
def factory(empty_url: str):  # noqa: ANN201
    load_organisation_into(empty_url)
    engine = create_db_engine(empty_url)
    yield make_session_factory(engine)
    engine.dispose()


def imp(factory, kind: str, text: str, *, source: str = "src", confirm: bool = True,
        now: datetime = NOW, **kw):  # noqa: ANN001, ANN003, ANN201  # fmt: skip
    return run(factory, kind, text.encode(), source=source, filename=f"{kind}.csv",
               key=KEY, tz=TZ, now=now, confirm=confirm, **kw)  # fmt: skip


def counts(factory) -> dict:  # noqa: ANN001
    with factory() as s:
        return {
            "events": s.scalar(select(func.count(FlowEvent.id))),
            "ed": s.scalar(select(func.count(EdAttendance.id))),
            "sessions": s.scalar(select(func.count(TheatreSession.id))),
            "cases": s.scalar(select(func.count(TheatreCase.id))),
            "imports": s.scalar(select(func.count(CsvImport.id))),
            "feeds": sorted(s.scalars(select(FeedStatus.feed))),
        }


def messages(result) -> list[tuple[int, str | None, str]]:  # noqa: ANN001
    return [(e.row, e.field, e.message) for e in result.errors]


ED_GOOD = """Attendance ID,Site,Arrival,Mode,Area,Triage,Seen,Decision to admit,Departure,Disposition
A1,RGH,23/11/2026 07:05,Ambulance,majors,2,23/11/2026 07:40,23/11/2026 08:30,23/11/2026 10:10,Admitted
A2,RGH,23/11/2026 08:00,walk-in,minors,4,23/11/2026 08:20,,23/11/2026 09:00,discharged
A3,RGH,23/11/2026 09:15,walk in,minors,,,,,
"""


def test_csv001_ed_bad_file_lists_every_row_and_applies_nothing(factory) -> None:  # noqa: ANN001
    before = counts(factory)
    bad = (
        "Attendance ID,Site,Arrival,Mode,Area,Triage,Departure,Disposition\n"
        "A1,RGH,31/02/2026 07:05,ambulance,majors,2,,\n"  # no 31 February
        "A2,RGH,23/11/2026 08:00,walk_in,WARD9,3,,\n"  # unknown area
        "A3,RGH,23/11/2026 08:10,=cmd|' /C calc'!A0,minors,3,,\n"  # formula as a code
        "A4,RGH,23/11/2026 08:20,walk_in,minors,9,,\n"  # triage out of range
        "A5,RGH,23/11/2026 08:30,walk_in,minors,3,23/11/2026 08:00,discharged\n"
        "A6,RGH,23/11/2026 08:40,walk_in,minors,3,,\n"
        "A6,RGH,23/11/2026 08:40,walk_in,minors,3,,\n"  # the same row twice
    )
    result = imp(factory, "ed", bad)
    got = messages(result)
    assert not result.applied and result.rows == 7
    assert got[0][:2] == (2, "arrival") and "not a date and time" in got[0][2]
    assert (3, "area", "unknown ED area 'WARD9'") in got
    assert got[2][:2] == (4, "mode") and "looks like a spreadsheet formula" in got[2][2]
    assert got[2][2].count("=cmd|") == 1  # quoted as data
    assert (5, "triage", "9 is outside 1-5") in got
    assert got[4][:2] == (6, "departure") and "before the arrival" in got[4][2]
    assert (8, None, "attendance repeats row 7 (listed twice)") in got
    assert counts(factory) == before
    missing = imp(
        factory, "ed", "Attendance ID,Arrival,Area\nA1,23/11/2026 07:05,majors\n"
    )
    assert [(e.row, e.field) for e in missing.errors] == [(1, "mode")]
    assert "required column missing" in missing.errors[0].message
    assert counts(factory) == before


def test_csv002_ed_good_file_shows_in_the_figures_and_twice_changes_nothing(
    factory,
) -> None:  # noqa: ANN001
    preview = imp(factory, "ed", ED_GOOD, confirm=False)
    assert preview.ok and not preview.applied
    assert preview.counts == {"ed_arrival": 3, "ed_seen": 2, "ed_decision_to_admit": 1,
                              "ed_departure": 2}  # fmt: skip
    assert counts(factory)["events"] == 0  # a preview rolls back
    done = imp(factory, "ed", ED_GOOD)
    assert done.applied and done.outcomes == {"applied": 8}
    with factory() as s:
        snap = snapshot_metrics(s, NOW, TZ)
        a1 = s.scalar(select(EdAttendance).where(EdAttendance.arrival_at ==
                      datetime(2026, 11, 23, 7, 5, tzinfo=UTC)))  # fmt: skip
    assert snap.get("ed_arrivals_today", "site", "RGH") == 3
    assert snap.get("ed_in_department", "site", "RGH") == 1
    assert snap.get("ed_4h_pct_today", "site", "RGH") == 100.0  # 3 h 05 and 1 h
    assert a1.disposition == "admitted" and a1.triage == 2
    after = counts(factory)
    assert "csv:src" in after["feeds"] and "csv:src:ed" in after["feeds"]
    again = imp(factory, "ed", ED_GOOD)
    assert not again.applied and again.already and "nothing changes" in again.already
    assert counts(factory) == after
    # The same rows in another file (one more column): duplicates for the event layer.
    other = imp(
        factory, "ed", ED_GOOD.replace("Disposition\n", "Disposition,Note\n", 1)
    )
    assert other.applied and other.outcomes == {"duplicate": 8}
    with factory() as s:
        assert s.scalar(select(func.count(EdAttendance.id))) == 3
        saved = s.get(CsvSource, ("src", "ed"))
    assert (
        saved.mapping["arrival"] == "Arrival" and saved.date_format == "%d/%m/%Y %H:%M"
    )


def test_csv003_a_changed_row_is_refused_whole_by_the_event_layer(factory) -> None:  # noqa: ANN001
    imp(factory, "ed", ED_GOOD)
    before = counts(factory)
    changed = ED_GOOD.replace("23/11/2026 08:00,walk-in", "23/11/2026 08:05,walk-in")
    changed += "A9,RGH,23/11/2026 09:30,walk_in,minors,,,,,\n"
    result = imp(factory, "ed", changed)
    assert not result.applied
    assert any(e.row == 3 and "already arrived" in e.message for e in result.errors)
    assert counts(factory) == before  # A9 was not applied either


def test_csv004_clock_change_days(factory) -> None:  # noqa: ANN001
    # 25/10/2026: clocks go back at 02:00 BST; 01:30 happens twice.
    text = ("Attendance ID,Site,Arrival,Mode,Area\n"
            "B1,RGH,25/10/2026 00:30,walk_in,minors\n"
            "B2,RGH,25/10/2026 01:30,walk_in,minors\n"
            "B3,RGH,25/10/2026 03:00,walk_in,minors\n")  # fmt: skip
    result = imp(factory, "ed", text)
    assert [(e.row, e.field) for e in result.errors] == [(3, "arrival")]
    assert "happens twice" in result.errors[0].message
    fixed = text.replace("25/10/2026 00:30", "25/10/2026 00:30 +0100").replace(
        "25/10/2026 01:30", "25/10/2026 01:30 +0000").replace(
        "25/10/2026 03:00", "25/10/2026 03:00 +0000")  # fmt: skip
    done = imp(factory, "ed", fixed, date_format="%d/%m/%Y %H:%M %z")
    assert done.applied, messages(done)
    with factory() as s:
        arrivals = sorted(s.scalars(select(EdAttendance.arrival_at)))
    assert arrivals == [datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
                        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
                        datetime(2026, 10, 25, 3, 0, tzinfo=UTC)]  # fmt: skip
    # 29/03/2026: clocks go forward at 01:00 GMT; 01:30 never happens.
    spring = ("Attendance ID,Site,Arrival,Mode,Area\n"
              "C1,RGH,29/03/2026 00:30,walk_in,minors\n"
              "C2,RGH,29/03/2026 01:30,walk_in,minors\n"
              "C3,RGH,29/03/2026 02:30,walk_in,minors\n")  # fmt: skip
    result = imp(factory, "ed", spring, source="spring")
    assert [(e.row, e.field) for e in result.errors] == [(3, "arrival")]
    assert "does not exist" in result.errors[0].message
    ok = imp(factory, "ed", spring.replace("C2,RGH,29/03/2026 01:30,walk_in,minors\n", ""),
             source="spring")  # fmt: skip
    assert ok.applied
    with factory() as s:
        c3 = s.scalar(select(func.max(EdAttendance.arrival_at)).where(
            EdAttendance.arrival_at < datetime(2026, 4, 1, tzinfo=UTC)))  # fmt: skip
    assert c3 == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 BST


THEATRE_GOOD = (
    "Session ID,Site,Theatre,Specialty,Session start,Session end,Session cancellation reason,"
    "Case ID,Procedure,Case planned start,Planned minutes,Anaesthetic start,In theatre,"
    "Knife to skin,Procedure end,Left theatre,Recovered,Cancelled at,Cancellation reason\n"
    "S1,RGH,T1,General surgery,23/11/2026 08:00,23/11/2026 13:00,,K1,Lap chole,"
    "23/11/2026 08:00,90,23/11/2026 08:05,23/11/2026 08:15,23/11/2026 08:25,"
    "23/11/2026 09:30,23/11/2026 09:40,,,\n"
    "S1,RGH,T1,General surgery,23/11/2026 08:00,23/11/2026 13:00,,K2,Hernia repair,"
    "23/11/2026 10:00,60,,,,,,,23/11/2026 07:30,No bed\n"
    "S2,RGH,T2,Orthopaedics,23/11/2026 13:30,23/11/2026 17:30,Surgeon unwell,,,,,,,,,,,,\n"
)


def test_csv005_theatre_bad_and_good_files(factory) -> None:  # noqa: ANN001
    before = counts(factory)
    bad = (THEATRE_GOOD.replace(",T2,", ",T99,")  # unknown theatre
           .replace("K2,Hernia repair,23/11/2026 10:00", "K1,Hernia repair,2026-11-23 10:00")
           + THEATRE_GOOD.splitlines()[1].replace(",T1,", ",=HYPERLINK(\"x\"),")
           + "\n")  # fmt: skip
    result = imp(factory, "theatre", bad)
    got = messages(result)
    assert any(r == 3 and f == "case_planned_start" for r, f, _ in got)
    assert (4, "theatre", "unknown theatre 'T99'") in got
    assert any(r == 5 and f == "theatre" and "formula" in m for r, f, m in got)
    assert any(r == 3 and "case conflicts with row 2" in m for r, _, m in got)
    assert counts(factory) == before
    done = imp(factory, "theatre", THEATRE_GOOD)
    assert done.applied, messages(done)
    with factory() as s:
        snap = snapshot_metrics(s, NOW, TZ)
        cases = {c.procedure: c for c in s.scalars(select(TheatreCase))}
        cancelled = s.scalar(select(TheatreSession).where(TheatreSession.ref == "S2"))
    assert cases["Lap chole"].status == "recovery"
    assert cases["Hernia repair"].status == "cancelled"
    assert cases["Hernia repair"].cancel_reason == "No bed"
    assert cancelled.cancelled_reason == "Surgeon unwell"
    assert snap.get("theatre_cancellations_today", "site", "RGH") == 1
    after = counts(factory)
    assert imp(factory, "theatre", THEATRE_GOOD).already and counts(factory) == after


def _admit(factory, visit: str, ward: str, label: str, at: datetime) -> int:  # noqa: ANN001
    """An admission as the HL7 feed names it (stay ref from the visit number)."""
    with write_session(factory) as s:
        bed = s.scalar(
            select(Bed).join(Ward).where(Ward.code == ward, Bed.label == label)
        )
        bed_id = bed.id
        out = apply_events(s, [Event("admit", at, f"adm-{visit}",
                           "S" + digest(KEY, "visit", visit)[:24],
                           {"patient_ref": f"P{visit}", "bed_id": bed_id,
                            "admission_source": "ed"})], source="hl7:PAS")  # fmt: skip
        assert out[0].status == "applied", out
    return bed_id


def test_csv006_sitrep(factory) -> None:  # noqa: ANN001
    _admit(factory, "V1", "CAR", "CAR-01", NOW - timedelta(days=5))
    _admit(factory, "V2", "GAS", "GAS-03", NOW - timedelta(days=9))
    _admit(factory, "V3", "GAS", "GAS-04", NOW - timedelta(days=2))
    with factory() as s:
        assert snapshot_metrics(s, NOW, TZ).get("nctr_count", "site", "RGH") == 0
    before = counts(factory)
    bad = ("Report time,Spell number,Site,Ward,Bed,Pathway,Delay reason\n"
           "23/11/2026 08:00,V1,RGH,CAR,,P1,Awaiting transport\n"
           "23/11/2026 08:00,V9,RGH,CAR,,P1,Awaiting transport\n"  # unknown spell
           "23/11/2026 08:00,,RGH,XYZ,XYZ-1,P2,Awaiting transport\n"  # unknown ward
           "23/11/2026 08:00,,RGH,GAS,GAS-03,@SUM(1+1),Awaiting transport\n"  # formula
           "23/11/2026 08:00,V1,RGH,CAR,,P1,Awaiting transport\n"  # twice
           "23/11/2026 08:00,,RGH,GAS,GAS-05,P3,Disputes\n"  # empty bed
           "23/11/2026 08:00,V3,RGH,GAS,,P2,Awaiting placement\n")  # unknown reason  # fmt: skip
    got = messages(imp(factory, "sitrep", bad))
    assert (3, "spell", "no stay with this spell number is known") in got
    assert (4, "ward", "unknown ward 'XYZ'") in got
    assert any(r == 5 and f == "pathway" and "formula" in m for r, f, m in got)
    assert (6, None, "patient repeats row 2 (listed twice)") in got
    assert any(r == 7 and "holds no admitted patient" in m for r, _, m in got)
    assert counts(factory) == before
    assert any(r == 8 and f == "delay_reason" and "unknown delay reason" in m
               for r, f, m in got)  # not one of config/discharge.yaml's  # fmt: skip
    good = ("Report time,Spell number,Site,Ward,Bed,Pathway,Delay reason\n"
            "23/11/2026 08:00,V1,RGH,CAR,,P1,awaiting care package in  own home\n"
            "23/11/2026 08:00,,RGH,GAS,GAS-03,2,\n")  # fmt: skip
    done = imp(factory, "sitrep", good)
    assert done.applied, messages(done)
    with factory() as s:
        snap = snapshot_metrics(s, NOW, TZ)
        stays = {st.stay_ref: st for st in s.scalars(select(InpatientStay))}
    assert snap.get("nctr_count", "site", "RGH") == 2
    # The delay reason is stored on the stay as configured (the Flow page's groups).
    v1 = stays["S" + digest(KEY, "visit", "V1")[:24]]
    v2 = stays["S" + digest(KEY, "visit", "V2")[:24]]
    assert (v1.discharge_pathway, v1.delay_reason) == (
        "P1", "Awaiting care package in own home")  # fmt: skip
    assert (v2.discharge_pathway, v2.delay_reason) == ("P2", None)
    after = counts(factory)
    assert imp(factory, "sitrep", good).already and counts(factory) == after


def test_csv007_bed_snapshot(factory) -> None:  # noqa: ANN001
    _admit(factory, "V1", "CAR", "CAR-01", NOW - timedelta(days=1))
    before = counts(factory)
    bad = ("As at,Site,Ward,Bed,State,Reason\n"
           "23/11/2026 09:00,RGH,CAR,CAR-02,blocked,\n"  # no reason
           "23/11/2026 09:00,RGH,CAR,CAR-99,closed,Maintenance\n"  # unknown bed
           "23/11/2026 09:00,RGH,CAR,CAR-03,sparkling,\n"  # unknown state
           "23/11/2026 09:00,RGH,CAR,CAR-04,+closed,Leak\n"  # formula
           "23/11/2026 25:00,RGH,CAR,CAR-05,closed,Leak\n"  # wrong time
           "23/11/2026 09:00,RGH,CAR,CAR-06,closed,Leak\n"
           "23/11/2026 09:00,RGH,CAR,CAR-06,closed,Leak\n")  # twice  # fmt: skip
    got = messages(imp(factory, "beds", bad))
    assert [r for r, _, _ in got] == [2, 3, 4, 5, 6, 8]
    assert (2, "reason", "a blocked bed needs a reason") in got
    assert (3, "bed", "unknown bed 'CAR-99' on this ward") in got
    assert (8, None, "bed repeats row 7 (listed twice)") in got
    assert counts(factory) == before
    good = ("As at,Site,Ward,Bed,State,Reason\n"
            "23/11/2026 11:00,RGH,CAR,CAR-01,available,\n"  # the patient feed says occupied
            "23/11/2026 11:00,RGH,CAR,CAR-02,blocked,Infection control\n"
            "23/11/2026 11:00,RGH,CAR,CAR-03,closed,Maintenance\n"
            "23/11/2026 11:00,RGH,CAR,CAR-04,dirty,\n"
            "23/11/2026 11:00,RGH,CAR,CAR-05,available,\n")  # already so  # fmt: skip
    done = imp(factory, "beds", good, now=LATER)
    assert done.applied, messages(done)
    assert [(w.row, w.field) for w in done.warnings] == [(2, "state")]
    assert done.counts == {"bed_blocked": 1, "bed_closed": 1, "cleaning_requested": 1}
    with factory() as s:
        car = next(w for w in ward_counts(s) if (w.site_code, w.code) == ("RGH", "CAR"))
    # CAR starts with its two escalation beds closed
    assert (car.blocked, car.closed, car.awaiting_clean, car.occupied) == (1, 3, 1, 1)
    after = counts(factory)
    assert imp(factory, "beds", good, now=LATER).already and counts(factory) == after
