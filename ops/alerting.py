"""Surge alert rules and the alert state machine (Grafana/Alertmanager-like).

A rule watches one metric (``ops.metrics.CATALOGUE``) at one scope kind. The rules live
in the versioned file ``config/alert_rules.yaml``; :func:`load_alert_rules` validates it.

States and transitions, evaluated by the pure function :func:`step`::

    normal ──raise condition true──▶ pending ──held for `for`──▶ firing
      ▲                                 │                          │ value at/past the
      └──────condition stops holding────┘                          ▼ CLEAR threshold
      ▲                                                        recovering
      └──────────stayed clear for `recover_for`───────────────────┘
                                       (value no longer clear ──▶ firing, same episode)

* Hysteresis: a rule raises on ``value >= 92`` (say) and clears only at ``value <= 90``.
  A firing alert whose value wanders between 90 and 92 keeps firing, so a value
  oscillating around the raise threshold does not resolve and re-raise the alert.
* recovering ▶ firing whenever the value is no longer clear (back above the clear
  threshold, not only above the raise threshold): an alert is called "recovering" only
  while its value is actually clear. The return keeps the same episode: no new alert.
* An **episode** starts when the alert first fires (``episode_started_at``) and ends when
  it returns to normal. ``active_since`` marks when the alert last left normal (pending
  included); an acknowledgement covers that spell (:func:`acknowledgement_current`).
* ``no_data`` (observation ``None`` or NaN) and ``error`` (an :class:`EvaluationError`)
  are states of their own, never ``normal``; they are entered at once from any state.
  The episode survives the outage. When a value comes back it is evaluated afresh:
  - during an episode: still not clear ▶ firing; clear ▶ recovering (it must then stay
    clear for ``recover_for`` before the alert resolves);
  - outside an episode: raise condition true ▶ pending (the ``for`` clock restarts, as
    the condition was not observed to hold during the outage); otherwise ▶ normal.
* ``for: 0s`` fires on the first true evaluation; ``recover_for: 0s`` resolves on the
  first clear one (one transition each, no instant pending/recovering step).
* An evaluation time earlier than the previous one is ignored (status returned as is).

Acknowledge ("I'm on it", stays visible) and silence (time-limited, with a reason) are
properties of the stored alert, handled by the small helpers at the end of the module.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from ops.config_errors import ConfigError, fmt_number, is_number, read_yaml_mapping
from ops.metrics import CATALOGUE
from ops.opel import (
    DEFAULT_OPEL_CONFIG_PATH,
    OpelConfig,
    OpelResult,
    level_change,
    load_opel_config,
)
from ops.timeutil import ensure_utc

DEFAULT_ALERT_RULES_PATH = (
    Path(__file__).resolve().parent.parent / "config" / "alert_rules.yaml"
)

SCOPE_KINDS = ("trust", "site", "ward", "ed_area", "theatre_suite", "feed")
MAX_SILENCE = timedelta(hours=24)


class AlertState(StrEnum):
    NORMAL = "normal"
    PENDING = "pending"
    FIRING = "firing"
    RECOVERING = "recovering"
    NO_DATA = "no_data"
    ERROR = "error"


ACTIVE_STATES = frozenset(
    {
        AlertState.PENDING,
        AlertState.FIRING,
        AlertState.RECOVERING,
        AlertState.NO_DATA,
        AlertState.ERROR,
    }
)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 info, 1 warning, 2 critical: for sorting the most severe first."""
        return list(Severity).index(self)


# --------------------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` or combinations such as ``"1h30m"``."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be text such as '15m', not {text!r}")
    compact = text.strip().lower()
    if not compact or _DURATION_PART.sub("", compact):
        raise ValueError(
            f"bad duration {text!r}: use whole numbers with s, m, h or d, e.g. '15m'"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Inverse of :func:`parse_duration`: ``timedelta(minutes=90)`` -> ``'1h30m'``."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


# --------------------------------------------------------------------------- values

_OP_SIGNS = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}


def format_measure(value: float, unit: str) -> str:
    """A value rounded, with its unit, for reasons people read: ``96.2%``,
    ``34 min``, ``19.7 h`` / ``12 min`` (seconds as an age), ``3``."""
    if unit == "%":
        return f"{value:.1f}".removesuffix(".0") + "%"
    if unit == "minutes":
        return f"{value:.0f} min"
    if unit == "seconds":
        if abs(value) >= 3600:
            return f"{value / 3600:.1f}".removesuffix(".0") + " h"
        if abs(value) >= 60:
            return f"{value / 60:.0f} min"
        return f"{value:.0f} s"
    return f"{value:.1f}".removesuffix(".0")


def op_sign(op: str) -> str:
    return _OP_SIGNS.get(op, op)


# --------------------------------------------------------------------------- rules

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
}
_CONDITION = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_PATTERN_TEXT = re.compile(r"^[A-Za-z0-9_.*:-]{1,64}$")


def _scope_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("[^:]*".join(re.escape(part) for part in pattern.split("*")))


@dataclass(frozen=True)
class Escalation:
    """A higher severity of the same rule: while the alert is active and the value
    meets ``op threshold`` its severity is ``severity``; it steps back down when the
    value reaches ``clear`` (hysteresis, as the rule's own clear)."""

    threshold: float
    clear: float
    severity: Severity


