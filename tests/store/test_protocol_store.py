"""Protocol runs in the store: declare, tick/untick, conflicts, roles, log, stand-down.

Runs against SQLite and a real PostgreSQL server (``seeded_runtime``).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from callbacks.identity import Actor
from data.db import write_session
from data.models.protocols import ProtocolRun
from data.models.security import AuditEvent
from data.queries import protocols as reads
from data.queries.metrics import snapshot_metrics
from data.writes import protocols as writes
from ops import protocol_runs as runs
from ops import protocols as rules
from tests.support.apps import FROZEN_NOW

TZ = "Europe/London"
ALICE = Actor(1, "alice", "Alice Commander", "incident_commander")
BOB = Actor(2, "bob", "Bob Beds", "bed_manager")
VERA = Actor(3, "vera", "Vera Viewer", "viewer")


@pytest.fixture(scope="module")
def templates() -> dict[str, runs.TemplateFile]:
    return runs.available_templates()


def _declare(
    runtime, templates, key="opel3-escalation", actor=ALICE, at=FROZEN_NOW, **kw
) -> int:
    with write_session(runtime.factory) as s:
        return writes.declare_run(
            s,
            templates[key].template,
            actor,
            at,
            kw.pop("trigger", runs.RunTrigger("opel", "OPEL 3 at 10:15")),
            kw.pop("reason", "G&A occupancy 96% and 14 ambulances waiting"),
            kw.pop("site_id", None),
            kw.pop("methane", None),
            template_source=templates[key].path,
            tz=TZ,
            **kw,
        )


def _audit(runtime, entity_type: str | None = None) -> list[AuditEvent]:
    with runtime.factory() as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if entity_type:
            q = q.where(AuditEvent.entity_type == entity_type)
        return list(s.scalars(q))


def test_declare_stores_version_snapshot_and_audit(seeded_runtime, templates):
    run_id = _declare(seeded_runtime, templates)
    template = templates["opel3-escalation"].template
    with seeded_runtime.factory() as s:
        detail = reads.run_detail(s, run_id)
        beds = dict(
            s.execute(text("SELECT state, count(*) FROM bed GROUP BY state")).all()
        )
        in_ed = s.execute(
            text("SELECT count(*) FROM ed_attendance WHERE departure_at IS NULL")
        ).scalar()
        stored = s.execute(
            text("SELECT key, version, fingerprint FROM protocol_template_version")
        ).all()
    assert detail.run.status == "active" and detail.run.declared_by == "Alice Commander"
    assert (
        detail.run.trigger_kind == "opel"
        and detail.run.trigger_detail == "OPEL 3 at 10:15"
    )
    assert detail.run.scope_text == "Trust-wide"
    assert set(detail.states) == {a.key for a in template.actions}
    assert not any(st.done for st in detail.states.values())
    total = detail.run.facility_snapshot["total"]
    assert total["beds_available"] == beds.get("available", 0)
    assert total["beds_occupied"] == beds.get("occupied", 0)
    assert total["ed_in_department"] == in_ed
    assert total["ga_open"] > 0 and 0 < total["ga_occupancy_pct"] <= 100
    assert len(detail.run.facility_snapshot["sites"]) >= 2
    # Catalogue figures come from the shared metric snapshot, so they match other screens.
    with seeded_runtime.factory() as s:
        snap = snapshot_metrics(s, FROZEN_NOW, TZ)
    site = detail.run.facility_snapshot["sites"][0]
    expected = snap.get("ed_4h_pct_today", "site", site["code"])
    assert expected is not None and site["ed_4h_pct_today"] == round(expected, 1)
    assert site["ga_occupancy_pct"] == round(
        snap.get("ga_occupancy_pct", "site", site["code"]), 1
    )
    assert stored == [
        ("opel3-escalation", template.version, rules.template_fingerprint(template))
    ]
    (event,) = _audit(seeded_runtime, "protocol_run")
    assert (event.action, event.actor_username, event.actor_role) == (
        "protocol.declare",
        "alice",
        "incident_commander",
    )
    assert event.entity_id == str(run_id) and event.after["reason"].startswith("G&A")


def test_declaration_refusals_name_the_fields(seeded_runtime, templates):
    with pytest.raises(runs.Refused) as refused:
        _declare(seeded_runtime, templates, reason="   ")
    assert "reason" in refused.value.field_errors
    with pytest.raises(runs.Refused) as refused:
        _declare(
            seeded_runtime, templates, key="major-incident", methane={"hazards": "fire"}
        )
    assert "methane.exact_location" in refused.value.field_errors
    assert "methane.hazards" not in refused.value.field_errors
    with pytest.raises(runs.Refused, match="may not declare protocol"):
        _declare(seeded_runtime, templates, actor=BOB)
    with pytest.raises(runs.Refused, match="Unknown site"):
        _declare(seeded_runtime, templates, site_id=999)
    with seeded_runtime.factory() as s:
        assert s.scalar(select(ProtocolRun.id)) is None
    methane = {
        "major_incident_declared": "Yes",
        "exact_location": "M6 J10",
        "type": "coach crash",
        "hazards": "fuel spill",
        "access": "northbound closed",
        "number_and_type_of_casualties": "30: 5 P1",
        "emergency_services": "police, fire, HEMS",
    }
    run_id = _declare(seeded_runtime, templates, key="major-incident", methane=methane)
    with seeded_runtime.factory() as s:
        assert (
            reads.run_detail(s, run_id).run.methane["major_incident_declared"] == "yes"
        )


def test_one_active_run_per_template_and_scope(seeded_runtime, templates):
    _declare(seeded_runtime, templates)
    with pytest.raises(runs.Refused, match="already active for the trust"):
        _declare(
            seeded_runtime, templates, actor=ALICE, at=FROZEN_NOW + timedelta(minutes=5)
        )
    with seeded_runtime.factory() as s:
        site_id = s.execute(text("SELECT min(id) FROM site")).scalar()
    other = _declare(seeded_runtime, templates, site_id=site_id)
    with seeded_runtime.factory() as s:
        detail = reads.run_detail(s, other)
    assert detail.run.site_id == site_id
    assert [x["code"] for x in detail.run.facility_snapshot["sites"]] == [
        detail.run.site_code
    ]


def test_changed_template_under_same_version_is_refused(seeded_runtime, templates):
    original = templates["opel3-escalation"]
    run_id = _declare(seeded_runtime, templates)
    edited = dataclasses.replace(original.template, title="OPEL 3 — edited in place")
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.TemplateVersionConflict) as err,
    ):
        writes.ensure_template_version(s, edited, FROZEN_NOW, original.path)
    assert "opel3-escalation.yaml" in str(err.value) and "raise 'version'" in str(
        err.value
    )
    bumped = dataclasses.replace(edited, version=original.template.version + 1)
    with write_session(seeded_runtime.factory) as s:
        writes.stand_down(
            s, run_id, ALICE, FROZEN_NOW + timedelta(minutes=1), note="re-declared"
        )
        new_run = writes.declare_run(
            s, bumped, ALICE, FROZEN_NOW + timedelta(minutes=2), reason="again", tz=TZ
        )
    with seeded_runtime.factory() as s:
        assert reads.run_detail(s, run_id).run.title == "OPEL 3 acute escalation"
        assert reads.run_detail(s, new_run).run.title == "OPEL 3 — edited in place"
        assert reads.run_detail(s, new_run).run.template_version == (
            original.template.version + 1
        )


def test_ticks_conflicts_and_unticks(seeded_runtime, templates):
    run_id = _declare(seeded_runtime, templates)
    t1 = FROZEN_NOW + timedelta(minutes=2)
    with write_session(seeded_runtime.factory) as s:
        st = writes.set_action(s, run_id, "notify-icb-scc", True, ALICE, t1, tz=TZ)
    assert (st.done, st.done_by, st.version) == (True, "Alice Commander", 1)
    # A different action by someone else at the same time is fine.
    with write_session(seeded_runtime.factory) as s:
        writes.set_action(
            s, run_id, "hourly-pull", True, BOB, t1, note="pull started", tz=TZ
        )
    # The same action: the second person is told who did it and when; nothing changes.
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.ActionConflict) as c,
    ):
        writes.set_action(
            s, run_id, "notify-icb-scc", True, BOB, t1 + timedelta(minutes=1), tz=TZ
        )
    assert str(c.value) == "Already done by Alice Commander at 10:32."
    # A stale expected version is a conflict too.
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.ActionConflict),
    ):
        writes.set_action(
            s, run_id, "notify-icb-scc", False, BOB, t1, expected_version=0, tz=TZ
        )
    # note_required actions need a note; viewers cannot tick; unknown actions refused.
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="note"),
    ):
        writes.set_action(s, run_id, "confirm-opel3", True, ALICE, t1, tz=TZ)
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="may not"),
    ):
        writes.set_action(s, run_id, "site-huddle", True, VERA, t1, tz=TZ)
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="Unknown"),
    ):
        writes.set_action(s, run_id, "no-such-action", True, ALICE, t1, tz=TZ)
    with write_session(seeded_runtime.factory) as s:
        st = writes.set_action(
            s,
            run_id,
            "notify-icb-scc",
            False,
            BOB,
            t1 + timedelta(minutes=3),
            expected_version=1,
            tz=TZ,
        )
    assert (st.done, st.done_by, st.version) == (False, None, 2)
    with seeded_runtime.factory() as s:
        states = reads.run_detail(s, run_id).states
        summaries = reads.active_run_summaries(s, t1)
    assert (
        states["notify-icb-scc"].done is False and states["notify-icb-scc"].version == 2
    )
    assert states["hourly-pull"].note == "pull started"
    assert [(b.id, b.done, b.total) for b in summaries] == [(run_id, 1, 26)]
    audit = [
        (e.action, e.actor_username, e.entity_id)
        for e in _audit(seeded_runtime, "protocol_action")
    ]
    assert audit == [
        ("protocol.action.tick", "alice", f"{run_id}:notify-icb-scc"),
        ("protocol.action.tick", "bob", f"{run_id}:hourly-pull"),
        ("protocol.action.untick", "bob", f"{run_id}:notify-icb-scc"),
    ]


def test_overdue_counts_after_the_block_ends(seeded_runtime, templates):
    run_id = _declare(seeded_runtime, templates)
    with write_session(seeded_runtime.factory) as s:
        writes.set_action(s, run_id, "site-huddle", True, ALICE, FROZEN_NOW, tz=TZ)
    with seeded_runtime.factory() as s:
        (early,) = reads.list_active_runs(s, FROZEN_NOW + timedelta(hours=1))
        (late,) = reads.list_active_runs(s, FROZEN_NOW + timedelta(hours=2, minutes=1))
    assert early.overdue == 0
    assert late.overdue == 7  # 8 immediate actions, one done
    assert [(b.key, b.done, b.total) for b in late.blocks][0] == ("immediate", 1, 8)


def test_roles_handover_and_log(seeded_runtime, templates):
    run_id = _declare(seeded_runtime, templates)
    t = [FROZEN_NOW + timedelta(minutes=m) for m in range(10)]
    with write_session(seeded_runtime.factory) as s:
        writes.assign_role(s, run_id, "bed-manager", "Bob Beds", ALICE, t[1])
    with write_session(seeded_runtime.factory) as s:
        writes.add_log_entry(s, run_id, "Bed meeting at 11:00", BOB, t[2])
        writes.add_log_entry(s, run_id, "Called ICB", ALICE, t[3])
        writes.add_log_entry(
            s, run_id, "Taking over comms", ALICE, t[3], as_role="comms"
        )
    with write_session(seeded_runtime.factory) as s:
        writes.assign_role(
            s, run_id, "bed-manager", "Sam Night", ALICE, t[4], contact=" bleep  4471 "
        )
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="bleep or phone"),
    ):
        writes.assign_role(s, run_id, "comms", "Cat", ALICE, t[5], contact="9" * 61)
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="already holds"),
    ):
        writes.assign_role(s, run_id, "bed-manager", "sam  night", ALICE, t[5])
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="Unknown role"),
    ):
        writes.assign_role(s, run_id, "chief-wizard", "Merlin", ALICE, t[5])
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="Write"),
    ):
        writes.add_log_entry(s, run_id, "  \n ", ALICE, t[5])
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="may not"),
    ):
        writes.add_log_entry(s, run_id, "hello", VERA, t[5])
    with seeded_runtime.factory() as s:
        detail = reads.run_detail(s, run_id)
    assert [
        (a.person, a.held_from, a.held_to, a.contact) for a in detail.assignments
    ] == [
        ("Bob Beds", t[1], t[4], None),
        ("Sam Night", t[4], None, "bleep 4471"),
    ]
    assert [(e.text, e.author, e.author_role) for e in detail.log] == [
        ("Taking over comms", "Alice Commander", "Communications lead"),
        ("Called ICB", "Alice Commander", "Incident commander"),
        ("Bed meeting at 11:00", "Bob Beds", "Bed manager / patient flow coordinator"),
    ]
    actions = [
        e.action
        for e in _audit(seeded_runtime)
        if e.entity_type != "protocol_run" and e.action.startswith("protocol.")
    ]
    assert actions == [
        "protocol.role.assign",
        "protocol.log.add",
        "protocol.log.add",
        "protocol.log.add",
        "protocol.role.handover",
    ]


def test_stand_down_closes_the_run(seeded_runtime, templates):
    run_id = _declare(seeded_runtime, templates)
    t = [FROZEN_NOW + timedelta(minutes=m) for m in range(10)]
    with write_session(seeded_runtime.factory) as s:
        writes.assign_role(
            s, run_id, "tactical-commander", "Alice Commander", ALICE, t[1]
        )
        writes.set_action(s, run_id, "site-huddle", True, ALICE, t[2], tz=TZ)
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="may not"),
    ):
        writes.stand_down(s, run_id, BOB, t[3])
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.ActionConflict),
    ):
        writes.stand_down(s, run_id, ALICE, t[3], expected_version=7)
    with write_session(seeded_runtime.factory) as s:
        writes.stand_down(
            s, run_id, ALICE, t[4], expected_version=1, note="OPEL 2 twice"
        )
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.ActionConflict, match="Already stood down by Alice"),
    ):
        writes.stand_down(s, run_id, ALICE, t[5])
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="stood down"),
    ):
        writes.set_action(s, run_id, "hourly-pull", True, ALICE, t[5], tz=TZ)
    with (
        write_session(seeded_runtime.factory) as s,
        pytest.raises(runs.Refused, match="stood down"),
    ):
        writes.add_log_entry(s, run_id, "late note", ALICE, t[5])
    with seeded_runtime.factory() as s:
        detail = reads.run_detail(s, run_id)
        assert reads.list_active_runs(s, t[5]) == []
        (old,) = reads.list_runs(s, t[5], active=False)
    assert (detail.run.status, detail.run.stood_down_by, detail.run.stood_down_at) == (
        "stood_down",
        "Alice Commander",
        t[4],
    )
    assert detail.run.version == 2 and old.run.id == run_id and old.overall.done == 1
    assert all(a.held_to == t[4] for a in detail.assignments)
    # The scope is free again.
    _declare(seeded_runtime, templates, at=t[6])


def test_early_stand_down_needs_a_reason_and_records_what_was_open(
    seeded_runtime, templates
):
    template = templates["opel3-escalation"].template
    run_id = _declare(seeded_runtime, templates)
    t = [FROZEN_NOW + timedelta(minutes=m) for m in range(10)]
    with write_session(seeded_runtime.factory) as s:
        writes.set_action(s, run_id, "site-huddle", True, ALICE, t[1], tz=TZ)
    total, left = len(template.actions), len(template.actions) - 1
    for note in (None, "", "   \n "):
        with (
            write_session(seeded_runtime.factory) as s,
            pytest.raises(runs.Refused, match=f"{left} actions are still open") as r,
        ):
            writes.stand_down(s, run_id, ALICE, t[2], note=note)
        assert r.value.field_errors == {"note": "Required."}
    with seeded_runtime.factory() as s:
        assert reads.run_detail(s, run_id).run.status == "active"  # nothing changed
    reason = "De-escalated to OPEL 2 at 14:00; " + "x" * 3900
    with write_session(seeded_runtime.factory) as s:
        writes.stand_down(s, run_id, ALICE, t[3], expected_version=1, note=reason)
    with seeded_runtime.factory() as s:
        detail = reads.run_detail(s, run_id)
        events = reads.timeline(s, run_id)
    assert detail.run.status == "stood_down" and detail.run.stand_down_note == reason
    (entry,) = detail.log
    assert entry.at == t[3] and entry.author == "Alice Commander"
    assert entry.text.startswith(
        f"Stood down early with {left} of {total} actions open. Reason: {reason}\n"
    )
    open_texts = [a.text for a in template.actions if a.key != "site-huddle"]
    assert entry.text.endswith("Open at stand-down: " + "; ".join(open_texts))
    assert [e.event for e in events if e.at == t[3]] == ["log entry", "stood down"]
    (audit,) = [
        a for a in _audit(seeded_runtime, "protocol_run") if a.action.endswith("down")
    ]
    assert audit.after["early"] is True and audit.after["note"] == reason
    assert (audit.after["open_actions"], audit.after["actions"]) == (left, total)
    assert audit.after["open_action_keys"] == [
        a.key for a in template.actions if a.key != "site-huddle"
    ]


def test_stand_down_with_every_action_done_needs_no_reason(seeded_runtime, templates):
    template = templates["opel3-escalation"].template
    run_id = _declare(seeded_runtime, templates)
    at = FROZEN_NOW + timedelta(minutes=1)
    with write_session(seeded_runtime.factory) as s:
        for action in template.actions:
            writes.set_action(
                s, run_id, action.key, True, ALICE, at, note="recorded", tz=TZ
            )
    with write_session(seeded_runtime.factory) as s:
        writes.stand_down(s, run_id, ALICE, at + timedelta(minutes=1))
    with seeded_runtime.factory() as s:
        detail = reads.run_detail(s, run_id)
    assert detail.run.status == "stood_down" and detail.run.stand_down_note is None
    assert detail.log == []  # not early: no log entry
    (audit,) = [
        a for a in _audit(seeded_runtime, "protocol_run") if a.action.endswith("down")
    ]
    assert audit.after["early"] is False and audit.after["open_actions"] == 0


def test_timeline_orders_every_event(seeded_runtime, templates):
    run_id = _declare(seeded_runtime, templates)
    t = [FROZEN_NOW + timedelta(minutes=m) for m in range(10)]
    with write_session(seeded_runtime.factory) as s:
        writes.assign_role(s, run_id, "site-manager", "Carol Site", ALICE, t[1])
    with write_session(seeded_runtime.factory) as s:
        writes.set_action(
            s, run_id, "site-huddle", True, BOB, t[2], note="huddle 10:45", tz=TZ
        )
    with write_session(seeded_runtime.factory) as s:
        writes.add_log_entry(s, run_id, "ICB informed", ALICE, t[3])
    with write_session(seeded_runtime.factory) as s:
        writes.set_action(s, run_id, "site-huddle", False, ALICE, t[4], tz=TZ)
        writes.assign_role(s, run_id, "site-manager", "Dan Night", ALICE, t[5])
        writes.stand_down(s, run_id, ALICE, t[6], note="de-escalated")
    with seeded_runtime.factory() as s:
        events = reads.timeline(s, run_id)
    assert [(e.at, e.event, e.person) for e in events] == [
        (t[0], "declared", "Alice Commander"),
        (t[0], "facility snapshot", ""),
        (t[1], "role assigned", "Carol Site"),
        (t[2], "action done", "Bob Beds"),
        (t[3], "log entry", "Alice Commander"),
        (t[4], "action unticked", "Alice Commander"),
        (t[5], "role handover", "Dan Night"),
        (t[6], "log entry", "Alice Commander"),  # early: what was open, and why
        (t[6], "stood down", "Alice Commander"),
    ]
    done = events[3]
    assert done.block == "Immediate (0–2 h)" and done.role == "Clinical site manager"
    assert (
        done.action.startswith("Hold an urgent site huddle")
        and done.detail == "huddle 10:45"
    )
    assert "took over from Carol Site" in events[6].detail
    assert "G&A occupancy" in events[1].detail
