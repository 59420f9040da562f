"""The per-process caches of the read queries save work but never show stale data.

Runs against SQLite and a real PostgreSQL server.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from data.db import write_session
from data.models.capacity import Bed, EdArea, EdAttendance, Site
from data.queries import ed as edq
from data.queries.metrics import SnapshotCache, snapshot_metrics
from data.writes import touch_feed
from tests.support.apps import FROZEN_NOW

TZ = "Europe/London"


def test_cache001_shared_snapshot_is_one_computation_until_a_write(seeded_runtime):
    cache = SnapshotCache(bucket_seconds=5, timer=lambda: 1000.0)
    now = FROZEN_NOW + timedelta(seconds=3)  # inside the 10:30:00 bucket
    with seeded_runtime.factory() as s:
        first = cache.get(s, now, TZ)
        again = cache.get(s, now + timedelta(seconds=1), TZ)
        direct = snapshot_metrics(s, FROZEN_NOW, TZ)
    assert again is first and (cache.hits, cache.misses) == (1, 1)
    assert first.at == FROZEN_NOW  # taken at the bucket's start
    assert first.values == direct.values
    code = first.scopes("site")[0]
    before = first.get("beds_available", "site", code)
    # A write (which touches feed_status, as every writer does) is seen at once.
    with write_session(seeded_runtime.factory) as s:
        bed_id = s.scalar(
            select(Bed.id)
            .join(Bed.ward)
            .join(Site)
            .where(Site.code == code, Bed.state == "occupied")
            .limit(1)
        )
        s.execute(update(Bed).where(Bed.id == bed_id).values(state="available"))
        touch_feed(s, "test", FROZEN_NOW + timedelta(seconds=2))
    with seeded_runtime.factory() as s:
        after = cache.get(s, now + timedelta(seconds=1), TZ)
    assert after is not first and cache.misses == 2
    assert after.get("beds_available", "site", code) == before + 1
    # A new time bucket computes afresh too.
    with seeded_runtime.factory() as s:
        later = cache.get(s, now + timedelta(seconds=5), TZ)
    assert later is not after and later.at == FROZEN_NOW + timedelta(seconds=5)


def test_cache002_arrivals_per_hour_equal_a_recount_and_follow_writes(seeded_runtime):
    start = FROZEN_NOW - timedelta(days=7)
    with seeded_runtime.factory() as s:
        site = s.scalar(select(Site.code).order_by(Site.code).limit(1))
        got = edq.arrivals_by_utc_hour(s, start, FROZEN_NOW, site)
        again = edq.arrivals_by_utc_hour(s, start, FROZEN_NOW, site)
        total = s.scalar(
            select(func.count(EdAttendance.id))
            .join(Site, Site.id == EdAttendance.site_id)
            .where(
                Site.code == site,
                EdAttendance.arrival_at >= start,
                EdAttendance.arrival_at <= FROZEN_NOW,
            )
        )
        site_id, area_id = s.execute(
            select(Site.id, EdArea.id).join(EdArea, EdArea.site_id == Site.id)
            .where(Site.code == site).limit(1)
        ).one()  # fmt: skip
    assert sum(got.counts.values()) == total and again.counts == got.counts
    # A late record in a past hour (a feed backfilling) is counted once it is written.
    past_hour = (FROZEN_NOW - timedelta(days=2)).replace(minute=0, second=0)
    with write_session(seeded_runtime.factory) as s:
        s.add(
            EdAttendance(
                ref="late-backfill", site_id=site_id, area_id=area_id,
                arrival_at=past_hour + timedelta(minutes=7), mode="walk_in", triage=4,
                departure_at=past_hour + timedelta(hours=2), disposition="discharged",
            )
        )  # fmt: skip
        touch_feed(s, "test", FROZEN_NOW)
    with seeded_runtime.factory() as s:
        after = edq.arrivals_by_utc_hour(s, start, FROZEN_NOW, site)
    assert after.counts[past_hour] == got.counts.get(past_hour, 0) + 1
    assert sum(after.counts.values()) == total + 1


def test_cache003_theatre_window_with_settled_memo_equals_a_full_load(seeded_runtime):
    from data.models.capacity import TheatreCase
    from data.queries import theatres as tq

    tz = "Europe/London"
    start, end = tq.window_for(FROZEN_NOW, tz, 28)
    with seeded_runtime.factory() as s:
        full = tq.load_window(s, start, end)
        paged = tq.load_window_for_page(s, start, end, FROZEN_NOW, tz)
        again = tq.load_window_for_page(s, start, end, FROZEN_NOW, tz)
        old_case = s.scalar(
            select(TheatreCase.id)
            .where(TheatreCase.planned_start < FROZEN_NOW - timedelta(days=5))
            .order_by(TheatreCase.id.desc()).limit(1)
        )  # fmt: skip
    assert paged.sessions == full.sessions and again.sessions == full.sessions
    assert paged.theatres == full.theatres
    # A new record (here a late case on a settled session) is read at once.
    with write_session(seeded_runtime.factory) as s:
        case = s.get(TheatreCase, old_case)
        s.add(
            TheatreCase(
                ref="late-case", session_id=case.session_id, procedure="Late entry",
                planned_start=case.planned_start, planned_minutes=30, status="cancelled",
                cancelled_at=case.planned_start, cancel_reason="patient unfit",
            )
        )  # fmt: skip
    with seeded_runtime.factory() as s:
        after = tq.load_window_for_page(s, start, end, FROZEN_NOW, tz)
        reloaded = tq.load_window(s, start, end)
    assert after.sessions == reloaded.sessions != full.sessions
    assert any(c.ref == "late-case" for x in after.sessions for c in x.cases)
