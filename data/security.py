"""Users, passwords (argon2), server-side sessions and sign-in throttling.

Sessions live in the database so logout and disabling an account end them at once,
on every gunicorn worker. Failed sign-ins are counted in the database too, so the
growing delays of ``ops.signin`` (per account and per address, never a lock-out)
hold across workers. Sign-ins, failures and throttling go to the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from data.audit import record_audit
from data.models.security import AppUser, LoginAttempt, UserSession
from ops import signin
from ops.permissions import Role
from ops.timeutil import ensure_utc

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-same-cost")


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    username: str
    display_name: str
    role: str
    session_id: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def demo_secret_key(database_url: str) -> str:
    """The session-signing key of a deployment that set no SECRET_KEY (only the
    embedded SQLite demo may: ops.settings refuses the rest).

    A random key kept owner-only beside the SQLite file (``<file>.secret-key``), so
    the demo's workers and restarts share it and no published value ever signs a
    cookie. Without a database file (in memory, or a PostgreSQL app built in code)
    the key is random for this process.
    """
    from pathlib import Path

    from sqlalchemy import make_url

    database = (
        make_url(database_url).database if database_url.startswith("sqlite") else None
    )
    if not database or database == ":memory:":
        return secrets.token_hex(32)
    target = Path(database).resolve()
    target = target.with_name(target.name + ".secret-key")
    try:
        return target.read_text().strip() or _new_key_file(target)
    except FileNotFoundError:
        return _new_key_file(target)


def _new_key_file(target) -> str:  # noqa: ANN001
    """Write a new random key to ``target`` (0600) unless another process won."""
    import os

    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{target.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    try:
        os.link(temp, target)  # atomic: the first writer's key is everyone's
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return target.read_text().strip() or secrets.token_hex(32)


def _check_role(role: str) -> None:
    try:
        Role(role)
    except ValueError:
        raise UserError(
            f"unknown role {role!r}; choose from {', '.join(r.value for r in Role)}"
        ) from None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    display_name: str,
    now: datetime,
) -> AppUser:
    username = username.strip().lower()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise UserError("username must be 1-64 letters, digits, '.', '-' or '_'")
    _check_role(role)
    _check_password(password)
    if (
        session.scalar(select(AppUser.id).where(AppUser.username == username))
        is not None
    ):
        raise UserError(f"user {username!r} already exists")
    user = AppUser(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=_hasher.hash(password),
        is_active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def _counter(
    session: Session, now: datetime, *, username: str | None, remote: str | None
) -> tuple[int, datetime | None]:
    """Failures in the window for this account and/or address, since the account's
    last successful sign-in when an account is given: (count, latest failure)."""
    since = now - signin.WINDOW
    where = [LoginAttempt.success.is_(False), LoginAttempt.at <= now]
    if username is not None:
        where.append(LoginAttempt.username == username)
        last_ok = session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username,
                LoginAttempt.success.is_(True),
                LoginAttempt.at > since,
            )
        )
        if last_ok is not None:
            since = max(since, ensure_utc(last_ok))
    if remote is not None:
        where.append(LoginAttempt.remote == remote)
    n, latest = session.execute(
        select(func.count(LoginAttempt.id), func.max(LoginAttempt.at)).where(
            LoginAttempt.at > since, *where
        )
    ).one()
    return int(n or 0), None if latest is None else ensure_utc(latest)


def login_wait(
    session: Session, username: str, remote: str | None, now: datetime
) -> signin.Wait | None:
    """How long the next sign-in for this account from this address must wait
    (the longest of the throttle rules in ``ops.signin``), or None."""
    name = username.strip().lower()
    waits = []
    for rule in signin.RULES:
        if rule.name != "account" and remote is None:
            continue  # no address known: the account's own counter still applies
        if rule.name == "account+address":
            n, last = _counter(session, now, username=name, remote=remote)
        elif rule.name == "address":
            n, last = _counter(session, now, username=None, remote=remote)
        else:
            n, last = _counter(session, now, username=name, remote=None)
        waits.append(signin.wait_for(rule, n, last, now))
    return signin.longest(waits)


def failed_logins(session: Session, username: str, now: datetime) -> int:
    """Failed sign-ins for the account in the throttle window (any address)."""
    return _counter(session, now, username=username.strip().lower(), remote=None)[0]


class LoginRefused(Exception):
    def __init__(
        self, message: str, *, limited: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.limited = limited
        self.retry_after = retry_after


def throttled_message(wait: signin.Wait) -> str:
    return f"Too many failed sign-ins. Try again in {signin.wait_text(wait.seconds)}."


def authenticate(
    session: Session, username: str, password: str, now: datetime, remote: str | None
) -> tuple[AppUser, str]:
    """Check a password and open a server-side session; returns (user, browser token).

    Raises :class:`LoginRefused` with a message safe to show (it never says whether
    the account exists); the caller records the failed attempt in its own
    transaction (:func:`record_failed_login`), since this one rolls back. While a
    throttle delay runs (``ops.signin``: growing delays per account and address,
    never a lock-out) the attempt is refused with ``limited`` and the seconds to
    wait, before the password is checked. A successful sign-in is audited.
    """
    name = username.strip().lower()
    wait = login_wait(session, name, remote, now)
    if wait is not None:
        raise LoginRefused(
            throttled_message(wait), limited=True, retry_after=wait.seconds
        )
    user = session.scalar(select(AppUser).where(AppUser.username == name))
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or not user.is_active:
        raise LoginRefused("Unknown user name or wrong password.")
    session.add(LoginAttempt(username=name, at=now, success=True, remote=remote))
    record_audit(
        session, actor_username=user.username, actor_role=user.role,
        action="sign_in", entity_type="user", entity_id=user.username,
        after={"address": remote}, at=now,
    )  # fmt: skip
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=hash_token(token), user_id=user.id, created_at=now, last_seen_at=now
        )
    )
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user, token


def resolve_session(session: Session, token: str, now: datetime) -> SessionUser | None:
    """The user behind a browser token, if the session is live; touches it."""
    sid = hash_token(token)
    row = session.execute(
        select(UserSession, AppUser)
        .join(AppUser, AppUser.id == UserSession.user_id)
        .where(UserSession.id == sid)
    ).first()
    if row is None:
        return None
    us, user = row
    if us.ended_at is not None:
        return None
    reason = None
    if not user.is_active:
        reason = "disabled"
    elif now - us.last_seen_at > IDLE_TIMEOUT:
        reason = "idle timeout"
    elif now - us.created_at > ABSOLUTE_TIMEOUT:
        reason = "absolute timeout"
    if reason:
        us.ended_at = now
        us.end_reason = reason
        return None
    if now - us.last_seen_at > timedelta(seconds=30):
        us.last_seen_at = now
    return SessionUser(user.id, user.username, user.display_name, user.role, sid)


def end_session(
    session: Session, token: str, now: datetime, reason: str = "logout"
) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == hash_token(token), UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def update_user(
    session: Session,
    username: str,
    now: datetime,
    *,
    actor_username: str,
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> tuple[dict, dict]:
    """Change one user's role, active flag and/or password (``None``: unchanged).

    Returns (before, after) of the fields that changed, for the audit row; a reset
    password shows as ``{"password": "reset"}``, never its hash. Disabling a user or
    resetting their password ends their sessions. An administrator cannot disable
    or demote themselves (the trust would risk having no administrator left)."""
    user = session.scalar(
        select(AppUser).where(AppUser.username == username.strip().lower())
    )
    if user is None:
        raise UserError(f"no user {username!r}")
    own = user.username == actor_username
    before: dict = {}
    after: dict = {}
    if role is not None and role != user.role:
        _check_role(role)
        if own:
            raise UserError("you cannot change your own role")
        before["role"], after["role"] = user.role, role
    if active is not None and active != user.is_active:
        if own and not active:
            raise UserError("you cannot disable your own account")
        before["active"], after["active"] = user.is_active, active
    if password:
        _check_password(password)
        after["password"] = "reset"
    if not after:
        return before, after
    if "role" in after:
        user.role = after["role"]
    if "active" in after:
        user.is_active = after["active"]
    if password:
        user.password_hash = _hasher.hash(password)
    if after.get("active") is False or password:
        session.execute(
            update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
            .values(
                ended_at=now,
                end_reason="disabled"
                if after.get("active") is False
                else "password reset",
            )
        )
    return before, after


def record_failed_login(
    session: Session, username: str, now: datetime, remote: str | None
) -> signin.Wait | None:
    """Record (and audit) a failed sign-in; returns the delay it starts, if any
    (audited as ``sign_in.throttled``)."""
    name = username.strip().lower()[:64]
    session.add(LoginAttempt(username=name, at=now, success=False, remote=remote))
    session.flush()
    record_audit(
        session, actor_username=name, actor_role="anonymous",
        action="sign_in.failed", entity_type="user", entity_id=name,
        after={"address": remote}, at=now,
    )  # fmt: skip
    wait = login_wait(session, name, remote, now)
    if wait is not None:
        record_audit(
            session, actor_username=name, actor_role="anonymous",
            action="sign_in.throttled", entity_type="user", entity_id=name,
            after={"address": remote, "rule": wait.rule, "failures": wait.failures,
                   "wait_seconds": wait.seconds},
            at=now,
        )  # fmt: skip
    return wait
