"""How each refused callback answers (docs/security.md "Refusals"): as a viewer,
every callback that checks a permission is sent a click; nothing changes, each
refusal is audited as ``denied``, and the HTTP answer is the documented one."""

from __future__ import annotations

import inspect
import json
import re

import pytest
from sqlalchemy import func, select

from app import create_app
from data.models.security import AppUser, AuditEvent
from tests.security.test_callback_fuzz import _outputs
from tests.security.test_http_security import _login
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for
from tests.support.auth import create_user
from tests.support.clock import MovableClock

REFUSED = "may not"
SHOWS_NOTHING = {"callbacks.wall.revoke_token", "callbacks.admin.open_edit"}
# Reads that decide what a page shows: refused, but opening a page is not a refused
# write, so they are not audited as "denied".
NOT_AUDITED = {
    "callbacks.admin.open_edit",
    "callbacks.admin.refresh_users",
    "callbacks.admin.refresh_audit",
    "callbacks.admin.refresh_feed_tokens",
}
RUN = "?run=1"
TICK_ID = {"done": 1, "key": "a1", "type": "surge-tick", "v": 1}

# callback (module.function) -> (HTTP status, values by "id.property")
EXPECTED: dict[str, tuple[int, dict[str, object]]] = {
    "callbacks.alerts.submit_action": (
        200,
        {
            "alerts-action-submit.n_clicks": 1,
            "alerts-action-target.data": {"action": "ack", "alert_id": 1, "version": 1},
        },
    ),  # fmt: skip
    "callbacks.surge.declare": (
        200,
        {
            "surge-declare.n_clicks": 1,
            "surge-template.value": "opel3-escalation",
            "surge-reason.value": "Four ambulances waiting",
        },
    ),  # fmt: skip
    "callbacks.surge.tick": (200, {"shell-url.search": RUN}),
    "callbacks.surge.confirm_note": (
        200,
        {
            "surge-note-confirm.n_clicks": 1,
            "shell-url.search": RUN,
            "surge-note-target.data": {"key": "a1", "v": 1},
            "surge-note-text.value": "done",
        },
    ),  # fmt: skip
    "callbacks.surge.assign": (
        200,
        {
            "surge-assign.n_clicks": 1,
            "shell-url.search": RUN,
            "surge-role.value": "incident_commander",
            "surge-person.value": "Vera",
        },
    ),  # fmt: skip
    "callbacks.surge.add_log": (
        200,
        {
            "surge-log-add.n_clicks": 1,
            "shell-url.search": RUN,
            "surge-log-text.value": "note",
        },
    ),  # fmt: skip
    "callbacks.surge.confirm_stand_down": (
        200,
        {"surge-stand-down-confirm.n_clicks": 1, "shell-url.search": RUN},
    ),
    "callbacks.wall.load_admin": (200, {"wall-admin-refresh.data": 0}),
    "callbacks.wall.save_profile": (
        200,
        {
            "wall-admin-save.n_clicks": 1,
            "wall-admin-slug.value": "x",
            "wall-admin-name.value": "X",
        },
    ),  # fmt: skip
    "callbacks.wall.issue_token": (
        200,
        {
            "wall-admin-issue.n_clicks": 1,
            "wall-admin-token-profile.value": "trust-overview",
        },
    ),  # fmt: skip
    # a revoke button has no place for a message: nothing changes on the page
    "callbacks.wall.revoke_token": (200, {}),
    "callbacks.admin.refresh_users": (200, {"shell-poll.n_intervals": 1}),
    "callbacks.admin.refresh_audit": (200, {"shell-poll.n_intervals": 1}),
    "callbacks.admin.create": (
        403,
        {
            "admin-create.n_clicks": 1,
            "admin-new-username.value": "eve.evil",
            "admin-new-role.value": "admin",
            "admin-new-password.value": "a long enough password",
        },
    ),  # fmt: skip
    "callbacks.admin.save_user": (
        403,
        {
            "admin-edit-save.n_clicks": 1,
            "admin-edit-target.data": "vera.viewer",
            "admin-edit-active.value": False,
        },
    ),  # fmt: skip
    # opening the dialog is a read: a viewer's click shows nothing, is not audited
    "callbacks.admin.open_edit": (200, {"admin-edit-cancel.n_clicks": 1}),
    "callbacks.admin.export": (403, {"admin-export.n_clicks": 1}),
    "callbacks.admin.refresh_feed_tokens": (200, {"shell-poll.n_intervals": 1}),
    "callbacks.admin.issue_feed_token": (
        200,
        {"admin-feedtok-issue.n_clicks": 1, "admin-feedtok-feed.value": "fhir:evil"},
    ),
    "callbacks.admin.revoke_feed_token": (
        200,
        {"admin-feedtok-revoke.n_clicks": 1, "admin-feedtok-revoke-id.value": 1},
    ),
    "callbacks.feeds.replay": (403, {"feeds-replay.n_clicks": 1}),
    "callbacks.feeds.confirm_discard": (
        403,
        {
            "feeds-discard-confirm.n_clicks": 1,
            "feeds-discard-target.data": {"id": 1},
            "feeds-discard-reason.value": "sent twice",
        },
    ),  # fmt: skip
    "callbacks.feeds.show_original": (403, {}),
    "callbacks.imports.refresh_recent": (200, {"shell-poll.n_intervals": 1}),
}


