"""Alembic environment: uses the engine handed in by ``data.db.upgrade`` or DATABASE_URL."""

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
        connection.commit()


run_migrations_online()
