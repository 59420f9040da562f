"""Shared fixtures: a real PostgreSQL server, seeded stores, browser options."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import pg
from tests.support.apps import (
    FROZEN_NOW,
    copy_sqlite,
    runtime_for,
    seed_into,
    settings_for,
)


def pytest_setup_options():  # noqa: ANN201
    """Chromium options for dash_duo: headless-friendly, 1920x1080, closed network."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    if os.path.exists("/usr/bin/chromium"):
        options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--window-size=1920,1080",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
    ):
        options.add_argument(arg)
    return options


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PostgresServer]:
    server = pg.start_server()
    try:
        yield server
    finally:
        pg.destroy(server)


@pytest.fixture(scope="session")
def seeded_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seeded.db"
    seed_into(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def seeded_pg_template(pg_server: pg.PostgresServer) -> str:
    name = "seeded_template"
    url = pg_server.create_database(name)
    seed_into(url)
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on each backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def seeded_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh copy of the seeded demo trust (frozen at FROZEN_NOW) on each backend."""
    if backend == "sqlite":
        return copy_sqlite(request.getfixturevalue("seeded_sqlite_template"), tmp_path)
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("seeded_pg_template")
    return server.create_database(f"t_{uuid.uuid4().hex[:10]}", template=template)


@pytest.fixture
def seeded_sqlite_url(tmp_path: Path, seeded_sqlite_template: Path) -> str:
    return copy_sqlite(seeded_sqlite_template, tmp_path)


@pytest.fixture
def seeded_runtime(seeded_url: str):  # noqa: ANN201
    runtime = runtime_for(settings_for(seeded_url))
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def frozen_now():  # noqa: ANN201
    return FROZEN_NOW
