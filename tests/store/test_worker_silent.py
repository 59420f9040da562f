"""A silent background worker is judged by the web side from the lease row (the
worker cannot report its own death): the banner on every page and the wall's alert
band say since when, and that alerts, OPEL and stale-data checks are not running."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from app import create_app
from callbacks import alerts as alert_callbacks
from callbacks import wall as wall_callbacks
from data.db import write_session
from data.lease import try_acquire
from data.models.system import LeaderLease
from jobs.worker import LEASE_NAME, silent_after_seconds, silent_since
from tests.support.apps import FROZEN_NOW, settings_for

NOTICE = (
    "Background worker silent since 10:20 — alerts, OPEL and stale-data checks are "
    "not running"
)


def _texts(node: Any) -> str:
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list | tuple):
        return " ".join(_texts(n) for n in node)
    if isinstance(node, dict):  # a component in its JSON form (the wall's parts)
        return _texts(node.get("props", {}).get("children"))
    children = getattr(node, "children", None)
    return _texts(children) if children is not None else ""


def _heartbeat(runtime, at) -> None:  # noqa: ANN001
    """The worker's lease, last renewed at ``at``."""
    ttl = timedelta(seconds=silent_after_seconds(runtime.settings))
    assert try_acquire(runtime.factory, LEASE_NAME, "worker-a", at, ttl)
    with write_session(runtime.factory) as session:  # a renewal is a heartbeat
        session.execute(
            update(LeaderLease)
            .where(LeaderLease.name == LEASE_NAME)
            .values(renewed_at=at)
        )


def _banner_and_wall(app) -> tuple[str, str]:  # noqa: ANN001
    with app.server.test_request_context("/"):
        banner = _texts(alert_callbacks.banner(1, "/beds", None))
        wall = wall_callbacks.refresh(1, "?display=trust-overview")
        band = _texts(wall[3])
    return banner, band


def test_wks001_silent_worker_notice_on_every_page_and_the_wall(seeded_url):
    app = create_app(settings_for(seeded_url), prepare=False)
    runtime = app.server.extensions["command_centre"]

    # No worker holds the lease (never started, or stopped cleanly): no notice.
    banner, band = _banner_and_wall(app)
    assert "worker silent" not in banner and "silent" not in band

    # A running worker (heartbeat 5 s ago): no notice.
    _heartbeat(runtime, FROZEN_NOW - timedelta(seconds=5))
    with runtime.factory() as session:
        assert silent_since(session, FROZEN_NOW, runtime.settings) is None
    banner, band = _banner_and_wall(app)
    assert "silent" not in banner and "silent" not in band

    # The worker died at 10:20 (London; no renewal for 10 min): the notice says so
    # on every page (the banner) and on the wall, above the alerts.
    _heartbeat(runtime, FROZEN_NOW - timedelta(minutes=10))
    with runtime.factory() as session:
        since = silent_since(session, FROZEN_NOW, runtime.settings)
    assert since == FROZEN_NOW - timedelta(minutes=10)
    banner, band = _banner_and_wall(app)
    assert NOTICE in banner
    assert NOTICE in band
    with app.server.test_request_context("/"):
        first = alert_callbacks.banner(1, "/", None)[0]
    assert getattr(first, "id", None) == "worker-silent"
    assert getattr(first, "role", None) == "alert"
    runtime.engine.dispose()


def test_wks002_just_inside_the_limit_is_running(seeded_url):
    app = create_app(settings_for(seeded_url), prepare=False)
    runtime = app.server.extensions["command_centre"]
    limit = silent_after_seconds(runtime.settings)
    _heartbeat(runtime, FROZEN_NOW - timedelta(seconds=limit))
    with runtime.factory() as session:
        assert silent_since(session, FROZEN_NOW, runtime.settings) is None
    _heartbeat(runtime, FROZEN_NOW - timedelta(seconds=limit + 1))
    with runtime.factory() as session:
        assert silent_since(session, FROZEN_NOW, runtime.settings) is not None
    runtime.engine.dispose()
