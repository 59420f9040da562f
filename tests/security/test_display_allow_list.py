"""A wall display's session may call only the wall's callbacks, and only with their
declared shape: inputs reordered so that Dash binds another page's path to the
router's (or the banner's) ``pathname`` are refused, not rendered."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from app import create_app
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.wall import DisplayProfile, DisplayToken
from tests.support.apps import FROZEN_NOW, settings_for

CALLBACK = "/_dash-update-component"
ROUTER = "..shell-nav.children...shell-page.children...shell-rendered-path.data.."
ROUTER_OUTPUTS = [
    {"id": "shell-nav", "property": "children"},
    {"id": "shell-page", "property": "children"},
    {"id": "shell-rendered-path", "property": "data"},
]
WALL_OUTPUTS = [
    ("wall-title", "children"),
    ("wall-asof", "children"),
    ("wall-opel", "children"),
    ("wall-alerts", "children"),
    ("wall-panels", "children"),
    ("wall-panels", "className"),
    ("wall-body", "className"),
    ("wall-status", "data"),
    ("wall-sent", "data"),
]
WALL = ".." + "...".join(f"{i}.{p}" for i, p in WALL_OUTPUTS) + ".."


def _inp(cid: str, prop: str, value: object) -> dict:
    return {"id": cid, "property": prop, "value": value}


def router(inputs: list[dict], outputs: list[dict] | None = None) -> dict:
    return {
        "output": ROUTER,
        "outputs": ROUTER_OUTPUTS if outputs is None else outputs,
        "inputs": inputs,
        "changedPropIds": ["shell-url.pathname"],
        "state": [_inp("shell-rendered-path", "data", None)],
    }


def banner(inputs: list[dict]) -> dict:
    return {
        "output": "shell-banner.children",
        "outputs": {"id": "shell-banner", "property": "children"},
        "inputs": inputs,
        "changedPropIds": ["shell-poll.n_intervals"],
        "state": [[]],
    }


def wall_refresh(inputs: list[dict]) -> dict:
    return {
        "output": WALL,
        "outputs": [{"id": i, "property": p} for i, p in WALL_OUTPUTS],
        "inputs": inputs,
        "changedPropIds": ["wall-poll.n_intervals"],
        "state": [_inp("wall-health", "data", None), _inp("wall-sent", "data", None)],
    }


@pytest.fixture
def display_client(tmp_path):  # noqa: ANN001, ANN201
    url = f"sqlite:///{tmp_path / 'wall.db'}"
    engine = create_db_engine(url)
    upgrade(engine)  # the migration adds the default display profiles
    with write_session(make_session_factory(engine)) as s:
        profile = s.scalars(
            select(DisplayProfile.id).order_by(DisplayProfile.id)
        ).first()
        token = DisplayToken(
            token_hash=hashlib.sha256(b"wall_test").hexdigest(),
            profile_id=profile,
            created_by="admin",
            created_at=FROZEN_NOW,
        )
        s.add(token)
        s.flush()
        token_id = token.id
    engine.dispose()
    app = create_app(settings_for(url, auth_required=True), prepare=False)
    client = app.server.test_client()
    with client.session_transaction() as sess:
        sess["cc_display"] = token_id
    return client


def _post(client, payload: dict):  # noqa: ANN001, ANN202
    return client.post(
        CALLBACK, data=json.dumps(payload), content_type="application/json"
    )


def test_dsp001_router_renders_the_wall_for_a_display(display_client):
    ok = _post(
        display_client,
        router(
            [_inp("shell-url", "pathname", "/wall"), _inp("shell-url", "search", "")]
        ),
    )
    assert ok.status_code == 200


@pytest.mark.parametrize("page", ["/admin", "/beds", "/surge"])
def test_dsp002_reordered_router_inputs_are_refused(display_client, page: str):
    # Dash binds by position: "search" first gives the router pathname=page.
    forged = router(
        [_inp("shell-url", "search", page), _inp("shell-url", "pathname", "/wall")]
    )
    r = _post(display_client, forged)
    assert r.status_code == 403, r.data[:300]
    assert b"admin" not in r.data.lower() or b"not allowed" in r.data


def test_dsp003_router_body_must_match_the_declaration(display_client):
    wall = [_inp("shell-url", "pathname", "/wall"), _inp("shell-url", "search", "")]
    cases = [
        router(wall + [_inp("shell-url", "pathname", "/admin")]),  # an extra input
        router(wall[:1]),  # a missing input
        router(wall, outputs=ROUTER_OUTPUTS[::-1]),  # outputs in another order
        router([_inp("other-url", "pathname", "/wall"), wall[1]]),  # another id
        {**router(wall), "state": []},  # state missing
        router([_inp("shell-url", "pathname", ["/wall"]), wall[1]]),  # not a path
    ]
    for body in cases:
        assert _post(display_client, body).status_code == 403, body


def test_dsp004_banner_reordered_to_another_page_is_refused(display_client):
    genuine = banner(
        [_inp("shell-poll", "n_intervals", 1), _inp("shell-url", "pathname", "/wall")]
    )
    assert _post(display_client, genuine).status_code == 200
    # pathname "/wall" first, so a search for "the pathname input" finds /wall while
    # Dash binds "/ed" to the banner's pathname argument (OPEL and protocol text).
    forged = banner(
        [
            _inp("shell-url", "pathname", "/wall"),
            _inp("shell-poll", "n_intervals", "/ed"),
        ]
    )
    assert _post(display_client, forged).status_code == 403


def test_dsp005_wall_refresh_must_match_its_declaration(display_client):
    search = "?display=trust-overview"
    genuine = [
        _inp("wall-poll", "n_intervals", 1),
        _inp("shell-url", "search", search),
        _inp("wall-body", "id", "wall-body"),
    ]
    assert _post(display_client, wall_refresh(genuine)).status_code == 200
    swapped = [genuine[1], genuine[0], genuine[2]]
    assert _post(display_client, wall_refresh(swapped)).status_code == 403
