"""Surge alerts and OPEL in the store: the evaluation pass, reads, acknowledge, silence.

Evaluation (:func:`evaluate`, run by :func:`evaluation_job` from ``jobs.worker.JOBS``
under the leader lease) steps the pure state machine of :mod:`ops.alerting` for every
rule and scope, scores OPEL (:mod:`ops.opel`) per site and per trust, and writes the
results in the caller's single write transaction.

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
(15 min), which keeps a 7-day trend and the audit trail without a row a minute. A
level change is also recorded as an event of the built-in alert
``opel-level-change`` of that scope: it **fires on an escalation** (a new spell, so an
earlier acknowledgement lapses) and **resolves on a de-escalation**.

Writes by people (:func:`acknowledge`, :func:`silence`) are conditional on the alert's
``version`` (which only people's writes bump, so a background evaluation never makes
an open form stale), append an ``alert_event`` and an ``audit_event`` row.
Errors are :class:`AlertStoreError` subclasses whose message is fit to show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from data.audit import ActorLike, record_audit
from data.db import read_session, write_session
from data.models.alerts import (
    ALERT_STATES,
    EVENT_KINDS,
    Alert,
    AlertEvaluation,
    AlertEvent,
    OpelAssessment,
)
from data.models.capacity import Ward
from data.queries.metrics import GA_WARD_TYPES, MetricSnapshot, snapshot_metrics
from ops.alerting import (
    DEFAULT_ALERT_RULES_PATH,
    AlertRule,
    AlertRuleSet,
    AlertState,
    AlertStatus,
    EvaluationError,
    Severity,
    acknowledgement_current,
    can_acknowledge,
    is_silenced,
    load_alert_rules,
    needs_attention,
    silence_until,
    step,
)
from ops.config_errors import ConfigError
from ops.metrics import CATALOGUE
from ops.opel import (
    DEFAULT_OPEL_CONFIG_PATH,
    OpelConfig,
    OpelResult,
    level_change,
    load_opel_config,
    score_opel,
)
from ops.timeutil import ensure_utc, format_local, local_day_bounds_utc

log = logging.getLogger(__name__)

EVALUATOR_NAME = "default"
MIN_INTERVAL = timedelta(seconds=60)
OPEL_HEARTBEAT = timedelta(minutes=15)
OPEL_SCOPE_KINDS = ("trust", "site")
OPEL_RULE_ID = "opel-level-change"
OPEL_RULE_TITLE = "OPEL level change"
MAX_NOTE = 500
HISTORY_LIMIT = 200
API_EVENTS = 100

# Display order of states in the current-alerts list (most urgent first).
STATE_ORDER = {
    "firing": 0,
    "error": 1,
    "no_data": 2,
    "pending": 3,
    "recovering": 4,
    "normal": 5,
}


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
# Configuration
# ---------------------------------------------------------------------------


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
        return [t for t in self.transitions if t.to_state == "firing"]


def evaluation_due(
    session: Session, now: datetime, min_interval: timedelta = MIN_INTERVAL
) -> bool:
    """Cheap read-only check before taking a snapshot; :func:`evaluate` decides."""
    last = session.scalar(
        select(AlertEvaluation.last_run_at).where(
            AlertEvaluation.name == EVALUATOR_NAME
        )
    )
    return last is None or last <= ensure_utc(now) - min_interval


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


def evaluation_job(runtime: Any) -> EvaluationResult | None:
    """The background job (``jobs.worker.JOBS``): config, snapshot, one write pass."""
    now = runtime.now()
    tz = runtime.settings.timezone
    with read_session(runtime.factory) as session:
        if not evaluation_due(session, now):
            return None
    config = load_and_validate_config()
    with read_session(runtime.factory) as session:
        snapshot: MetricSnapshot | None
        error = None
        try:
            snapshot = snapshot_metrics(session, now, tz)
        except Exception as exc:  # the alerts go to the error state; log the detail
            log.error("metrics snapshot failed: %s: %s", exc.__class__.__name__, exc)
            snapshot, error = None, "metrics could not be read"
    with write_session(runtime.factory) as session:
        result = evaluate(
            session, snapshot, config.rules, config.opel, now, error=error
        )
    if result.ran:
        log.info(
            "alert evaluation at %s: %d transitions (%d firing), %d OPEL stored, "
            "levels %s",
            now.isoformat(),
            len(result.transitions),
            len(result.fired),
            result.opel_stored,
            {f"{k}:{i}": v for (k, i), v in result.opel_levels.items()},
        )
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
    scopes = snapshot.scopes(rule.scope)
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
            status, events = step(rule, prev, observation, now)
            meta = {
                "title": rule.title,
                "scope_label": label,
                "metric": rule.metric,
                "severity": rule.severity.value,
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
                    "transition",
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
                        "transition",
                        ev.from_state.value,
                        ev.to_state.value,
                        ev.value,
                        ev.reason,
                    )
                )


def _retire_unconfigured(
    session: Session,
    rules: AlertRuleSet,
    now: datetime,
    stored: Mapping[tuple[str, str, str], Alert],
    result: EvaluationResult,
) -> None:
    """An active alert whose rule left the configuration returns to normal."""
    configured = {r.id for r in rules.rules} | {OPEL_RULE_ID}
    for key, row in stored.items():
        if (
            key[0] in configured
            or row.state == "normal"
            or row.last_evaluated_at >= now
        ):
            continue
        prev = AlertStatus.from_dict(row.status)
        status = AlertStatus(
            state=AlertState.NORMAL, since=now, last_evaluated_at=now, value=None
        )
        reason = f"rule no longer configured (rules version {rules.version})"
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


def _latest_assessments(
    session: Session, *, known_level: bool = False
) -> dict[tuple[str, str], OpelAssessment]:
    """The newest assessment per scope (with a level, if ``known_level``)."""
    A = OpelAssessment
    newest = select(A.scope_kind, A.scope_id, func.max(A.assessed_at).label("at"))
    if known_level:
        newest = newest.where(A.level.is_not(None))
    sub = newest.group_by(A.scope_kind, A.scope_id).subquery()
    rows = session.execute(
        select(A).join(
            sub,
            and_(
                A.scope_kind == sub.c.scope_kind,
                A.scope_id == sub.c.scope_id,
                A.assessed_at == sub.c.at,
            ),
        )
    ).scalars()
    return {(a.scope_kind, a.scope_id): a for a in rows}


def _should_store(
    last: OpelAssessment | None, result: OpelResult, now: datetime
) -> bool:
    if last is None:
        return True
    if now <= last.assessed_at:
        return False
    return (
        last.level != result.level
        or last.config_version != result.config_version
        or sorted(last.breakdown.get("missing", [])) != sorted(result.missing)
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


def _evaluate_opel(
    session: Session,
    snapshot: MetricSnapshot,
    config: OpelConfig,
    rules_version: str,
    now: datetime,
    stored: Mapping[tuple[str, str, str], Alert],
    result: EvaluationResult,
) -> None:
    latest = _latest_assessments(session)
    known = _latest_assessments(session, known_level=True)
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
            if _should_store(latest.get(scope), opel, now):
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
# Reads
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    id: int
    rule_id: str
    scope_kind: str
    scope_id: str
    scope_label: str
    title: str
    metric: str | None
    unit: str
    severity: str
    state: str
    since: datetime
    value: float | None
    last_evaluated_at: datetime
    active_since: datetime | None
    episode_started_at: datetime | None
    acknowledged: bool  # an acknowledgement covers the current spell
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_note: str | None
    silenced: bool  # a silence is running now
    silenced_until: datetime | None
    silenced_by: str | None
    silence_reason: str | None
    needs_attention: bool
    version: int

    @property
    def key(self) -> str:
        return f"{self.rule_id}/{self.scope_kind}/{self.scope_id}"

    @property
    def is_active(self) -> bool:
        return self.state != "normal"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "title": self.title,
            "scope_kind": self.scope_kind,
            "scope_id": self.scope_id,
            "scope_label": self.scope_label,
            "metric": self.metric,
            "unit": self.unit,
            "severity": self.severity,
            "state": self.state,
            "since": self.since.isoformat(),
            "value": self.value,
            "last_evaluated_at": self.last_evaluated_at.isoformat(),
            "acknowledged": self.acknowledged,
            "acknowledged_by": self.acknowledged_by if self.acknowledged else None,
            "acknowledged_at": _iso(self.acknowledged_at)
            if self.acknowledged
            else None,
            "ack_note": self.ack_note if self.acknowledged else None,
            "silenced": self.silenced,
            "silenced_until": _iso(self.silenced_until) if self.silenced else None,
            "silenced_by": self.silenced_by if self.silenced else None,
            "silence_reason": self.silence_reason if self.silenced else None,
            "needs_attention": self.needs_attention,
            "version": self.version,
        }


def _view(row: Alert, now: datetime) -> AlertView:
    status = AlertStatus.from_dict(row.status)
    acked = acknowledgement_current(row.acknowledged_at, status)
    silenced = is_silenced(row.silenced_until, now)
    unit = CATALOGUE[row.metric].unit if row.metric in CATALOGUE else "level"
    return AlertView(
        id=row.id,
        rule_id=row.rule_id,
        scope_kind=row.scope_kind,
        scope_id=row.scope_id,
        scope_label=row.scope_label,
        title=row.title,
        metric=row.metric,
        unit=unit,
        severity=row.severity,
        state=row.state,
        since=row.since,
        value=row.value,
        last_evaluated_at=row.last_evaluated_at,
        active_since=row.active_since,
        episode_started_at=row.episode_started_at,
        acknowledged=acked,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        ack_note=row.ack_note,
        silenced=silenced,
        silenced_until=row.silenced_until,
        silenced_by=row.silenced_by,
        silence_reason=row.silence_reason,
        needs_attention=needs_attention(
            status, acknowledged=acked, silence_ends=row.silenced_until, now=now
        ),
        version=row.version,
    )


def _sort_key(a: AlertView) -> tuple:
    return (
        STATE_ORDER.get(a.state, 9),
        -Severity(a.severity).rank if a.severity in Severity._value2member_map_ else 0,
        a.since,
        a.rule_id,
        a.scope_id,
    )


def current_alerts(
    session: Session, now: datetime, *, include_normal: bool = False
) -> list[AlertView]:
    """Alerts not in ``normal`` (all with ``include_normal``), most urgent first."""
    q = select(Alert)
    if not include_normal:
        q = q.where(Alert.state != "normal")
    views = [_view(a, now) for a in session.execute(q).scalars()]
    return sorted(views, key=_sort_key)


def alert_by_id(session: Session, alert_id: int, now: datetime) -> AlertView | None:
    row = session.get(Alert, alert_id, populate_existing=True)
    return None if row is None else _view(row, now)


@dataclass(frozen=True)
class EventFilters:
    rule: str | None = None
    scope: str | None = None  # "<kind>:<id>"
    state: str | None = None  # an alert state (to_state) or an event kind
    date_from: date | None = None  # local calendar dates, inclusive
    date_to: date | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilters:
        return cls(
            rule=query.get("rule") or None,
            scope=query.get("scope") or None,
            state=query.get("state") or None,
            date_from=_parse_date(query.get("from")),
            date_to=_parse_date(query.get("to")),
        )


STATE_FILTERS: tuple[str, ...] = (*ALERT_STATES, *EVENT_KINDS[1:])


@dataclass(frozen=True)
class EventView:
    id: int
    alert_id: int
    rule_id: str
    title: str
    scope_kind: str
    scope_id: str
    scope_label: str
    kind: str
    at: datetime
    from_state: str | None
    to_state: str | None
    value: float | None
    unit: str
    reason: str | None
    actor: str | None
    actor_username: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "title": self.title,
            "scope_kind": self.scope_kind,
            "scope_id": self.scope_id,
            "scope_label": self.scope_label,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "value": self.value,
            "unit": self.unit,
            "reason": self.reason,
            "actor": self.actor,
            "actor_username": self.actor_username,
        }


def alert_events(
    session: Session,
    filters: EventFilters = EventFilters(),
    tz: str = "Europe/London",
    limit: int = HISTORY_LIMIT,
) -> list[EventView]:
    """History, newest first, filtered by rule, scope, state/kind and local dates."""
    E = AlertEvent
    q = (
        select(E, Alert.title, Alert.scope_label, Alert.metric)
        .join(Alert, Alert.id == E.alert_id)
        .order_by(E.at.desc(), E.id.desc())
        .limit(limit)
    )
    if filters.rule:
        q = q.where(E.rule_id == filters.rule)
    if filters.scope and ":" in filters.scope:
        kind, sid = filters.scope.split(":", 1)
        q = q.where(E.scope_kind == kind, E.scope_id == sid)
    if filters.state in ALERT_STATES:
        q = q.where(E.to_state == filters.state)
    elif filters.state in EVENT_KINDS:
        q = q.where(E.kind == filters.state)
    if filters.date_from:
        q = q.where(E.at >= local_day_bounds_utc(filters.date_from, tz)[0])
    if filters.date_to:
        q = q.where(E.at < local_day_bounds_utc(filters.date_to, tz)[1])
    out = []
    for e, title, label, metric in session.execute(q):
        out.append(
            EventView(
                id=e.id,
                alert_id=e.alert_id,
                rule_id=e.rule_id,
                title=title,
                scope_kind=e.scope_kind,
                scope_id=e.scope_id,
                scope_label=label,
                kind=e.kind,
                at=e.at,
                from_state=e.from_state,
                to_state=e.to_state,
                value=e.value,
                unit=CATALOGUE[metric].unit if metric in CATALOGUE else "level",
                reason=e.reason,
                actor=e.actor,
                actor_username=e.actor_username,
            )
        )
    return out


@dataclass(frozen=True)
class HistoryOptions:
    rules: list[tuple[str, str]]  # (rule id, title)
    scopes: list[tuple[str, str]]  # ("kind:id", label)


def history_options(session: Session) -> HistoryOptions:
    rows = session.execute(
        select(
            Alert.rule_id,
            Alert.title,
            Alert.scope_kind,
            Alert.scope_id,
            Alert.scope_label,
        )
    ).all()
    rules = sorted({(r.rule_id, r.title) for r in rows}, key=lambda r: r[1])
    kinds = {
        "trust": 0,
        "site": 1,
        "ward": 2,
        "ed_area": 3,
        "theatre_suite": 4,
        "feed": 5,
    }
    scopes = sorted(
        {(f"{r.scope_kind}:{r.scope_id}", r.scope_label, r.scope_kind) for r in rows},
        key=lambda s: (kinds.get(s[2], 9), s[1]),
    )
    return HistoryOptions(rules, [(v, label) for v, label, _ in scopes])


@dataclass(frozen=True)
class OpelView:
    scope_kind: str
    scope_id: str
    scope_label: str
    assessed_at: datetime
    level: int | None
    total: float
    config_version: str
    incomplete: bool
    result: OpelResult

    def to_json(self) -> dict[str, Any]:
        return {
            "scope_kind": self.scope_kind,
            "scope_id": self.scope_id,
            "scope_label": self.scope_label,
            "assessed_at": self.assessed_at.isoformat(),
            "level": self.level,
            "total": self.total,
            "config_version": self.config_version,
            "incomplete": self.incomplete,
            "breakdown": self.result.to_dict(),
        }


def latest_opel(session: Session) -> list[OpelView]:
    """The newest assessment per scope: the trust first, then sites by name."""
    rows = _latest_assessments(session).values()
    views = [
        OpelView(
            scope_kind=a.scope_kind,
            scope_id=a.scope_id,
            scope_label=a.scope_label,
            assessed_at=a.assessed_at,
            level=a.level,
            total=a.total,
            config_version=a.config_version,
            incomplete=a.incomplete,
            result=OpelResult.from_dict(a.breakdown),
        )
        for a in rows
    ]
    order = {k: i for i, k in enumerate(OPEL_SCOPE_KINDS)}
    return sorted(views, key=lambda v: (order.get(v.scope_kind, 9), v.scope_label))


@dataclass(frozen=True)
class TrendPoint:
    scope_kind: str
    scope_id: str
    scope_label: str
    at: datetime
    level: int | None


def opel_trend(session: Session, since: datetime, until: datetime) -> list[TrendPoint]:
    """Stored levels per scope in [since, until], oldest first, plus the last one
    before ``since`` so the step line starts at the window's left edge."""
    A = OpelAssessment
    cols = (A.scope_kind, A.scope_id, A.scope_label, A.assessed_at, A.level)
    rows = list(
        session.execute(
            select(*cols)
            .where(A.assessed_at >= since, A.assessed_at <= until)
            .order_by(A.assessed_at)
        )
    )
    before = (
        select(A.scope_kind, A.scope_id, func.max(A.assessed_at).label("at"))
        .where(A.assessed_at < since)
        .group_by(A.scope_kind, A.scope_id)
        .subquery()
    )
    earlier = session.execute(
        select(*cols).join(
            before,
            and_(
                A.scope_kind == before.c.scope_kind,
                A.scope_id == before.c.scope_id,
                A.assessed_at == before.c.at,
            ),
        )
    )
    points = [TrendPoint(k, i, lbl, since, lvl) for k, i, lbl, _at, lvl in earlier]
    points += [TrendPoint(k, i, lbl, at, lvl) for k, i, lbl, at, lvl in rows]
    return points