@dataclass(frozen=True)
class AlertRule:
    id: str
    title: str
    metric: str
    scope: str  # scope kind: trust / site / ward / ed_area / theatre_suite / feed
    op: str  # > >= < <=
    threshold: float  # raise threshold
    clear: float  # clear threshold, on the far side of `threshold` (hysteresis)
    for_duration: timedelta
    recover_for: timedelta
    severity: Severity
    suggests_protocol: str | None = None
    description: str = ""
    # Per-scope raise thresholds (``expect:`` in the file, seconds): the rule applies
    # only to scopes a pattern matches, and raises when the value is above that
    # scope's expectation (see :func:`expectation_for`).
    expect: tuple[tuple[str, float], ...] = ()
    # Higher severities of the one alert (``escalate:`` in the file), lowest first.
    escalations: tuple[Escalation, ...] = ()

    @property
    def unit(self) -> str:
        return CATALOGUE[self.metric].unit if self.metric in CATALOGUE else ""

    def measure(self, value: float) -> str:
        return format_measure(value, self.unit)

    def severity_for(self, value: float | None, current: Severity | None) -> Severity:
        """The alert's severity at ``value``: the highest escalation the value meets,
        or one it met and has not yet cleared (``current`` is the severity so far);
        the rule's own severity otherwise."""
        found = self.severity
        for esc in self.escalations:
            if value is None or math.isnan(value):
                held = current is not None and current.rank >= esc.severity.rank
            elif _OPERATORS[self.op](value, esc.threshold):
                held = True
            else:
                cleared = (
                    value <= esc.clear if self.raises_when_high else value >= esc.clear
                )
                held = (
                    current is not None
                    and current.rank >= esc.severity.rank
                    and not cleared
                )
            if held:
                found = esc.severity
        return found

    def expectation_for(self, scope_id: str) -> float | None:
        """The first ``expect`` entry whose pattern matches ``scope_id`` (``*``
        matches any run of characters but ``:``, so ``hl7:*`` names each HL7
        sending facility's feed and not its per-domain rows ``hl7:RGH:beds``)."""
        for pattern, seconds in self.expect:
            if _scope_pattern(pattern).fullmatch(scope_id):
                return seconds
        return None

    def applies_to(self, scope_id: str) -> bool:
        return not self.expect or self.expectation_for(scope_id) is not None

    def for_scope(self, scope_id: str) -> AlertRule:
        """The rule as evaluated for one scope: with ``expect``, raise on a value
        above the scope's expectation, clear at half of it."""
        seconds = self.expectation_for(scope_id) if self.expect else None
        if seconds is None:
            return self
        from dataclasses import replace

        return replace(self, op=">", threshold=seconds, clear=seconds / 2)

    @property
    def raises_when_high(self) -> bool:
        return self.op in (">", ">=")

    def is_raised(self, value: float) -> bool:
        """The raise condition, e.g. ``value >= 92``."""
        return _OPERATORS[self.op](value, self.threshold)

    def is_clear(self, value: float) -> bool:
        """At or past the clear threshold: ``value <= clear`` for a rule that raises
        when high, ``value >= clear`` for one that raises when low."""
        return value <= self.clear if self.raises_when_high else value >= self.clear

    @property
    def condition_text(self) -> str:
        return f"{op_sign(self.op)} {self.measure(self.threshold)}"

    @property
    def clear_text(self) -> str:
        sign = "≤" if self.raises_when_high else "≥"
        return f"{sign} {self.measure(self.clear)}"


@dataclass(frozen=True)
class AlertRuleSet:
    version: str
    source: str
    rules: tuple[AlertRule, ...]
    path: str = ""
    # ``silence_limits``: the longest silence a role may set, per alert severity
    # (role -> severity -> duration); anything not listed: MAX_SILENCE.
    silence_limits: tuple[tuple[str, str, timedelta], ...] = ()

    def max_silence(self, role: str | None, severity: str | None) -> timedelta:
        """The longest silence ``role`` may put on an alert of ``severity``."""
        for r, sev, limit in self.silence_limits:
            if r == role and sev == severity:
                return limit
        return MAX_SILENCE

    def rule(self, rule_id: str) -> AlertRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def for_metric(self, metric: str) -> tuple[AlertRule, ...]:
        return tuple(r for r in self.rules if r.metric == metric)


@dataclass(frozen=True)
class Scope:
    """Where a rule is evaluated: ``Scope("site", "RAH")``, ``Scope("feed", "adt")``."""

    kind: str
    id: str


class AlertKey(NamedTuple):
    """Dedupe key of an alert: one alert per rule and scope."""

    rule_id: str
    scope_kind: str
    scope_id: str

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.scope_kind}/{self.scope_id}"


def alert_key(rule: AlertRule, scope: Scope) -> AlertKey:
    if scope.kind != rule.scope:
        raise ValueError(
            f"rule {rule.id!r} is evaluated per {rule.scope}, not per {scope.kind}"
        )
    return AlertKey(rule.id, scope.kind, str(scope.id))


# --------------------------------------------------------------------------- states


@dataclass(frozen=True)
class EvaluationError:
    """Observation marker: the metric could not be computed (query failed …)."""

    message: str


Observation = float | int | EvaluationError | None


