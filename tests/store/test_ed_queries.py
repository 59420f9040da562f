"""ED page queries and ``/api/v1/ed`` equal an independent recount from raw rows.

Runs on SQLite and a real PostgreSQL server. The hand-written store puts "now" late on
Sunday 25 October 2026, the 25-hour day the clocks go back in Europe/London, with a
stay across midnight and arrivals in both 01:00 hours.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from app import create_app
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import EdArea, EdAttendance, Site, Trust
from data.models.system import FeedStatus
from data.queries import ed as q
from tests.support.apps import FROZEN_NOW, settings_for

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 10, 25, 23, 30, tzinfo=UTC)  # 23:30 GMT, still Sunday the 25th


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass(frozen=True)
class Att:
    ref: str
    area: str
    arrival: datetime
    mode: str = "walk_in"
    handover: datetime | None = None
    seen: datetime | None = None
    departure: datetime | None = None


ROWS = [
    # Across midnight: arrived 23:30 BST Saturday, left 00:30 BST Sunday -> departs today.
    Att("across", "majors", utc(2026, 10, 24, 22, 30), seen=utc(2026, 10, 24, 22, 40),
        departure=utc(2026, 10, 24, 23, 30)),
    Att("first-hour", "minors", utc(2026, 10, 24, 23, 10), departure=utc(2026, 10, 25, 1, 0),
        seen=utc(2026, 10, 24, 23, 50)),
    Att("bst-0120", "minors", utc(2026, 10, 25, 0, 20), departure=utc(2026, 10, 25, 2, 0),
        seen=utc(2026, 10, 25, 0, 30)),
    Att("gmt-0120", "minors", utc(2026, 10, 25, 1, 20), departure=utc(2026, 10, 25, 3, 0),
        seen=utc(2026, 10, 25, 2, 0)),
    Att("breach", "majors", utc(2026, 10, 25, 9, 0), departure=utc(2026, 10, 25, 14, 0),
        seen=utc(2026, 10, 25, 9, 30)),
    Att("long-stay", "majors", utc(2026, 10, 25, 10, 0), mode="ambulance",
        handover=utc(2026, 10, 25, 10, 45), seen=utc(2026, 10, 25, 11, 0)),
    Att("queue-40", "majors", utc(2026, 10, 25, 22, 50), mode="ambulance"),
    Att("queue-10", "resus", utc(2026, 10, 25, 23, 20), mode="ambulance"),
    Att("waiting", "minors", utc(2026, 10, 25, 21, 0)),
    Att("future", "minors", utc(2026, 10, 25, 23, 40)),  # after "now": not counted
    # Last Sunday (a normal 24-hour day) and the Sunday before, for the usual band.
    *[Att(f"hist-{d}-{h}", "minors", utc(2026, 10, d, h, 15), departure=utc(2026, 10, d, h, 45))
      for d in (11, 18) for h in range(0, 24, 3)],
]  # fmt: skip


def _build(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with write_session(factory) as s:
        trust = Trust(code="TT", name="Test trust")
        s.add(trust)
        s.flush()
        site = Site(trust_id=trust.id, code="AAA", name="A Hospital")
        other = Site(trust_id=trust.id, code="BBB", name="B Hospital")
        s.add_all([site, other])
        s.flush()
        areas = {}
        for code, spaces in (("resus", 2), ("majors", 4), ("minors", 3)):
            areas[code] = EdArea(
                site_id=site.id, code=code, name=code.title(), spaces=spaces
            )
        s.add_all(areas.values())
        s.add(EdArea(site_id=other.id, code="majors", name="Majors", spaces=5))
        s.flush()
        for r in ROWS:
            s.add(
                EdAttendance(ref=r.ref, site_id=site.id, area_id=areas[r.area].id,
                             arrival_at=r.arrival, mode=r.mode, triage=3, handover_at=r.handover,
                             seen_at=r.seen, departure_at=r.departure,
                             disposition="discharged" if r.departure else None)
            )  # fmt: skip
        # Data begins at local midnight on 4 Oct so the band uses only complete Sundays.
        s.add(
            EdAttendance(ref="start", site_id=site.id, area_id=areas["minors"].id,
                         arrival_at=utc(2026, 10, 3, 23, 0), mode="walk_in", triage=4,
                         departure_at=utc(2026, 10, 3, 23, 30), disposition="discharged")
        )  # fmt: skip
        s.add(FeedStatus(feed="simulator", last_write_at=NOW - timedelta(minutes=1)))
    engine.dispose()


ALL = [
    *ROWS,
    Att("start", "minors", utc(2026, 10, 3, 23, 0), departure=utc(2026, 10, 3, 23, 30)),
]


def _inside(now: datetime) -> list[Att]:
    return [r for r in ALL if r.arrival <= now and r.departure is None]


def _label(t: datetime) -> str:
    local = t.astimezone(LONDON)
    label = f"{local.hour:02d}:00"
    return f"{label} {local.tzname()}" if local.hour == 1 else label


@pytest.fixture
def store(empty_url: str):  # noqa: ANN201
    _build(empty_url)
    engine = create_db_engine(empty_url)
    yield empty_url, make_session_factory(engine)
    engine.dispose()


def test_ed301_page_data_equals_recount_on_the_long_clock_change_day(store):
    _, factory = store
    with factory() as session:
        data = q.ed_page_data(session, NOW, "Europe/London", "AAA", 4)
    # Time in department of patients now, by whole hours since arrival.
    expected_bins = Counter(
        min(int((NOW - r.arrival).total_seconds() // 3600), 24) for r in _inside(NOW)
    )
    assert data.time_in_department == [expected_bins.get(h, 0) for h in range(25)]
    assert sum(data.time_in_department) == 4
    # Arrivals today per local hour: 25 labelled hours, both 01:00 hours kept apart.
    day_start = datetime(2026, 10, 25, tzinfo=LONDON).astimezone(UTC)
    today = Counter(_label(r.arrival) for r in ALL if day_start <= r.arrival <= NOW)
    got = {p.label: p.arrivals for p in data.today.points}
    assert len(data.today.points) == 25
    assert {k: v for k, v in got.items() if v} == dict(today)
    assert got["01:00 BST"] == 1 and got["01:00 GMT"] == 1 and got["00:00"] == 1
    assert "across" not in {
        r.ref for r in ALL if day_start <= r.arrival
    }  # came yesterday
    # The usual band: Sundays 11 and 18 Oct (4 Oct starts the store at local midnight).
    assert [d.day for d in data.today.band_days] == [4, 11, 18]
    by_label = {p.label: p for p in data.today.points}
    # The median of three same-weekday samples is the middle one, recounted from rows.
    for label in ("00:00", "04:00", "13:00"):
        hour = int(label[:2])
        samples = []
        for day in (4, 11, 18):
            samples.append(
                sum(1 for r in ALL if r.arrival.astimezone(LONDON).date().day == day
                    and r.arrival.astimezone(LONDON).month == 10
                    and r.arrival.astimezone(LONDON).hour == hour)
            )  # fmt: skip
        assert by_label[label].median == sorted(samples)[1]
    # Handover queue: ambulances not handed over, longest first, waiting in minutes.
    assert [(h.ref, round(h.waiting_min)) for h in data.handovers] == [
        ("queue-40", 40),
        ("queue-10", 10),
    ]
    assert [a.code for a in data.areas] == ["resus", "majors", "minors"]


def test_ed302_site_filter_and_empty_site(store):
    _, factory = store
    with factory() as session:
        other = q.ed_page_data(session, NOW, "Europe/London", "BBB", 8)
        both = q.ed_page_data(session, NOW, "Europe/London", None, 8)
    assert sum(other.time_in_department) == 0 and other.handovers == []
    assert other.today.arrivals_so_far == 0
    assert other.heatmap.overall_mean is None  # no history is missing, not zero
    assert len(both.areas) == 4 and sum(both.time_in_department) == 4


def test_ed303_api_equals_recount(store):
    url, _ = store
    app = create_app(settings_for(url, now=NOW), prepare=False)
    body = app.server.test_client().get("/api/v1/ed").get_json()
    site = next(s for s in body["sites"] if s["code"] == "AAA")
    day_start = datetime(2026, 10, 25, tzinfo=LONDON).astimezone(UTC)
    departed = [r for r in ALL if r.departure and day_start < r.departure <= NOW]
    within = [r for r in departed if r.departure - r.arrival <= timedelta(hours=4)]
    assert {r.ref for r in departed} == {
        "across",
        "first-hour",
        "bst-0120",
        "gmt-0120",
        "breach",
    }
    assert (
        site["four_hour_pct_today"]
        == round(100 * len(within) / len(departed), 1)
        == 80.0
    )
    inside = _inside(NOW)
    assert site["in_department"] == len(inside) == 4
    assert site["waiting_to_be_seen"] == sum(r.seen is None for r in inside) == 3
    assert site["over_12h_count"] == sum(
        NOW - r.arrival > timedelta(hours=12) for r in inside
    )
    assert site["over_12h_count"] == 1
    assert site["ambulances_waiting"] == 2 and site["ambulances_waiting_over_30"] == 1
    assert site["handovers_over_30_today"] == 1 and site["handovers_over_60_today"] == 0
    areas = {a["code"]: a for a in site["by_area"]}
    # In a space: walk-ins and handed-over ambulances (queue-40/queue-10 are not).
    assert areas["majors"]["patients"] == 1 and areas["majors"]["spaces"] == 4
    assert areas["minors"]["patients"] == 1 and areas["minors"]["occupancy_pct"] == 33.3
    assert areas["resus"]["patients"] == 0 and areas["resus"]["occupancy_pct"] == 0.0
    empty = next(s for s in body["sites"] if s["code"] == "BBB")
    assert (
        empty["four_hour_pct_today"] is None
        and empty["median_time_to_treatment_min"] is None
    )
    assert empty["in_department"] == 0
    assert body["as_of"].startswith("2026-10-25T23:29")
    one = app.server.test_client().get("/api/v1/ed?site=BBB").get_json()
    assert [s["code"] for s in one["sites"]] == ["BBB"]
    assert app.server.test_client().get("/api/v1/ed?site=ZZZ").status_code == 404


def _ts(value: datetime | str | None) -> datetime | None:
    """A raw column value as aware UTC (SQLite hands back text, PostgreSQL datetimes)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_ed304_seeded_store_equals_recount(seeded_runtime):
    now = FROZEN_NOW
    with seeded_runtime.factory() as session:
        data = q.ed_page_data(session, now, "Europe/London", "RGH", 4)
        rows = session.execute(
            text(
                "SELECT a.arrival_at, a.departure_at, a.mode, a.handover_at FROM ed_attendance a "
                "JOIN site s ON s.id = a.site_id WHERE s.code = 'RGH'"
            )
        ).all()
    atts = [(_ts(r[0]), _ts(r[1]), r[2], _ts(r[3])) for r in rows]
    inside = [a for a in atts if a[0] <= now and a[1] is None]
    bins = Counter(min(int((now - a[0]).total_seconds() // 3600), 24) for a in inside)
    assert data.time_in_department == [bins.get(h, 0) for h in range(25)]
    midnight = datetime(2026, 11, 23, tzinfo=LONDON).astimezone(UTC)
    today = Counter(
        a[0].astimezone(LONDON).hour for a in atts if midnight <= a[0] <= now
    )
    assert {p.local_hour: p.arrivals for p in data.today.points if p.arrivals} == {
        h: n for h, n in today.items() if n
    }
    queue = [a for a in inside if a[2] == "ambulance" and a[3] is None]
    assert len(data.handovers) == len(queue)
    # Heatmap: Monday 10:00 mean over the complete Mondays of the last 4 weeks.
    first, last = data.heatmap.first_day, data.heatmap.last_day
    monday_10 = [
        a for a in atts
        if first <= a[0].astimezone(LONDON).date() <= last
        and a[0].astimezone(LONDON).weekday() == 0 and a[0].astimezone(LONDON).hour == 10
    ]  # fmt: skip
    n_mondays = sum(
        1
        for k in range((last - first).days + 1)
        if (first + timedelta(days=k)).weekday() == 0
    )
    assert data.heatmap.mean[0][10] == pytest.approx(len(monday_10) / n_mondays)
