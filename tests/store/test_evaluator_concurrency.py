"""Two evaluators at once (by mistake): never a second alert row, never a duplicate event.

Each evaluator has its own engine and session, as two processes would; runs against
SQLite and a real PostgreSQL server.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from data.db import write_session
from data.models.alerts import Alert, AlertEvent, OpelAssessment
from data.queries.metrics import snapshot_metrics
from data.writes import alerts as writes
from ops import alerting
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for

TZ = "Europe/London"


@pytest.fixture(scope="module")
def config() -> alerting.EvaluationConfig:
    return alerting.load_and_validate_config()


@pytest.fixture
def two_runtimes(seeded_url):  # noqa: ANN201
    runtimes = [runtime_for(settings_for(seeded_url)) for _ in range(2)]
    yield runtimes
    for r in runtimes:
        r.engine.dispose()


def _snapshot(runtime, now):  # noqa: ANN001, ANN202
    with runtime.factory() as s:
        return snapshot_metrics(s, now, TZ)


def _race(runtimes, fn) -> list:  # noqa: ANN001
    """Run ``fn(runtime)`` in one thread per runtime, released together."""
    barrier = threading.Barrier(len(runtimes))
    results: list = [None] * len(runtimes)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = fn(runtimes[i])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(runtimes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def _assert_no_duplicates(runtime) -> None:  # noqa: ANN001
    with runtime.factory() as s:
        keys = s.execute(select(Alert.rule_id, Alert.scope_kind, Alert.scope_id)).all()
        dup_events = s.execute(
            select(
                AlertEvent.alert_id, AlertEvent.kind, AlertEvent.at, AlertEvent.to_state
            )
            .group_by(
                AlertEvent.alert_id, AlertEvent.kind, AlertEvent.at, AlertEvent.to_state
            )
            .having(func.count() > 1)
        ).all()
        dup_opel = s.execute(
            select(
                OpelAssessment.scope_kind,
                OpelAssessment.scope_id,
                OpelAssessment.assessed_at,
            )
            .group_by(
                OpelAssessment.scope_kind,
                OpelAssessment.scope_id,
                OpelAssessment.assessed_at,
            )
            .having(func.count() > 1)
        ).all()
    assert keys and len(keys) == len(set(keys))
    assert dup_events == []
    assert dup_opel == []


def test_two_evaluators_same_snapshot_same_time_write_once(two_runtimes, config):
    """With the interval guard switched off, both run the full pass at each time."""
    times = [FROZEN_NOW + timedelta(minutes=m) for m in (0, 15, 30, 50)]
    transitions = 0
    for now in times:
        snap = _snapshot(two_runtimes[0], now)

        def evaluate(runtime, snap=snap, now=now):  # noqa: ANN001, ANN202
            with write_session(runtime.factory) as s:
                return writes.evaluate(
                    s, snap, config.rules, config.opel, now, min_interval=timedelta(0)
                )

        a, b = _race(two_runtimes, evaluate)
        assert a.ran and b.ran
        # Together they wrote each alert exactly once at this time; the other lost it.
        with two_runtimes[0].factory() as s:
            n_alerts = s.scalar(select(func.count()).select_from(Alert))
        assert a.created + b.created + a.updated + b.updated == n_alerts
        assert a.lost + b.lost == n_alerts
        transitions += len(a.transitions) + len(b.transitions)
        _assert_no_duplicates(two_runtimes[0])
    with two_runtimes[0].factory() as s:
        stored_events = s.scalar(
            select(func.count())
            .select_from(AlertEvent)
            .where(AlertEvent.kind != "acknowledged")
        )
        firing = s.scalar(
            select(func.count()).select_from(Alert).where(Alert.state == "firing")
        )
    assert transitions > 0 and stored_events == transitions
    assert firing > 0  # the seeded trust is busy: rules held past their `for`


def test_interleaved_insert_and_update_races_are_lost_not_duplicated(
    two_runtimes, config
):
    """Evaluator B reads while A's transaction is still open (PostgreSQL), or queues
    behind it (SQLite): B must not add a row or an event either way."""
    first, second = two_runtimes
    for now in (FROZEN_NOW, FROZEN_NOW + timedelta(minutes=20)):
        snap = _snapshot(first, now)
        box: dict[str, object] = {}
        with write_session(first.factory) as a_session:
            a = writes.evaluate_rules(a_session, snap, config.rules, now)
            assert a.created + a.updated > 0

            def b_evaluates(snap=snap, now=now, box=box) -> None:  # noqa: ANN001
                try:
                    with write_session(second.factory) as b_session:
                        box["b"] = writes.evaluate_rules(
                            b_session, snap, config.rules, now
                        )
                except BaseException as exc:
                    box["error"] = exc

            thread = threading.Thread(target=b_evaluates)
            thread.start()
            time.sleep(0.7)  # B is now blocked on A's rows / lock
            assert thread.is_alive()
        # A committed on leaving the block; B finishes now.
        thread.join(timeout=30)
        assert "error" not in box, box.get("error")
        b = box["b"]
        assert b.created == 0 and b.updated == 0 and b.transitions == []
        _assert_no_duplicates(first)
        with first.factory() as s:
            stored = s.scalar(
                select(func.count()).select_from(AlertEvent).where(AlertEvent.at == now)
            )
        assert stored == len(a.transitions)


def test_interval_guard_lets_only_one_of_two_concurrent_jobs_run(two_runtimes, config):
    now = FROZEN_NOW
    snap = _snapshot(two_runtimes[0], now)

    def evaluate(runtime):  # noqa: ANN001, ANN202
        with write_session(runtime.factory) as s:
            return writes.evaluate(s, snap, config.rules, config.opel, now)

    results = _race(two_runtimes, evaluate)
    assert sorted(r.ran for r in results) == [False, True]
    _assert_no_duplicates(two_runtimes[0])
