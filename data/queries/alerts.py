"""Surge alerts and OPEL assessments as stored: the reads of pages, banner, wall and API.

Rows become the plain values of :mod:`ops.alert_views`; the writes (evaluation,
acknowledge, silence) are in :mod:`data.writes.alerts`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from data.models.alerts import (
    ALERT_STATES,
    EVENT_KINDS,
    Alert,
    AlertEvaluation,
    AlertEvent,
    OpelAssessment,
)
from ops.alert_views import (
    AlertView,
    EvaluationInfo,
    EventFilters,
    EventView,
    HistoryOptions,
    OpelView,
    TrendPoint,
    alert_sort_key,
)
from ops.alerting import (
    OPEL_SCOPE_KINDS,
    AlertStatus,
    acknowledgement_current,
    is_silenced,
    needs_attention,
)
from ops.metrics import CATALOGUE
from ops.opel import OpelResult
from ops.timeutil import ensure_utc, local_day_bounds_utc

EVALUATOR_NAME = "default"
MIN_INTERVAL = timedelta(seconds=60)
HISTORY_LIMIT = 200
API_EVENTS = 100
STATE_FILTERS: tuple[str, ...] = (*ALERT_STATES, *EVENT_KINDS[1:])


def alert_view(row: Alert, now: datetime) -> AlertView:
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


def current_alerts(
    session: Session, now: datetime, *, include_normal: bool = False
) -> list[AlertView]:
    """Alerts not in ``normal`` (all with ``include_normal``), most urgent first."""
    q = select(Alert)
    if not include_normal:
        q = q.where(Alert.state != "normal")
    views = [alert_view(a, now) for a in session.execute(q).scalars()]
    return sorted(views, key=alert_sort_key)


def alert_by_id(session: Session, alert_id: int, now: datetime) -> AlertView | None:
    row = session.get(Alert, alert_id, populate_existing=True)
    return None if row is None else alert_view(row, now)


def alert_events(
    session: Session,
    filters: EventFilters | None = None,
    tz: str = "Europe/London",
    limit: int = HISTORY_LIMIT,
) -> list[EventView]:
    """History, newest first, filtered by rule, scope, state/kind and local dates."""
    filters = filters or EventFilters()
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


def latest_assessments(
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


def latest_opel(session: Session) -> list[OpelView]:
    """The newest assessment per scope: the trust first, then sites by name."""
    rows = latest_assessments(session).values()
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


# Metrics with a stored history the evaluator can judge a rule's `for` from: G&A
# occupancy from the hourly roll-up of bed states (``ward_occupancy_hour``).
HISTORY_METRICS = frozenset({"ga_occupancy_pct"})
Samples = dict[tuple[str, str], list[tuple[datetime, float | None]]]


def metric_history(
    session: Session, metric: str, since: datetime, until: datetime
) -> Samples:
    """Stored values of ``metric`` in [since, until] per (scope kind, scope id),
    oldest first; empty for a metric with no stored history. G&A occupancy is
    counted as the live figure is: G&A wards only, retired wards left out, occupied
    over open beds (occupied, available, awaiting clean)."""
    if metric not in HISTORY_METRICS:
        return {}
    from data.models.capacity import Site, Trust, Ward, WardOccupancyHour
    from data.queries.metrics import GA_WARD_TYPES
    from ops.metrics import occupancy_pct

    H = WardOccupancyHour
    trust = session.scalar(select(Trust.code).order_by(Trust.id).limit(1)) or "trust"
    rows = session.execute(
        select(
            H.ward_id,
            Site.code,
            H.hour_start,
            H.occupied,
            H.available,
            H.awaiting_clean,
        )  # fmt: skip
        .join(Ward, Ward.id == H.ward_id)
        .join(Site, Site.id == Ward.site_id)
        .where(
            Ward.retired_at.is_(None),
            Ward.ward_type.in_(GA_WARD_TYPES),
            H.hour_start >= ensure_utc(since),
            H.hour_start <= ensure_utc(until),
        )
        .order_by(H.hour_start)
    ).all()
    counts: dict[tuple[str, str], dict[datetime, list[int]]] = {}
    for ward_id, site, at, occupied, available, cleaning in rows:
        for scope in (("ward", str(ward_id)), ("site", site), ("trust", trust)):
            c = counts.setdefault(scope, {}).setdefault(ensure_utc(at), [0, 0])
            c[0] += occupied
            c[1] += occupied + available + cleaning
    return {
        scope: [(at, occupancy_pct(o, n)) for at, (o, n) in sorted(by_hour.items())]
        for scope, by_hour in counts.items()
    }


def last_evaluation(session: Session) -> EvaluationInfo | None:
    row = session.get(AlertEvaluation, EVALUATOR_NAME, populate_existing=True)
    if row is None:
        return None
    return EvaluationInfo(
        row.last_run_at, row.rules_version, row.opel_config_version, row.runs
    )


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
