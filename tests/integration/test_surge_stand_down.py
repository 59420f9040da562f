"""Standing a protocol down early, in a real browser: the dialog lists what is still
open and will not stand down without a reason; the reason and the open actions are
recorded in the activity log, the audit trail and the after-action report."""

from __future__ import annotations

import json

from sqlalchemy import text

from app import create_app
from callbacks import surge as surge_callbacks
from callbacks.identity import Actor
from data.db import write_session
from data.queries import protocols as reads
from data.writes import protocols as writes
from ops import protocol_runs as runs
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for, start_app
from tests.support.auth import create_user, login

TZ = "Europe/London"


def test_early_stand_down_lists_open_actions_and_needs_a_reason(
    dash_duo, seeded_sqlite_url
):
    url = seeded_sqlite_url
    create_user(url, "alice", "incident_commander", display_name="Alice Commander")
    template_file = runs.available_templates()["opel3-escalation"]
    template = template_file.template
    alice = Actor(0, "alice", "Alice Commander", "incident_commander")
    runtime = runtime_for(settings_for(url))
    with write_session(runtime.factory) as s:
        run_id = writes.declare_run(
            s,
            template,
            alice,
            FROZEN_NOW,
            runs.RunTrigger("opel", "OPEL 3 at 10:15"),
            "G&A occupancy 96%",
            None,
            None,
            template_source=template_file.path,
            tz=TZ,
        )
        writes.set_action(s, run_id, "site-huddle", True, alice, FROZEN_NOW, tz=TZ)
    app = create_app(settings_for(url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "alice", next_path=f"/surge?run={run_id}")

    total = len(template.actions)
    dash_duo.wait_for_element("#surge-stand-down").click()
    dash_duo.wait_for_contains_text(
        "#surge-stand-down-open", f"{total - 1} of {total} actions are still open"
    )
    items = [li.text for li in dash_duo.find_elements("#surge-stand-down-open li")]
    assert len(items) == total - 1
    assert items[0].startswith("Immediate (0–2 h): ")
    assert not any("urgent site huddle" in i for i in items)  # done: not listed
    dash_duo.wait_for_contains_text("#surge-stand-down-label", "(required)")

    # No reason: refused under the field, the dialog stays open, nothing changes.
    dash_duo.find_element("#surge-stand-down-confirm").click()
    dash_duo.wait_for_contains_text(
        "#surge-stand-down-error", "Give the reason for standing down early"
    )
    note = dash_duo.find_element("#surge-stand-down-note")
    assert "is-invalid" in note.get_attribute("class")
    assert dash_duo.find_element("#surge-stand-down-modal").is_displayed()
    with runtime.factory() as s:
        assert reads.run_detail(s, run_id).run.status == "active"

    note.send_keys("Occupancy back under 92% for 6 hours")
    dash_duo.find_element("#surge-stand-down-confirm").click()
    dash_duo.wait_for_contains_text("#surge-detail-header", "Stood down")
    dash_duo.wait_for_contains_text(
        "#surge-log", f"Stood down early with {total - 1} of {total} actions open"
    )
    dash_duo.wait_for_contains_text(
        "#surge-log", "Reason: Occupancy back under 92% for 6 hours"
    )

    with runtime.engine.connect() as conn:
        (after,) = conn.execute(
            text("SELECT after FROM audit_event WHERE action = 'protocol.stand_down'")
        ).scalars()
    runtime.engine.dispose()
    after = after if isinstance(after, dict) else json.loads(after)
    assert after["early"] is True and after["open_actions"] == total - 1
    assert after["note"] == "Occupancy back under 92% for 6 hours"
    with app.server.app_context():
        payload = surge_callbacks.report_csv(run_id)
    assert "Stood down early with" in payload["content"]
    assert dash_duo.get_logs() == []
