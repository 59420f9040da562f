"""Arbitrary values sent to every callback never give a 500 or a traceback.

Property-based (hypothesis): for each registered callback, inputs and states take
arbitrary JSON values (strings, numbers, None, lists, dicts); the signed-in admin's
request must answer 200, 204 (no update) or 4xx — never 500, never a traceback.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from tests.support.apps import settings_for
from tests.support.auth import DEFAULT_PASSWORD, create_user

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory, seeded_sqlite_template):  # noqa: ANN001, ANN201
    from tests.support.apps import copy_sqlite

    url = copy_sqlite(seeded_sqlite_template, tmp_path_factory.mktemp("fuzz"))
    create_user(url, "ada.admin", "admin", display_name="Ada Admin")
    app = create_app(settings_for(url, auth_required=True), prepare=False)
    client = app.server.test_client()
    client.get("/login")
    with client.session_transaction() as sess:
        token = sess["cc_csrf"]
    r = client.post(
        "/login",
        data={
            "username": "ada.admin",
            "password": DEFAULT_PASSWORD,
            "csrf_token": token,
            "next": "/",
        },
    )
    assert r.status_code == 302
    return app, client


def _callbacks():  # noqa: ANN202
    from tests.support.apps import FROZEN_NOW  # noqa: F401  (module import order)

    app = create_app(settings_for("sqlite:///:memory:"), prepare=False)
    # clientside callbacks run in the browser: the server has no function for them
    return sorted(k for k, v in app.callback_map.items() if "callback" in v)


def _outputs(key: str):  # noqa: ANN202
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    outs = []
    for p in parts:
        cid, prop = p.rsplit(".", 1)
        with contextlib.suppress(ValueError):
            cid = json.loads(cid)
        outs.append({"id": cid, "property": prop})
    return outs if key.startswith("..") else outs[0]


def _concrete(dep_id, draw_value):  # noqa: ANN001, ANN202
    if isinstance(dep_id, str) and dep_id.startswith("{"):
        pattern = json.loads(dep_id)
        return {
            k: (draw_value if v == ["ALL"] or v == "ALL" else v)
            for k, v in pattern.items()
        }
    return dep_id


@pytest.mark.parametrize("key", _callbacks())
def test_sec011_arbitrary_callback_inputs_never_500(signed_in, key):
    app, client = signed_in
    spec = app.callback_map[key]

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data) -> None:  # noqa: ANN001
        def dep(d: dict) -> dict:
            cid = d["id"]
            if isinstance(cid, str) and cid.startswith("{"):
                pattern = json.loads(cid)
                concrete = {
                    k: (
                        data.draw(st.integers(0, 3) | st.text(max_size=6))
                        if v == ["ALL"]
                        else v
                    )
                    for k, v in pattern.items()
                }
                return {
                    "id": concrete,
                    "property": d["property"],
                    "value": data.draw(json_values),
                }
            return {
                "id": cid,
                "property": d["property"],
                "value": data.draw(json_values),
            }

        inputs = [dep(i) for i in spec["inputs"]]
        state = [dep(s) for s in spec.get("state", [])]
        payload = {
            "output": key,
            "outputs": _outputs(key),
            "inputs": inputs,
            "state": state,
            "changedPropIds": [
                f"{json.dumps(inputs[0]['id']) if isinstance(inputs[0]['id'], dict) else inputs[0]['id']}.{inputs[0]['property']}"
            ]
            if inputs
            else [],
        }
        r = client.post(
            "/_dash-update-component",
            data=json.dumps(payload, default=str),
            content_type="application/json",
        )
        assert r.status_code < 500, (key, payload, r.data[:300])
        assert b"Traceback" not in r.data

    run()


EDGE_VALUES = [2**63, -(2**63) - 1, 2**80, float("inf"), float("-inf")]


@pytest.mark.parametrize("key", _callbacks())
def test_sec012_edge_numbers_and_malformed_bodies_never_500(signed_in, key):
    """Integers past 64 bits and ±Infinity in every input and pattern id, a body with
    no outputs and one with the wrong number of inputs: 4xx, never 500."""
    app, client = signed_in
    spec = app.callback_map[key]

    def post(payload: dict) -> None:
        r = client.post(
            "/_dash-update-component",
            data=json.dumps(payload, default=str),
            content_type="application/json",
        )
        assert r.status_code < 500, (key, payload, r.data[:300])
        assert b"Traceback" not in r.data

    def dep(d: dict, value) -> dict:  # noqa: ANN001
        cid = d["id"]
        if isinstance(cid, str) and cid.startswith("{"):
            pattern = json.loads(cid)
            cid = {
                k: (value if v in (["ALL"], "ALL") else v) for k, v in pattern.items()
            }
        return {"id": cid, "property": d["property"], "value": value}

    for value in EDGE_VALUES:
        inputs = [dep(i, value) for i in spec["inputs"]]
        post(
            {
                "output": key,
                "outputs": _outputs(key),
                "inputs": inputs,
                "state": [dep(s, value) for s in spec.get("state", [])],
                "changedPropIds": [],
            }
        )
    inputs = [dep(i, None) for i in spec["inputs"]]
    post({"output": key, "inputs": inputs, "state": [], "changedPropIds": []})
    post(
        {
            "output": key,
            "outputs": _outputs(key),
            "inputs": inputs[:-1] if len(inputs) > 1 else inputs * 2,
            "state": [],
            "changedPropIds": [],
        }
    )
