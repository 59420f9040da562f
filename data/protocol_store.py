"""Surge-protocol runs in the store: declaration, ticks, roles, log, stand-down, reads.

Every write works inside the caller's transaction (``data.db.write_session``), applies
the pure rules in :mod:`ops.protocols` and appends an ``audit_event`` row with the
change. Concurrency:

- An action tick is a conditional ``UPDATE ... WHERE version = <version read>``. Two
  commanders ticking *different* actions both succeed; on the *same* action the
  second gets :class:`ActionConflict` ("Already done by X at 14:02") and nothing is
  overwritten -- on PostgreSQL (READ COMMITTED: the second UPDATE waits for the
  first, re-checks the version and matches no row) and on SQLite (writers are
  serialised by ``BEGIN IMMEDIATE``).
- Ticks hold a share lock on the run row and stand-down / role changes an
  exclusive one, so nothing is ticked after a stand-down commits.
- A unique ``active_scope`` key stops the same template being declared twice for
  the same scope, and a partial unique index allows one current holder per role.

Errors are :class:`ProtocolStoreError` subclasses whose message is fit to show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.audit import ActorLike, record_audit
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
    TRIGGER_KINDS,
    IncidentLogEntry,
    ProtocolActionEvent,
    ProtocolActionState,
    ProtocolRoleAssignment,
    ProtocolRun,
    ProtocolTemplateVersion,
)
from ops import protocols as rules
from ops.metrics import occupancy_pct
from ops.permissions import Permission, allowed
from ops.permissions import Role as UserRole
from ops.settings import PROJECT_ROOT
from ops.timeutil import ensure_utc, local_day_bounds_utc, to_local

log = logging.getLogger(__name__)

TEMPLATES_DIR = PROJECT_ROOT / "config" / "protocols"
GA_WARD_TYPES = ("general_acute", "assessment", "escalation")
OPEN_STATES = ("occupied", "available", "awaiting_clean")
MAX_TEXT = 4000
MAX_NAME = 120


# ---------------------------------------------------------------------------
# Errors and inputs
# ---------------------------------------------------------------------------


class ProtocolStoreError(Exception):
    """A refused protocol operation; ``str(exc)`` is fit to show the user."""


class RunNotFound(ProtocolStoreError):
    pass


class Refused(ProtocolStoreError):
    """The rules, the input or the actor's permissions refuse the change.

    ``field_errors`` maps form field names to messages (declaration form).
    """

    def __init__(self, message: str, field_errors: Mapping[str, str] | None = None):
        super().__init__(message)
        self.field_errors = dict(field_errors or {})


class ActionConflict(ProtocolStoreError):
    """Someone else changed the same thing first; nothing was overwritten."""

    def __init__(self, message: str, by: str | None = None, at: datetime | None = None):
        super().__init__(message)
        self.by = by
        self.at = at


class TemplateVersionConflict(ProtocolStoreError):
    """A template file's content changed but its version number did not."""


@dataclass(frozen=True)
class RunTrigger:
    kind: str = "manual"  # manual, alert, opel
    detail: str | None = None


@dataclass(frozen=True)
class TemplateFile:
    template: rules.ProtocolTemplate
    path: Path


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


_FILES_CACHE: dict[Path, tuple[tuple, dict[str, TemplateFile]]] = {}


def available_templates(directory: str | Path | None = None) -> dict[str, TemplateFile]:
    """Every template file in ``directory`` (default ``config/protocols``) by key.

    Raises :class:`ops.protocols.TemplateError` naming the file for a bad one or a
    key defined twice. Cached until a file changes (name, size or mtime).
    """
    directory = Path(directory) if directory is not None else TEMPLATES_DIR
    if not directory.is_dir():
        raise rules.TemplateError(directory, ["not a directory of protocol templates"])
    paths = sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
    )
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    cached = _FILES_CACHE.get(directory)
    if cached is not None and cached[0] == stamp:
        return dict(cached[1])
    out: dict[str, TemplateFile] = {}
    for path in paths:
        template = rules.load_template(path)
        if template.key in out:
            raise rules.TemplateError(
                path,
                [
                    f"duplicate template key {template.key!r} "
                    f"(already defined in {out[template.key].path.name})"
                ],
            )
        out[template.key] = TemplateFile(template, path)
    _FILES_CACHE[directory] = (stamp, out)
    return dict(out)