@dataclass(frozen=True)
class EvaluationInfo:
    last_run_at: datetime
    rules_version: str
    opel_config_version: str
    runs: int


def last_evaluation(session: Session) -> EvaluationInfo | None:
    row = session.get(AlertEvaluation, EVALUATOR_NAME, populate_existing=True)
    if row is None:
        return None
    return EvaluationInfo(
        row.last_run_at, row.rules_version, row.opel_config_version, row.runs
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
    return _view(row, now)


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
) -> AlertView:
    """Mute the alert's notifications until now + duration (at most 24 h, reason
    required). The alert stays listed; a new silence replaces a running one."""
    now = ensure_utc(now)
    reason = (reason or "").strip()
    if len(reason) > MAX_NOTE:
        raise AlertRefused(f"The reason may be at most {MAX_NOTE} characters.")
    try:
        until = silence_until(now, duration, reason)
    except OverflowError:
        raise AlertRefused("A silence may last at most 1d.") from None
    except ValueError as exc:
        raise AlertRefused(_sentence(str(exc))) from None
    row = _load(session, alert_id)
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
    return _view(row, now)


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


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def firing_key(alert: AlertView) -> str:
    """One key per alert and episode, for "new since the last poll" checks: a return
    to firing within the same episode is not new; an OPEL escalation is."""
    return f"{alert.id}@{_iso(alert.episode_started_at)}"


def firing_keys(alerts: Iterable[AlertView]) -> list[str]:
    return sorted(firing_key(a) for a in alerts if a.state == "firing")
