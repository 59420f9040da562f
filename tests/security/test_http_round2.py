"""Safety round 2, HTTP: exact public paths, scheme in the Origin check, unknown
component files, a body size limit, and an owner-only SQLite file."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from app import create_app
from tests.security.test_http_security import CALLBACK, _login, _overview_payload
from tests.support.apps import FROZEN_NOW, settings_for
from tests.support.auth import create_user
from tests.support.clock import MovableClock


@pytest.fixture
def app(seeded_sqlite_url):  # noqa: ANN201
    create_user(seeded_sqlite_url, "vera.viewer", "viewer", display_name="Vera Viewer")
    return create_app(
        settings_for(
            seeded_sqlite_url, auth_required=True, clock=MovableClock(FROZEN_NOW)
        ),
        prepare=False,
    )


@pytest.mark.parametrize(
    "path", ["/loginX", "/healthzz", "/healthz/../admin", "/assets/../admin"]
)
def test_hs201_public_paths_are_matched_exactly(app, path):
    client = app.server.test_client()
    r = client.get(path)
    assert r.status_code in (302, 400, 401, 404), r.status_code
    if r.status_code == 302:
        assert "/login" in r.headers["Location"]
    assert r.status_code != 200


def test_hs202_origin_check_compares_the_scheme(app):
    client = app.server.test_client()
    _login(client)
    ok = client.post(
        CALLBACK, json=_overview_payload(), headers={"Origin": "http://localhost"}
    )
    assert ok.status_code == 200
    r = client.post(
        CALLBACK, json=_overview_payload(), headers={"Origin": "https://localhost"}
    )
    assert r.status_code == 403


def test_hs203_unknown_component_file_is_404_without_traceback(app, caplog):
    client = app.server.test_client()
    with caplog.at_level(logging.INFO):
        r = client.get("/_dash-component-suites/dash/no-such-file.v1_0_0m1.js")
    assert r.status_code == 404
    assert not any(rec.exc_info for rec in caplog.records)


def test_hs204_request_bodies_are_bounded(app):
    client = app.server.test_client()
    _login(client)
    body = b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    r = client.post(
        CALLBACK, data=body, content_type="application/json",
        headers={"Origin": "http://localhost"},
    )  # fmt: skip
    assert r.status_code == 413


def test_hs205_sqlite_file_and_folder_are_owner_only(tmp_path):
    folder = tmp_path / "var"
    url = f"sqlite:///{folder / 'cc.db'}"
    create_app(settings_for(url))
    for path in (folder, folder / "cc.db"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
