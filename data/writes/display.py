"""Wall displays: the writes. Profiles (admins edit them; every change is audited),
display tokens (issued, revoked, touched when used). Only a SHA-256 of a token is
stored; the token is shown once when issued. The reads are in
:mod:`data.queries.display`.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from data.audit import record_audit
from data.db import write_session
from data.models.wall import DisplayProfile, DisplayToken
from data.queries.display import profile_info, token_info
from ops.display import (
    DEFAULT_PROFILES,
    TOKEN_PREFIX,
    TOUCH_EVERY,
    DisplayStoreError,
    ProfileConflict,
    ProfileInfo,
    ProfileSpec,
    TokenInfo,
    hash_token,
)


def ensure_default_profiles(session: Session, now: datetime) -> int:
    """Insert the default profiles when none exist (the migration seeds them too)."""
    if session.scalar(select(func.count(DisplayProfile.id))):
        return 0
    for spec in DEFAULT_PROFILES:
        session.add(DisplayProfile(**spec, created_at=now, updated_at=now, version=1))
    session.flush()
    return len(DEFAULT_PROFILES)


def save_profile(
    session: Session,
    spec: ProfileSpec,
    *,
    actor_username: str,
    actor_role: str,
    now: datetime,
    expected_version: int | None = None,
) -> ProfileInfo:
    """Create the profile ``spec.slug`` or update it (audited).

    ``expected_version`` (the version the editor read) makes a concurrent edit fail
    with :class:`ProfileConflict` instead of silently overwriting it.
    """
    row = session.scalars(
        select(DisplayProfile).where(DisplayProfile.slug == spec.slug)
    ).first()
    if row is None:
        row = DisplayProfile(
            **spec.as_dict(), created_at=now, updated_at=now, version=1
        )
        session.add(row)
        session.flush()
        record_audit(
            session, actor_username=actor_username, actor_role=actor_role,
            action="display_profile.create", entity_type="display_profile",
            entity_id=row.slug, after=spec.as_dict(), at=now,
        )  # fmt: skip
        return profile_info(row)
    if expected_version is not None and row.version != expected_version:
        raise ProfileConflict(
            f"The profile {spec.slug!r} was changed by someone else; reload and retry."
        )
    before = profile_info(row).as_dict()
    for key, value in spec.as_dict().items():
        setattr(row, key, value)
    row.updated_at = now
    row.version += 1
    session.flush()
    record_audit(
        session, actor_username=actor_username, actor_role=actor_role,
        action="display_profile.update", entity_type="display_profile",
        entity_id=row.slug, before=before, after=spec.as_dict(), at=now,
    )  # fmt: skip
    return profile_info(row)


def issue_token(
    session: Session,
    profile_slug: str,
    *,
    created_by: str,
    created_by_role: str,
    now: datetime,
    label: str = "",
) -> tuple[str, TokenInfo]:
    """A new display token for ``profile_slug``: (the token, shown once; its record)."""
    profile = session.scalars(
        select(DisplayProfile).where(DisplayProfile.slug == profile_slug)
    ).first()
    if profile is None:
        raise DisplayStoreError(f"There is no display profile {profile_slug!r}.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = DisplayToken(
        token_hash=hash_token(token),
        profile_id=profile.id,
        label=label.strip()[:120],
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session, actor_username=created_by, actor_role=created_by_role,
        action="display_token.issue", entity_type="display_token", entity_id=row.id,
        after={"profile": profile_slug, "label": row.label}, at=now,
    )  # fmt: skip
    return token, token_info(row, profile_slug)


def touch_token(session: Session, token_id: int, now: datetime) -> bool:
    """Record that the token was used (at most once per ``TOUCH_EVERY``)."""
    result = session.execute(
        update(DisplayToken)
        .where(
            DisplayToken.id == token_id,
            or_(
                DisplayToken.last_used_at.is_(None),
                DisplayToken.last_used_at <= now - TOUCH_EVERY,
            ),
        )
        .values(last_used_at=now)
    )
    return bool(result.rowcount)


def revoke_token(
    session: Session,
    token_id: int,
    *,
    revoked_by: str,
    revoked_by_role: str,
    now: datetime,
) -> TokenInfo:
    row = session.get(DisplayToken, token_id)
    if row is None:
        raise DisplayStoreError(f"There is no display token {token_id}.")
    slug = session.scalar(
        select(DisplayProfile.slug).where(DisplayProfile.id == row.profile_id)
    )
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_by = revoked_by
        session.flush()
        record_audit(
            session, actor_username=revoked_by, actor_role=revoked_by_role,
            action="display_token.revoke", entity_type="display_token", entity_id=row.id,
            before={"revoked_at": None}, after={"revoked_at": now.isoformat()}, at=now,
        )  # fmt: skip
    return token_info(row, slug or "")


def issue_display_token_cli(
    factory: sessionmaker[Session], profile_slug: str, now: datetime, label: str = ""
) -> str:
    """For ``flask --app app issue-display-token <profile>``: audited as the CLI."""
    with write_session(factory) as session:
        token, _ = issue_token(
            session, profile_slug, created_by="cli", created_by_role="admin", now=now,
            label=label or "issued from the command line",
        )  # fmt: skip
    return token
