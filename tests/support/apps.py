"""Building apps and seeded databases for tests."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from data.db import create_db_engine, make_session_factory, upgrade
from data.runtime import Runtime
from feeds.seed import seed_demo
from ops.settings import Settings
from ops.timeutil import FrozenClock
from tests.support.pg import free_port

# A fixed instant for reproducible figures: 10:30 London time on a Monday in winter.
FROZEN_NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
TEST_SEED = 424242
TEST_HISTORY_DAYS = 21


def settings_for(url: str, now: datetime = FROZEN_NOW, **changes: object) -> Settings:
    base = Settings(
        database_url=url,
        demo=False,
        run_background=False,
        seed=TEST_SEED,
        history_days=TEST_HISTORY_DAYS,
        clock=FrozenClock(now),
        poll_seconds=60,  # page tests read the first render; polling tests set their own
        auth_required=False,
    )
    return base.with_(**changes)


def runtime_for(settings: Settings) -> Runtime:
    engine = create_db_engine(settings.database_url)
    return Runtime(settings, engine, make_session_factory(engine))


def seed_into(
    url: str, now: datetime = FROZEN_NOW, days: int = TEST_HISTORY_DAYS
) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    seed_demo(
        make_session_factory(engine),
        seed=TEST_SEED,
        now=now,
        history_days=days,
        tz="Europe/London",
    )
    engine.dispose()


def copy_sqlite(template: Path, directory: Path) -> str:
    target = directory / f"cc-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def start_app(dash_duo, app, navigate: bool = True) -> None:  # noqa: ANN001
    """Start ``app`` in dash_duo's threaded server on a free port.

    Use ``navigate=False`` for apps that require sign-in (the home page redirects).
    """
    dash_duo.start_server(app, navigate=navigate, port=free_port())


def start_app_on_port(dash_duo, app, navigate: bool = True) -> int:  # noqa: ANN001
    """Start ``app`` like :func:`start_app` and return its port, so a test can stop
    the server (``dash_duo.server.stop()``) and start one again on the same address
    (:func:`restart_app`): the open page sees an outage and a recovery."""
    port = free_port()
    dash_duo.start_server(app, navigate=navigate, port=port)
    return port


def restart_app(dash_duo, app, port: int) -> None:  # noqa: ANN001
    """Serve ``app`` again on ``port`` after ``dash_duo.server.stop()``."""
    dash_duo.server(app, port=port)
