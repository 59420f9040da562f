"""Feed bearer tokens: issue, revoke, mark used (docs/fhir.md, docs/security.md).

A token is 256 random bits shown once at issue; only its SHA-256 is stored. A slow
password hash buys nothing for a secret that cannot be guessed (it protects low-
entropy passwords from a stolen table), and every FHIR request checks the token, so
a fast exact lookup by hash is the right tool. Issue and revoke are audited.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.audit import record_audit
from data.models.capacity import Trust
from data.models.feeds import FeedToken
from data.security import hash_token

TOKEN_PREFIX = "ccfeed_"
# ``<kind>:<name>`` is the feed's ``feed_status`` row (32 characters at most): FHIR
# clients are ``fhir:<name>``; ``csv:<source>`` names a CSV source. An endpoint
# takes only tokens of its own kind (the FHIR endpoint answers 403 to the others).
FEED_KINDS = ("fhir", "csv")
FEED_NAME = re.compile(r"^(fhir|csv):[a-z0-9][a-z0-9._-]{0,26}$")
TOUCH_EVERY = timedelta(minutes=1)


class FeedTokenError(ValueError):
    """The token cannot be issued or revoked as asked; the message says why."""


def issue_feed_token(
    session: Session,
    feed: str,
    *,
    actor: str,
    actor_role: str,
    now: datetime,
    label: str = "",
    trust_code: str | None = None,
) -> tuple[FeedToken, str]:
    """A new token for ``feed`` of one trust (the only trust, or ``trust_code``);
    returns the row and the token, which is never stored or shown again."""
    feed = feed.strip().lower()
    if not FEED_NAME.match(feed):
        raise FeedTokenError(
            f"feed {feed!r}: name it fhir:<name> (a FHIR client) or csv:<source> "
            "(a-z 0-9 . _ -, at most 27 characters after the colon)"
        )
    trusts = list(session.scalars(select(Trust).order_by(Trust.code)))
    if trust_code:
        trust = next((t for t in trusts if t.code == trust_code.strip()), None)
        if trust is None:
            raise FeedTokenError(f"no trust {trust_code!r}")
    elif len(trusts) == 1:
        trust = trusts[0]
    elif not trusts:
        raise FeedTokenError(
            "no organisation is loaded: load it first (flask --app app "
            "organisation load FILE)"
        )
    else:
        raise FeedTokenError(
            "several trusts: name one with --trust ("
            + ", ".join(t.code for t in trusts)
            + ")"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = FeedToken(
        feed=feed,
        trust_id=trust.id,
        token_hash=hash_token(token),
        label=label.strip()[:200],
        created_at=now,
        created_by=actor[:64],
    )
    session.add(row)
    session.flush()
    record_audit(
        session, actor_username=actor, actor_role=actor_role,
        action="feed_token.issue", entity_type="feed_token", entity_id=row.id,
        after={"feed": feed, "trust": trust.code, "label": row.label}, at=now,
    )  # fmt: skip
    return row, token


def revoke_feed_token(
    session: Session, token_id: int, *, actor: str, actor_role: str, now: datetime
) -> FeedToken:
    row = session.get(FeedToken, token_id)
    if row is None:
        raise FeedTokenError(f"no feed token {token_id}")
    if row.revoked_at is not None:
        raise FeedTokenError(f"feed token {token_id} is already revoked")
    row.revoked_at, row.revoked_by = now, actor[:64]
    record_audit(
        session, actor_username=actor, actor_role=actor_role,
        action="feed_token.revoke", entity_type="feed_token", entity_id=row.id,
        before={"feed": row.feed, "label": row.label}, at=now,
    )  # fmt: skip
    return row


def mark_used(session: Session, token_id: int, now: datetime) -> None:
    """Record the token's last use (at most once a minute: bookkeeping only)."""
    row = session.get(FeedToken, token_id)
    if row is not None and (
        row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY
    ):
        row.last_used_at = now
