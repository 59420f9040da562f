"""Feed bearer tokens: who is calling (by the token's hash) and the list for admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models.capacity import Trust
from data.models.feeds import FeedToken
from data.security import hash_token


@dataclass(frozen=True)
class FeedAccess:
    """A live token's grant: one feed of one trust."""

    token_id: int
    feed: str
    trust_id: int
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenCheck:
    access: FeedAccess | None
    refused: str | None  # why, when access is None: unknown, revoked
    feed: str | None = None  # a revoked token's feed (its refusals are counted)


@dataclass(frozen=True)
class TokenRow:
    id: int
    feed: str
    trust: str
    label: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None


def check_token(session: Session, token: str) -> TokenCheck:
    if not token or len(token) > 200:
        return TokenCheck(None, "unknown")
    row = session.scalar(
        select(FeedToken).where(FeedToken.token_hash == hash_token(token))
    )
    if row is None:
        return TokenCheck(None, "unknown")
    if row.revoked_at is not None:
        return TokenCheck(None, "revoked", row.feed)
    return TokenCheck(
        FeedAccess(row.id, row.feed, row.trust_id, row.last_used_at), None
    )


def list_feed_tokens(session: Session) -> list[TokenRow]:
    return [
        TokenRow(
            t.id,
            t.feed,
            code,
            t.label,
            t.created_at,
            t.created_by,
            t.last_used_at,
            t.revoked_at,
            t.revoked_by,
        )  # fmt: skip
        for t, code in session.execute(
            select(FeedToken, Trust.code)
            .join(Trust, Trust.id == FeedToken.trust_id)
            .order_by(FeedToken.feed, FeedToken.id)
        )
    ]
