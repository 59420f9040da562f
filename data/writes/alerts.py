"""Surge alerts and OPEL in the store: the evaluation pass, acknowledge, silence.

Evaluation (:func:`evaluate`, run by ``jobs.alerts.evaluation_job`` from
``jobs.worker.JOBS`` under the leader lease) steps the pure state machine of
:mod:`ops.alerting` for every rule and scope, scores OPEL (:mod:`ops.opel`) per site
and per trust, and writes the results in the caller's single write transaction.

Safe when two evaluators run at once by mistake (SQLite and PostgreSQL):

* An **interval guard** row (``alert_evaluation``) is claimed by a conditional UPDATE
  (``last_run_at <= now - min_interval``): a second caller inside the interval does
  nothing. On PostgreSQL the claim also row-locks, so evaluators queue on it.
* ``alert`` has a UNIQUE (rule, scope kind, scope id) key: a new alert is an
  ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``; whoever gets no id lost the race.
* An existing alert is written by a compare-and-set UPDATE on the
  ``last_evaluated_at`` read; a loser updates no row.
* Transition events are written only by the winner of the insert/update above, and
  OPEL assessments have a UNIQUE (scope, assessed_at) key -- so no duplicates.

OPEL storage: an assessment is stored when the level, the configuration version or the
set of missing parameters changes, and otherwise at most every ``OPEL_HEARTBEAT``
(15 min, :func:`ops.alerting.should_store_assessment`). A level change is also
recorded as an event of the built-in alert ``opel-level-change`` of that scope
(:func:`ops.alerting.opel_step`): it **fires on an escalation** (a new spell, so an
earlier acknowledgement lapses) and **resolves on a de-escalation**.

Writes by people (:func:`acknowledge`, :func:`silence`) are conditional on the alert's
``version`` (which only people's writes bump, so a background evaluation never makes
an open form stale), append an ``alert_event`` and an ``audit_event`` row.
Errors are :class:`AlertStoreError` subclasses whose message is fit to show.
The reads are in :mod:`data.queries.alerts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data.audit import ActorLike, record_audit
from data.models.alerts import Alert, AlertEvaluation, AlertEvent, OpelAssessment
from data.models.capacity import Ward
from data.queries.alerts import (
    EVALUATOR_NAME,
    MIN_INTERVAL,
    alert_view,
    latest_assessments,
    metric_history,
)
from data.queries.metrics import GA_WARD_TYPES, MetricSnapshot
from ops.alert_views import AlertView
from ops.alerting import (
    MAX_SILENCE,
    OPEL_RULE_ID,
    OPEL_RULE_TITLE,
    OPEL_SCOPE_KINDS,
    AlertRule,
    AlertRuleSet,
    AlertState,
    AlertStatus,
    EvaluationError,
    acknowledgement_current,
    can_acknowledge,
    format_duration,
    held_since,
    is_silenced,
    opel_severity,
    opel_step,
    should_store_assessment,
    silence_until,
    step,
)
from ops.opel import OpelConfig, score_opel
from ops.timeutil import ensure_utc, format_local

MAX_NOTE = 500
HISTORY_LOOKBACK = timedelta(hours=12)


# ---------------------------------------------------------------------------
# Errors and actors
# ---------------------------------------------------------------------------


class AlertStoreError(Exception):
    """A refused alert operation; ``str(exc)`` is fit to show the user."""


class AlertNotFound(AlertStoreError):
    pass


class AlertRefused(AlertStoreError):
    """The input or the rules refuse the change (missing reason, inactive alert ...)."""


class AlertConflict(AlertStoreError):
    """Someone else changed the alert first; nothing was overwritten."""


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    rule_id: str
    scope_kind: str
    scope_id: str
    kind: str  # transition / escalation / de-escalation
    from_state: str
    to_state: str
    value: float | None
    reason: str


@dataclass
class EvaluationResult:
    ran: bool
    at: datetime
    created: int = 0
    updated: int = 0
    # Alerts another evaluator wrote first, or had already written for this time:
    # left as they are (no second row, no second event).
    lost: int = 0
    transitions: list[Transition] = field(default_factory=list)
    opel_stored: int = 0
    opel_levels: dict[tuple[str, str], int | None] = field(default_factory=dict)

    @property
    def fired(self) -> list[Transition]:
        # A firing alert changing severity is not a new firing (the OPEL alert's
        # escalations are: each one is a new spell).
        return [
            t
            for t in self.transitions
            if t.to_state == "firing"
            and not (t.rule_id != OPEL_RULE_ID and t.from_state == "firing")
        ]


def evaluate(
    session: Session,
    snapshot: MetricSnapshot | None,
    rules: AlertRuleSet,
    opel_config: OpelConfig,
    now: datetime,
    *,
    min_interval: timedelta = MIN_INTERVAL,
    error: str | None = None,
) -> EvaluationResult:
    """One evaluation pass inside the caller's write transaction.

    ``snapshot`` ``None`` means the metrics could not be read (``error`` says why):
    every known alert then moves to the ``error`` state and no OPEL is stored.
    Returns ``ran=False`` when another evaluation ran less than ``min_interval`` ago.
    """
    now = ensure_utc(now)
    if not _claim(session, now, min_interval, rules.version, opel_config.version):
        return EvaluationResult(ran=False, at=now)
    result = EvaluationResult(ran=True, at=now)
    stored = {
        (a.rule_id, a.scope_kind, a.scope_id): a
        for a in session.execute(select(Alert)).scalars()
    }
    _evaluate_rules(session, snapshot, rules, now, stored, result, error)
    _retire_unconfigured(session, rules, now, stored, result)
    if snapshot is not None:
        _evaluate_opel(
            session, snapshot, opel_config, rules.version, now, stored, result
        )
    return result


def evaluate_rules(
    session: Session,
    snapshot: MetricSnapshot,
    rules: AlertRuleSet,
    now: datetime,
) -> EvaluationResult:
    """The rule part of :func:`evaluate` without the interval guard (tests, tools)."""
    now = ensure_utc(now)
    result = EvaluationResult(ran=True, at=now)
    stored = {
        (a.rule_id, a.scope_kind, a.scope_id): a
        for a in session.execute(select(Alert)).scalars()
    }
    _evaluate_rules(session, snapshot, rules, now, stored, result, None)
    return result


# -- helpers -------------------------------------------------------------------


def _dialect_insert(session: Session):  # noqa: ANN202
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _insert_ignore(
    session: Session, model: type, values: Mapping[str, Any], keys: list[str]
) -> Any | None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING; the new primary key or None."""
    insert = _dialect_insert(session)
    pk = next(iter(model.__table__.primary_key.columns))  # type: ignore[attr-defined]
    stmt = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
        .returning(pk)
    )
    return session.execute(stmt).scalar_one_or_none()