def ensure_template_version(
    session: Session,
    template: rules.ProtocolTemplate,
    now: datetime,
    source: str | Path | None = None,
) -> ProtocolTemplateVersion:
    """The stored row for ``(key, version)``, storing it on first use.

    A different fingerprint under a stored version raises
    :class:`TemplateVersionConflict` naming the file.
    """
    fingerprint = rules.template_fingerprint(template)
    row = _template_row(session, template.key, template.version)
    if row is None:
        try:
            with session.begin_nested():
                row = ProtocolTemplateVersion(
                    key=template.key,
                    version=template.version,
                    fingerprint=fingerprint,
                    title=template.title,
                    content=rules.template_to_dict(template),
                    stored_at=ensure_utc(now),
                )
                session.add(row)
                session.flush()
        except IntegrityError:  # another declaration stored it at the same moment
            row = _template_row(session, template.key, template.version)
            assert row is not None
    if row.fingerprint != fingerprint:
        where = str(source) if source else f"template {template.key!r}"
        raise TemplateVersionConflict(
            f"{where}: the content of {template.key!r} version {template.version} has "
            "changed since that version was first used; raise 'version' to publish "
            "the change (running protocols keep the version they started with)."
        )
    return row


def _template_row(
    session: Session, key: str, version: int
) -> ProtocolTemplateVersion | None:
    return session.scalar(
        select(ProtocolTemplateVersion).where(
            ProtocolTemplateVersion.key == key,
            ProtocolTemplateVersion.version == version,
        )
    )


_TEMPLATE_CACHE: dict[str, rules.ProtocolTemplate] = {}


def _parse_stored(fingerprint: str, content: dict) -> rules.ProtocolTemplate:
    template = _TEMPLATE_CACHE.get(fingerprint + str(content.get("version")))
    if template is None:
        template = rules.parse_template(content, source="stored template")
        _TEMPLATE_CACHE[fingerprint + str(template.version)] = template
    return template


# ---------------------------------------------------------------------------
# Facility status snapshot (HICS 251 style)
# ---------------------------------------------------------------------------

SNAPSHOT_FIELDS: tuple[tuple[str, str], ...] = (
    ("beds_available", "Beds available"),
    ("beds_occupied", "Beds occupied"),
    ("beds_awaiting_clean", "Beds awaiting clean"),
    ("beds_blocked", "Beds blocked"),
    ("beds_closed", "Beds closed"),
    ("ga_occupancy_pct", "G&A occupancy %"),
    ("ed_in_department", "Patients in ED"),
    ("ed_waiting_to_be_seen", "Waiting to be seen"),
    ("ed_over_12h", "In ED > 12 h from arrival"),
    ("ambulances_waiting", "Ambulances waiting handover"),
    ("theatre_sessions_today", "Theatre sessions today"),
    ("theatre_sessions_cancelled_today", "Sessions cancelled today"),
    ("cases_in_theatre_now", "Cases in theatre now"),
    ("cases_cancelled_today", "Cases cancelled today"),
    # From the metric catalogue (data.queries.metrics), so they match every screen.
    ("ed_4h_pct_today", "ED 4-hour % today"),
    ("majors_resus_occupancy_pct", "Majors + resus occupancy %"),
    ("handovers_over_60_today", "Handovers > 60 min today"),
    ("escalation_beds_open", "Escalation beds open"),
    ("nctr_pct", "Beds occupied by NCTR patients %"),
)
CATALOGUE_FIELDS = (
    "ed_4h_pct_today",
    "majors_resus_occupancy_pct",
    "handovers_over_60_today",
    "escalation_beds_open",
    "nctr_pct",
)


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


# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------


def _check_permission(actor: ActorLike, permission: Permission) -> None:
    if not allowed(actor.role, permission):
        raise Refused(
            f"Your role ({actor.role.replace('_', ' ')}) may not "
            f"{permission.value.replace('_', ' ')}."
        )


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _state_dict(state: rules.ActionState) -> dict[str, Any]:
    return {
        "done": state.done,
        "done_at": state.done_at.isoformat() if state.done_at else None,
        "done_by": state.done_by,
        "note": state.note,
        "version": state.version,
    }


def _audit(
    session: Session,
    actor: ActorLike,
    now: datetime,
    action: str,
    entity_type: str,
    entity_id: str | int,
    before: dict | None,
    after: dict | None,
) -> None:
    record_audit(
        session,
        actor_username=actor.username,
        actor_role=actor.role,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        at=ensure_utc(now),
    )


