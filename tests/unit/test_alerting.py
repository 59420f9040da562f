"""Alert rules, the alert state machine, silences, acknowledgements and dedupe keys."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.alerting import (
    DEFAULT_ALERT_RULES_PATH,
    AlertKey,
    AlertRule,
    AlertRuleSet,
    AlertState,
    AlertStatus,
    EvaluationError,
    Observation,
    Scope,
    Severity,
    TransitionEvent,
    acknowledgement_current,
    alert_key,
    can_acknowledge,
    format_duration,
    is_silenced,
    load_alert_rules,
    needs_attention,
    parse_duration,
    silence_until,
    step,
)
from ops.config_errors import ConfigError
from ops.metrics import CATALOGUE

T0 = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
S = AlertState


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def make_rule(
    *,
    op: str = ">=",
    threshold: float = 92,
    clear: float = 90,
    for_: str = "15m",
    recover_for: str = "10m",
) -> AlertRule:
    return AlertRule(
        id="ga-occupancy-amber-site",
        title="G&A occupancy amber",
        metric="ga_occupancy_pct",
        scope="site",
        op=op,
        threshold=threshold,
        clear=clear,
        for_duration=parse_duration(for_),
        recover_for=parse_duration(recover_for),
        severity=Severity.WARNING,
    )


RULE = make_rule()


def run(
    rule: AlertRule,
    observations: Sequence[tuple[float, Observation]],
    prev: AlertStatus | None = None,
) -> tuple[AlertStatus, list[TransitionEvent], list[AlertState]]:
    """Feed (minute, observation) pairs; return final status, all events, states seen."""
    status = prev
    events: list[TransitionEvent] = []
    states: list[AlertState] = []
    for minute, observation in observations:
        status, new_events = step(rule, status, observation, minutes(minute))
        events.extend(new_events)
        states.append(status.state)
    assert status is not None
    return status, events, states


def firing_status(rule: AlertRule = RULE) -> AlertStatus:
    status, _, _ = run(rule, [(0, 95), (15, 95)])
    assert status.state is S.FIRING
    return status


# --------------------------------------------------------------------------- pending


def test_alert001_first_normal_evaluation_is_quiet() -> None:
    status, events = step(RULE, None, 80, T0)
    assert status.state is S.NORMAL
    assert status.value == 80
    assert status.last_evaluated_at == T0
    assert events == ()


def test_alert002_pending_fires_only_after_the_for_duration() -> None:
    status, events, states = run(RULE, [(0, 93), (5, 94), (14.99, 93), (15, 93)])
    assert states == [S.PENDING, S.PENDING, S.PENDING, S.FIRING]
    assert [(e.from_state, e.to_state) for e in events] == [
        (S.NORMAL, S.PENDING),
        (S.PENDING, S.FIRING),
    ]
    assert events[1].opens_episode is True
    assert events[1].at == minutes(15)
    assert "held for 15m" in events[1].reason
    assert status.episode_started_at == minutes(15)
    assert status.since == minutes(15)


def test_alert003_pending_returns_to_normal_when_condition_stops() -> None:
    status, events, states = run(RULE, [(0, 93), (10, 91.9), (20, 93), (34, 93)])
    assert states == [S.PENDING, S.NORMAL, S.PENDING, S.PENDING]
    assert status.since == minutes(20)  # the for clock restarted
    assert not any(e.opens_episode for e in events)
    assert status.episode_started_at is None


def test_alert004_pending_uses_the_raise_threshold_not_the_clear_one() -> None:
    # 91 lies between clear (90) and raise (92): not raised, so pending ends.
    _, _, states = run(RULE, [(0, 92), (5, 91)])
    assert states == [S.PENDING, S.NORMAL]


def test_alert005_zero_for_fires_on_first_true_evaluation() -> None:
    rule = make_rule(for_="0s", recover_for="0s")
    status, events, states = run(rule, [(0, 92), (1, 90)])
    assert states == [S.FIRING, S.NORMAL]
    assert [(e.from_state, e.to_state) for e in events] == [
        (S.NORMAL, S.FIRING),
        (S.FIRING, S.NORMAL),
    ]
    assert events[0].opens_episode and events[1].closes_episode
    assert status.episode_started_at is None


# --------------------------------------------------------------------------- hysteresis


def test_alert006_oscillation_around_raise_threshold_does_not_flap() -> None:
    start = firing_status()
    wobble = [(16 + i, v) for i, v in enumerate([91.5, 92.5, 90.5, 93, 91, 92, 90.1])]
    status, events, states = run(RULE, wobble, prev=start)
    assert set(states) == {S.FIRING}
    assert events == []
    assert status.since == start.since
    assert status.episode_started_at == start.episode_started_at
    assert status.value == 90.1


def test_alert007_clear_threshold_is_inclusive() -> None:
    status, events = step(RULE, firing_status(), 90, minutes(20))
    assert status.state is S.RECOVERING
    assert events[0].reason.startswith("90% ≤ 90%")


# --------------------------------------------------------------------------- recovering


def test_alert008_recovering_resolves_after_recover_for() -> None:
    start = firing_status()
    status, events, states = run(
        RULE, [(20, 89), (25, 88), (29.99, 89.5), (30, 85)], prev=start
    )
    assert states == [S.RECOVERING, S.RECOVERING, S.RECOVERING, S.NORMAL]
    assert [(e.from_state, e.to_state) for e in events] == [
        (S.FIRING, S.RECOVERING),
        (S.RECOVERING, S.NORMAL),
    ]
    resolved = events[-1]
    assert resolved.closes_episode is True
    assert resolved.episode_started_at == start.episode_started_at
    assert "for 10m" in resolved.reason
    assert status.episode_started_at is None


def test_alert009_recovering_back_to_firing_keeps_the_episode() -> None:
    start = firing_status()
    status, events, states = run(RULE, [(20, 89), (25, 95)], prev=start)
    assert states == [S.RECOVERING, S.FIRING]
    assert events[-1].opens_episode is False
    assert status.episode_started_at == start.episode_started_at


def test_alert010_recovering_value_no_longer_clear_is_firing_again() -> None:
    # 91 is below the raise threshold but above the clear threshold: not clear.
    start = firing_status()
    status, events, states = run(
        RULE, [(20, 89), (25, 91), (30, 89), (40, 89)], prev=start
    )
    assert states == [S.RECOVERING, S.FIRING, S.RECOVERING, S.NORMAL]
    assert sum(e.opens_episode for e in events) == 0
    assert sum(e.closes_episode for e in events) == 1


def test_alert011_default_recover_for_timer_counts_from_entering_recovering() -> None:
    start = firing_status()
    status, _, _ = run(RULE, [(20, 89), (29, 89)], prev=start)
    assert (status.state, status.since) == (S.RECOVERING, minutes(20))


def test_alert012_rule_that_raises_when_low() -> None:
    rule = make_rule(op="<", threshold=78, clear=80, for_="30m", recover_for="1h")
    _, events, states = run(
        rule, [(0, 77.9), (30, 76), (40, 79), (50, 80), (109.99, 81), (110, 82)]
    )
    assert states == [
        S.PENDING,
        S.FIRING,
        S.FIRING,  # 79: between raise (78) and clear (80)
        S.RECOVERING,
        S.RECOVERING,
        S.NORMAL,
    ]
    assert len(events) == 4


# --------------------------------------------------------------------------- no data / error


def test_alert013_no_data_is_its_own_state_never_normal() -> None:
    status, events, states = run(RULE, [(0, 80), (5, None), (10, None)])
    assert states == [S.NORMAL, S.NO_DATA, S.NO_DATA]
    assert status.since == minutes(5)
    assert status.value is None
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [
        (S.NORMAL, S.NO_DATA, "no data")
    ]


def test_alert014_nan_is_no_data() -> None:
    status, _ = step(RULE, None, float("nan"), T0)
    assert status.state is S.NO_DATA


def test_alert015_firing_alert_losing_data_keeps_its_episode() -> None:
    start = firing_status()
    status, events, states = run(RULE, [(20, None), (30, 95)], prev=start)
    assert states == [S.NO_DATA, S.FIRING]
    assert status.episode_started_at == start.episode_started_at
    assert not any(e.opens_episode or e.closes_episode for e in events)
    assert all(e.episode_started_at == start.episode_started_at for e in events)


def test_alert016_data_returning_clear_during_episode_must_still_recover() -> None:
    start = firing_status()
    status, events, states = run(RULE, [(20, None), (30, 85), (40, 85)], prev=start)
    assert states == [S.NO_DATA, S.RECOVERING, S.NORMAL]
    assert events[-1].closes_episode is True


def test_alert017_data_returning_between_thresholds_during_episode_is_firing() -> None:
    _, _, states = run(RULE, [(20, None), (30, 91)], prev=firing_status())
    assert states == [S.NO_DATA, S.FIRING]


def test_alert018_pending_restarts_its_clock_after_no_data() -> None:
    status, events, states = run(
        RULE, [(0, 95), (10, None), (12, 95), (20, 95), (27, 95)]
    )
    assert states == [S.PENDING, S.NO_DATA, S.PENDING, S.PENDING, S.FIRING]
    assert events[-1].at == minutes(27)


def test_alert019_data_returning_normal_outside_an_episode() -> None:
    _, events, states = run(RULE, [(0, None), (5, 80)])
    assert states == [S.NO_DATA, S.NORMAL]
    assert "data returned" in events[-1].reason
    assert events[-1].closes_episode is False


def test_alert020_error_state_keeps_message_and_episode() -> None:
    start = firing_status()
    status, events, states = run(
        RULE,
        [
            (20, EvaluationError("query timed out")),
            (21, EvaluationError("database locked")),
            (22, None),
            (23, 96),
        ],
        prev=start,
    )
    assert states == [S.ERROR, S.ERROR, S.NO_DATA, S.FIRING]
    assert events[0].reason == "evaluation error: query timed out"
    assert [(e.from_state, e.to_state) for e in events] == [
        (S.FIRING, S.ERROR),
        (S.ERROR, S.NO_DATA),
        (S.NO_DATA, S.FIRING),
    ]
    assert status.episode_started_at == start.episode_started_at
    assert status.error is None


def test_alert021_error_message_tracks_the_latest_error() -> None:
    status, _, _ = run(
        RULE, [(0, EvaluationError("first")), (1, EvaluationError("second"))]
    )
    assert (status.state, status.error, status.since) == (S.ERROR, "second", T0)


def test_alert022_error_then_normal_value() -> None:
    _, _, states = run(RULE, [(0, EvaluationError("boom")), (1, 50)])
    assert states == [S.ERROR, S.NORMAL]


def test_alert023_non_numeric_observation_is_rejected() -> None:
    with pytest.raises(TypeError):
        step(RULE, None, "95", T0)  # type: ignore[arg-type]


def test_alert024_out_of_order_evaluation_is_ignored() -> None:
    status, _, _ = run(RULE, [(10, 95)])
    again, events = step(RULE, status, 50, minutes(5))
    assert again == status
    assert events == ()


def test_alert025_naive_times_are_taken_as_utc() -> None:
    status, _ = step(RULE, None, 95, datetime(2026, 1, 12, 9, 0))
    assert status.since == T0


def test_alert026_status_round_trips_through_json() -> None:
    status, events, _ = run(RULE, [(0, 95), (15, 95), (16, EvaluationError("x"))])
    stored = json.loads(json.dumps(status.to_dict()))
    assert AlertStatus.from_dict(stored) == status
    assert json.loads(json.dumps([e.to_dict() for e in events]))[1]["opens_episode"]


# --------------------------------------------------------------------------- ack / silence


def test_alert027_silence_expires_at_its_end() -> None:
    until = silence_until(T0, "2h", "Known: ward 7 closed for deep clean")
    assert until == T0 + timedelta(hours=2)
    assert is_silenced(until, T0)
    assert is_silenced(until, T0 + timedelta(hours=1, minutes=59, seconds=59))
    assert not is_silenced(until, T0 + timedelta(hours=2))
    assert not is_silenced(until, T0 + timedelta(hours=3))
    assert not is_silenced(None, T0)


def test_alert028_silence_may_last_the_maximum() -> None:
    assert silence_until(T0, timedelta(hours=24), "overnight") == T0 + timedelta(
        hours=24
    )


@pytest.mark.parametrize(
    ("duration", "reason", "message"),
    [
        ("1h", None, "a silence needs a reason"),
        ("1h", "   ", "a silence needs a reason"),
        (timedelta(0), "known", "a silence needs a positive duration"),
        (timedelta(minutes=-5), "known", "a silence needs a positive duration"),
        ("25h", "known", "a silence may last at most 1d, not 1d1h"),
        ("soon", "known", "bad duration 'soon'"),
    ],
)
def test_alert029_silence_validation(
    duration: timedelta | str, reason: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        silence_until(T0, duration, reason)


def test_alert030_acknowledgement_covers_one_active_spell() -> None:
    pending, _ = step(RULE, None, 95, T0)
    assert pending.active_since == T0
    assert can_acknowledge(pending)
    acked_at = minutes(5)  # acked while pending ...
    firing, _, _ = run(RULE, [(15, 95), (20, None), (25, 95)], prev=pending)
    assert firing.state is S.FIRING
    assert firing.active_since == T0
    assert acknowledgement_current(acked_at, firing)  # ... still covers it firing
    # The alert resolves, then a new spell starts: the old ack no longer applies.
    resolved, _, _ = run(RULE, [(30, 80), (40, 80)], prev=firing)
    assert resolved.state is S.NORMAL
    assert resolved.active_since is None
    assert not can_acknowledge(resolved)
    assert not acknowledgement_current(acked_at, resolved)
    again, _, _ = run(RULE, [(50, 95), (65, 95)], prev=resolved)
    assert again.state is S.FIRING
    assert again.active_since == minutes(50)
    assert not acknowledgement_current(acked_at, again)
    assert not acknowledgement_current(None, again)


def test_alert031_acknowledged_and_silenced_alerts_stay_listed_but_quiet() -> None:
    firing = firing_status()
    now = minutes(20)
    assert firing.is_active  # listed either way
    assert needs_attention(firing, acknowledged=False, silence_ends=None, now=now)
    assert not needs_attention(firing, acknowledged=True, silence_ends=None, now=now)
    ends = now + timedelta(minutes=30)
    assert not needs_attention(firing, acknowledged=False, silence_ends=ends, now=now)
    later = ends + timedelta(seconds=1)
    assert needs_attention(firing, acknowledged=False, silence_ends=ends, now=later)
    pending, _ = step(RULE, None, 95, T0)
    assert pending.is_active
    assert not needs_attention(pending, acknowledged=False, silence_ends=None, now=T0)


# --------------------------------------------------------------------------- dedupe


def test_alert032_dedupe_key_is_rule_and_scope() -> None:
    key = alert_key(RULE, Scope("site", "RAH"))
    assert key == AlertKey("ga-occupancy-amber-site", "site", "RAH")
    assert key == alert_key(RULE, Scope("site", "RAH"))
    assert key != alert_key(RULE, Scope("site", "QEH"))
    assert str(key) == "ga-occupancy-amber-site/site/RAH"
    assert len({key, alert_key(RULE, Scope("site", "RAH"))}) == 1


def test_alert033_dedupe_key_rejects_a_scope_of_the_wrong_kind() -> None:
    with pytest.raises(ValueError, match="per site, not per ward"):
        alert_key(RULE, Scope("ward", "W7"))


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 5M ", timedelta(minutes=5)),
        ("0s", timedelta(0)),
    ],
)
def test_alert034_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "15", "m", "15x", "-5m", "1.5h", "15 m", 15, None]
)
def test_alert035_parse_duration_rejects(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(0), "0s"), (timedelta(minutes=90), "1h30m"), (timedelta(days=1), "1d")],
)
def test_alert036_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


# --------------------------------------------------------------------------- shipped rules


@pytest.fixture(scope="module")
def rules() -> AlertRuleSet:
    return load_alert_rules()


def test_alert037_shipped_rules_load(rules: AlertRuleSet) -> None:
    assert rules.version
    ids = [r.id for r in rules.rules]
    assert len(ids) == len(set(ids))
    for r in rules.rules:
        assert r.scope in CATALOGUE[r.metric].scopes
        assert r.is_raised(r.threshold) or r.op in (">", "<")
        assert not r.is_raised(r.clear) and r.is_clear(r.clear)


def test_alert038_shipped_rules_cover_the_domain_defaults(rules: AlertRuleSet) -> None:
    def find(metric: str, scope: str, threshold: float) -> AlertRule:
        return next(
            r
            for r in rules.rules
            if (r.metric, r.scope, r.threshold) == (metric, scope, threshold)
        )

    for scope in ("site", "trust"):
        # One alert whose severity moves: amber from 92 %, red from 95 %.
        occupancy = find("ga_occupancy_pct", scope, 92)
        assert (occupancy.op, occupancy.severity) == (">=", Severity.WARNING)
        (red,) = occupancy.escalations
        assert (red.threshold, red.clear, red.severity) == (95, 93, Severity.CRITICAL)
    four_hour = find("ed_4h_pct_24h", "site", 78)
    assert four_hour.op == "<" and four_hour.clear > 78
    assert find("data_age_seconds", "feed", 600).severity is Severity.CRITICAL
    assert find("handovers_over_60_today", "site", 1).suggests_protocol == (
        "ed-full-handover-surge"
    )
    assert rules.rule("ga-occupancy-site").suggests_protocol == "opel3-escalation"
    for metric in (
        "ed_over_12h_count",
        "ambulances_waiting_over_30",
        "majors_resus_occupancy_pct",
        "escalation_beds_open",
        "nctr_pct",
        "theatre_cancellations_today",
    ):
        assert rules.for_metric(metric), metric


def test_alert039_recover_for_defaults_to_for(tmp_path: Path) -> None:
    data = shipped()
    del data["rules"][0]["recover_for"]
    rule = load_alert_rules(write(tmp_path, data)).rules[0]
    assert rule.recover_for == rule.for_duration == timedelta(minutes=15)


# --------------------------------------------------------------------------- bad files


def shipped() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_ALERT_RULES_PATH.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def first(d: dict[str, Any]) -> dict[str, Any]:
    return d["rules"][0]  # ga-occupancy-site: >= 92, clear 90


def _set(field: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        first(d)[field] = value

    mutate.__name__ = f"{field}={value!r}"
    return mutate


def _delete(field: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        del first(d)[field]

    mutate.__name__ = f"no-{field}"
    return mutate


def _duplicate(d: dict[str, Any]) -> None:
    d["rules"].append(dict(first(d)))


def _low_rule_clear_below(d: dict[str, Any]) -> None:
    rule = next(r for r in d["rules"] if r["id"] == "ed-4h-below-target-site")
    rule["clear"] = 75


def _numeric_version(d: dict[str, Any]) -> None:
    d["version"] = 2025.1


def _no_rules(d: dict[str, Any]) -> None:
    d["rules"] = []


AMBER = "rule 'ga-occupancy-site'"
BAD_RULES: list[tuple[Callable[[dict[str, Any]], None], str, str]] = [
    (_set("metric", "bed_occupancy"), AMBER, "unknown metric 'bed_occupancy'"),
    (_set("scope", "ed_area"), AMBER, "not available per ed_area"),
    (_set("scope", "hospital"), AMBER, "unknown scope 'hospital'"),
    (_set("for", "15 minutes"), AMBER, "'for': bad duration '15 minutes'"),
    (_set("for", 15), AMBER, "'for': duration must be text"),
    (_set("recover_for", "soon"), AMBER, "'recover_for': bad duration 'soon'"),
    (_delete("for"), AMBER, "missing 'for'"),
    (
        _set("clear", 94),
        AMBER,
        "clear threshold 94 must be below the raise threshold 92",
    ),
    (_set("clear", 92), AMBER, "clear threshold 92 must be below"),
    (
        _low_rule_clear_below,
        "rule 'ed-4h-below-target-site'",
        "clear threshold 75 must be above the raise threshold 78",
    ),
    (_delete("clear"), AMBER, "missing 'clear'"),
    (_set("clear", "ninety"), AMBER, "'clear' must be a number"),
    (_set("condition", "=> 92"), AMBER, "'condition' must be an operator and a number"),
    (_set("condition", "== 92"), AMBER, "'condition' must be"),
    (_set("condition", 92), AMBER, "'condition' must be"),
    (_set("severity", "urgent"), AMBER, "'severity' must be info, warning or critical"),
    (_set("suggests_protocol", "OPEL 3"), AMBER, "'suggests_protocol' must be"),
    (_set("treshold", 92), AMBER, "unknown field 'treshold'"),
    (_delete("title"), AMBER, "missing 'title'"),
    (_set("id", "GA Amber"), "rule #1", "'id' must be lower-case"),
    (_duplicate, AMBER, "duplicate rule id"),
    (_numeric_version, "version", "must be a non-empty string"),
    (_no_rules, "rules", "must be a non-empty list"),
]


@pytest.mark.parametrize(
    ("mutate", "entry", "problem"),
    BAD_RULES,
    ids=[m.__name__.lstrip("_") for m, _, _ in BAD_RULES],
)
def test_alert040_bad_rules_file_names_file_and_rule(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    entry: str,
    problem: str,
) -> None:
    data = shipped()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_alert_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {entry}: "), message
    assert problem in message, message


def test_alert041_unquoted_condition_is_a_yaml_error_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(
        "version: '1'\nrules:\n  - id: x\n    condition: >= 92\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError, match=r"alert_rules\.yaml: not valid YAML at line 4"
    ):
        load_alert_rules(path)