def _function(spec: dict):  # noqa: ANN202
    fn = spec["callback"]
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def _checked_callbacks(app) -> dict[str, str]:  # noqa: ANN001
    """Every server callback whose body asks for a permission, by function name."""
    found = {}
    for key, spec in app.callback_map.items():
        if "callback" not in spec:
            continue
        fn = _function(spec)
        if re.search(r"\brequire\(|\b_write\(", inspect.getsource(fn)):
            found[f"{fn.__module__}.{fn.__name__}"] = key
    return found


def _dep(d: dict, values: dict[str, object]) -> object:
    cid = d["id"]
    if isinstance(cid, str) and cid.startswith("{"):  # pattern: ALL
        pattern = json.loads(cid)
        if pattern.get("type") == "surge-tick":
            return [{"id": TICK_ID, "property": d["property"], "value": 1}]
        if pattern.get("type") == "feeds-original":
            return [{"id": {"id": 1, "type": "feeds-original"},
                     "property": d["property"], "value": 1}]  # fmt: skip
        if pattern.get("type") == "wall-revoke":
            return [{"id": {"token": 1, "type": "wall-revoke"},
                     "property": d["property"], "value": 1}]  # fmt: skip
        return []
    return {
        "id": cid,
        "property": d["property"],
        "value": values.get(f"{cid}.{d['property']}"),
    }


def _payload(key: str, spec: dict, values: dict[str, object]) -> dict:
    inputs = [_dep(i, values) for i in spec["inputs"]]
    first = inputs[0]
    if isinstance(first, list):
        changed = [
            json.dumps(first[0]["id"], sort_keys=True, separators=(",", ":"))
            + "."
            + first[0]["property"]
        ]
    else:
        changed = [f"{first['id']}.{first['property']}"]
    return {
        "output": key,
        "outputs": _outputs(key),
        "inputs": inputs,
        "state": [_dep(s, values) for s in spec.get("state", [])],
        "changedPropIds": changed,
    }


@pytest.fixture
def viewer_app(seeded_sqlite_url):  # noqa: ANN201
    create_user(seeded_sqlite_url, "vera.viewer", "viewer", display_name="Vera Viewer")
    app = create_app(
        settings_for(
            seeded_sqlite_url, auth_required=True, clock=MovableClock(FROZEN_NOW)
        ),
        prepare=False,
    )
    return app, seeded_sqlite_url


def test_ps001_every_permission_check_has_a_documented_answer(viewer_app):
    app, _ = viewer_app
    assert set(_checked_callbacks(app)) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ps002_refusal_answers_as_documented(viewer_app, name):
    app, url = viewer_app
    status, values = EXPECTED[name]
    key = _checked_callbacks(app)[name]
    client = app.server.test_client()
    assert _login(client).status_code == 302
    runtime = runtime_for(settings_for(url))

    def counts() -> tuple[int, int, int]:
        with runtime.factory() as s:
            denied = s.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action == "denied")
            )
            others = s.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.action != "denied")
            )
            users = s.scalar(select(func.count(AppUser.id)))
        return denied, others, users

    before = counts()
    r = client.post(
        "/_dash-update-component",
        data=json.dumps(_payload(key, app.callback_map[key], values)),
        content_type="application/json",
        headers={"Origin": "http://localhost"},
    )
    assert r.status_code == status, (name, r.status_code, r.data[:300])
    if name in SHOWS_NOTHING:
        assert json.loads(r.data)["response"] == {}
    else:
        assert REFUSED in r.get_data(as_text=True), r.data[:300]
    denied, others, users = counts()
    assert denied == before[0] + (0 if name in NOT_AUDITED else 1)  # audited once
    assert (others, users) == before[1:]  # nothing else written
    runtime.engine.dispose()
