"""Engine and session creation, migrations, and connection checks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    ArgumentError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
WRITE_OPTION = "command_centre_write"


class DatabaseConfigError(RuntimeError):
    """The database URL cannot be used; the message is one line for the operator."""


def describe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable>"


def create_db_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Engine:
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        raise DatabaseConfigError(
            f"DATABASE_URL is not a valid database URL: {database_url!r}"
        ) from None
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _owner_only_file(Path(url.database))
        engine = create_engine(
            url,
            connect_args={
                "timeout": busy_timeout_ms / 1000,
                "check_same_thread": False,
            },
        )
        event.listen(
            engine, "connect", lambda c, r: _sqlite_pragmas(c, r, busy_timeout_ms)
        )
        # Transactions are begun explicitly: BEGIN IMMEDIATE for write sessions.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        return create_engine(
            url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )
    raise DatabaseConfigError(
        f"DATABASE_URL backend {url.get_backend_name()!r} is not supported (use sqlite or postgresql)"
    )


def _sqlite_pragmas(dbapi_connection, _record, busy_timeout_ms: int) -> None:  # noqa: ANN001
    dbapi_connection.isolation_level = (
        None  # autocommit at the driver; see _sqlite_begin
    )
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn) -> None:  # noqa: ANN001
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout
    # instead of failing later with "database is locked" on upgrade from a read lock.
    write = conn.get_execution_options().get(WRITE_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for one write transaction: commit on success, roll back on error.

    On SQLite the transaction starts with BEGIN IMMEDIATE, so concurrent writers queue
    on the busy timeout instead of failing when a read lock cannot be upgraded.
    """
    session = factory()
    try:
        session.connection(execution_options={WRITE_OPTION: True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    finally:
        session.close()


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseConfigError` with one clear line if unreachable."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseConfigError(
            f"cannot reach the database at {describe_url(engine.url)}: {reason}"
        ) from None
    except SQLAlchemyError as exc:
        raise DatabaseConfigError(
            f"cannot use the database at {describe_url(engine.url)}: {exc.__class__.__name__}"
        ) from None


def alembic_config(engine: Engine):  # noqa: ANN201
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, *, app_role: str | None = None) -> None:
    """Bring the schema up to date (every feature head).

    On PostgreSQL, ``app_role`` (default: ``COMMAND_CENTRE_APP_ROLE``) is granted the
    app's privileges at the end (``data.roles``). An account that may not change the
    schema (the application role) can start on an up-to-date schema only; on an
    older one this raises :class:`DatabaseConfigError` saying who must upgrade.
    """
    from alembic import command

    cfg = alembic_config(engine)
    if app_role:
        cfg.attributes["app_role"] = app_role
    try:
        command.upgrade(cfg, "heads")
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise DatabaseConfigError(
            f"the database schema at {describe_url(engine.url)} is not up to date and "
            f"this account may not change it: run 'flask --app app upgrade-db' as the "
            f"migration owner (README 'Production')"
        ) from None


def _owner_only_file(path: Path) -> None:
    """The SQLite file holds password hashes: a folder we create is owner-only and the
    file is created owner-only (SQLite gives its -wal/-shm files the same mode)."""
    import os

    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
