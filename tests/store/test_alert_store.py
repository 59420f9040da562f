"""Alert evaluation, OPEL storage, acknowledge and silence in the store.

Runs against SQLite and a real PostgreSQL server (``seeded_runtime``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callbacks.identity import Actor
from data.db import write_session
from data.models.alerts import Alert, AlertEvaluation, AlertEvent, OpelAssessment
from data.models.security import AuditEvent
from data.queries import alerts as reads
from data.queries.metrics import MetricSnapshot, snapshot_metrics
from data.writes import alerts as writes
from jobs import alerts as evaluation
from ops import alert_views, alerting
from ops.opel import score_opel
from tests.support.apps import FROZEN_NOW

TZ = "Europe/London"
BEA = Actor(7, "bea.beds", "Bea Beds", "bed_manager")
T0 = FROZEN_NOW + timedelta(hours=1)  # after the seed, so the guard row is fresh

QUIET = {  # every OPEL parameter in band 1 -> OPEL 1
    "handover_mean_min_4h": 12,
    "ed_4h_pct_today": 90,
    "ed_attendances_vs_expected_pct": 95,
    "majors_resus_occupancy_pct": 70,
    "median_time_to_treatment_min": 40,
    "ed_over_12h_pct": 1,
    "ga_occupancy_pct": 80,
    "escalation_beds_pct": 0,
    "nctr_pct": 5,
}
SURGE = {  # every OPEL parameter in band 4 -> OPEL 4
    "handover_mean_min_4h": 70,
    "ed_4h_pct_today": 55,
    "ed_attendances_vs_expected_pct": 130,
    "majors_resus_occupancy_pct": 130,
    "median_time_to_treatment_min": 200,
    "ed_over_12h_pct": 15,
    "ga_occupancy_pct": 97,
    "escalation_beds_pct": 8,
    "nctr_pct": 25,
}


@pytest.fixture(autouse=True)
def _live_observations_only(seeded_runtime) -> None:  # noqa: ANN001
    """These tests drive the state machine with hand-made values; the seed's stored
    hourly occupancy would start `for` clocks from its own history instead
    (tests/store/test_alert_history_store.py covers that)."""
    from sqlalchemy import delete

    from data.models.capacity import WardOccupancyHour

    with write_session(seeded_runtime.factory) as s:
        s.execute(delete(WardOccupancyHour))


@pytest.fixture(scope="module")
def config() -> alerting.EvaluationConfig:
    return alerting.load_and_validate_config()


def snapshot(
    now, site: dict | None = None, trust: dict | None = None
) -> MetricSnapshot:
    """A hand-made snapshot: site RGH and trust RDT with the given metric values."""
    snap = MetricSnapshot(at=now, as_of=now)
    snap.labels[("trust", "RDT")] = "Demo Trust"
    snap.labels[("site", "RGH")] = "Riverside General Hospital"
    for metric, value in (site or {}).items():
        snap.set(metric, "site", "RGH", value)
    for metric, value in (trust or {}).items():
        snap.set(metric, "trust", "RDT", value)
    return snap


def run(runtime, config, snap, now, **kw) -> writes.EvaluationResult:
    with write_session(runtime.factory) as s:
        return writes.evaluate(s, snap, config.rules, config.opel, now, **kw)


def alert_row(runtime, rule_id: str, kind: str, scope_id: str) -> Alert:
    with runtime.factory() as s:
        return s.execute(
            select(Alert).where(
                Alert.rule_id == rule_id,
                Alert.scope_kind == kind,
                Alert.scope_id == scope_id,
            )
        ).scalar_one()


def events(runtime, alert_id: int) -> list[AlertEvent]:
    with runtime.factory() as s:
        return list(
            s.scalars(
                select(AlertEvent)
                .where(AlertEvent.alert_id == alert_id)
                .order_by(AlertEvent.id)
            )
        )


def test_pending_then_firing_after_for_then_recovering_then_resolved(
    seeded_runtime, config
):
    rule = "ga-occupancy-site"  # >= 92 for 15m; clear <= 90 for 30m
    steps = [
        (-5, 80, "normal"),  # seen normal: the seed's stored hours start no clock
        (0, 96, "pending"),
        (10, 97, "pending"),  # held 10 min: not yet 15
        (15, 96, "firing"),
        (20, 91, "firing"),  # between clear (90) and raise (92): keeps firing
        (25, 88, "recovering"),
        (40, 89, "recovering"),  # clear for 15 of 30 min
        (55, 90, "normal"),
    ]
    for minutes, value, expected in steps:
        now = T0 + timedelta(minutes=minutes)
        result = run(
            seeded_runtime, config, snapshot(now, site={"ga_occupancy_pct": value}), now
        )
        assert result.ran
        row = alert_row(seeded_runtime, rule, "site", "RGH")
        assert row.state == expected, (minutes, value)
        assert row.value == value and row.last_evaluated_at == now
        assert row.status["state"] == expected
    history = [(e.from_state, e.to_state, e.at) for e in events(seeded_runtime, row.id)]
    assert history == [
        ("normal", "pending", T0),
        ("pending", "firing", T0 + timedelta(minutes=15)),
        ("firing", "firing", T0 + timedelta(minutes=20)),  # critical -> warning
        ("firing", "recovering", T0 + timedelta(minutes=25)),
        ("recovering", "normal", T0 + timedelta(minutes=55)),
    ]
    with seeded_runtime.factory() as s:
        n = s.scalar(
            select(func.count()).select_from(Alert).where(Alert.rule_id == rule)
        )
        evaluation = s.get(AlertEvaluation, reads.EVALUATOR_NAME)
    assert n == 1
    assert evaluation.last_run_at == T0 + timedelta(minutes=55)
    assert evaluation.rules_version == config.rules.version


def test_no_data_when_metric_missing_is_its_own_state(seeded_runtime, config):
    now = T0
    run(seeded_runtime, config, snapshot(now, site={"ga_occupancy_pct": 96}), now)
    later = now + timedelta(minutes=5)
    run(seeded_runtime, config, snapshot(later, site={"ga_occupancy_pct": None}), later)
    row = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
    assert row.state == "no_data" and row.value is None
    assert [
        (e.from_state, e.to_state, e.reason) for e in events(seeded_runtime, row.id)
    ][-1] == (
        "pending",
        "no_data",
        "no data",
    )
    with seeded_runtime.factory() as s:
        listed = {a.key: a for a in reads.current_alerts(s, later)}
    assert listed["ga-occupancy-site/site/RGH"].state == "no_data"


def test_interval_guard_skips_evaluations_closer_than_min_interval(
    seeded_runtime, config
):
    assert run(
        seeded_runtime, config, snapshot(T0, site={"ga_occupancy_pct": 96}), T0
    ).ran
    soon = T0 + timedelta(seconds=30)
    second = run(
        seeded_runtime, config, snapshot(soon, site={"ga_occupancy_pct": 80}), soon
    )
    assert not second.ran
    row = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
    assert row.state == "pending" and row.last_evaluated_at == T0
    with seeded_runtime.factory() as s:
        assert not reads.evaluation_due(s, soon)
        assert reads.evaluation_due(s, T0 + reads.MIN_INTERVAL)
    later = T0 + reads.MIN_INTERVAL
    assert run(
        seeded_runtime, config, snapshot(later, site={"ga_occupancy_pct": 80}), later
    ).ran
    assert (
        alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH").state == "normal"
    )


def test_opel_stored_with_breakdown_and_version_from_a_real_snapshot(
    seeded_runtime, config
):
    with seeded_runtime.factory() as s:
        snap = snapshot_metrics(s, T0, TZ)
    result = run(seeded_runtime, config, snap, T0)
    with seeded_runtime.factory() as s:
        rows = {
            (a.scope_kind, a.scope_id): a for a in s.scalars(select(OpelAssessment))
        }
    assert set(rows) == {("trust", "RDT"), ("site", "RGH"), ("site", "DDH")}
    for (kind, sid), row in rows.items():
        expected = score_opel(
            config.opel,
            {p.metric: snap.get(p.metric, kind, sid) for p in config.opel.parameters},
        )
        assert row.breakdown == expected.to_dict()
        assert row.level == expected.level and row.total == expected.total
        assert (
            row.config_version == config.opel.version == row.breakdown["config_version"]
        )
        assert row.assessed_at == T0 and row.incomplete == expected.incomplete
        assert len(row.breakdown["parameters"]) == 9
        assert result.opel_levels[(kind, sid)] == expected.level
    # Unchanged level within the heartbeat: not stored again; after it: stored.
    run(seeded_runtime, config, snap, T0 + timedelta(minutes=5))
    run(seeded_runtime, config, snap, T0 + alerting.OPEL_HEARTBEAT)
    with seeded_runtime.factory() as s:
        times = sorted(
            s.scalars(
                select(OpelAssessment.assessed_at).where(
                    OpelAssessment.scope_kind == "trust"
                )
            )
        )
        latest = reads.latest_opel(s)
    assert times == [T0, T0 + alerting.OPEL_HEARTBEAT]
    assert (
        latest[0].scope_kind == "trust"
        and latest[0].assessed_at == T0 + alerting.OPEL_HEARTBEAT
    )


def test_opel_level_change_raises_escalation_and_de_escalation_events(
    seeded_runtime, config
):
    t1, t2, t3 = T0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)
    run(seeded_runtime, config, snapshot(t1, trust=QUIET), t1)
    run(seeded_runtime, config, snapshot(t2, trust=SURGE), t2)
    row = alert_row(seeded_runtime, alerting.OPEL_RULE_ID, "trust", "RDT")
    assert row.state == "firing" and row.value == 4 and row.severity == "critical"
    run(seeded_runtime, config, snapshot(t3, trust=QUIET), t3)
    row = alert_row(seeded_runtime, alerting.OPEL_RULE_ID, "trust", "RDT")
    assert row.state == "normal" and row.value == 1
    got = [
        (e.kind, e.from_state, e.to_state, e.value, e.at)
        for e in events(seeded_runtime, row.id)
    ]
    assert got == [
        ("escalation", "normal", "firing", 4.0, t2),
        ("de-escalation", "firing", "normal", 1.0, t3),
    ]
    reasons = [e.reason for e in events(seeded_runtime, row.id)]
    assert (
        reasons[0].startswith("OPEL 1 → OPEL 4") and config.opel.version in reasons[0]
    )
    with seeded_runtime.factory() as s:
        levels = list(
            s.execute(
                select(OpelAssessment.assessed_at, OpelAssessment.level)
                .where(OpelAssessment.scope_kind == "trust")
                .order_by(OpelAssessment.assessed_at)
            )
        )
        trend = reads.opel_trend(s, t1 - timedelta(days=7), t3)
    assert [tuple(r) for r in levels] == [
        (t1, 1),
        (t2, 4),
        (t3, 1),
    ]  # changes stored at once
    assert [(p.at, p.level) for p in trend if p.scope_kind == "trust"] == [
        (t1, 1),
        (t2, 4),
        (t3, 1),
    ]


def test_failed_snapshot_moves_known_alerts_to_error(seeded_runtime, config):
    run(seeded_runtime, config, snapshot(T0, site={"ga_occupancy_pct": 96}), T0)
    later = T0 + timedelta(minutes=2)
    run(seeded_runtime, config, None, later, error="metrics could not be read")
    row = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
    assert row.state == "error" and row.status["error"] == "metrics could not be read"
    with seeded_runtime.factory() as s:
        stored = s.scalar(
            select(func.count())
            .select_from(OpelAssessment)
            .where(OpelAssessment.assessed_at == later)
        )
    assert stored == 0  # no OPEL without metrics


def _fire(runtime, config) -> Alert:
    for minutes in (0, 15):
        now = T0 + timedelta(minutes=minutes)
        run(runtime, config, snapshot(now, site={"ga_occupancy_pct": 97}), now)
    row = alert_row(runtime, "ga-occupancy-site", "site", "RGH")
    assert row.state == "firing"
    return row


def _audit(runtime) -> list[AuditEvent]:
    with runtime.factory() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "alert")
                .order_by(AuditEvent.id)
            )
        )


def test_acknowledge_records_who_when_event_and_audit(seeded_runtime, config):
    row = _fire(seeded_runtime, config)
    at = T0 + timedelta(minutes=16)
    with write_session(seeded_runtime.factory) as s:
        view = writes.acknowledge(
            s, row.id, BEA, "Bed meeting at 11", at, row.version, tz=TZ
        )
    assert (
        view.acknowledged
        and view.acknowledged_by == "Bea Beds"
        and view.acknowledged_at == at
    )
    assert view.state == "firing" and not view.needs_attention  # acked, still listed
    ack = events(seeded_runtime, row.id)[-1]
    assert (ack.kind, ack.actor, ack.actor_username, ack.at, ack.reason) == (
        "acknowledged",
        "Bea Beds",
        "bea.beds",
        at,
        "Bed meeting at 11",
    )
    (audit,) = _audit(seeded_runtime)
    assert (audit.action, audit.actor_username, audit.actor_role, audit.entity_id) == (
        "acknowledge_alert",
        "bea.beds",
        "bed_manager",
        str(row.id),
    )
    assert audit.at == at and audit.before["acknowledged_by"] is None
    assert audit.after["acknowledged_by"] == "bea.beds"
    # A second person with the form opened before: told who got there first.
    other = Actor(8, "sam", "Sam Site", "site_lead")
    conflict = pytest.raises(
        writes.AlertConflict, match=r"Already acknowledged by Bea Beds at 11:46"
    )
    with conflict, write_session(seeded_runtime.factory) as s:
        writes.acknowledge(s, row.id, other, None, at, row.version, tz=TZ)
    # The evaluator does not bump the version: an open form stays valid.
    later = T0 + timedelta(minutes=20)
    run(seeded_runtime, config, snapshot(later, site={"ga_occupancy_pct": 97}), later)
    assert alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH").version == 2
    assert len(_audit(seeded_runtime)) == 1


def test_acknowledge_refuses_an_alert_that_is_not_active(seeded_runtime, config):
    run(seeded_runtime, config, snapshot(T0, site={"ga_occupancy_pct": 80}), T0)
    row = alert_row(seeded_runtime, "ga-occupancy-site", "site", "RGH")
    with (
        pytest.raises(writes.AlertRefused, match="nothing to acknowledge"),
        write_session(seeded_runtime.factory) as s,
    ):
        writes.acknowledge(s, row.id, BEA, None, T0, row.version, tz=TZ)
    with (
        pytest.raises(writes.AlertNotFound),
        write_session(seeded_runtime.factory) as s,
    ):
        writes.acknowledge(s, 999999, BEA, None, T0, 1, tz=TZ)
    assert _audit(seeded_runtime) == []


def test_silence_needs_reason_at_most_24h_and_is_recorded(seeded_runtime, config):
    row = _fire(seeded_runtime, config)
    at = T0 + timedelta(minutes=16)
    for duration, reason, message in (
        ("1h", "  ", "A silence needs a reason."),
        ("25h", "planned", "at most 1h"),
        ("0s", "planned", "positive duration"),
        # config/alert_rules.yaml silence_limits: a bed manager, critical, 1 h.
        ("2h", "planned", "A bed manager may silence a critical alert for at most 1h."),
    ):
        with (
            pytest.raises(writes.AlertRefused, match=message),
            write_session(seeded_runtime.factory) as s,
        ):
            writes.silence(s, row.id, BEA, duration, reason, at, tz=TZ)
    lead = Actor(8, "sid.lead", "Sid Lead", "site_lead")  # up to 4 h on critical
    with write_session(seeded_runtime.factory) as s:
        view = writes.silence(
            s, row.id, lead, "2h", "Escalation beds opening", at, row.version, tz=TZ
        )
    assert view.silenced and view.silenced_until == at + timedelta(hours=2)
    assert view.silenced_by == "Sid Lead"
    assert view.silence_reason == "Escalation beds opening" and not view.needs_attention
    last = events(seeded_runtime, row.id)[-1]
    assert (last.kind, last.actor_username, last.at) == ("silenced", "sid.lead", at)
    assert "Escalation beds opening" in last.reason
    (audit,) = _audit(seeded_runtime)
    assert audit.action == "silence_alert" and audit.actor_username == "sid.lead"
    assert audit.after["silenced_until"] == (at + timedelta(hours=2)).isoformat()
    with seeded_runtime.factory() as s:
        after = reads.alert_by_id(s, row.id, at + timedelta(hours=2))
    assert not after.silenced  # expires exactly at the end


def test_history_filters_by_rule_scope_state_and_local_dates(seeded_runtime, config):
    _fire(seeded_runtime, config)
    with seeded_runtime.factory() as s:
        all_events = reads.alert_events(s, alert_views.EventFilters(), TZ)
        firing = reads.alert_events(s, alert_views.EventFilters(state="firing"), TZ)
        rule = reads.alert_events(
            s, alert_views.EventFilters(rule="ga-occupancy-site"), TZ
        )
        scoped = reads.alert_events(s, alert_views.EventFilters(scope="site:RGH"), TZ)
        today = T0.date()
        same_day = reads.alert_events(
            s, alert_views.EventFilters(date_from=today, date_to=today), TZ
        )
        next_day = reads.alert_events(
            s, alert_views.EventFilters(date_from=today + timedelta(days=1)), TZ
        )
        options = reads.history_options(s)
    assert all_events and all(e.at >= T0 for e in all_events)
    assert {e.to_state for e in firing} == {"firing"}
    assert {e.rule_id for e in rule} == {"ga-occupancy-site"}
    assert [(e.from_state, e.to_state) for e in rule] == [
        ("pending", "firing"),
        ("normal", "pending"),
    ]
    assert {(e.scope_kind, e.scope_id) for e in scoped} == {("site", "RGH")}
    assert len(same_day) == len(all_events) and next_day == []
    assert ("ga-occupancy-site", "G&A occupancy") in options.rules
    assert ("site:RGH", "Riverside General Hospital") in options.scopes


def test_evaluation_job_runs_once_per_interval_on_the_seeded_trust(seeded_runtime):
    first = evaluation.evaluation_job(seeded_runtime)
    assert first is not None and first.ran and first.created > 0
    assert (
        evaluation.evaluation_job(seeded_runtime) is None
    )  # same clock: inside the interval
    with seeded_runtime.factory() as s:
        keys = s.execute(select(Alert.rule_id, Alert.scope_kind, Alert.scope_id)).all()
        wards = {sid for rid, kind, sid in keys if rid == "ward-full"}
    assert len(keys) == len(set(keys))
    # G&A rules are not evaluated for critical care and paediatric wards.
    with seeded_runtime.factory() as s:
        from data.models.capacity import Ward

        non_ga = {
            str(i)
            for i, t in s.execute(select(Ward.id, Ward.ward_type))
            if t in ("critical_care", "paediatric")
        }
    assert non_ga and not (wards & non_ga)


def test_opel_reassessed_when_its_score_moves_within_the_level(seeded_runtime, config):
    quiet = snapshot(T0, site=QUIET, trust=QUIET)
    run(seeded_runtime, config, quiet, T0)
    # One parameter a band up: same level, a higher score -> stored at once, not
    # a heartbeat later.
    later = T0 + timedelta(minutes=2)
    moved = snapshot(later, site=QUIET, trust={**QUIET, "nctr_pct": 25})
    run(seeded_runtime, config, moved, later)
    with seeded_runtime.factory() as s:
        rows = s.execute(
            select(
                OpelAssessment.assessed_at, OpelAssessment.level, OpelAssessment.total
            )
            .where(OpelAssessment.scope_kind == "trust")
            .order_by(OpelAssessment.assessed_at)
        ).all()
    assert [r.assessed_at for r in rows] == [T0, later]
    assert rows[0].level == rows[1].level and rows[1].total > rows[0].total
