"""Leader leases in the database: background work runs once per deployment."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from data.db import write_session
from data.models.system import LeaderLease


def try_acquire(
    factory: sessionmaker[Session],
    name: str,
    holder: str,
    now: datetime,
    ttl: timedelta,
) -> bool:
    """Take or renew lease ``name`` for ``holder``; False if someone else holds it.

    A single conditional UPDATE (or the first INSERT) decides, so two processes
    racing for an expired lease cannot both win.
    """
    expires = now + ttl
    with write_session(factory) as session:
        result = session.execute(
            update(LeaderLease)
            .where(LeaderLease.name == name)
            .where(or_(LeaderLease.holder == holder, LeaderLease.expires_at < now))
            .values(holder=holder, expires_at=expires, renewed_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            return True
    try:
        with write_session(factory) as session:
            session.execute(
                insert(LeaderLease).values(
                    name=name, holder=holder, expires_at=expires, renewed_at=now
                )
            )
        return True
    except IntegrityError:
        return False


def release(factory: sessionmaker[Session], name: str, holder: str) -> None:
    with write_session(factory) as session:
        session.execute(
            delete(LeaderLease).where(
                LeaderLease.name == name, LeaderLease.holder == holder
            )
        )