@dataclass(frozen=True)
class AlertStatus:
    state: AlertState
    since: datetime  # when the current state was entered
    last_evaluated_at: datetime
    value: float | None = None  # last observed value (None when no data / error)
    episode_started_at: datetime | None = None  # first firing of the current episode
    error: str | None = None  # message while in the error state
    # When the alert last left `normal` (None while normal): the start of the spell
    # that an acknowledgement covers (pending -> firing -> no_data ... -> normal).
    active_since: datetime | None = None
    # The alert's severity now (a rule with ``escalate`` levels moves it up and
    # down within the one alert); None: the rule's own.
    severity: str | None = None

    @classmethod
    def initial(cls, now: datetime) -> AlertStatus:
        now = ensure_utc(now)
        return cls(state=AlertState.NORMAL, since=now, last_evaluated_at=now)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def in_episode(self) -> bool:
        return self.episode_started_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "since": self.since.isoformat(),
            "last_evaluated_at": self.last_evaluated_at.isoformat(),
            "value": self.value,
            "episode_started_at": _iso(self.episode_started_at),
            "error": self.error,
            "active_since": _iso(self.active_since),
            "severity": self.severity,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertStatus:
        return cls(
            state=AlertState(data["state"]),
            since=_parse_dt(data["since"]),
            last_evaluated_at=_parse_dt(data["last_evaluated_at"]),
            value=data.get("value"),
            episode_started_at=_parse_dt(data.get("episode_started_at")),
            error=data.get("error"),
            active_since=_parse_dt(data.get("active_since")),
            severity=data.get("severity"),
        )


@dataclass(frozen=True)
class TransitionEvent:
    """One state change, for the alert history."""

    rule_id: str
    at: datetime
    from_state: AlertState
    to_state: AlertState
    value: float | None
    reason: str
    episode_started_at: datetime | None  # the episode this change belongs to
    opens_episode: bool = False  # first firing: notify
    closes_episode: bool = False  # back to normal after an episode: resolved
    kind: str = "transition"  # or escalation / de-escalation (severity changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "at": self.at.isoformat(),
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "value": self.value,
            "reason": self.reason,
            "episode_started_at": _iso(self.episode_started_at),
            "opens_episode": self.opens_episode,
            "closes_episode": self.closes_episode,
        }


class StepResult(NamedTuple):
    status: AlertStatus
    events: tuple[TransitionEvent, ...]


def step(
    rule: AlertRule,
    prev: AlertStatus | None,
    observation: Observation,
    now: datetime,
    *,
    held_since: datetime | None = None,
) -> StepResult:
    """Evaluate one observation; return the new status and the transitions it caused.

    ``observation`` is the metric value, ``None`` (no data; NaN counts as no data) or an
    :class:`EvaluationError`. ``prev`` is ``None`` for a rule/scope never evaluated.

    ``held_since``: from the stored history of the metric (:func:`held_since`), since
    when the raise condition has held without a break up to now. It is used when the
    condition starts to hold as far as the alert knows (first evaluation, after a
    restart or an outage of the evaluator): the ``for`` clock then starts there, so a
    condition that has held for hours fires on the first evaluation instead of
    waiting ``for`` again.
    """
    now = ensure_utc(now)
    if prev is None:
        prev = AlertStatus.initial(now)
    elif now < prev.last_evaluated_at:
        return StepResult(prev, ())
    held = ensure_utc(held_since) if held_since is not None else None
    if held is not None and held >= now:
        held = None
    return _with_severity(rule, prev, _Stepper(rule, prev, now, held).run(observation))


def _with_severity(
    rule: AlertRule, prev: AlertStatus, result: StepResult
) -> StepResult:
    """The step's status with the alert's severity, and an escalation or
    de-escalation event when a firing alert's severity changed (one alert per rule
    and scope, its severity moving with the value)."""
    from dataclasses import replace

    status, events = result
    before = Severity(prev.severity) if prev.severity else rule.severity
    if status.state is AlertState.NORMAL:
        return StepResult(replace(status, severity=None), events)
    known = before if prev.is_active else None
    after = rule.severity_for(status.value, known)
    status = replace(status, severity=after.value)
    if not rule.escalations or not prev.is_active or after is before:
        return StepResult(status, events)
    if status.state not in (
        AlertState.FIRING,
        AlertState.RECOVERING,
        AlertState.PENDING,
    ):
        return StepResult(status, events)
    up = after.rank > before.rank
    value = status.value
    if up:
        esc = next(e for e in rule.escalations if e.severity is after)
        why = f"{rule.measure(value)} {op_sign(rule.op)} {rule.measure(esc.threshold)}"
    else:
        esc = next(e for e in rule.escalations if e.severity is before)
        sign = "≤" if rule.raises_when_high else "≥"
        why = f"{rule.measure(value)} {sign} {rule.measure(esc.clear)}"
    change = TransitionEvent(
        rule_id=rule.id,
        at=status.last_evaluated_at,
        from_state=status.state,
        to_state=status.state,
        value=value,
        reason=f"{before.value} → {after.value}: {why}",
        episode_started_at=status.episode_started_at,
        kind="escalation" if up else "de-escalation",
    )
    return StepResult(status, (*events, change))


def held_since(
    rule: AlertRule,
    samples: Iterable[tuple[datetime, float | None]],
    now: datetime,
) -> datetime | None:
    """The start of the unbroken run of stored samples ``(time, value)`` that meet the
    rule's raise condition and reach the newest sample at or before ``now``; ``None``
    when the newest sample does not meet it (or there is none). A missing value breaks
    the run: the condition was not observed to hold then."""
    ordered = sorted(
        ((ensure_utc(t), v) for t, v in samples if ensure_utc(t) <= ensure_utc(now)),
        key=lambda tv: tv[0],
    )
    start = None
    for at, value in reversed(ordered):
        if value is None or math.isnan(value) or not rule.is_raised(value):
            break
        start = at
    return start


