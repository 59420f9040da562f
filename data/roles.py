"""PostgreSQL roles: a migration owner and an application role that cannot change the
audit trail.

The migration owner (the account that runs ``flask --app app upgrade-db``) owns every
table. The application role (the account gunicorn and the worker use) gets only what
the app needs: SELECT, INSERT, UPDATE, DELETE on operational tables; SELECT and
INSERT on the append-only tables (``audit_event``); SELECT on ``alembic_version``;
USAGE and SELECT on sequences. It owns nothing, so it can neither disable the audit
trigger nor drop or truncate the table.

The grants are applied by the migration environment at the end of every upgrade
when ``COMMAND_CENTRE_APP_ROLE`` names the application role (``data.db.upgrade``),
in the same transaction as the migrations, and default privileges cover tables a
later migration creates. Nothing here applies to SQLite (no roles).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from sqlalchemy import Connection, Engine, text

from data.db import DatabaseConfigError

log = logging.getLogger(__name__)

APP_ROLE_ENV = "COMMAND_CENTRE_APP_ROLE"
# Tables the app role may only read and append to.
APPEND_ONLY_TABLES = ("audit_event",)
# The schema version: the app reads it at start-up, only the owner changes it.
READ_ONLY_TABLES = ("alembic_version",)
_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


class RoleError(DatabaseConfigError):
    """The application role cannot be set up as asked; the message is one line."""


def app_role_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The application role named by ``COMMAND_CENTRE_APP_ROLE``, or None."""
    env = os.environ if env is None else env
    raw = (env.get(APP_ROLE_ENV) or "").strip()
    if not raw:
        return None
    return checked_role_name(raw)


def checked_role_name(name: str) -> str:
    if not _ROLE_NAME.fullmatch(name):
        raise RoleError(
            f"{APP_ROLE_ENV}={name!r} is not a PostgreSQL role name "
            "(letters, digits, _ and $, at most 63, not starting with a digit)"
        )
    return name


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def grant_app_role(connection: Connection, role: str) -> None:
    """Give ``role`` the application's privileges on every table of the current
    schema, and the same for tables the connected role creates later.

    Run as the migration owner (inside the migration transaction). Idempotent: each
    run first revokes what ``role`` held on the schema's tables and sequences.
    Raises :class:`RoleError` if ``role`` does not exist, or could still change the
    audit trail afterwards (a superuser, a member of the owner role).
    """
    role = checked_role_name(role)
    if connection.dialect.name != "postgresql":
        return
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).scalar()
    if not exists:
        raise RoleError(
            f"{APP_ROLE_ENV}={role!r}: no such role in the database "
            f"(create it first: CREATE ROLE {role} LOGIN PASSWORD '...')"
        )
    me = connection.execute(text("SELECT current_user")).scalar_one()
    if me == role:
        raise RoleError(
            f"{APP_ROLE_ENV}={role!r} is the account running the migrations; "
            "the application role must be a different one"
        )
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    r, s = _quoted(connection, role), _quoted(connection, schema)
    statements = [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # tables and sequences this owner creates later (a new migration)
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]
    tables = set(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
        ).scalars()
    )
    for table in APPEND_ONLY_TABLES:
        if table in tables:
            statements.append(
                f"REVOKE UPDATE, DELETE ON {s}.{_quoted(connection, table)} FROM {r}"
            )
    for table in READ_ONLY_TABLES:
        if table in tables:
            statements.append(
                f"REVOKE INSERT, UPDATE, DELETE ON {s}.{_quoted(connection, table)} "
                f"FROM {r}"
            )
    for statement in statements:
        connection.execute(text(statement))
    problems = audit_trail_exposure(connection, role)
    if problems:
        raise RoleError(
            f"{APP_ROLE_ENV}={role!r} could still change the audit trail: "
            + "; ".join(problems)
        )
    log.info("application role %s granted the app's privileges on %s", role, schema)


def audit_trail_exposure(connection: Connection, role: str | None = None) -> list[str]:
    """Why ``role`` (default: the connected role) could change or remove audit rows;
    empty when it cannot. PostgreSQL only (SQLite has no roles: empty)."""
    if connection.dialect.name != "postgresql":
        return []
    row = connection.execute(
        text(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls FROM pg_roles r "
            "WHERE r.rolname = coalesce(:role, current_user)"
        ),
        {"role": role},
    ).one_or_none()
    if row is None:
        return [f"role {role!r} does not exist"]
    name, superuser, _ = row
    if superuser:
        return [f"{name} is a superuser"]
    problems: list[str] = []
    for table in APPEND_ONLY_TABLES:
        owner = connection.execute(
            text(
                "SELECT tableowner FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = :t"
            ),
            {"t": table},
        ).scalar()
        if owner is None:
            continue
        if connection.execute(
            text("SELECT pg_has_role(:r, :o, 'USAGE')"), {"r": name, "o": owner}
        ).scalar():
            problems.append(
                f"{name} owns {table}"
                if owner == name
                else f"{name} acts as {owner}, the owner of {table}"
            )
            continue
        for privilege in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER"):
            if connection.execute(
                text("SELECT has_table_privilege(:r, :t, :p)"),
                {"r": name, "t": table, "p": privilege},
            ).scalar():
                problems.append(f"{name} has {privilege} on {table}")
    return problems


def warn_if_audit_exposed(engine: Engine) -> list[str]:
    """At start-up on PostgreSQL: one warning line if the app's own database account
    could change the audit trail (it runs as the migration owner or a superuser).
    With ``COMMAND_CENTRE_APP_ROLE`` set (only the migration owner's environment sets
    it) the account is the owner running an upgrade: one info line instead."""
    if engine.dialect.name != "postgresql":
        return []
    try:
        with engine.connect() as connection:
            problems = audit_trail_exposure(connection)
    except Exception as exc:  # a check only: never stop start-up for it
        log.warning("could not check the database account's privileges: %s",
                    exc.__class__.__name__)  # fmt: skip
        return []
    app_role = app_role_from_env()
    if problems and app_role:
        # the migration owner's environment names the app role (README 'Production')
        log.info("running as the migration owner; the app runs as %s", app_role)
    elif problems:
        log.warning(
            "the app's database account can change the audit trail (%s): run the app "
            "as a separate role, see README 'Production'",
            "; ".join(problems),
        )
    return problems
