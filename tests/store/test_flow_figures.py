"""Every Flow page figure against a recount of the rows the test wrote (SQLite and
PostgreSQL), on an ordinary day and on the day the clocks go back (25 October 2026,
25 hours long), with stays that have no expected discharge date."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import (
    Bed,
    EdArea,
    EdAttendance,
    InpatientStay,
    Site,
    Trust,
    Ward,
)
from data.queries import flow as q

TZ = "Europe/London"
LONDON = ZoneInfo(TZ)
H = timedelta(hours=1)


def _local(y: int, m: int, d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=LONDON).astimezone(UTC)


def _build(url: str, now: datetime, seed: int) -> dict:
    rng = random.Random(seed)
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    made: dict = {"stays": [], "beds": [], "atts": [], "wards": {}}
    with write_session(factory) as s:
        trust = Trust(code="TT", name="Test trust")
        s.add(trust)
        s.flush()
        site = Site(trust_id=trust.id, code="AAA", name="A Hospital")
        s.add(site)
        s.flush()
        wards = [
            Ward(site_id=site.id, code="W1", name="Ward 1", specialty="Medicine",
                 ward_type="general_acute", core_beds=10),
            Ward(site_id=site.id, code="AMU", name="AMU", specialty="Acute medicine",
                 ward_type="assessment", core_beds=6),
            Ward(site_id=site.id, code="ITU", name="ITU", specialty="Critical care",
                 ward_type="critical_care", core_beds=4),
        ]  # fmt: skip
        s.add_all(wards)
        s.flush()
        area = EdArea(site_id=site.id, code="majors", name="Majors", spaces=10)
        s.add(area)
        s.flush()
        n = 0
        for w in wards:
            made["wards"][w.id] = (w.ward_type, w.specialty)
            for i in range(w.core_beds):
                state = rng.choice(["occupied"] * 6 + ["available", "awaiting_clean"])
                bed = Bed(ward_id=w.id, label=f"{w.code}-{i}", state=state,
                          state_since=now - 3 * H)  # fmt: skip
                s.add(bed)
                s.flush()
                made["beds"].append((w.id, state))
                if state == "occupied":
                    n += 1
                    admitted = now - timedelta(hours=rng.uniform(1, 24 * 30))
                    edd = rng.choice(
                        [
                            None,
                            now - 5 * H,
                            now + 2 * H,
                            now + 9 * H,
                            now + 30 * H,
                            now - 30 * H,
                        ]  # fmt: skip
                    )
                    ready = rng.choice([None, now - 20 * H, now + H])
                    stay = InpatientStay(
                        stay_ref=f"S{n}", patient_ref=f"P{n}", site_id=site.id,
                        ward_id=w.id, bed_id=bed.id, admitted_at=admitted,
                        admission_source="ed", expected_discharge_at=edd,
                        medically_ready_at=ready,
                        discharge_pathway="P1" if ready else None,
                    )  # fmt: skip
                    s.add(stay)
                    made["stays"].append(
                        dict(
                            ward=w.id, admitted=admitted, edd=edd, out=None, ready=ready
                        )  # fmt: skip
                    )
        # discharged stays over the last five weeks
        for _k in range(400):
            w = rng.choice(wards)
            out = now - timedelta(minutes=rng.uniform(1, 60 * 24 * 35))
            admitted = out - timedelta(hours=rng.uniform(2, 200))
            edd = rng.choice([None, out, out - 3 * H, out + 4 * H])
            n += 1
            s.add(
                InpatientStay(
                    stay_ref=f"S{n}",
                    patient_ref=f"P{n}",
                    site_id=site.id,
                    ward_id=w.id,
                    bed_id=None,
                    admitted_at=admitted,
                    admission_source="ed",
                    expected_discharge_at=edd,
                    discharged_at=out,
                )  # fmt: skip
            )
            made["stays"].append(
                dict(ward=w.id, admitted=admitted, edd=edd, out=out, ready=None)
            )
        for k in range(30):
            arrival = now - timedelta(hours=rng.uniform(0.5, 20))
            dta = rng.choice([None, arrival + timedelta(minutes=rng.uniform(10, 25))])
            if dta is not None and dta > now:
                dta = None
            dep = rng.choice([None, None, now - timedelta(minutes=5)])
            if dep is not None and (dep < arrival or (dta and dep < dta)):
                dep = None
            s.add(
                EdAttendance(
                    ref=f"A{k}",
                    site_id=site.id,
                    area_id=area.id,
                    arrival_at=arrival,
                    mode="walk_in",
                    triage=3,
                    decision_to_admit_at=dta,
                    departure_at=dep,
                    disposition="admitted" if dep else None,
                )  # fmt: skip
            )
            made["atts"].append((dta, dep))
    engine.dispose()
    return made


def _ga(made: dict, ward_id: int) -> bool:
    return made["wards"][ward_id][0] in ("general_acute", "assessment", "escalation")


CASES = {
    # Tuesday 17 November 2026, 10:30 GMT
    "ordinary": _local(2026, 11, 17, 10, 30),
    # Sunday 25 October 2026: clocks go back at 02:00 BST; 15:10 GMT
    "clock-change": _local(2026, 10, 25, 15, 10),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_flow001_bed_gap_and_discharges_recount(empty_url: str, case: str) -> None:
    now = CASES[case]
    made = _build(empty_url, now, seed=len(case))
    engine = create_db_engine(empty_url)
    with make_session_factory(engine)() as s:
        gap = q.bed_gap(s, q.FlowFilters(), now, TZ)
        dis = q.discharges(s, q.FlowFilters(), now, TZ)
        rows = q.board(s, q.FlowFilters(), now)
        by_ward = q.bed_gap(s, q.FlowFilters(specialty="Medicine"), now, TZ)
    engine.dispose()

    # Recount: local day by hand (the clock-change day starts 00:00 BST = 23:00 UTC
    # the day before and ends 00:00 GMT = 24:00 UTC, 25 hours).
    local_now = now.astimezone(LONDON)
    day = local_now.date()
    start = datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=LONDON).astimezone(UTC)
    if case == "clock-change":
        assert end - start == timedelta(hours=25)
    ga_beds = [st for w, st in made["beds"] if _ga(made, w)]
    assert gap.available == ga_beds.count("available")
    assert gap.awaiting_clean == ga_beds.count("awaiting_clean")
    assert gap.occupied == ga_beds.count("occupied")
    waiting = [d for d, dep in made["atts"] if d is not None and dep is None]
    assert gap.waiting == len(waiting)
    assert gap.longest_wait_min == pytest.approx(
        (now - min(waiting)).total_seconds() / 60
    )
    assert by_ward.waiting is None  # ED cannot say which ward a patient will go to
    ga_stays = [x for x in made["stays"] if _ga(made, x["ward"])]
    assert gap.expected_today == sum(
        1
        for x in ga_stays
        if x["edd"] is not None
        and start <= x["edd"] < end
        and (x["out"] is None or x["out"] >= start)
    )
    assert gap.discharged_today == sum(
        1 for x in ga_stays if x["out"] is not None and start <= x["out"] <= now
    )
    for p in gap.projections:
        if p.at <= now:
            assert p.free is None
            continue
        out = sum(
            1
            for x in ga_stays
            if x["out"] is None and x["edd"] is not None and start <= x["edd"] <= p.at
        )
        assert p.expected_out == out
        assert p.free == gap.available + gap.awaiting_clean + out - len(waiting)
    assert [p.at for p in gap.projections][-1] == end

    # discharges by local hour today
    today_out = [x["out"] for x in ga_stays if x["out"] and start <= x["out"] <= now]
    hours = [0] * 24
    for t in today_out:
        hours[t.astimezone(LONDON).hour] += 1
    assert dis.today == hours
    assert dis.total_today == len(today_out)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=LONDON).astimezone(UTC)
    assert dis.before_noon_today == sum(1 for t in today_out if t < noon)
    eleven = noon - H
    assert dis.done_by_11 == sum(1 for t in today_out if t <= eleven)
    assert dis.expected_by_11 == sum(
        1
        for x in ga_stays
        if x["edd"] is not None
        and start <= x["edd"] <= eleven
        and (x["out"] is None or x["out"] >= start)
    )
    # the usual: mean of the same weekday in the four weeks before, per local hour
    usual = [0.0] * 24
    for k in range(1, 5):
        d = day - timedelta(days=7 * k)
        for x in ga_stays:
            if x["out"] and x["out"].astimezone(LONDON).date() == d:
                usual[x["out"].astimezone(LONDON).hour] += 0.25
    assert dis.usual == pytest.approx(usual)
    assert dis.weekend == (case == "clock-change")
    yday = day - timedelta(days=1)
    y_out = [
        x["out"]
        for x in ga_stays
        if x["out"] and x["out"].astimezone(LONDON).date() == yday
    ]
    assert dis.yesterday_total == len(y_out)
    assert dis.yesterday_before_noon == sum(
        1 for t in y_out if t.astimezone(LONDON).hour < 12
    )

    # board: every open stay (all ward types), flags and overdue recounted
    open_stays = [x for x in made["stays"] if x["out"] is None]
    assert len(rows) == len(open_stays)
    assert sum(r.expected_discharge_at is None for r in rows) == sum(
        x["edd"] is None for x in open_stays
    )
    assert any(r.expected_discharge_at is None for r in rows)
    assert sum(r.overdue for r in rows) == sum(
        1 for x in open_stays if x["edd"] is not None and x["edd"] < now
    )
    for r in rows:
        days = (now - r.admitted_at).total_seconds() / 86400
        expected = "super-stranded" if days >= 21 else "stranded" if days >= 7 else None
        assert r.stranded == expected
    assert sum(r.medically_ready_at is not None for r in rows) == sum(
        1 for x in open_stays if x["ready"] is not None and x["ready"] <= now
    )
