"""The sign-in page says where the demo passwords are -- in the embedded demo only."""

from __future__ import annotations

import logging

import app as app_module
from app import create_app, credentials_path
from tests.support.apps import settings_for


def _page(url: str, **changes: object) -> str:
    dash_app = create_app(
        settings_for(url, auth_required=True, **changes), prepare=False
    )
    return dash_app.server.test_client().get("/login").get_data(as_text=True)


def test_embedded_demo_sign_in_page_names_the_credentials_file(seeded_sqlite_url):
    path = credentials_path(seeded_sqlite_url)
    path.write_text("user\tpassword\trole\ndemo-viewer\tx\tviewer\n")
    page = _page(seeded_sqlite_url, demo=True)
    assert 'id="login-demo-hint"' in page and f"<code>{path}</code>" in page
    assert "demo-viewer" not in page  # where the file is, never what is in it
    # Not the demo (a real deployment on the same file): no hint.
    assert "login-demo-hint" not in _page(seeded_sqlite_url, demo=False)
    path.unlink()
    assert "login-demo-hint" not in _page(seeded_sqlite_url, demo=True)


def test_request_lines_are_quiet_unless_switched_on(monkeypatch):
    werkzeug, alembic = logging.getLogger("werkzeug"), logging.getLogger("alembic")
    old = werkzeug.level, alembic.level
    try:
        monkeypatch.delenv("COMMAND_CENTRE_LOG_REQUESTS", raising=False)
        werkzeug.setLevel(logging.NOTSET)
        app_module._configure_logging()
        assert werkzeug.level == logging.WARNING == alembic.level
        monkeypatch.setenv("COMMAND_CENTRE_LOG_REQUESTS", "1")
        werkzeug.setLevel(logging.NOTSET)
        app_module._configure_logging()
        assert werkzeug.level == logging.NOTSET  # left to the root's INFO
    finally:
        werkzeug.setLevel(old[0])
        alembic.setLevel(old[1])
