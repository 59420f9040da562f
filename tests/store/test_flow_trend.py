"""The 28-day trend of patients with no criteria to reside (08:00 local each day, by
pathway) against a recount of the seeded stays, and its snapshot times over the
October clock change, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from components import flow
from data.db import create_db_engine, make_session_factory
from data.models.capacity import InpatientStay, Ward
from data.queries import flow as q
from data.queries.metrics import GA_WARD_TYPES
from ops.timeutil import ensure_utc
from tests.support.apps import FROZEN_NOW, TEST_HISTORY_DAYS

TZ = "Europe/London"
LONDON = ZoneInfo(TZ)
# 30 October 2026: the 28 days back cross the clocks going back (25 October)
OCTOBER = datetime(2026, 10, 30, 10, 0, tzinfo=UTC)


def _recount(factory, at: datetime, field: str = "discharge_pathway") -> dict[str, int]:  # noqa: ANN001, E501
    counts: dict[str, int] = {}
    with factory() as s:
        for stay, ward_type, retired in s.execute(
            select(InpatientStay, Ward.ward_type, Ward.retired_at).join(
                Ward, Ward.id == InpatientStay.ward_id
            )
        ):
            if ward_type not in GA_WARD_TYPES or retired is not None:
                continue
            ready = stay.medically_ready_at
            out = stay.discharged_at
            if (
                ready is not None
                and ensure_utc(stay.admitted_at) <= at
                and ensure_utc(ready) <= at
                and (out is None or ensure_utc(out) > at)
            ):
                key = getattr(stay, field) or "not recorded"
                counts[key] = counts.get(key, 0) + 1
    return counts


def test_flow301_trend_matches_a_recount_across_the_clock_change(
    seeded_url: str,
) -> None:
    engine = create_db_engine(seeded_url)
    factory = make_session_factory(engine)
    with factory() as s:
        october = q.nctr_trend(s, q.FlowFilters(), OCTOBER, TZ)
        trend = q.nctr_trend(s, q.FlowFilters(), FROZEN_NOW, TZ)
    assert len(october) == 28 and october[-1].day.isoformat() == "2026-10-30"
    by_day = {t.day.isoformat(): t for t in october}
    # 08:00 local is 07:00 UTC in summer time and 08:00 UTC after the change
    assert by_day["2026-10-24"].at == datetime(2026, 10, 24, 7, tzinfo=UTC)
    assert by_day["2026-10-26"].at == datetime(2026, 10, 26, 8, tzinfo=UTC)
    assert len(trend) == 28 and trend[-1].day.isoformat() == "2026-11-23"
    for t in trend:
        assert t.by_pathway == _recount(factory, t.at), t.day
        assert t.by_reason == _recount(factory, t.at, "delay_reason"), t.day
        assert t.total == sum(t.by_pathway.values()) == sum(t.by_reason.values())
    assert trend[-1].total > 0 and len({t.total for t in trend[-14:]}) > 1
    assert len(trend[-1].by_reason) > 1  # the demo records several delay reasons
    # the store began with the seed (21 days back): earlier days are unknown, and
    # the page leaves them out rather than showing zeros
    began = FROZEN_NOW - timedelta(days=TEST_HISTORY_DAYS)
    assert [t.covered for t in trend] == [t.at >= began for t in trend]
    assert not all(t.covered for t in trend) and trend[-1].covered
    assert not any(t.covered for t in october)
    shown = str(flow.trend_table(trend))
    first_shown = next(t for t in trend if t.covered)
    assert f"on {first_shown.day:%d %b}" in shown
    assert not any(t.day.strftime("%a %d %b") in shown for t in trend if not t.covered)
    # before 08:00 today's snapshot is not taken yet
    with factory() as s:
        early = q.nctr_trend(
            s, q.FlowFilters(), datetime(2026, 11, 23, 7, tzinfo=UTC), TZ
        )
    assert early[-1].day.isoformat() == "2026-11-22" and len(early) == 27
    # a site filter counts that site's wards only
    with factory() as s:
        per_site = [
            q.nctr_trend(s, q.FlowFilters(site=code), FROZEN_NOW, TZ)[-1].total
            for code in ("RGH", "DDH")
        ]
    assert sum(per_site) == trend[-1].total
    engine.dispose()