def _claim(
    session: Session,
    now: datetime,
    min_interval: timedelta,
    rules_version: str,
    opel_version: str,
) -> bool:
    """Take this evaluation slot, or False if one ran less than min_interval ago."""
    values = {
        "last_run_at": now,
        "rules_version": rules_version,
        "opel_config_version": opel_version,
    }
    new = _insert_ignore(
        session,
        AlertEvaluation,
        {"name": EVALUATOR_NAME, "runs": 1, **values},
        ["name"],
    )
    if new is not None:
        return True
    claimed = session.execute(
        update(AlertEvaluation)
        .where(
            AlertEvaluation.name == EVALUATOR_NAME,
            AlertEvaluation.last_run_at <= now - min_interval,
        )
        .values(runs=AlertEvaluation.runs + 1, **values)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def _alert_columns(status: AlertStatus) -> dict[str, Any]:
    return {
        "state": status.state.value,
        "since": status.since,
        "value": status.value,
        "episode_started_at": status.episode_started_at,
        "active_since": status.active_since,
        "last_evaluated_at": status.last_evaluated_at,
        "status": status.to_dict(),
    }


def _write_alert(
    session: Session,
    row: Alert | None,
    key: tuple[str, str, str],
    status: AlertStatus,
    meta: Mapping[str, Any],
    result: EvaluationResult,
) -> int | None:
    """Insert or compare-and-set the alert; its id if this evaluator won, else None."""
    columns = {**_alert_columns(status), **meta}
    if row is None:
        rule_id, kind, scope_id = key
        alert_id = _insert_ignore(
            session,
            Alert,
            {
                "rule_id": rule_id,
                "scope_kind": kind,
                "scope_id": scope_id,
                "version": 1,
                **columns,
            },
            ["rule_id", "scope_kind", "scope_id"],
        )
        if alert_id is None:
            result.lost += 1
            return None
        result.created += 1
        return alert_id
    done = session.execute(
        update(Alert)
        .where(Alert.id == row.id, Alert.last_evaluated_at == row.last_evaluated_at)
        .values(**columns)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        result.lost += 1
        return None
    result.updated += 1
    return row.id


def _operator_event(
    session: Session,
    row: Alert,
    kind: str,
    at: datetime,
    reason: str | None,
    actor: ActorLike,
) -> None:
    """An operator's action on an alert (acknowledged, silenced): its state stays."""
    _add_event(
        session,
        row.id,
        (row.rule_id, row.scope_kind, row.scope_id),
        kind,
        at,
        from_state=row.state,
        to_state=row.state,
        value=row.value,
        reason=reason,
        actor=actor,
        episode_started_at=row.episode_started_at,
    )


def _add_event(
    session: Session,
    alert_id: int,
    key: tuple[str, str, str],
    kind: str,
    at: datetime,
    *,
    from_state: str | None,
    to_state: str | None,
    value: float | None,
    reason: str | None,
    episode_started_at: datetime | None = None,
    rules_version: str | None = None,
    actor: ActorLike | None = None,
) -> None:
    session.add(
        AlertEvent(
            alert_id=alert_id,
            rule_id=key[0],
            scope_kind=key[1],
            scope_id=key[2],
            kind=kind,
            at=at,
            from_state=from_state,
            to_state=to_state,
            value=value,
            reason=reason,
            actor=actor.display_name if actor else None,
            actor_username=actor.username if actor else None,
            episode_started_at=episode_started_at,
            rules_version=rules_version,
        )
    )


def scope_label(snapshot: MetricSnapshot, kind: str, scope_id: str) -> str:
    """Display name of a scope; wards carry their site code (names repeat across
    sites)."""
    name = snapshot.labels.get((kind, scope_id), scope_id)
    site = snapshot.site_of.get((kind, scope_id))
    if kind == "ward" and site and not name.startswith(site):
        return f"{site} {name}"
    return name


def _scopes_for(
    rule: AlertRule, snapshot: MetricSnapshot, ward_types: Mapping[str, str]
) -> list[str]:
    """The scopes a rule applies to. G&A metrics do not apply to wards that are not
    G&A (critical care, paediatrics): those are "not applicable", not "no data"."""
    scopes = [s for s in snapshot.scopes(rule.scope) if rule.applies_to(s)]
    if rule.scope == "ward" and rule.metric.startswith("ga_"):
        scopes = [s for s in scopes if ward_types.get(s) in GA_WARD_TYPES]
    return scopes


def _evaluate_rules(
    session: Session,
    snapshot: MetricSnapshot | None,
    rules: AlertRuleSet,
    now: datetime,
    stored: Mapping[tuple[str, str, str], Alert],
    result: EvaluationResult,
    error: str | None,
) -> None:
    ward_types: dict[str, str] = {}
    if snapshot is not None and any(r.scope == "ward" for r in rules.rules):
        ward_types = {
            str(i): t for i, t in session.execute(select(Ward.id, Ward.ward_type))
        }
    history = _History(session, rules, now) if snapshot is not None else None
    for rule in rules.rules:
        if snapshot is None:
            scopes = sorted(
                sid
                for (rid, kind, sid) in stored
                if rid == rule.id and kind == rule.scope
            )
        else:
            scopes = _scopes_for(rule, snapshot, ward_types)
        for scope_id in scopes:
            key = (rule.id, rule.scope, scope_id)
            row = stored.get(key)
            if row is not None and row.last_evaluated_at >= now:
                result.lost += 1  # evaluated at this time (or later) already
                continue
            prev = AlertStatus.from_dict(row.status) if row is not None else None
            if snapshot is None:
                observation: Any = EvaluationError(error or "metrics could not be read")
                label = row.scope_label if row is not None else scope_id
            else:
                observation = snapshot.get(rule.metric, rule.scope, scope_id)
                label = scope_label(snapshot, rule.scope, scope_id)
            scoped = rule.for_scope(scope_id)
            held = (
                history.held_since(scoped, scope_id, prev, observation)
                if history is not None
                else None
            )
            status, events = step(scoped, prev, observation, now, held_since=held)
            meta = {
                "title": rule.title,
                "scope_label": label,
                "metric": rule.metric,
                "severity": status.severity or rule.severity.value,
                "rules_version": rules.version,
            }
            alert_id = _write_alert(session, row, key, status, meta, result)
            if alert_id is None:
                continue
            for ev in events:
                _add_event(
                    session,
                    alert_id,
                    key,
                    ev.kind,
                    ev.at,
                    from_state=ev.from_state.value,
                    to_state=ev.to_state.value,
                    value=ev.value,
                    reason=ev.reason,
                    episode_started_at=ev.episode_started_at,
                    rules_version=rules.version,
                )
                result.transitions.append(
                    Transition(
                        *key,
                        ev.kind,
                        ev.from_state.value,
                        ev.to_state.value,
                        ev.value,
                        ev.reason,
                    )
                )


class _History:
    """The stored history of the metrics of one pass, read once per metric and only
    when a rule with a ``for`` duration starts to hold as far as its alert knows
    (first evaluation, after a restart or an outage of the evaluator)."""

    def __init__(self, session: Session, rules: AlertRuleSet, now: datetime) -> None:
        self.session = session
        self.now = now
        self.loaded: dict[str, Any] = {}
        self.window: dict[str, timedelta] = {}
        for r in rules.rules:
            longest = self.window.get(r.metric, timedelta(0))
            self.window[r.metric] = max(longest, r.for_duration)

    def held_since(
        self,
        rule: AlertRule,
        scope_id: str,
        prev: AlertStatus | None,
        observation: Any,
    ) -> datetime | None:
        if (
            rule.for_duration <= timedelta(0)
            or not isinstance(observation, int | float)
            or not rule.is_raised(float(observation))
            or (
                prev is not None
                and (prev.state not in _RESTART_STATES or prev.in_episode)
            )
        ):
            return None
        if rule.metric not in self.loaded:
            # The longest `for` and half a day more: enough to say how long the
            # condition has held (the alert's "since"), not only that it held.
            since = self.now - self.window[rule.metric] - HISTORY_LOOKBACK
            self.loaded[rule.metric] = metric_history(
                self.session, rule.metric, since, self.now
            )
        samples = self.loaded[rule.metric].get((rule.scope, scope_id), [])
        if prev is not None and prev.state is AlertState.NORMAL:
            # Observed not holding at the last evaluation: only what came after.
            samples = [(t, v) for t, v in samples if t > prev.last_evaluated_at]
        return held_since(rule, samples, self.now)


_RESTART_STATES = frozenset({AlertState.NORMAL, AlertState.NO_DATA, AlertState.ERROR})


def _retire_unconfigured(
    session: Session,
    rules: AlertRuleSet,
    now: datetime,
    stored: Mapping[tuple[str, str, str], Alert],
    result: EvaluationResult,
) -> None:
    """An active alert whose rule left the configuration (or no longer applies to
    its scope: a feed taken out of the rule's ``expect``) returns to normal."""
    configured = {r.id: r for r in rules.rules}
    for key, row in stored.items():
        rule = configured.get(key[0])
        if (
            key[0] == OPEL_RULE_ID
            or (rule is not None and rule.applies_to(key[2]))
            or row.state == "normal"
            or row.last_evaluated_at >= now
        ):
            continue
        prev = AlertStatus.from_dict(row.status)
        status = AlertStatus(
            state=AlertState.NORMAL, since=now, last_evaluated_at=now, value=None
        )
        reason = (
            f"rule no longer configured (rules version {rules.version})"
            if rule is None
            else f"rule no longer applies to {key[2]} (rules version {rules.version})"
        )
        meta = {"rules_version": rules.version}
        alert_id = _write_alert(session, row, key, status, meta, result)
        if alert_id is None:
            continue
        _add_event(
            session,
            alert_id,
            key,
            "transition",
            now,
            from_state=prev.state.value,
            to_state="normal",
            value=None,
            reason=reason,
            episode_started_at=prev.episode_started_at,
            rules_version=rules.version,
        )
        result.transitions.append(
            Transition(*key, "transition", prev.state.value, "normal", None, reason)
        )


# -- OPEL --------------------------------------------------------------------


def _evaluate_opel(
    session: Session,
    snapshot: MetricSnapshot,
    config: OpelConfig,
    rules_version: str,
    now: datetime,
    stored: Mapping[tuple[str, str, str], Alert],
    result: EvaluationResult,
) -> None:
    latest = latest_assessments(session)
    known = latest_assessments(session, known_level=True)
    for kind in OPEL_SCOPE_KINDS:
        for scope_id in snapshot.scopes(kind):
            scope = (kind, scope_id)
            label = scope_label(snapshot, kind, scope_id)
            values = {
                p.metric: snapshot.get(p.metric, kind, scope_id)
                for p in config.parameters
            }
            opel = score_opel(config, values)
            result.opel_levels[scope] = opel.level
            if should_store_assessment(latest.get(scope), opel, now):
                stored_id = _insert_ignore(
                    session,
                    OpelAssessment,
                    {
                        "scope_kind": kind,
                        "scope_id": scope_id,
                        "scope_label": label,
                        "assessed_at": now,
                        "level": opel.level,
                        "total": opel.total,
                        "config_version": opel.config_version,
                        "incomplete": opel.incomplete,
                        "breakdown": opel.to_dict(),
                    },
                    ["scope_kind", "scope_id", "assessed_at"],
                )
                result.opel_stored += stored_id is not None
            key = (OPEL_RULE_ID, kind, scope_id)
            row = stored.get(key)
            if row is not None and row.last_evaluated_at >= now:
                result.lost += 1
                continue
            prev = AlertStatus.from_dict(row.status) if row is not None else None
            previous_level = known[scope].level if scope in known else None
            status, change = opel_step(prev, previous_level, opel, now)
            severity = opel_severity(
                opel.level if opel.level is not None else previous_level
            )
            meta = {
                "title": OPEL_RULE_TITLE,
                "scope_label": label,
                "metric": None,
                "severity": severity.value,
                "rules_version": config.version,
            }
            alert_id = _write_alert(session, row, key, status, meta, result)
            if alert_id is None or change is None:
                continue
            kind_of_event, reason = change
            from_state = prev.state.value if prev else "normal"
            _add_event(
                session,
                alert_id,
                key,
                kind_of_event,
                now,
                from_state=from_state,
                to_state=status.state.value,
                value=status.value,
                reason=reason,
                episode_started_at=status.episode_started_at,
                rules_version=config.version,
            )
            result.transitions.append(
                Transition(
                    *key,
                    kind_of_event,
                    from_state,
                    status.state.value,
                    status.value,
                    reason,
                )
            )


# ---------------------------------------------------------------------------
# Writes by people
# ---------------------------------------------------------------------------


def _load(session: Session, alert_id: int) -> Alert:
    row = session.get(Alert, alert_id, populate_existing=True)
    if row is None:
        raise AlertNotFound(f"Alert {alert_id} does not exist.")
    return row


def _snapshot(row: Alert) -> dict[str, Any]:
    return {
        "state": row.state,
        "value": row.value,
        "acknowledged_by": row.acknowledged_by_username,
        "acknowledged_at": _iso(row.acknowledged_at),
        "ack_note": row.ack_note,
        "silenced_until": _iso(row.silenced_until),
        "silenced_by": row.silenced_by_username,
        "silence_reason": row.silence_reason,
        "version": row.version,
    }


def _changed_message(row: Alert, now: datetime, tz: str) -> str:
    status = AlertStatus.from_dict(row.status)
    if acknowledgement_current(row.acknowledged_at, status):
        return (
            f"Already acknowledged by {row.acknowledged_by} at "
            f"{format_local(row.acknowledged_at, tz)}."
        )
    if is_silenced(row.silenced_until, now):
        return (
            f"{row.silenced_by} silenced this alert until "
            f"{format_local(row.silenced_until, tz)} since you opened it."
        )
    return "This alert changed since you opened it; the list has been refreshed."


def _update_versioned(
    session: Session,
    row: Alert,
    expected_version: int,
    values: Mapping[str, Any],
    now: datetime,
    tz: str,
) -> None:
    done = session.execute(
        update(Alert)
        .where(Alert.id == row.id, Alert.version == expected_version)
        .values(version=expected_version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise AlertConflict(_changed_message(_load(session, row.id), now, tz))


def _audit(
    session: Session,
    actor: ActorLike,
    now: datetime,
    action: str,
    alert_id: int,
    before: dict,
    after: dict,
) -> None:
    record_audit(
        session,
        actor_username=actor.username,
        actor_role=actor.role,
        action=action,
        entity_type="alert",
        entity_id=alert_id,
        before=before,
        after=after,
        at=now,
    )


def acknowledge(
    session: Session,
    alert_id: int,
    actor: ActorLike,
    note: str | None,
    now: datetime,
    expected_version: int,
    *,
    tz: str = "Europe/London",
) -> AlertView:
    """ "I'm on it": records who and when; the alert stays listed."""
    now = ensure_utc(now)
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise AlertRefused(f"The note may be at most {MAX_NOTE} characters.")
    row = _load(session, alert_id)
    status = AlertStatus.from_dict(row.status)
    if row.version != expected_version:
        raise AlertConflict(_changed_message(row, now, tz))
    if acknowledgement_current(row.acknowledged_at, status):
        raise AlertConflict(_changed_message(row, now, tz))
    if not can_acknowledge(status):
        raise AlertRefused(
            f"This alert is {row.state.replace('_', ' ')} (since "
            f"{format_local(row.since, tz)}); there is nothing to acknowledge."
        )
    before = _snapshot(row)
    _update_versioned(
        session,
        row,
        expected_version,
        {
            "acknowledged_by": actor.display_name,
            "acknowledged_by_username": actor.username,
            "acknowledged_at": now,
            "ack_note": note,
        },
        now,
        tz,
    )
    _operator_event(session, row, "acknowledged", now, note, actor)
    row = _load(session, alert_id)
    _audit(session, actor, now, "acknowledge_alert", row.id, before, _snapshot(row))
    return alert_view(row, now)


def silence(
    session: Session,
    alert_id: int,
    actor: ActorLike,
    duration: timedelta | str,
    reason: str | None,
    now: datetime,
    expected_version: int | None = None,
    *,
    tz: str = "Europe/London",
    rules: AlertRuleSet | None = None,
) -> AlertView:
    """Mute the alert's notifications until now + duration (reason required). The
    longest silence is the rules file's ``silence_limits`` for the actor's role and
    the alert's severity now (24 h when not limited). The alert stays listed; a new
    silence replaces a running one."""
    now = ensure_utc(now)
    reason = (reason or "").strip()
    if len(reason) > MAX_NOTE:
        raise AlertRefused(f"The reason may be at most {MAX_NOTE} characters.")
    row = _load(session, alert_id)
    if rules is None:
        from ops.alerting import current_alert_rules

        rules = current_alert_rules()
    longest = rules.max_silence(getattr(actor, "role", None), row.severity)
    try:
        until = silence_until(now, duration, reason, max_duration=longest)
    except OverflowError:
        raise AlertRefused("A silence may last at most 1d.") from None
    except ValueError as exc:
        message = _sentence(str(exc))
        if longest < MAX_SILENCE and "at most" in message:
            role = str(getattr(actor, "role", "")).replace("_", " ")
            message = (
                f"A {role} may silence a {row.severity} alert for at most "
                f"{format_duration(longest)}."
            )
        raise AlertRefused(message) from None
    version = row.version if expected_version is None else expected_version
    if row.version != version:
        raise AlertConflict(_changed_message(row, now, tz))
    before = _snapshot(row)
    _update_versioned(
        session,
        row,
        version,
        {
            "silenced_until": until,
            "silenced_at": now,
            "silenced_by": actor.display_name,
            "silenced_by_username": actor.username,
            "silence_reason": reason,
        },
        now,
        tz,
    )
    _operator_event(
        session,
        row,
        "silenced",
        now,
        f"until {format_local(until, tz, '%H:%M %d %b')}: {reason}",
        actor,
    )
    row = _load(session, alert_id)
    _audit(session, actor, now, "silence_alert", row.id, before, _snapshot(row))
    return alert_view(row, now)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
