"""Overview tiles take their status from the stored alert state (SQLite and
PostgreSQL): with the G&A occupancy rule firing at a site, the site's "beds
available" and occupancy tiles are not OK, whatever threshold band the value is in."""

from __future__ import annotations

from datetime import timedelta

from app import create_app
from callbacks import delta
from callbacks import overview as overview_callbacks
from components.overview import IDS
from data.db import write_session
from data.queries.metrics import MetricSnapshot
from data.writes import alerts as writes
from ops import alerting
from tests.support.apps import FROZEN_NOW, settings_for


def _snapshot(now, value: float) -> MetricSnapshot:
    snap = MetricSnapshot(at=now, as_of=now)
    snap.labels[("site", "RGH")] = "Riverside General Hospital"
    snap.set("ga_occupancy_pct", "site", "RGH", value)
    return snap


def _props(node, wanted: str):  # noqa: ANN001, ANN202
    """The props of the component with id ``wanted`` in a layout's JSON form."""
    if isinstance(node, dict):
        props = node.get("props", {})
        if props.get("id") == wanted:
            return props
        node = props.get("children")
    for child in node if isinstance(node, list) else [node] if node else []:
        if isinstance(child, dict | list):
            found = _props(child, wanted)
            if found is not None:
                return found
    return None


def _tile_status(app, key: str) -> str:  # noqa: ANN001
    with app.server.test_request_context("/"):
        _line, body = overview_callbacks.refresh(1)
    return _props(delta.plain(body), IDS.tile("RGH", key) + "-status")["title"]


def test_tile_is_not_ok_while_the_rule_fires_in_the_store(seeded_url):
    app = create_app(settings_for(seeded_url), prepare=False)
    runtime = app.server.extensions["command_centre"]
    rules = alerting.load_and_validate_config().rules
    assert _tile_status(app, "available") == "OK"  # the seed has no alert yet
    start = FROZEN_NOW - timedelta(minutes=20)
    for at in (start, FROZEN_NOW):  # >= 95 held for 20 min: the red rule fires
        with write_session(runtime.factory) as s:
            writes.evaluate_rules(s, _snapshot(at, 99.9), rules, at)
    assert _tile_status(app, "available") == "Critical"
    assert _tile_status(app, "flow-free") == "Critical"
    assert _tile_status(app, "occupancy") == "Critical"
    runtime.engine.dispose()
