"""Reads for the admin screens: users and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.security import AppUser, AuditEvent

AUDIT_PAGE = 500


@dataclass(frozen=True)
class UserRow:
    username: str
    display_name: str
    role: str
    is_active: bool
    last_login_at: datetime | None


def users(session: Session) -> list[UserRow]:
    return [
        UserRow(u.username, u.display_name, u.role, u.is_active, u.last_login_at)
        for u in session.scalars(select(AppUser).order_by(AppUser.username))
    ]


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_events(
    session: Session, f: AuditFilter, limit: int = AUDIT_PAGE
) -> list[AuditEvent]:
    """Newest first, filtered; at most ``limit`` rows."""
    q = select(AuditEvent)
    if f.actor:
        q = q.where(AuditEvent.actor_username == f.actor.strip().lower())
    if f.action:
        q = q.where(AuditEvent.action == f.action)
    if f.entity_type:
        q = q.where(AuditEvent.entity_type == f.entity_type)
    if f.since:
        q = q.where(AuditEvent.at >= f.since)
    if f.until:
        q = q.where(AuditEvent.at < f.until)
    return list(
        session.scalars(
            q.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        )
    )