class _Stepper:
    """The working state of one :func:`step` call."""

    def __init__(
        self,
        rule: AlertRule,
        prev: AlertStatus,
        now: datetime,
        held: datetime | None = None,
    ) -> None:
        self.rule = rule
        self.prev = prev
        self.now = now
        self.held = held

    def run(self, observation: Observation) -> StepResult:
        if isinstance(observation, EvaluationError):
            return self._outage(AlertState.ERROR, None, observation.message)
        if observation is not None and (
            isinstance(observation, bool) or not isinstance(observation, int | float)
        ):
            raise TypeError(
                f"observation must be a number, None or EvaluationError, "
                f"not {observation!r}"
            )
        if observation is None or math.isnan(observation):
            return self._outage(AlertState.NO_DATA, None, None)
        return self._evaluate(float(observation))

    # -- helpers

    def _stay(self, value: float | None, error: str | None = None) -> StepResult:
        status = AlertStatus(
            state=self.prev.state,
            since=self.prev.since,
            last_evaluated_at=self.now,
            value=value,
            episode_started_at=self.prev.episode_started_at,
            error=error,
            active_since=self.prev.active_since,
        )
        return StepResult(status, ())

    def _move(
        self,
        to: AlertState,
        value: float | None,
        reason: str,
        *,
        episode_started_at: datetime | None,
        error: str | None = None,
        since: datetime | None = None,
    ) -> StepResult:
        opens = to is AlertState.FIRING and self.prev.episode_started_at is None
        closes = to is AlertState.NORMAL and self.prev.episode_started_at is not None
        if to is AlertState.NORMAL:
            active_since = None
        else:
            active_since = self.prev.active_since or self.now
        status = AlertStatus(
            state=to,
            since=since or self.now,
            last_evaluated_at=self.now,
            value=value,
            episode_started_at=episode_started_at,
            error=error,
            active_since=active_since,
        )
        event = TransitionEvent(
            rule_id=self.rule.id,
            at=self.now,
            from_state=self.prev.state,
            to_state=to,
            value=value,
            reason=reason,
            episode_started_at=self.prev.episode_started_at or episode_started_at,
            opens_episode=opens,
            closes_episode=closes,
        )
        return StepResult(status, (event,))

    def _held(self, duration: timedelta) -> bool:
        return self.now - self.prev.since >= duration

    def _raised_text(self, value: float) -> str:
        return f"{self.rule.measure(value)} {self.rule.condition_text}"

    def _clear_text(self, value: float) -> str:
        return f"{self.rule.measure(value)} {self.rule.clear_text} (clear threshold)"

    # -- transitions

    def _outage(
        self, state: AlertState, value: float | None, error: str | None
    ) -> StepResult:
        if self.prev.state is state:
            return self._stay(value, error)
        reason = (
            "no data" if state is AlertState.NO_DATA else f"evaluation error: {error}"
        )
        return self._move(
            state,
            value,
            reason,
            episode_started_at=self.prev.episode_started_at,
            error=error,
        )

    def _evaluate(self, value: float) -> StepResult:
        rule, state = self.rule, self.prev.state
        episode = self.prev.episode_started_at
        if state in (AlertState.NO_DATA, AlertState.ERROR):
            back = f"data returned: {{}} after {state.value}"
            if episode is not None:
                if rule.is_clear(value):
                    return self._start_recovering(
                        value, back.format(self._clear_text(value))
                    )
                return self._move(
                    AlertState.FIRING,
                    value,
                    back.format(f"{rule.measure(value)} not clear ({rule.clear_text})"),
                    episode_started_at=episode,
                )
            if rule.is_raised(value):
                return self._start_pending(value, back.format(self._raised_text(value)))
            return self._move(
                AlertState.NORMAL,
                value,
                back.format(rule.measure(value)),
                episode_started_at=None,
            )
        if state is AlertState.NORMAL:
            if rule.is_raised(value):
                return self._start_pending(value, self._raised_text(value))
            return self._stay(value)
        if state is AlertState.PENDING:
            if not rule.is_raised(value):
                return self._move(
                    AlertState.NORMAL,
                    value,
                    f"condition {rule.condition_text} stopped holding "
                    f"({rule.measure(value)})",
                    episode_started_at=None,
                )
            if self._held(rule.for_duration):
                return self._fire(
                    value,
                    f"{self._raised_text(value)} held for "
                    f"{format_duration(rule.for_duration)}",
                )
            return self._stay(value)
        if state is AlertState.FIRING:
            if rule.is_clear(value):
                return self._start_recovering(value, self._clear_text(value))
            return self._stay(value)
        # RECOVERING
        if not rule.is_clear(value):
            return self._move(
                AlertState.FIRING,
                value,
                f"{rule.measure(value)} no longer clear ({rule.clear_text})",
                episode_started_at=episode,
            )
        if self._held(rule.recover_for):
            return self._resolve(
                value,
                f"stayed clear ({rule.clear_text}) for {format_duration(rule.recover_for)}",
            )
        return self._stay(value)

    def _start_pending(self, value: float, reason: str) -> StepResult:
        rule = self.rule
        if rule.for_duration <= timedelta(0):
            return self._fire(value, reason)
        if self.held is not None:
            held_for = self.now - self.held
            history = f"held since {self.held:%H:%M} UTC in the stored history"
            if held_for >= rule.for_duration:
                # It would have fired when `for` ran out: that is the episode's start.
                return self._fire(
                    value,
                    f"{reason}, {history} "
                    f"({format_duration(_whole_minutes(held_for))} ≥ "
                    f"{format_duration(rule.for_duration)})",
                    at=self.held + rule.for_duration,
                )
            return self._move(
                AlertState.PENDING,
                value,
                f"{reason}, {history}",
                episode_started_at=None,
                since=self.held,
            )
        return self._move(AlertState.PENDING, value, reason, episode_started_at=None)

    def _fire(
        self, value: float, reason: str, at: datetime | None = None
    ) -> StepResult:
        return self._move(
            AlertState.FIRING,
            value,
            reason,
            episode_started_at=at or self.now,
            since=at,
        )

    def _start_recovering(self, value: float, reason: str) -> StepResult:
        if self.rule.recover_for <= timedelta(0):
            return self._resolve(value, reason)
        return self._move(
            AlertState.RECOVERING,
            value,
            reason,
            episode_started_at=self.prev.episode_started_at,
        )

    def _resolve(self, value: float, reason: str) -> StepResult:
        return self._move(AlertState.NORMAL, value, reason, episode_started_at=None)


