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
    red = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
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
    red = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
    # Held since the newest stored hour, 5 min: pending, its clock from that hour.
    assert red.state == "pending" and red.since == last_hour


def test_amber_red_amber_is_one_alert_with_its_history_and_one_silence(
    seeded_runtime,
):
    from callbacks.identity import Actor
    from data.writes import alerts as writes
    from tests.store.test_alert_store import T0

    rules = alerting.load_and_validate_config().rules
    # Seen normal first, so the seed's stored hours do not start the `for` clock.
    steps = [(-5, 80.0), (0, 93.0), (15, 93.5), (20, 96.2), (25, 94.0), (30, 92.5),
             (35, 96.0)]  # fmt: skip
    silenced = False
    for minutes, value in steps:
        now = T0 + timedelta(minutes=minutes)
        with write_session(seeded_runtime.factory) as s:
            writes.evaluate_rules(
                s, snapshot(now, site={"ga_occupancy_pct": value}), rules, now
            )
        if minutes == 20 and not silenced:
            row = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
            with write_session(seeded_runtime.factory) as s:
                writes.silence(
                    s, row.id, Actor(1, "sam", "Sam Site", "site_manager"), "1h",
                    "Huddle at 10:30", now, row.version,
                )  # fmt: skip
            silenced = True
        row = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
        if minutes == 20:
            assert (row.state, row.severity) == ("firing", "critical")
        if minutes == 30:
            assert (row.state, row.severity) == ("firing", "warning")
    with seeded_runtime.factory() as s:
        from sqlalchemy import func

        from data.models.alerts import Alert

        n = s.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.rule_id.like("ga-occupancy%"), Alert.scope_id == "RGH")
        )
    assert n == 1  # not one alert per severity
    history = [(e.kind, e.reason) for e in events(seeded_runtime, row.id)]
    assert [k for k, _ in history] == [
        "transition",  # normal -> pending
        "transition",  # pending -> firing (warning)
        "escalation",  # 96.2% >= 95%
        "silenced",
        "de-escalation",  # 92.5% <= 93%
        "escalation",
    ]
    assert history[2][1] == "warning → critical: 96.2% ≥ 95%"
    assert history[4][1] == "critical → warning: 92.5% ≤ 93%"
    assert history[1][1] == "93.5% ≥ 92% held for 15m"
    # The silence is the alert's: still running after the second escalation.
    assert row.silenced_until == T0 + timedelta(minutes=80)
