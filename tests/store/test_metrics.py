"""Catalogue metrics equal an independent recount from the raw rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from data.db import create_db_engine, make_session_factory, upgrade
from data.models.capacity import (
    Bed,
    EdArea,
    EdAttendance,
    InpatientStay,
    Site,
    TheatreCase,
    Ward,
)
from data.queries.metrics import snapshot_metrics
from feeds.seed import seed_demo
from ops.metrics import CATALOGUE
from tests.support.apps import FROZEN_NOW

LONDON = ZoneInfo("Europe/London")


def _recount(session, now: datetime, site_code: str) -> dict[str, float | None]:  # noqa: ANN001
    site = session.scalar(select(Site).where(Site.code == site_code))
    wards = {
        w.id: w for w in session.scalars(select(Ward).where(Ward.site_id == site.id))
    }
    beds = [b for b in session.scalars(select(Bed)) if b.ward_id in wards]
    ga = [
        b
        for b in beds
        if wards[b.ward_id].ward_type in ("general_acute", "assessment", "escalation")
    ]
    ga_open = [b for b in ga if b.state in ("occupied", "available", "awaiting_clean")]
    ga_occ = [b for b in ga_open if b.state == "occupied"]
    atts = session.scalars(
        select(EdAttendance).where(EdAttendance.site_id == site.id)
    ).all()
    local_today = now.astimezone(LONDON).date()
    departed_today = [
        a
        for a in atts
        if a.departure_at is not None
        and a.departure_at <= now
        and a.departure_at.astimezone(LONDON).date() == local_today
    ]
    within = [
        a for a in departed_today if a.departure_at - a.arrival_at <= timedelta(hours=4)
    ]
    inside = [a for a in atts if a.arrival_at <= now and a.departure_at is None]
    seen_today = [
        (a.seen_at - a.arrival_at).total_seconds() / 60
        for a in atts
        if a.seen_at is not None
        and a.seen_at <= now
        and a.seen_at.astimezone(LONDON).date() == local_today
    ]
    areas = {
        a.id: a
        for a in session.scalars(select(EdArea).where(EdArea.site_id == site.id))
    }
    mr_spaces = sum(a.spaces for a in areas.values() if a.code in ("majors", "resus"))
    mr_in = [
        a
        for a in inside
        if areas[a.area_id].code in ("majors", "resus")
        and not (a.mode == "ambulance" and a.handover_at is None)
    ]
    h60 = [
        a
        for a in atts
        if a.handover_at is not None
        and a.handover_at <= now
        and a.handover_at.astimezone(LONDON).date() == local_today
        and a.handover_at - a.arrival_at > timedelta(minutes=60)
    ]
    stays = session.scalars(
        select(InpatientStay).where(InpatientStay.site_id == site.id)
    ).all()
    nctr = [
        s
        for s in stays
        if s.discharged_at is None
        and s.medically_ready_at is not None
        and s.medically_ready_at <= now
    ]
    occupied = [b for b in beds if b.state == "occupied"]
    cancelled = [
        c
        for c in session.scalars(select(TheatreCase))
        if c.cancelled_at is not None
        and c.cancelled_at <= now
        and c.cancelled_at.astimezone(LONDON).date() == local_today
        and c.ref.startswith(f"C{site.id}-")
    ]
    return {
        "ga_occupancy_pct": 100 * len(ga_occ) / len(ga_open) if ga_open else None,
        "beds_available": sum(b.state == "available" for b in beds),
        "ed_4h_pct_today": 100 * len(within) / len(departed_today)
        if departed_today
        else None,
        "ed_in_department": len(inside),
        "ed_waiting_to_be_seen": sum(a.seen_at is None for a in inside),
        "ed_over_12h_count": sum(
            now - a.arrival_at > timedelta(hours=12) for a in inside
        ),
        "median_time_to_treatment_min": median(seen_today) if seen_today else None,
        "majors_resus_occupancy_pct": 100 * len(mr_in) / mr_spaces,
        "handovers_over_60_today": len(h60),
        "nctr_pct": 100 * len(nctr) / len(occupied) if occupied else None,
        "theatre_cancellations_today": len(cancelled),
    }


def _check(session, now: datetime) -> None:  # noqa: ANN001
    snap = snapshot_metrics(session, now, "Europe/London")
    for site_code in ("RGH", "DDH"):
        expected = _recount(session, now, site_code)
        for metric, value in expected.items():
            got = snap.get(metric, "site", site_code)
            if value is None:
                assert got is None, (metric, site_code)
            else:
                assert got == pytest.approx(value, abs=1e-6), (
                    metric,
                    site_code,
                    got,
                    value,
                )
    # every value belongs to the catalogue with an allowed scope
    for metric, kind, _ in snap.values:
        assert metric in CATALOGUE and kind in CATALOGUE[metric].scopes, (metric, kind)


def test_met001_site_metrics_equal_a_recount(seeded_runtime):
    with seeded_runtime.factory() as s:
        _check(s, FROZEN_NOW)


def test_met002_today_follows_local_midnight_on_a_clock_change_day(empty_url):
    # 2026-10-25: clocks go back at 02:00 BST; local midnight was 23:00 UTC the day before.
    now = datetime(2026, 10, 25, 14, 0, tzinfo=UTC)
    engine = create_db_engine(empty_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    seed_demo(factory, seed=5, now=now, history_days=3, tz="Europe/London")
    with factory() as s:
        _check(s, now)
        # An ED stay that departs after local midnight counts today, wherever it arrived.
        late = s.scalars(
            select(EdAttendance).where(
                EdAttendance.arrival_at < datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
                EdAttendance.departure_at >= datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
            )
        ).all()
        assert late, "the seed has stays across local midnight"
    engine.dispose()


def test_met003_missing_is_none_not_zero(empty_url):
    engine = create_db_engine(empty_url)
    upgrade(engine)
    with make_session_factory(engine)() as s:
        snap = snapshot_metrics(s, FROZEN_NOW, "Europe/London")
    assert snap.as_of is None
    assert snap.get("ga_occupancy_pct", "trust", "trust") is None
    assert snap.get("ed_4h_pct_today", "trust", "trust") is None
    engine.dispose()
