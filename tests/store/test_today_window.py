"""The "today" window is the trust's local calendar day: an event at exactly local
midnight (00:00:00) belongs to the new day, in every "today" figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import (
    EdArea,
    EdAttendance,
    Site,
    Theatre,
    TheatreCase,
    TheatreSession,
    Trust,
)
from data.models.system import FeedStatus
from data.queries.metrics import snapshot_metrics
from data.queries.overview import overview_extras

TZ = "Europe/London"
# 10:30 on Monday 23 November 2026 (GMT: local midnight is 00:00 UTC).
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
# Summer: local midnight is 23:00 UTC the evening before.
NOW_BST = datetime(2026, 7, 6, 10, 30, tzinfo=UTC)
MIDNIGHT_BST = datetime(2026, 7, 5, 23, 0, tzinfo=UTC)


def _build(url: str, midnight: datetime) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    h = timedelta(hours=1)
    with write_session(factory) as s:
        trust = Trust(code="TT", name="Test trust")
        s.add(trust)
        s.flush()
        site = Site(trust_id=trust.id, code="AAA", name="A Hospital")
        s.add(site)
        s.flush()
        area = EdArea(site_id=site.id, code="majors", name="Majors", spaces=4)
        s.add(area)
        s.flush()

        def att(ref: str, arrival: datetime, **kw: object) -> EdAttendance:
            return EdAttendance(
                ref=ref, site_id=site.id, area_id=area.id, arrival_at=arrival,
                mode=kw.pop("mode", "walk_in"), triage=3, **kw,
            )  # fmt: skip

        s.add_all(
            [
                # departs at exactly local midnight, 2 h after arrival: within 4 h
                att("at-midnight", midnight - 2 * h, seen_at=midnight - h,
                    departure_at=midnight, disposition="discharged"),
                # departs later today, 5 h after arrival: a breach
                att("breach", midnight + h, seen_at=midnight + 2 * h,
                    departure_at=midnight + 6 * h, disposition="discharged"),
                # handed over at exactly midnight, 90 min after arrival
                att("handover", midnight - 1.5 * h, mode="ambulance",
                    handover_at=midnight, seen_at=midnight, departure_at=midnight + 2 * h,
                    disposition="discharged"),
                # arrives at exactly midnight
                att("arrival", midnight),
            ]
        )  # fmt: skip
        theatre = Theatre(site_id=site.id, code="T1", name="Theatre 1", suite="Main")
        s.add(theatre)
        s.flush()
        ts = TheatreSession(
            ref="s1", theatre_id=theatre.id, specialty="General surgery",
            planned_start=midnight, planned_end=midnight + 12 * h,
        )  # fmt: skip
        s.add(ts)
        s.flush()
        s.add_all(
            [
                TheatreCase(ref="c-cancel", session_id=ts.id, procedure="Hernia repair",
                            planned_start=midnight + 9 * h, planned_minutes=60,
                            status="cancelled", cancelled_at=midnight, cancel_reason="no bed"),
                TheatreCase(ref="c-done", session_id=ts.id, procedure="Appendicectomy",
                            planned_start=midnight - h, planned_minutes=60, status="done",
                            anaesthetic_at=midnight - 2 * h, in_theatre_at=midnight - 2 * h,
                            out_of_theatre_at=midnight),
            ]
        )  # fmt: skip
        for feed in ("simulator",):
            s.add(FeedStatus(feed=feed, last_write_at=midnight + 10 * h))
    engine.dispose()


@pytest.mark.parametrize(
    ("now", "midnight"), [(NOW, MIDNIGHT), (NOW_BST, MIDNIGHT_BST)], ids=["gmt", "bst"]
)
def test_day001_midnight_belongs_to_the_new_day(tmp_path: Path, now, midnight):  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'day.db'}"
    _build(url, midnight)
    engine = create_db_engine(url)
    with make_session_factory(engine)() as s:
        snap = snapshot_metrics(s, now, TZ)
        extras = overview_extras(s, now, TZ)
    engine.dispose()
    site = ("site", "AAA")
    # three departures today (midnight, breach, handover), two within 4 h
    assert snap.values[("ed_4h_pct_today", *site)] == pytest.approx(200 / 3)
    assert snap.values[("handovers_over_60_today", *site)] == 1
    assert snap.values[("handovers_over_30_today", *site)] == 1
    # arrived today: "arrival" (00:00) and "breach" (01:00); the others the evening before
    assert snap.values[("ed_arrivals_today", *site)] == 2
    # seen today: breach (60 min), handover (90 min, seen at 00:00)
    assert snap.values[("median_time_to_treatment_min", *site)] == pytest.approx(75)
    assert (
        snap.values[("theatre_cancellations_today", "theatre_suite", "AAA-Main")] == 1
    )
    assert extras.cases_done_today["AAA"] == 1
