"""Surge-protocol runs in the store: declaration, ticks, roles, log, stand-down.

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

Errors are :class:`ops.protocol_runs.ProtocolStoreError` subclasses whose message is
fit to show. The reads are in :mod:`data.queries.protocols`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.audit import ActorLike, record_audit
from data.models.capacity import Site
from data.models.protocols import (
    TRIGGER_KINDS,
    IncidentLogEntry,
    ProtocolActionEvent,
    ProtocolActionState,
    ProtocolRoleAssignment,
    ProtocolRun,
    ProtocolTemplateVersion,
)
from data.queries.protocols import (
    action_state_of,
    facility_snapshot,
    parse_stored_template,
    template_row,
)
from ops import protocols as rules
from ops.permissions import Permission, allowed
from ops.protocol_runs import (
    ActionConflict,
    AssignmentRow,
    Refused,
    RunNotFound,
    RunTrigger,
    TemplateVersionConflict,
    user_role_label,
)
from ops.timeutil import ensure_utc

log = logging.getLogger(__name__)

MAX_TEXT = 4000
MAX_NAME = 120
MAX_CONTACT = 60


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
    row = template_row(session, template.key, template.version)
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
            row = template_row(session, template.key, template.version)
            assert row is not None
    if row.fingerprint != fingerprint:
        where = str(source) if source else f"template {template.key!r}"
        raise TemplateVersionConflict(
            f"{where}: the content of {template.key!r} version {template.version} has "
            "changed since that version was first used; raise 'version' to publish "
            "the change (running protocols keep the version they started with)."
        )
    return row


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
    return parse_stored_template(row.fingerprint, row.content)


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
    current = action_state_of(row)
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
            action_state_of(fresh) if fresh is not None else None,
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


def assign_role(
    session: Session,
    run_id: int,
    role_key: str,
    person: str,
    actor: ActorLike,
    now: datetime,
    contact: str | None = None,
) -> AssignmentRow:
    """Assign ``role_key`` to ``person`` (a handover closes the previous holder);
    ``contact``: how to reach them (a bleep or phone number), optional."""
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
    contact = _clean(contact or "") or None
    if contact is not None and len(contact) > MAX_CONTACT:
        raise Refused(f"Keep the bleep or phone under {MAX_CONTACT} characters.")
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
            contact=contact,
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
        {"person": previous.person, "contact": previous.contact}
        if previous is not None
        else None,
        {"person": new.person, "contact": contact},
    )
    session.flush()
    return AssignmentRow(role_key, new.person, now, None, actor.display_name, contact)


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
        role_text = "; ".join(titles) if titles else user_role_label(actor.role)
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


def stand_down(
    session: Session,
    run_id: int,
    actor: ActorLike,
    now: datetime,
    expected_version: int | None = None,
    note: str | None = None,
) -> None:
    """Stand the run down: closes every role assignment; the checklist becomes read-only.

    With actions still open the stand-down is early and ``note`` (the reason) is
    required; the open actions are recorded in the audit row and, with the reason,
    as an entry in the run's activity log (so the after-action report shows them).
    """
    _check_permission(actor, Permission.STAND_DOWN)
    now = ensure_utc(now)
    run = _run_for_update(session, run_id, share=False)
    if expected_version is not None and expected_version != run.version:
        raise ActionConflict(
            "The protocol changed since you loaded it"
            + (f" (stood down by {run.stood_down_by})" if run.stood_down_by else "")
            + "; refresh and try again."
        )
    template = _template_for(session, run)
    states = {
        r.action_key: action_state_of(r)
        for r in session.execute(
            select(
                ProtocolActionState.action_key,
                ProtocolActionState.done,
                ProtocolActionState.done_at,
                ProtocolActionState.done_by,
                ProtocolActionState.note,
                ProtocolActionState.version,
            ).where(ProtocolActionState.run_id == run_id)
        )
    }
    left = rules.outstanding_actions(template, states, include_stand_down=True)
    try:
        decision = rules.stand_down(
            run.status,
            actor.display_name,
            now,
            declared_at=run.declared_at,
            open_actions=left,
            reason=(note or "")[:MAX_TEXT],
        )
    except rules.ProtocolRuleError as exc:
        if run.status == rules.RunStatus.STOOD_DOWN and run.stood_down_by:
            raise ActionConflict(
                f"Already stood down by {run.stood_down_by}.",
                run.stood_down_by,
                run.stood_down_at,
            ) from None
        raise Refused(
            str(exc), {"note": "Required."} if left and run.status == "active" else None
        ) from None
    clean_note = decision.reason
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
            "early": decision.early,
            "open_actions": len(left),
            "actions": len(template.actions),
            "open_action_keys": [a.key for a in left],
        },
    )
    if decision.early:
        entry = IncidentLogEntry(
            run_id=run_id,
            at=now,
            author=actor.display_name[:MAX_NAME],
            author_username=actor.username,
            author_role=user_role_label(actor.role)[:200],
            text=early_stand_down_text(template, left, clean_note or ""),
        )
        session.add(entry)
    session.flush()


def early_stand_down_text(
    template: rules.ProtocolTemplate, left: list[rules.Action], reason: str
) -> str:
    """The log entry of an early stand-down: how many were open, why, and which."""
    n = len(left)
    head = (
        f"Stood down early with {n} of {len(template.actions)} "
        f"action{'' if n == 1 else 's'} open. Reason: {reason}"
    )
    return head + "\nOpen at stand-down: " + "; ".join(a.text for a in left)