def _whole_minutes(value: timedelta) -> timedelta:
    return timedelta(minutes=int(value.total_seconds() // 60))


# --------------------------------------------------------------------------- ack / silence


def silence_until(
    now: datetime,
    duration: timedelta | str,
    reason: str | None,
    *,
    max_duration: timedelta = MAX_SILENCE,
) -> datetime:
    """When a silence started ``now`` ends; ValueError for a missing reason or a
    duration that is not positive or longer than ``max_duration`` (24 h by default)."""
    if reason is None or not reason.strip():
        raise ValueError("a silence needs a reason")
    if isinstance(duration, str):
        duration = parse_duration(duration)
    if duration <= timedelta(0):
        raise ValueError("a silence needs a positive duration")
    if duration > max_duration:
        raise ValueError(
            f"a silence may last at most {format_duration(max_duration)}, "
            f"not {format_duration(duration)}"
        )
    return ensure_utc(now) + duration


def is_silenced(silence_until: datetime | None, now: datetime) -> bool:
    """True while a silence is running; it expires at ``silence_until`` exactly."""
    return silence_until is not None and ensure_utc(now) < ensure_utc(silence_until)


def can_acknowledge(status: AlertStatus) -> bool:
    """Only an active alert can be acknowledged; the ack keeps it visible."""
    return status.is_active


def acknowledgement_current(acked_at: datetime | None, status: AlertStatus) -> bool:
    """Does an acknowledgement given at ``acked_at`` still cover the alert?

    It covers the current active spell (from leaving ``normal`` until returning to it,
    through pending, firing, recovering, no data and error), so an ack given while
    pending still holds once the alert fires; after the alert resolves it lapses and
    the next spell needs a new one.
    """
    return (
        acked_at is not None
        and status.active_since is not None
        and ensure_utc(acked_at) >= ensure_utc(status.active_since)
    )


def needs_attention(
    status: AlertStatus,
    *,
    acknowledged: bool,
    silence_ends: datetime | None,
    now: datetime,
) -> bool:
    """Should the alert be pushed at people (banner, sound)? Firing, no-data and error
    alerts do, unless acknowledged or silenced. Either way the alert stays listed."""
    if status.state not in (AlertState.FIRING, AlertState.NO_DATA, AlertState.ERROR):
        return False
    return not acknowledged and not is_silenced(silence_ends, now)


# --------------------------------------------------------------------------- loading

_TOP_FIELDS = {"version", "source", "rules", "silence_limits"}
_RULE_FIELDS = {
    "id",
    "title",
    "description",
    "metric",
    "scope",
    "condition",
    "clear",
    "for",
    "recover_for",
    "severity",
    "suggests_protocol",
    "expect",
    "escalate",
}
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PROTOCOL_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def load_alert_rules(path: str | Path = DEFAULT_ALERT_RULES_PATH) -> AlertRuleSet:
    """Load and validate an alert rules file; ConfigError names the file and the rule."""
    data = read_yaml_mapping(path)
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise ConfigError(path, None, f"unknown field {unknown[0]!r}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ConfigError(
            path, "version", "must be a non-empty string (quote it in YAML)"
        )
    source = data.get("source", "")
    if not isinstance(source, str):
        raise ConfigError(path, "source", "must be text")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError(path, "rules", "must be a non-empty list")
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw_rules, start=1):
        rule = _load_rule(path, index, item)
        if rule.id in seen:
            raise ConfigError(path, f"rule {rule.id!r}", "duplicate rule id")
        seen.add(rule.id)
        rules.append(rule)
    return AlertRuleSet(
        version=version.strip(),
        source=" ".join(source.split()),
        rules=tuple(rules),
        path=str(path),
        silence_limits=_silence_limits(path, data.get("silence_limits")),
    )


def _silence_limits(
    path: str | Path, raw: object
) -> tuple[tuple[str, str, timedelta], ...]:
    """``silence_limits: {role: {severity: duration}}``, each at most 24 h."""
    from ops.permissions import Role

    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError(path, "silence_limits", "must map roles to severities")
    out = []
    for role, limits in raw.items():
        entry = f"silence_limits {role!r}"
        if role not in Role._value2member_map_:
            roles = ", ".join(r.value for r in Role)
            raise ConfigError(path, entry, f"unknown role (expected one of: {roles})")
        if not isinstance(limits, dict) or not limits:
            raise ConfigError(path, entry, "must map severities to durations")
        for severity, text in limits.items():
            if severity not in Severity._value2member_map_:
                raise ConfigError(
                    path,
                    entry,
                    f"unknown severity {severity!r} (info, warning, critical)",
                )
            try:
                limit = parse_duration(text)
            except ValueError as exc:
                raise ConfigError(path, entry, f"{severity}: {exc}") from None
            if limit <= timedelta(0) or limit > MAX_SILENCE:
                raise ConfigError(
                    path,
                    entry,
                    f"{severity}: a limit must be more than 0 and at most 24h",
                )
            out.append((role, severity, limit))
    return tuple(out)


def _load_rule(path: str | Path, index: int, item: object) -> AlertRule:
    if not isinstance(item, dict):
        raise ConfigError(path, f"rule #{index}", "must be a mapping of fields")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise ConfigError(
            path,
            f"rule #{index}",
            f"'id' must be lower-case letters, digits, '-', '_' or '.', not {rule_id!r}",
        )
    entry = f"rule {rule_id!r}"

    def fail(problem: str) -> ConfigError:
        return ConfigError(path, entry, problem)

    unknown = sorted(set(item) - _RULE_FIELDS)
    if unknown:
        raise fail(f"unknown field {unknown[0]!r}")
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail("missing 'title'")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise fail("'description' must be text")
    metric = item.get("metric")
    if metric not in CATALOGUE:
        raise fail(f"unknown metric {metric!r} (not in ops.metrics.CATALOGUE)")
    scope = item.get("scope")
    if scope not in SCOPE_KINDS:
        raise fail(
            f"unknown scope {scope!r} (expected one of: {', '.join(SCOPE_KINDS)})"
        )
    allowed = CATALOGUE[metric].scopes
    if scope not in allowed:
        raise fail(
            f"metric {metric!r} is not available per {scope} "
            f"(allowed: {', '.join(allowed)})"
        )
    expect = _expectations(item, scope, metric, fail)
    if expect:
        # The raise threshold differs per scope; the rule's own is the shortest
        # expectation (what a tile band or a listing shows).
        shortest = min(seconds for _, seconds in expect)
        item = {**item, "condition": f"> {shortest:g}", "clear": shortest / 2}
    condition = item.get("condition")
    match = _CONDITION.match(condition) if isinstance(condition, str) else None
    if match is None:
        raise fail(
            f"'condition' must be an operator and a number such as \">= 92\" "
            f"(operators > >= < <=), not {condition!r}"
        )
    op, threshold = match.group(1), float(match.group(2))
    if "clear" not in item:
        raise fail("missing 'clear' (the clear threshold, for hysteresis)")
    clear = item["clear"]
    if not is_number(clear):
        raise fail(f"'clear' must be a number, not {clear!r}")
    if op in (">", ">=") and not clear < threshold:
        raise fail(
            f"clear threshold {fmt_number(clear)} must be below the raise threshold "
            f"{fmt_number(threshold)} for a rule that raises on {op}"
        )
    if op in ("<", "<=") and not clear > threshold:
        raise fail(
            f"clear threshold {fmt_number(clear)} must be above the raise threshold "
            f"{fmt_number(threshold)} for a rule that raises on {op}"
        )
    if "for" not in item:
        raise fail("missing 'for' (e.g. '15m'; '0s' fires at once)")
    for_duration = _duration(item["for"], "for", fail)
    recover_for = (
        _duration(item["recover_for"], "recover_for", fail)
        if "recover_for" in item
        else for_duration
    )
    try:
        severity = Severity(item.get("severity"))
    except ValueError:
        raise fail(
            f"'severity' must be info, warning or critical, not {item.get('severity')!r}"
        ) from None
    protocol = item.get("suggests_protocol")
    if protocol is not None and (
        not isinstance(protocol, str) or not _PROTOCOL_KEY.match(protocol)
    ):
        raise fail(f"'suggests_protocol' must be a protocol key, not {protocol!r}")
    escalations = _escalations(item.get("escalate"), op, threshold, severity, fail)
    return AlertRule(
        id=rule_id,
        title=title.strip(),
        metric=metric,
        scope=scope,
        op=op,
        threshold=threshold,
        clear=float(clear),
        for_duration=for_duration,
        recover_for=recover_for,
        severity=severity,
        suggests_protocol=protocol,
        description=" ".join(description.split()),
        expect=expect,
        escalations=escalations,
    )


def _escalations(
    raw: object,
    op: str,
    threshold: float,
    severity: Severity,
    fail: Callable[[str], ConfigError],
) -> tuple[Escalation, ...]:
    """``escalate``: higher severities of the one alert, each with its raise
    condition (same operator as the rule, further out) and clear threshold."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise fail("'escalate' must be a list of {condition, clear, severity}")
    out: list[Escalation] = []
    last_threshold, last_severity = threshold, severity
    high = op in (">", ">=")
    for n, entry in enumerate(raw, start=1):
        where = f"'escalate' #{n}"
        if not isinstance(entry, dict) or set(entry) - {
            "condition",
            "clear",
            "severity",
        }:
            raise fail(f"{where} must be a mapping of condition, clear and severity")
        cond = entry.get("condition")
        match = _CONDITION.match(cond) if isinstance(cond, str) else None
        if match is None or match.group(1) != op:
            raise fail(
                f"{where}: 'condition' must use the rule's operator {op}, e.g. \"{op} 95\""
            )
        level = float(match.group(2))
        if (level <= last_threshold) if high else (level >= last_threshold):
            raise fail(
                f"{where}: threshold {fmt_number(level)} must be beyond {fmt_number(last_threshold)}"
            )
        clear = entry.get("clear")
        if not is_number(clear) or ((clear >= level) if high else (clear <= level)):
            raise fail(
                f"{where}: 'clear' must be a number on the far side of {fmt_number(level)}"
            )
        try:
            sev = Severity(entry.get("severity"))
        except ValueError:
            raise fail(
                f"{where}: 'severity' must be info, warning or critical"
            ) from None
        if sev.rank <= last_severity.rank:
            raise fail(
                f"{where}: severity {sev.value} must be above {last_severity.value}"
            )
        out.append(Escalation(level, float(clear), sev))
        last_threshold, last_severity = level, sev
    return tuple(out)


def _expectations(
    item: Mapping[str, Any],
    scope: str,
    metric: str,
    fail: Callable[[str], ConfigError],
) -> tuple[tuple[str, float], ...]:
    """``expect``: how long each feed may stay silent, by feed-name pattern."""
    raw = item.get("expect")
    if raw is None:
        return ()
    if scope != "feed" or CATALOGUE[metric].unit != "seconds":
        raise fail("'expect' is for rules on a feed's age in seconds (scope: feed)")
    if "condition" in item or "clear" in item:
        raise fail(
            "a rule with 'expect' takes no 'condition' or 'clear': it raises above "
            "each feed's expectation and clears at half of it"
        )
    if not isinstance(raw, dict) or not raw:
        raise fail("'expect' must map feed names (or patterns with *) to durations")
    out = []
    for pattern, duration in raw.items():
        if not isinstance(pattern, str) or not _PATTERN_TEXT.match(pattern):
            raise fail(f"'expect': bad feed name or pattern {pattern!r}")
        seconds = _duration(duration, f"expect {pattern}", fail).total_seconds()
        if seconds <= 0:
            raise fail(f"'expect' {pattern!r}: the expectation must be positive")
        out.append((pattern, seconds))
    return tuple(out)


def _duration(raw: object, name: str, fail: Callable[[str], ConfigError]) -> timedelta:
    try:
        return parse_duration(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise fail(f"{name!r}: {exc}") from None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: str | None) -> datetime | None:
    return None if value is None else ensure_utc(datetime.fromisoformat(value))


# ---------------------------------------------------------------------------
# The evaluation's configuration and the built-in OPEL alert
# ---------------------------------------------------------------------------

OPEL_RULE_ID = "opel-level-change"
OPEL_RULE_TITLE = "OPEL level change"
OPEL_SCOPE_KINDS = ("trust", "site")
# An OPEL assessment is stored when the level, the score, the configuration version
# or the set of missing parameters changes, and otherwise at most this often.
OPEL_HEARTBEAT = timedelta(minutes=15)


@dataclass(frozen=True)
class EvaluationConfig:
    rules: AlertRuleSet
    opel: OpelConfig


def load_and_validate_config(
    rules_path: str | Path | None = None, opel_path: str | Path | None = None
) -> EvaluationConfig:
    """Load and check ``config/alert_rules.yaml`` and ``config/opel.yaml``.

    Raises :class:`ops.config_errors.ConfigError` whose message names the file and
    the entry at fault; call it at start-up so a bad edit stops the app there.
    """
    rules_file = rules_path or DEFAULT_ALERT_RULES_PATH
    rules = load_alert_rules(rules_file)
    for rule in rules.rules:
        if rule.id == OPEL_RULE_ID:
            raise ConfigError(
                rules_file,
                f"rule {rule.id!r}",
                "this id is reserved for the built-in OPEL level change alert",
            )
    opel = load_opel_config(opel_path or DEFAULT_OPEL_CONFIG_PATH)
    return EvaluationConfig(rules=rules, opel=opel)


def should_store_assessment(
    last: Any | None, result: OpelResult, now: datetime
) -> bool:
    """Whether a new OPEL assessment is stored, given the scope's newest stored one
    (anything with ``level``, ``config_version``, ``breakdown``, ``assessed_at``)."""
    if last is None:
        return True
    if now <= last.assessed_at:
        return False
    return (
        last.level != result.level
        or last.config_version != result.config_version
        or sorted(last.breakdown.get("missing", [])) != sorted(result.missing)
        # Its inputs moved a parameter to another band: reassessed at once, so the
        # score shown is never a heartbeat behind the tiles.
        or last.total != result.total
        or now - last.assessed_at >= OPEL_HEARTBEAT
    )


def opel_severity(level: int | None) -> Severity:
    return Severity.CRITICAL if level is not None and level >= 3 else Severity.WARNING


def opel_step(
    prev: AlertStatus | None,
    previous_level: int | None,
    result: OpelResult,
    now: datetime,
) -> tuple[AlertStatus, tuple[str, str] | None]:
    """The built-in OPEL alert: the new status and (event kind, reason) if it changed.

    Fires on an escalation (a new spell: an earlier acknowledgement lapses), resolves
    on a de-escalation, is ``no_data`` while the level cannot be given.
    """
    prev = prev or AlertStatus.initial(now)
    level = result.level
    if level is None:
        value = None
        if prev.state is AlertState.NO_DATA:
            return _opel_stay(prev, now, value), None
        reason = (
            f"OPEL level unknown: {len(result.missing)} parameters missing "
            f"({', '.join(result.missing)})"
        )
        status = AlertStatus(
            state=AlertState.NO_DATA,
            since=now,
            last_evaluated_at=now,
            value=None,
            episode_started_at=prev.episode_started_at,
            active_since=prev.active_since or now,
        )
        return status, ("transition", reason)
    detail = f"total {result.total:g} of {result.max_total:g}, config {result.config_version}"
    change = level_change(previous_level, level)
    if change == "escalation":
        status = AlertStatus(
            state=AlertState.FIRING,
            since=now,
            last_evaluated_at=now,
            value=float(level),
            episode_started_at=now,
            active_since=now,
        )
        return status, (
            "escalation",
            f"OPEL {previous_level} → OPEL {level} ({detail})",
        )
    if change == "de-escalation":
        status = AlertStatus(
            state=AlertState.NORMAL,
            since=now,
            last_evaluated_at=now,
            value=float(level),
        )
        return status, (
            "de-escalation",
            f"OPEL {previous_level} → OPEL {level} ({detail})",
        )
    if prev.state is AlertState.NO_DATA:
        back = AlertState.FIRING if prev.episode_started_at else AlertState.NORMAL
        status = AlertStatus(
            state=back,
            since=now,
            last_evaluated_at=now,
            value=float(level),
            episode_started_at=prev.episode_started_at,
            active_since=prev.active_since if back is AlertState.FIRING else None,
        )
        return status, (
            "transition",
            f"OPEL level known again: OPEL {level} ({detail})",
        )
    return _opel_stay(prev, now, float(level)), None


def _opel_stay(prev: AlertStatus, now: datetime, value: float | None) -> AlertStatus:
    return AlertStatus(
        state=prev.state,
        since=prev.since,
        last_evaluated_at=now,
        value=value,
        episode_started_at=prev.episode_started_at,
        active_since=prev.active_since,
    )


# ---------------------------------------------------------------------------
# Display bands: the rules' thresholds, shown on tiles
# ---------------------------------------------------------------------------

_LOADED_RULES: dict[tuple[str, int, int], AlertRuleSet] = {}


def current_alert_rules(path: str | Path = DEFAULT_ALERT_RULES_PATH) -> AlertRuleSet:
    """:func:`load_alert_rules`, parsed once per file version (polling screens read
    the rules' thresholds on every poll)."""
    from ops.config_errors import once_per_file_version

    return once_per_file_version(_LOADED_RULES, path, load_alert_rules)


@dataclass(frozen=True)
class ThresholdBand:
    """One raise threshold of a rule: a value that meets it is in ``severity``."""

    op: str  # > >= < <=
    threshold: float
    severity: Severity

    def contains(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.threshold)


@dataclass(frozen=True)
class MetricBands:
    """A metric's display bands, worst first (critical before warning before info)."""

    metric: str
    bands: tuple[ThresholdBand, ...]

    def severity_of(self, value: float | None) -> Severity | None:
        """The worst band ``value`` is in; ``None`` when in none or no value."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        for band in self.bands:
            if band.contains(value):
                return band.severity
        return None


# Figures shown on tiles that no rule watches, banded by the rule of the figure they
# stand for: today's 4-hour % by the 4-hour rule (rolling 24 h) and its target.
BAND_ALIASES: dict[str, str] = {"ed_4h_pct_today": "ed_4h_pct_24h"}


def metric_bands(
    rules: AlertRuleSet, scope_kind: str | None = None
) -> dict[str, MetricBands]:
    """Display bands per metric from the alert rules' raise conditions, so a tile is
    amber/red at exactly the thresholds that raise the alerts (one definition).

    A metric takes the rules of ``scope_kind`` when it has some; otherwise the rules
    of any scope (sites first): the ED page's trust-wide tiles use the site rules'
    thresholds. The rule's ``for`` duration and ``clear`` hysteresis are alerting
    behaviour, not bands.
    """
    order = {kind: i for i, kind in enumerate(("site", *SCOPE_KINDS))}
    by_metric: dict[str, list[AlertRule]] = {}
    for rule in rules.rules:
        if rule.expect:  # thresholds per scope, not one band
            continue
        by_metric.setdefault(rule.metric, []).append(rule)
    out: dict[str, MetricBands] = {}
    for metric, found in by_metric.items():
        chosen = [r for r in found if r.scope == scope_kind]
        if not chosen:
            first = min(order.get(r.scope, 99) for r in found)
            chosen = [r for r in found if order.get(r.scope, 99) == first]
        bands = {ThresholdBand(r.op, r.threshold, r.severity) for r in chosen}
        bands |= {
            ThresholdBand(r.op, e.threshold, e.severity)
            for r in chosen
            for e in r.escalations
        }
        high = all(b.op in (">", ">=") for b in bands)
        out[metric] = MetricBands(
            metric,
            tuple(
                sorted(
                    bands,
                    key=lambda b: (
                        -b.severity.rank,
                        -b.threshold if high else b.threshold,
                    ),
                )
            ),
        )
    for alias, metric in BAND_ALIASES.items():
        if metric in out and alias not in out:
            out[alias] = MetricBands(alias, out[metric].bands)
    return out


def tile_bands(
    scope_kind: str | None, path: str | Path = DEFAULT_ALERT_RULES_PATH
) -> dict[str, MetricBands]:
    """:func:`metric_bands` of the rules file in force; none (tiles unbanded, the log
    says why) while the file is unreadable: start-up refuses a bad file, so this only
    covers an edit made while the app runs."""
    try:
        return metric_bands(current_alert_rules(path), scope_kind)
    except ConfigError as exc:
        logging.getLogger(__name__).warning("tile bands unavailable: %s", exc)
        return {}