def declare_run(
    session: Session,
    template: rules.ProtocolTemplate,
    actor: ActorLike,
    now: datetime,
    trigger: RunTrigger | None = None,
    reason: str | None = None,
    site_id: int | None = None,
    methane: Mapping[str, Any] | None = None,
    *,
    template_source: str | Path | None = None,
    tz: str | None = None,
) -> int:
    """Declare a run of ``template``; returns the new run id.

    Refuses (with per-field messages) a missing reason, an unknown site, a bad
    trigger or an incomplete METHANE report, and a template already active for the
    same scope. Captures the facility status snapshot at ``now``.
    """
    _check_permission(actor, Permission.DECLARE_PROTOCOL)
    now = ensure_utc(now)
    trigger = trigger or RunTrigger()
    errors: dict[str, str] = {}
    clean_reason = (reason or "").strip()
    if not clean_reason:
        errors["reason"] = "Give the reason for declaring this protocol."
    elif len(clean_reason) > MAX_TEXT:
        errors["reason"] = f"Keep the reason under {MAX_TEXT} characters."
    if trigger.kind not in TRIGGER_KINDS:
        errors["trigger"] = f"Trigger must be one of {', '.join(TRIGGER_KINDS)}."
    site_name = None
    if site_id is not None:
        site_name = session.scalar(select(Site.name).where(Site.id == site_id))
        if site_name is None:
            errors["site"] = "Unknown site."
    methane_clean: dict[str, str] | None = None
    if template.requires_methane or methane:
        raw = dict(methane or {})
        for name, _letter, label in rules.METHANE_FIELDS:
            if not _clean(str(raw.get(name) or "")):
                errors[f"methane.{name}"] = (
                    f"{label}: required (write 'none known' if so)."
                )
        declared = _clean(str(raw.get("major_incident_declared") or "")).lower()
        if declared and declared not in rules.MAJOR_INCIDENT_DECLARED_VALUES:
            errors["methane.major_incident_declared"] = "Answer yes, no or standby."
    if errors:
        raise Refused("Cannot declare yet: " + " ".join(errors.values()), errors)
    try:
        report = rules.validate_declaration(template, actor.display_name, methane)
    except ValueError as exc:  # ProtocolRuleError or an incomplete METHANE report
        raise Refused(str(exc)) from None
    if report is not None:
        methane_clean = {
            name: getattr(report, name) for name, _, _ in rules.METHANE_FIELDS
        }

    stored = ensure_template_version(session, template, now, template_source)
    scope = f"{template.key}@{site_id if site_id is not None else 'trust'}"
    existing = session.execute(
        select(ProtocolRun.id, ProtocolRun.declared_by, ProtocolRun.declared_at).where(
            ProtocolRun.active_scope == scope
        )
    ).first()
    if existing is not None:
        raise _already_active(
            template, site_name, existing.declared_by, existing.declared_at
        )
    run = ProtocolRun(
        template_id=stored.id,
        template_key=template.key,
        template_version=template.version,
        trigger_kind=trigger.kind,
        trigger_detail=_clean(trigger.detail)[:200] or None,
        declared_by=actor.display_name[:MAX_NAME],
        declared_by_username=actor.username,
        declared_by_role=actor.role,
        declared_at=now,
        reason=clean_reason,
        site_id=site_id,
        status=rules.RunStatus.ACTIVE.value,
        active_scope=scope,
        methane=methane_clean,
        facility_snapshot=facility_snapshot(session, now, tz or _tz(session), site_id),
        version=1,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:  # declared by someone else at the same moment
        existing = session.execute(
            select(ProtocolRun.declared_by, ProtocolRun.declared_at).where(
                ProtocolRun.active_scope == scope
            )
        ).first()
        raise _already_active(
            template,
            site_name,
            existing.declared_by if existing else None,
            existing.declared_at if existing else None,
        ) from None
    session.add_all(
        ProtocolActionState(run_id=run.id, action_key=a.key, done=False, version=0)
        for a in template.actions
    )
    _audit(
        session,
        actor,
        now,
        "protocol.declare",
        "protocol_run",
        run.id,
        None,
        {
            "template": template.key,
            "template_version": template.version,
            "trigger": trigger.kind,
            "trigger_detail": run.trigger_detail,
            "reason": clean_reason,
            "site_id": site_id,
            "methane": methane_clean,
        },
    )
    session.flush()
    log.info(
        "protocol declared: run=%s template=%s by=%s",
        run.id,
        template.key,
        actor.username,
    )
    return run.id


def _already_active(
    template: rules.ProtocolTemplate,
    site_name: str | None,
    by: str | None,
    at: datetime | None,
) -> Refused:
    scope = site_name or "the trust"
    when = f" at {at.isoformat(timespec='minutes')}" if at else ""
    who = f" by {by}" if by else ""
    return Refused(
        f"{template.title} is already active for {scope} (declared{who}{when})."
    )


# The display timezone is a setting; the store takes it from the running app when
# there is one, so callers do not thread it through every write.
_DEFAULT_TZ = "Europe/London"


def _tz(_session: Session) -> str:
    try:
        from data.runtime import current

        return current().settings.timezone
    except Exception:
        return _DEFAULT_TZ


def _run_for_update(session: Session, run_id: int, *, share: bool) -> ProtocolRun:
    q = select(ProtocolRun).where(ProtocolRun.id == run_id)
    q = q.with_for_update(read=share)
    run = session.execute(
        q.execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if run is None:
        raise RunNotFound(f"There is no protocol run {run_id}.")
    return run


def _template_for(session: Session, run: ProtocolRun) -> rules.ProtocolTemplate:
    row = session.get(ProtocolTemplateVersion, run.template_id)
    assert row is not None
    return _parse_stored(row.fingerprint, row.content)


def _read_state(session: Session, run_id: int, action_key: str):  # noqa: ANN202
    return session.execute(
        select(
            ProtocolActionState.id,
            ProtocolActionState.done,
            ProtocolActionState.done_at,
            ProtocolActionState.done_by,
            ProtocolActionState.note,
            ProtocolActionState.version,
        ).where(
            ProtocolActionState.run_id == run_id,
            ProtocolActionState.action_key == action_key,
        )
    ).first()


def _as_state(row) -> rules.ActionState:  # noqa: ANN001
    return rules.ActionState(
        done=bool(row.done),
        done_at=row.done_at,
        done_by=row.done_by,
        note=row.note,
        version=row.version,
    )


def set_action(
    session: Session,
    run_id: int,
    action_key: str,
    done: bool,
    actor: ActorLike,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
    *,
    tz: str | None = None,
) -> rules.ActionState:
    """Tick (``done=True``) or untick one action; returns the new state.

    Raises :class:`ActionConflict` when someone else already did it (or changed it
    since ``expected_version``), :class:`Refused` for a rule the change breaks.
    """
    _check_permission(actor, Permission.WORK_PROTOCOL)
    now = ensure_utc(now)
    tz = tz or _tz(session)
    run = _run_for_update(session, run_id, share=True)
    template = _template_for(session, run)
    row = _read_state(session, run_id, action_key)
    if row is None:
        raise Refused(f"Unknown action {action_key!r} in {template.title}.")
    current = _as_state(row)
    result = rules.check_tick(
        template,
        action_key,
        current,
        done=done,
        by=actor.display_name,
        now=now,
        tz=tz,
        note=note,
        expected_version=expected_version,
        run_status=run.status,
    )
    if isinstance(result, rules.Rejected):
        raise Refused(result.message)
    if isinstance(result, rules.Conflict):
        raise ActionConflict(result.message, result.by, result.at)
    new = result.state
    changed = session.execute(
        update(ProtocolActionState)
        .where(
            ProtocolActionState.id == row.id,
            ProtocolActionState.version == current.version,
        )
        .values(
            done=new.done,
            done_at=new.done_at,
            done_by=new.done_by,
            note=new.note,
            version=new.version,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        # Someone committed a change between our read and our write: say what.
        fresh = _read_state(session, run_id, action_key)
        again = rules.check_tick(
            template,
            action_key,
            _as_state(fresh) if fresh is not None else None,
            done=done,
            by=actor.display_name,
            now=now,
            tz=tz,
            note=note,
            expected_version=current.version,
            run_status=run.status,
        )
        message = getattr(
            again, "message", "Changed by someone else; refresh and try again."
        )
        raise ActionConflict(
            message, getattr(again, "by", None), getattr(again, "at", None)
        )
    session.add(
        ProtocolActionEvent(
            run_id=run_id,
            action_key=action_key,
            at=now,
            done=new.done,
            by=actor.display_name[:MAX_NAME],
            by_username=actor.username,
            note=new.note,
            version=new.version,
        )
    )
    _audit(
        session,
        actor,
        now,
        "protocol.action.tick" if done else "protocol.action.untick",
        "protocol_action",
        f"{run_id}:{action_key}",
        _state_dict(current),
        _state_dict(new),
    )
    session.flush()
    return new


@dataclass(frozen=True)
class AssignmentRow:
    role_key: str
    person: str
    held_from: datetime
    held_to: datetime | None
    assigned_by: str


def assign_role(
    session: Session,
    run_id: int,
    role_key: str,
    person: str,
    actor: ActorLike,
    now: datetime,
) -> AssignmentRow:
    """Assign ``role_key`` to ``person`` (a handover closes the previous holder)."""
    _check_permission(actor, Permission.WORK_PROTOCOL)
    now = ensure_utc(now)
    run = _run_for_update(session, run_id, share=False)
    if run.status != rules.RunStatus.ACTIVE:
        raise Refused("This protocol has been stood down; roles can no longer change.")
    template = _template_for(session, run)
    rows = session.scalars(
        select(ProtocolRoleAssignment)
        .where(
            ProtocolRoleAssignment.run_id == run_id,
            ProtocolRoleAssignment.role_key == role_key,
        )
        .order_by(ProtocolRoleAssignment.held_from, ProtocolRoleAssignment.id)
    ).all()
    assignments = [
        rules.Assignment(r.role_key, r.person, r.held_from, r.held_to) for r in rows
    ]
    if len(_clean(person)) > MAX_NAME:
        raise Refused(f"Keep the name under {MAX_NAME} characters.")
    try:
        updated = rules.handover(assignments, role_key, person, now, template=template)
    except rules.ProtocolRuleError as exc:
        raise Refused(str(exc)) from None
    previous = next((r for r in rows if r.held_to is None), None)
    if previous is not None:
        previous.held_to = now
        session.flush()  # close before opening: one open interval per role
    new = updated[-1]
    session.add(
        ProtocolRoleAssignment(
            run_id=run_id,
            role_key=role_key,
            person=new.person,
            held_from=now,
            held_to=None,
            assigned_by=actor.display_name[:MAX_NAME],
        )
    )
    _audit(
        session,
        actor,
        now,
        "protocol.role.handover" if previous is not None else "protocol.role.assign",
        "protocol_role",
        f"{run_id}:{role_key}",
        {"person": previous.person} if previous is not None else None,
        {"person": new.person},
    )
    session.flush()
    return AssignmentRow(role_key, new.person, now, None, actor.display_name)


def add_log_entry(
    session: Session,
    run_id: int,
    text: str,
    actor: ActorLike,
    now: datetime,
    as_role: str | None = None,
) -> int:
    """Append an activity-log entry; returns its id.

    The author's role is ``as_role`` (a role key of the template) when given, else
    the command roles the author holds in this run, else their user role.
    """
    _check_permission(actor, Permission.WORK_PROTOCOL)
    now = ensure_utc(now)
    body = (text or "").strip()
    if not body:
        raise Refused("Write something in the log entry.", {"text": "Required."})
    if len(body) > MAX_TEXT:
        raise Refused(
            f"Keep a log entry under {MAX_TEXT} characters.", {"text": "Too long."}
        )
    run = _run_for_update(session, run_id, share=True)
    if run.status != rules.RunStatus.ACTIVE:
        raise Refused("This protocol has been stood down; its log is closed.")
    template = _template_for(session, run)
    if as_role:
        role = template.role(as_role)
        if role is None:
            raise Refused(f"Unknown role {as_role!r} in {template.title}.")
        role_text = role.title
    else:
        held = session.scalars(
            select(ProtocolRoleAssignment.role_key).where(
                ProtocolRoleAssignment.run_id == run_id,
                ProtocolRoleAssignment.held_to.is_(None),
                func.lower(ProtocolRoleAssignment.person) == actor.display_name.lower(),
            )
        ).all()
        titles = [r.title for r in template.roles if r.key in set(held)]
        role_text = "; ".join(titles) if titles else _user_role_label(actor.role)
    entry = IncidentLogEntry(
        run_id=run_id,
        at=now,
        author=actor.display_name[:MAX_NAME],
        author_username=actor.username,
        author_role=role_text[:200],
        text=body,
    )
    session.add(entry)
    session.flush()
    _audit(
        session,
        actor,
        now,
        "protocol.log.add",
        "incident_log_entry",
        entry.id,
        None,
        {"run_id": run_id, "author_role": entry.author_role, "text": body},
    )
    return entry.id


def _user_role_label(role: str) -> str:
    try:
        return UserRole(role).label
    except ValueError:
        return role


def stand_down(
    session: Session,
    run_id: int,
    actor: ActorLike,
    now: datetime,
    expected_version: int | None = None,
    note: str | None = None,
) -> None:
    """Stand the run down: closes every role assignment; the checklist becomes read-only."""
    _check_permission(actor, Permission.STAND_DOWN)
    now = ensure_utc(now)
    run = _run_for_update(session, run_id, share=False)
    if expected_version is not None and expected_version != run.version:
        raise ActionConflict(
            "The protocol changed since you loaded it"
            + (f" (stood down by {run.stood_down_by})" if run.stood_down_by else "")
            + "; refresh and try again."
        )
    try:
        decision = rules.stand_down(
            run.status, actor.display_name, now, declared_at=run.declared_at
        )
    except rules.ProtocolRuleError as exc:
        if run.status == rules.RunStatus.STOOD_DOWN and run.stood_down_by:
            raise ActionConflict(
                f"Already stood down by {run.stood_down_by}.",
                run.stood_down_by,
                run.stood_down_at,
            ) from None
        raise Refused(str(exc)) from None
    clean_note = (note or "").strip()[:MAX_TEXT] or None
    changed = session.execute(
        update(ProtocolRun)
        .where(ProtocolRun.id == run_id, ProtocolRun.version == run.version)
        .values(
            status=decision.status,
            active_scope=None,
            stood_down_by=decision.stood_down_by[:MAX_NAME],
            stood_down_by_username=actor.username,
            stood_down_at=decision.stood_down_at,
            stand_down_note=clean_note,
            version=run.version + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise ActionConflict(
            "The protocol changed while standing down; refresh and try again."
        )
    session.execute(
        update(ProtocolRoleAssignment)
        .where(
            ProtocolRoleAssignment.run_id == run_id,
            ProtocolRoleAssignment.held_to.is_(None),
        )
        .values(held_to=now)
        .execution_options(synchronize_session=False)
    )
    _audit(
        session,
        actor,
        now,
        "protocol.stand_down",
        "protocol_run",
        run_id,
        {"status": run.status, "version": run.version},
        {
            "status": decision.status,
            "version": run.version + 1,
            "stood_down_by": decision.stood_down_by,
            "note": clean_note,
        },
    )
    session.flush()


# ---------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    id: int
    template_key: str
    template_version: int
    title: str
    trigger_kind: str
    trigger_detail: str | None
    declared_by: str
    declared_by_role: str
    declared_at: datetime
    reason: str
    site_id: int | None
    site_code: str | None
    site_name: str | None
    status: str
    stood_down_by: str | None
    stood_down_at: datetime | None
    stand_down_note: str | None
    methane: dict | None
    facility_snapshot: dict
    version: int

    @property
    def scope_text(self) -> str:
        return self.site_name or "Trust-wide"

    @property
    def active(self) -> bool:
        return self.status == rules.RunStatus.ACTIVE


@dataclass(frozen=True)
class RunSummary:
    run: RunInfo
    template: rules.ProtocolTemplate
    overall: rules.Progress
    blocks: tuple[rules.Progress, ...]
    overdue: int


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: datetime
    author: str
    author_role: str
    text: str


@dataclass
class RunDetail:
    run: RunInfo
    template: rules.ProtocolTemplate
    states: dict[str, rules.ActionState]
    assignments: list[AssignmentRow] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)  # newest first


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
        out[r.run_id][r.action_key] = _as_state(r)
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
        template = _parse_stored(fingerprint, content)
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


@dataclass(frozen=True)
class BannerRun:
    id: int
    title: str
    scope: str
    done: int
    total: int
    overdue: int


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
    template = _parse_stored(fingerprint, content)
    assignments = [
        AssignmentRow(r.role_key, r.person, r.held_from, r.held_to, r.assigned_by)
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


# --- after-action timeline ------------------------------------------------------


class EventType:
    DECLARED = "declared"
    SNAPSHOT = "facility snapshot"
    ROLE_ASSIGNED = "role assigned"
    ROLE_HANDOVER = "role handover"
    ACTION_DONE = "action done"
    ACTION_UNDONE = "action unticked"
    LOG = "log entry"
    STOOD_DOWN = "stood down"


_ORDER = {
    EventType.DECLARED: 0,
    EventType.SNAPSHOT: 1,
    EventType.ROLE_ASSIGNED: 2,
    EventType.ROLE_HANDOVER: 2,
    EventType.ACTION_DONE: 3,
    EventType.ACTION_UNDONE: 3,
    EventType.LOG: 4,
    EventType.STOOD_DOWN: 9,
}


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    event: str  # an EventType value
    block: str = ""
    action: str = ""
    person: str = ""
    role: str = ""
    detail: str = ""
    seq: int = 0  # tie-breaker within the same instant (insertion order)


def snapshot_summary(snapshot: Mapping[str, Any]) -> str:
    total = snapshot.get("total") or {}
    if not total:
        return "no facility data"
    occ = total.get("ga_occupancy_pct")
    parts = [
        f"G&A occupancy {'—' if occ is None else f'{occ:.1f}%'}",
        f"beds available {total.get('beds_available', '—')}",
        f"ED in department {total.get('ed_in_department', '—')}",
        f"waiting to be seen {total.get('ed_waiting_to_be_seen', '—')}",
        f"> 12 h {total.get('ed_over_12h', '—')}",
        f"ambulances waiting {total.get('ambulances_waiting', '—')}",
        f"theatre sessions today {total.get('theatre_sessions_today', '—')}"
        f" ({total.get('theatre_sessions_cancelled_today', '—')} cancelled)",
    ]
    return "; ".join(parts)


def timeline(session: Session, run_id: int) -> list[TimelineEvent]:
    """The after-action timeline of a run, ordered by time."""
    detail = run_detail(session, run_id)
    run, template = detail.run, detail.template
    events: list[TimelineEvent] = [
        TimelineEvent(
            run.declared_at,
            EventType.DECLARED,
            person=run.declared_by,
            role=_user_role_label(run.declared_by_role),
            detail=f"{template.title} (v{run.template_version}) · {run.scope_text} · "
            f"trigger: {run.trigger_kind}"
            + (f" ({run.trigger_detail})" if run.trigger_detail else "")
            + f" · reason: {run.reason}",
        ),
        TimelineEvent(
            run.declared_at,
            EventType.SNAPSHOT,
            detail=snapshot_summary(run.facility_snapshot),
        ),
    ]
    roles = {r.key: r.title for r in template.roles}
    previous: dict[str, str] = {}
    for i, a in enumerate(detail.assignments):
        before = previous.get(a.role_key)
        events.append(
            TimelineEvent(
                a.held_from,
                EventType.ROLE_HANDOVER if before else EventType.ROLE_ASSIGNED,
                person=a.person,
                role=roles.get(a.role_key, a.role_key),
                detail=(f"took over from {before}; " if before else "")
                + f"by {a.assigned_by}",
                seq=i,
            )
        )
        previous[a.role_key] = a.person
    action_rows = session.scalars(
        select(ProtocolActionEvent)
        .where(ProtocolActionEvent.run_id == run_id)
        .order_by(ProtocolActionEvent.at, ProtocolActionEvent.id)
    ).all()
    for e in action_rows:
        action = template.action(e.action_key)
        block = template.block_of(e.action_key)
        events.append(
            TimelineEvent(
                e.at,
                EventType.ACTION_DONE if e.done else EventType.ACTION_UNDONE,
                block=block.title if block else "",
                action=action.text if action else e.action_key,
                person=e.by,
                role=roles.get(action.owner, action.owner) if action else "",
                detail=e.note or "",
                seq=e.id,
            )
        )
    for entry in reversed(detail.log):
        events.append(
            TimelineEvent(
                entry.at,
                EventType.LOG,
                person=entry.author,
                role=entry.author_role,
                detail=entry.text,
                seq=entry.id,
            )
        )
    if run.stood_down_at is not None:
        events.append(
            TimelineEvent(
                run.stood_down_at,
                EventType.STOOD_DOWN,
                person=run.stood_down_by or "",
                detail=run.stand_down_note or "",
            )
        )
    events.sort(key=lambda e: (e.at, _ORDER.get(e.event, 5), e.seq))
    return events
