"""A rule's ``for`` judged from the stored history on the first evaluation after a
fresh start (SQLite and PostgreSQL): G&A occupancy at 99 % for 2 h in the hourly
roll-up fires the red rule at once instead of pending for 15 more minutes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from data.db import write_session
from data.models.capacity import Site, Ward, WardOccupancyHour
from data.queries.alerts import metric_history
from data.writes.rollup import floor_hour
from ops import alerting
from tests.store.test_alert_store import alert_row, events, snapshot
from tests.support.apps import FROZEN_NOW


def _full_for(runtime, first, last) -> None:  # noqa: ANN001
    """Every open G&A bed of RGH occupied in the stored hours first..last."""
    H = WardOccupancyHour
    with write_session(runtime.factory) as s:
        wards = s.scalars(
            select(Ward.id)
            .join(Site)
            .where(
                Site.code == "RGH",
                Ward.ward_type.in_(("general_acute", "assessment", "escalation")),
            )
        ).all()
        s.execute(
            update(H)
            .where(H.ward_id.in_(wards), H.hour_start >= first, H.hour_start <= last)
            .values(
                occupied=H.occupied + H.available + H.awaiting_clean,
                available=0,
                awaiting_clean=0,
            )  # fmt: skip
        )


def test_condition_held_two_hours_in_history_fires_on_first_evaluation(
    seeded_runtime,
):
    rules = alerting.load_and_validate_config().rules
    last_hour = floor_hour(FROZEN_NOW)
    _full_for(seeded_runtime, last_hour - timedelta(hours=2), last_hour)
    now = last_hour + timedelta(minutes=5)
    with seeded_runtime.factory() as s:
        stored = metric_history(s, "ga_occupancy_pct", now - timedelta(hours=3), now)
    assert [v for _, v in stored[("site", "RGH")][-3:]] == [100.0, 100.0, 100.0]
    from data.writes import alerts as writes

    snap = snapshot(now, site={"ga_occupancy_pct": 99.9, "nctr_pct": 30.0})
    with write_session(seeded_runtime.factory) as s:
        writes.evaluate_rules(s, snap, rules, now)
    red = alert_row(seeded_runtime, "ga-occupancy-red-site", "site", "RGH")
    assert red.state == "firing"
    assert red.since == last_hour - timedelta(hours=2) + timedelta(minutes=15)
    (fired,) = events(seeded_runtime, red.id)
    assert (fired.from_state, fired.to_state, fired.at) == ("normal", "firing", now)
    assert "stored history" in fired.reason
    # NCTR has no stored history: its `for` clock starts now, as before (pending).
    nctr = alert_row(seeded_runtime, "nctr-high-site", "site", "RGH")
    assert nctr.state == "pending" and nctr.since == now


def test_history_broken_inside_the_for_window_stays_pending(seeded_runtime):
    rules = alerting.load_and_validate_config().rules
    last_hour = floor_hour(FROZEN_NOW)
    _full_for(seeded_runtime, last_hour, last_hour)  # only the newest hour full
    H = WardOccupancyHour
    with write_session(seeded_runtime.factory) as s:  # the hour before: empty beds
        s.execute(
            update(H)
            .where(H.hour_start == last_hour - timedelta(hours=1))
            .values(available=H.available + H.occupied, occupied=0)
        )
    now = last_hour + timedelta(minutes=5)
    from data.writes import alerts as writes

    with write_session(seeded_runtime.factory) as s:
        writes.evaluate_rules(
            s, snapshot(now, site={"ga_occupancy_pct": 99.9}), rules, now
        )
    red = alert_row(seeded_runtime, "ga-occupancy-red-site", "site", "RGH")
    # Held since the newest stored hour, 5 min: pending, its clock from that hour.
    assert red.state == "pending" and red.since == last_hour
