"""Surge-protocol runs as stored: the run list, a run's page, the banner, the
after-action timeline and the facility status snapshot taken at declaration.

Rows become the plain values of :mod:`ops.protocol_runs`; the writes are in
:mod:`data.writes.protocols`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from data.models.capacity import (
    Bed,
    EdAttendance,
    Site,
    Theatre,
    TheatreCase,
    TheatreSession,
    Ward,
)
from data.models.protocols import (
    IncidentLogEntry,
    ProtocolActionEvent,
    ProtocolActionState,
    ProtocolRoleAssignment,
    ProtocolRun,
    ProtocolTemplateVersion,
)
from ops import protocols as rules
from ops.metrics import occupancy_pct
from ops.protocol_runs import (
    CATALOGUE_FIELDS,
    SNAPSHOT_FIELDS,
    ActionEventRow,
    AssignmentRow,
    BannerRun,
    LogEntry,
    RunDetail,
    RunInfo,
    RunNotFound,
    RunSummary,
    TimelineEvent,
    build_timeline,
)
from ops.timeutil import ensure_utc, local_day_bounds_utc, to_local

log = logging.getLogger(__name__)

GA_WARD_TYPES = ("general_acute", "assessment", "escalation")
OPEN_STATES = ("occupied", "available", "awaiting_clean")


def template_row(
    session: Session, key: str, version: int
) -> ProtocolTemplateVersion | None:
    return session.scalar(
        select(ProtocolTemplateVersion).where(
            ProtocolTemplateVersion.key == key,
            ProtocolTemplateVersion.version == version,
        )
    )


_TEMPLATE_CACHE: dict[str, rules.ProtocolTemplate] = {}


def parse_stored_template(fingerprint: str, content: dict) -> rules.ProtocolTemplate:
    template = _TEMPLATE_CACHE.get(fingerprint + str(content.get("version")))
    if template is None:
        template = rules.parse_template(content, source="stored template")
        _TEMPLATE_CACHE[fingerprint + str(template.version)] = template
    return template


def _empty_figures() -> dict[str, Any]:
    figures: dict[str, Any] = {key: 0 for key, _ in SNAPSHOT_FIELDS}
    figures["ga_occupied"] = 0
    figures["ga_open"] = 0
    figures["ga_occupancy_pct"] = None
    for key in CATALOGUE_FIELDS:
        figures[key] = None  # missing unless the metric snapshot gives it
    return figures


def _add_catalogue_metrics(
    session: Session, now: datetime, tz: str, sites: dict[int, dict], total: dict
) -> None:
    """Fill CATALOGUE_FIELDS from the shared metric snapshot; missing stays None."""
    try:
        from data.queries.metrics import snapshot_metrics

        with session.begin_nested():
            snap = snapshot_metrics(session, now, tz)
    except Exception as exc:  # the snapshot is still useful without them
        log.warning("facility snapshot without catalogue metrics: %s", exc)
        return
    trust_ids = [sid for (kind, sid) in snap.labels if kind == "trust"]
    for key in CATALOGUE_FIELDS:
        for figures in sites.values():
            figures[key] = _round(snap.get(key, "site", figures["code"]))
        if len(sites) == 1:
            total[key] = next(iter(sites.values()))[key]
        elif trust_ids:
            total[key] = _round(snap.get(key, "trust", trust_ids[0]))


def _round(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 1)


def facility_snapshot(
    session: Session, now: datetime, tz: str, site_id: int | None = None
) -> dict[str, Any]:
    """Beds, ED and theatres per site (and trust total) at ``now``: five aggregates."""
    now = ensure_utc(now)
    day_start, day_end = local_day_bounds_utc(to_local(now, tz).date(), tz)
    site_q = select(Site.id, Site.code, Site.name).order_by(Site.code)
    if site_id is not None:
        site_q = site_q.where(Site.id == site_id)
    sites = {
        r.id: {"code": r.code, "name": r.name, **_empty_figures()}
        for r in session.execute(site_q)
    }

    def scoped(q, column):  # noqa: ANN001, ANN202
        return q.where(column == site_id) if site_id is not None else q

    ga = Ward.ward_type.in_(GA_WARD_TYPES)
    beds = session.execute(
        scoped(
            select(Ward.site_id, Bed.state, ga.label("ga"), func.count(Bed.id))
            .join(Ward, Ward.id == Bed.ward_id)
            .group_by(Ward.site_id, Bed.state, ga),
            Ward.site_id,
        )
    )
    for sid, state, is_ga, n in beds:
        figures = sites.get(sid)
        if figures is None:
            continue
        key = f"beds_{state}"
        if key in figures:
            figures[key] += n
        if is_ga and state in OPEN_STATES:
            figures["ga_open"] += n
            if state == "occupied":
                figures["ga_occupied"] += n

    inside = and_(EdAttendance.departure_at.is_(None), EdAttendance.arrival_at <= now)
    ed = session.execute(
        scoped(
            select(
                EdAttendance.site_id,
                func.count(EdAttendance.id),
                func.sum(case((EdAttendance.seen_at.is_(None), 1), else_=0)),
                func.sum(
                    case(
                        (EdAttendance.arrival_at < now - timedelta(hours=12), 1),
                        else_=0,
                    )
                ),
                func.sum(
                    case(
                        (
                            and_(
                                EdAttendance.mode == "ambulance",
                                EdAttendance.handover_at.is_(None),
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
            )
            .where(inside)
            .group_by(EdAttendance.site_id),
            EdAttendance.site_id,
        )
    )
    for sid, n_in, waiting, over12, ambulances in ed:
        if sid in sites:
            sites[sid].update(
                ed_in_department=int(n_in),
                ed_waiting_to_be_seen=int(waiting or 0),
                ed_over_12h=int(over12 or 0),
                ambulances_waiting=int(ambulances or 0),
            )

    sessions = session.execute(
        scoped(
            select(
                Theatre.site_id,
                func.count(TheatreSession.id),
                func.sum(
                    case((TheatreSession.cancelled_reason.is_not(None), 1), else_=0)
                ),
            )
            .join(Theatre, Theatre.id == TheatreSession.theatre_id)
            .where(
                TheatreSession.planned_start >= day_start,
                TheatreSession.planned_start < day_end,
            )
            .group_by(Theatre.site_id),
            Theatre.site_id,
        )
    )
    for sid, planned, cancelled in sessions:
        if sid in sites:
            sites[sid]["theatre_sessions_today"] = int(planned)
            sites[sid]["theatre_sessions_cancelled_today"] = int(cancelled or 0)

    cases = session.execute(
        scoped(
            select(
                Theatre.site_id,
                func.sum(case((TheatreCase.status == "in_theatre", 1), else_=0)),
                func.sum(
                    case(
                        (
                            and_(
                                TheatreCase.status == "cancelled",
                                TheatreCase.cancelled_at >= day_start,
                                TheatreCase.cancelled_at <= now,
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
            )
            .join(TheatreSession, TheatreSession.id == TheatreCase.session_id)
            .join(Theatre, Theatre.id == TheatreSession.theatre_id)
            .where(TheatreSession.planned_start >= day_start - timedelta(days=1))
            .group_by(Theatre.site_id),
            Theatre.site_id,
        )
    )
    for sid, running, cancelled in cases:
        if sid in sites:
            sites[sid]["cases_in_theatre_now"] = int(running or 0)
            sites[sid]["cases_cancelled_today"] = int(cancelled or 0)

    total = _empty_figures()
    for figures in sites.values():
        figures["ga_occupancy_pct"] = _pct(figures["ga_occupied"], figures["ga_open"])
        for key in (*(k for k, _ in SNAPSHOT_FIELDS), "ga_occupied", "ga_open"):
            if key != "ga_occupancy_pct" and key not in CATALOGUE_FIELDS:
                total[key] += figures[key]
    total["ga_occupancy_pct"] = _pct(total["ga_occupied"], total["ga_open"])
    _add_catalogue_metrics(session, now, tz, sites, total)
    return {
        "taken_at": now.isoformat(),
        "scope": "site" if site_id is not None else "trust",
        "sites": list(sites.values()),
        "total": total,
    }


def _pct(numerator: int, denominator: int) -> float | None:
    value = occupancy_pct(numerator, denominator)
    return None if value is None else round(value, 1)


def action_state_of(row) -> rules.ActionState:  # noqa: ANN001
    return rules.ActionState(
        done=bool(row.done),
        done_at=row.done_at,
        done_by=row.done_by,
        note=row.note,
        version=row.version,
    )


def _run_query():  # noqa: ANN202
    return (
        select(
            ProtocolRun,
            ProtocolTemplateVersion.fingerprint,
            ProtocolTemplateVersion.content,
            Site.code,
            Site.name,
        )
        .join(
            ProtocolTemplateVersion,
            ProtocolTemplateVersion.id == ProtocolRun.template_id,
        )
        .outerjoin(Site, Site.id == ProtocolRun.site_id)
    )


def _info(run: ProtocolRun, template: rules.ProtocolTemplate, code, name) -> RunInfo:  # noqa: ANN001
    return RunInfo(
        id=run.id,
        template_key=run.template_key,
        template_version=run.template_version,
        title=template.title,
        trigger_kind=run.trigger_kind,
        trigger_detail=run.trigger_detail,
        declared_by=run.declared_by,
        declared_by_role=run.declared_by_role,
        declared_at=run.declared_at,
        reason=run.reason,
        site_id=run.site_id,
        site_code=code,
        site_name=name,
        status=run.status,
        stood_down_by=run.stood_down_by,
        stood_down_at=run.stood_down_at,
        stand_down_note=run.stand_down_note,
        methane=run.methane,
        facility_snapshot=run.facility_snapshot or {},
        version=run.version,
    )


def _states_for(
    session: Session, run_ids: Iterable[int]
) -> dict[int, dict[str, rules.ActionState]]:
    ids = list(run_ids)
    out: dict[int, dict[str, rules.ActionState]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(
            ProtocolActionState.run_id,
            ProtocolActionState.action_key,
            ProtocolActionState.done,
            ProtocolActionState.done_at,
            ProtocolActionState.done_by,
            ProtocolActionState.note,
            ProtocolActionState.version,
        ).where(ProtocolActionState.run_id.in_(ids))
    )
    for r in rows:
        out[r.run_id][r.action_key] = action_state_of(r)
    return out


def list_runs(
    session: Session, now: datetime, *, active: bool | None = None, limit: int = 50
) -> list[RunSummary]:
    """Runs newest first (``active`` True/False filters), with progress: two queries."""
    q = (
        _run_query()
        .order_by(ProtocolRun.declared_at.desc(), ProtocolRun.id.desc())
        .limit(limit)
    )
    if active is True:
        q = q.where(ProtocolRun.status == rules.RunStatus.ACTIVE.value)
    elif active is False:
        q = q.where(ProtocolRun.status != rules.RunStatus.ACTIVE.value)
    rows = session.execute(q).all()
    states = _states_for(session, (r[0].id for r in rows))
    out: list[RunSummary] = []
    for run, fingerprint, content, code, name in rows:
        template = parse_stored_template(fingerprint, content)
        st = states[run.id]
        overdue = (
            len(rules.overdue_actions(template, st, run.declared_at, now))
            if run.status == rules.RunStatus.ACTIVE
            else 0
        )
        out.append(
            RunSummary(
                run=_info(run, template, code, name),
                template=template,
                overall=rules.overall_progress(template, st),
                blocks=tuple(rules.progress_by_block(template, st).values()),
                overdue=overdue,
            )
        )
    return out


def list_active_runs(session: Session, now: datetime) -> list[RunSummary]:
    return list_runs(session, now, active=True)


def active_run_summaries(session: Session, now: datetime) -> list[BannerRun]:
    """Active runs for the banner and the wall: two small queries."""
    return [
        BannerRun(
            s.run.id,
            s.run.title,
            s.run.scope_text,
            s.overall.done,
            s.overall.total,
            s.overdue,
        )
        for s in list_active_runs(session, now)
    ]


def run_detail(session: Session, run_id: int) -> RunDetail:
    """Everything the run page shows: run, template version, states, roles, log."""
    row = session.execute(_run_query().where(ProtocolRun.id == run_id)).first()
    if row is None:
        raise RunNotFound(f"There is no protocol run {run_id}.")
    run, fingerprint, content, code, name = row
    template = parse_stored_template(fingerprint, content)
    assignments = [
        AssignmentRow(
            r.role_key, r.person, r.held_from, r.held_to, r.assigned_by, r.contact
        )
        for r in session.scalars(
            select(ProtocolRoleAssignment)
            .where(ProtocolRoleAssignment.run_id == run_id)
            .order_by(ProtocolRoleAssignment.held_from, ProtocolRoleAssignment.id)
        )
    ]
    entries = [
        LogEntry(r.id, r.at, r.author, r.author_role, r.text)
        for r in session.scalars(
            select(IncidentLogEntry)
            .where(IncidentLogEntry.run_id == run_id)
            .order_by(IncidentLogEntry.at.desc(), IncidentLogEntry.id.desc())
        )
    ]
    return RunDetail(
        run=_info(run, template, code, name),
        template=template,
        states=_states_for(session, [run_id])[run_id],
        assignments=assignments,
        log=entries,
    )


def timeline(session: Session, run_id: int) -> list[TimelineEvent]:
    """The after-action timeline of a run, ordered by time."""
    detail = run_detail(session, run_id)
    rows = session.scalars(
        select(ProtocolActionEvent)
        .where(ProtocolActionEvent.run_id == run_id)
        .order_by(ProtocolActionEvent.at, ProtocolActionEvent.id)
    ).all()
    events = [
        ActionEventRow(e.id, e.at, e.action_key, e.done, e.by, e.note) for e in rows
    ]
    return build_timeline(detail, events)
