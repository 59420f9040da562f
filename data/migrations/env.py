"""Alembic environment: uses the engine handed in by ``data.db.upgrade`` or DATABASE_URL.

On PostgreSQL, when an application role is named (``COMMAND_CENTRE_APP_ROLE``, or
``data.db.upgrade(..., app_role=...)``), every upgrade ends by granting it the app's
privileges, in the migration's own transaction (``data.roles``). The application
role itself, starting up, skips this step.
"""

from __future__ import annotations

from alembic import context

from data.models import Base

config = context.config
target_metadata = Base.metadata


def _engine():  # noqa: ANN202
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    from data.db import create_db_engine
    from ops.settings import load_settings

    return create_db_engine(load_settings().database_url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            _grant_app_role(connection)
        connection.commit()


def _grant_app_role(connection) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from data.roles import app_role_from_env, grant_app_role

    if connection.dialect.name != "postgresql":
        return
    role = config.attributes.get("app_role") or app_role_from_env()
    if not role:
        return
    if connection.execute(text("SELECT current_user")).scalar_one() == role:
        return  # the app itself at start-up: it may not grant, nor need to
    grant_app_role(connection, role)


run_migrations_online()
