"""A rule's ``for`` judged from the metric's stored history (``held_since``), so a
restart of the evaluator does not hide a condition that has held for hours."""

from __future__ import annotations

from datetime import timedelta

from ops.alerting import AlertState, AlertStatus, held_since, step
from tests.unit.test_alerting import T0, make_rule, minutes


def hours(n: float):  # noqa: ANN201
    return T0 + timedelta(hours=n)


def test_held_since_is_the_start_of_the_unbroken_run_reaching_now():
    rule = make_rule()  # >= 92
    samples = [(hours(-4), 95.0), (hours(-3), 91.0), (hours(-2), 96.0),
               (hours(-1), 97.0), (hours(0), 99.0)]  # fmt: skip
    assert held_since(rule, samples, minutes(5)) == hours(-2)
    assert held_since(rule, samples[:2], minutes(5)) is None  # newest not raised
    assert held_since(rule, [(hours(-2), None), (hours(-1), 95.0)], T0) == hours(-1)
    assert held_since(rule, [], T0) is None
    # Samples after `now` are not history.
    assert held_since(rule, [(hours(-1), 95.0), (hours(1), 80.0)], T0) == hours(-1)


def test_first_evaluation_fires_when_history_shows_two_hours():
    rule = make_rule(for_="15m")
    status, events = step(rule, None, 99.9, T0, held_since=hours(-2))
    assert status.state is AlertState.FIRING
    assert status.since == hours(-2) + timedelta(minutes=15)  # when `for` ran out
    assert status.episode_started_at == status.since
    assert [e.to_state for e in events] == [AlertState.FIRING]
    assert events[0].opens_episode and events[0].at == T0
    assert "stored history" in events[0].reason and "2h ≥ 15m" in events[0].reason
    # Without the history the clock starts now (the old behaviour): pending.
    assert step(rule, None, 99.9, T0).status.state is AlertState.PENDING


def test_shorter_history_starts_pending_with_the_clock_from_the_history():
    rule = make_rule(for_="1h")
    status, _ = step(rule, None, 95.0, T0, held_since=minutes(-40))
    assert status.state is AlertState.PENDING and status.since == minutes(-40)
    later, events = step(rule, status, 95.0, minutes(20))  # 60 min held in all
    assert later.state is AlertState.FIRING and events


def test_history_is_not_used_against_a_live_observation():
    # The rule was seen not holding at its last evaluation (normal): a held_since
    # after it is used; one in the future or now is ignored.
    rule = make_rule(for_="15m")
    prev = AlertStatus.initial(minutes(-1))
    assert step(rule, prev, 95.0, T0, held_since=T0).status.state is (
        AlertState.PENDING
    )
    assert step(rule, prev, 91.0, T0, held_since=hours(-2)).status.state is (
        AlertState.NORMAL
    )  # not raised now: the history does not raise it
