"""Wall displays: display profiles (what a television shows) and display tokens.

A display token lets an unattended screen open ``/wall`` without anyone signing in.
Only a SHA-256 of the token is stored; the token itself is shown once when issued.
Revoking sets ``revoked_at``; the request guard checks it on every request.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from data.models.base import Base


class DisplayProfile(Base):
    __tablename__ = "display_profile"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(
        String(32), default="trust"
    )  # "trust" or a site code
    panels: Mapped[list] = mapped_column(JSON)  # ordered subset of ops.display.PANELS
    mode: Mapped[str] = mapped_column(String(16), default="grid")
    rotate_seconds: Mapped[int] = mapped_column(default=20)
    poll_seconds: Mapped[int] = mapped_column(default=30)
    resolution: Mapped[str] = mapped_column(String(16), default="1080p")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)


def random_token_id() -> int:
    """A display token's id: random, not a counter. A display session names its
    token by id, so one id must not tell another (fits PostgreSQL's INTEGER)."""
    return (1 << 20) + secrets.randbelow((1 << 31) - 1 - (1 << 20))


class DisplayToken(Base):
    __tablename__ = "display_token"
    id: Mapped[int] = mapped_column(primary_key=True, default=random_token_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("display_profile.id"), index=True
    )
    label: Mapped[str] = mapped_column(String(120), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
