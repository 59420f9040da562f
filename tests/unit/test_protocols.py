"""Surge-protocol templates and the pure checklist rules (ops.protocols)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.protocols import (
    Accepted,
    ActionState,
    Assignment,
    Conflict,
    MethaneReport,
    ProtocolRuleError,
    Rejected,
    RunStatus,
    TemplateError,
    check_tick,
    close_assignments,
    current_block,
    current_holders,
    handover,
    load_template,
    load_templates,
    outstanding_actions,
    overall_progress,
    overdue_actions,
    parse_template,
    progress_by_block,
    progress_by_role,
    stand_down,
    template_fingerprint,
    template_to_dict,
    validate_declaration,
    validate_methane,
)

PROTOCOL_DIR = Path(__file__).resolve().parents[2] / "config" / "protocols"
SHIPPED = (
    "opel3-escalation",
    "opel4-escalation",
    "ed-full-handover-surge",
    "internal-critical-incident",
    "major-incident",
    "infection-outbreak",
)
LONDON = "Europe/London"
T0 = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# A small valid template the bad-template cases mutate.
BASE: dict[str, Any] = {
    "key": "test-protocol",
    "version": 1,
    "title": "Test protocol",
    "summary": "A protocol for tests.",
    "trigger": {"opel_level": 3, "alert_rules": ["ga-occupancy-red-site"]},
    "roles": [
        {
            "key": "commander",
            "title": "Commander",
            "mission": "Leads.",
            "reports_to": None,
        },
        {
            "key": "site",
            "title": "Site manager",
            "mission": "Runs.",
            "reports_to": "commander",
        },
        {
            "key": "comms",
            "title": "Comms",
            "mission": "Tells.",
            "reports_to": "commander",
        },
    ],
    "blocks": [
        {
            "key": "immediate",
            "title": "Immediate (0–2 h)",
            "start_hours": 0,
            "end_hours": 2,
            "actions": [
                {
                    "key": "a1",
                    "text": "Declare",
                    "owner": "commander",
                    "note_required": True,
                },
                {"key": "a2", "text": "Huddle", "owner": "site"},
            ],
        },
        {
            "key": "intermediate",
            "title": "Intermediate (2–12 h)",
            "start_hours": 2,
            "end_hours": 12,
            "actions": [
                {"key": "b1", "text": "Open beds", "owner": "site"},
                {"key": "b2", "text": "Bulletin", "owner": "comms"},
            ],
        },
        {
            "key": "extended",
            "title": "Extended (12–24 h)",
            "start_hours": 12,
            "end_hours": 24,
            "actions": [{"key": "c1", "text": "Review", "owner": "commander"}],
        },
        {
            "key": "stand-down",
            "title": "Stand-down",
            "actions": [{"key": "s1", "text": "Debrief", "owner": "commander"}],
        },
    ],
}


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def write(tmp_path: Path, data: Any, name: str = "bad-template.yaml") -> Path:
    path = tmp_path / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tpl():
    return parse_template(base(), source="test")


def done(by: str = "Sam Patel", at: datetime = T0, version: int = 1) -> ActionState:
    return ActionState(done=True, done_at=at, done_by=by, version=version)


# ---------------------------------------------------------------------------
# Shipped templates
# ---------------------------------------------------------------------------


def test_all_six_shipped_templates_load_and_validate():
    templates = load_templates(PROTOCOL_DIR)
    assert sorted(templates) == sorted(SHIPPED)
    for key in SHIPPED:
        assert load_template(PROTOCOL_DIR / f"{key}.yaml") == templates[key]


@pytest.mark.parametrize("key", SHIPPED)
def test_shipped_template_shape(key):
    t = load_template(PROTOCOL_DIR / f"{key}.yaml")
    assert t.key == key
    assert isinstance(t.version, int) and t.version >= 1
    assert [b.key for b in t.blocks] == [
        "immediate",
        "intermediate",
        "extended",
        "stand-down",
    ]
    assert [(b.start_hours, b.end_hours) for b in t.blocks[:2]] == [(0, 2), (2, 12)]
    assert t.blocks[2].start_hours == 12
    for block in t.blocks:
        assert 4 <= len(block.actions) <= 8, block.key
    # every role has work to do, and someone leads
    assert all(p.total > 0 for p in progress_by_role(t, {}).values())
    assert sum(r.reports_to is None for r in t.roles) == 1


def test_shipped_triggers_and_methane():
    t = load_templates(PROTOCOL_DIR)
    assert t["opel3-escalation"].trigger.opel_level == 3
    assert t["opel4-escalation"].trigger.opel_level == 4
    assert "handovers-over-60-site" in t["ed-full-handover-surge"].trigger.alert_rules
    assert t["internal-critical-incident"].trigger.incident_type == "critical"
    assert t["major-incident"].trigger.incident_type == "major"
    assert t["major-incident"].requires_methane is True
    assert t["infection-outbreak"].trigger.incident_type == "business-continuity"
    assert not any(t[k].requires_methane for k in SHIPPED if k != "major-incident")


# ---------------------------------------------------------------------------
# Fingerprint and canonical form
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", SHIPPED)
def test_canonical_form_round_trips(key):
    t = load_template(PROTOCOL_DIR / f"{key}.yaml")
    assert parse_template(template_to_dict(t)) == t


def test_fingerprint_ignores_yaml_formatting(tmp_path):
    t = load_template(PROTOCOL_DIR / "opel3-escalation.yaml")
    # same content, different key order, no comments, flow style
    rewritten = yaml.safe_dump(
        template_to_dict(t), sort_keys=True, default_flow_style=True
    )
    again = load_template(write(tmp_path, rewritten, "opel3.yaml"))
    assert template_fingerprint(again) == template_fingerprint(t)
    assert len(template_fingerprint(t)) == 64


def test_fingerprint_changes_with_content_not_version(tpl):
    fp = template_fingerprint(tpl)
    assert template_fingerprint(parse_template(base())) == fp

    bumped = base()
    bumped["version"] = 2
    assert template_fingerprint(parse_template(bumped)) == fp

    for mutate in (
        lambda d: d["blocks"][0]["actions"][1].update(text="Huddle within 30 min"),
        lambda d: d["blocks"][0]["actions"][1].update(note_required=True),
        lambda d: (
            d["blocks"][1].update(end_hours=10) or d["blocks"][2].update(start_hours=10)
        ),
        lambda d: d["roles"][2].update(mission="Tells everyone."),
        lambda d: d["trigger"].update(opel_level=4),
    ):
        changed = base()
        mutate(changed)
        assert template_fingerprint(parse_template(changed)) != fp


# ---------------------------------------------------------------------------
# Bad templates: the message names the file and the problem
# ---------------------------------------------------------------------------


def _set(path: str, value: Any):
    """Mutation setting a dotted path such as 'blocks.0.actions.1.owner'."""

    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str):
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[last]

    return mutate


def _append_action(block: int, action: dict[str, Any]):
    return lambda d: d["blocks"][block]["actions"].append(action)


BAD_CASES = [
    (
        "unknown-owner",
        _set("blocks.0.actions.1.owner", "bed-manager"),
        "owner 'bed-manager' is not a defined role",
    ),
    (
        "reports-to-unknown",
        _set("roles.2.reports_to", "ceo"),
        "role 'comms': reports_to 'ceo' is not a defined role",
    ),
    (
        "reports-to-cycle",
        lambda d: d["roles"][0].update(reports_to="comms"),
        "reports_to cycle: commander -> comms -> commander",
    ),
    (
        "reports-to-self",
        _set("roles.1.reports_to", "site"),
        "reports_to cycle: site -> site",
    ),
    (
        "two-commanders",
        _set("roles.2.reports_to", None),
        "exactly one role (the commander) may have reports_to: null",
    ),
    (
        "duplicate-action",
        _append_action(1, {"key": "a2", "text": "x", "owner": "site"}),
        "duplicate action key 'a2'",
    ),
    (
        "duplicate-role",
        lambda d: d["roles"].append(
            {"key": "site", "title": "S", "mission": "M", "reports_to": "commander"}
        ),
        "duplicate role key 'site'",
    ),
    (
        "duplicate-block",
        lambda d: d["blocks"].insert(
            3,
            copy.deepcopy(d["blocks"][2])
            | {"actions": [{"key": "z", "text": "z", "owner": "site"}]},
        ),
        "duplicate block key 'extended'",
    ),
    (
        "stand-down-not-last",
        lambda d: d["blocks"].insert(0, d["blocks"].pop()),
        "'stand-down' block must come last",
    ),
    (
        "no-stand-down",
        lambda d: d["blocks"].pop(),
        "the last block must be the 'stand-down' block",
    ),
    (
        "stand-down-offsets",
        _set("blocks.3.start_hours", 24),
        "stand-down has no start_hours/end_hours",
    ),
    (
        "first-not-zero",
        _set("blocks.0.start_hours", 1),
        "the first block must start at 0 h, not 1 h",
    ),
    (
        "gap",
        _set("blocks.2.start_hours", 13),
        "starts at 13 h but the previous block ends at 12 h",
    ),
    (
        "overlap",
        _set("blocks.1.start_hours", 1),
        "starts at 1 h but the previous block ends at 2 h",
    ),
    (
        "out-of-order",
        lambda d: d["blocks"].insert(0, d["blocks"].pop(1)),
        "the first block must start at 0 h, not 2 h",
    ),
    (
        "end-before-start",
        _set("blocks.1.end_hours", 2),
        "end_hours 2 must be after start_hours 2",
    ),
    (
        "open-ended-middle",
        _set("blocks.1.end_hours", None),
        "missing end_hours (only the last timed block may be open-ended)",
    ),
    (
        "negative-offset",
        _set("blocks.0.start_hours", -1),
        "start_hours must not be negative",
    ),
    (
        "offset-not-number",
        _set("blocks.0.end_hours", "two"),
        "end_hours must be a number of hours",
    ),
    (
        "missing-start",
        _delete("blocks.1.start_hours"),
        "block 'intermediate': missing required field 'start_hours'",
    ),
    (
        "empty-actions",
        _set("blocks.1.actions", []),
        "block 'intermediate': actions is empty",
    ),
    (
        "missing-actions",
        _delete("blocks.2.actions"),
        "block 'extended': actions is empty",
    ),
    ("missing-title", _delete("title"), "template: missing required field 'title'"),
    ("blank-summary", _set("summary", "  "), "'summary' must be non-empty text"),
    ("missing-trigger", _delete("trigger"), "missing required field 'trigger'"),
    (
        "empty-trigger",
        _set("trigger", {}),
        "give at least one of opel_level, alert_rules, incident_type",
    ),
    ("bad-opel-level", _set("trigger.opel_level", 5), "opel_level 5 must be one of"),
    (
        "bad-incident-type",
        _set("trigger", {"incident_type": "catastrophe"}),
        "incident_type 'catastrophe' must be one of",
    ),
    ("missing-roles", _delete("roles"), "missing required field 'roles'"),
    ("missing-blocks", _delete("blocks"), "missing required field 'blocks'"),
    (
        "missing-action-text",
        _delete("blocks.0.actions.1.text"),
        "action 'a2': missing required field 'text'",
    ),
    (
        "missing-role-mission",
        _delete("roles.1.mission"),
        "role 'site': missing required field 'mission'",
    ),
    ("missing-version", _delete("version"), "missing required field 'version'"),
    ("version-zero", _set("version", 0), "bad version 0"),
    ("version-text", _set("version", "1"), "bad version '1'"),
    ("version-bool", _set("version", True), "bad version True"),
    ("version-float", _set("version", 1.5), "bad version 1.5"),
    ("unknown-field", lambda d: d.update(rolse=[]), "unknown field(s) 'rolse'"),
    (
        "unknown-action-field",
        _set("blocks.0.actions.0.noet_required", True),
        "action 'a1': unknown field(s) 'noet_required'",
    ),
    (
        "note-required-text",
        _set("blocks.0.actions.0.note_required", "yes"),
        "'note_required' must be true or false",
    ),
    (
        "bad-key",
        _set("blocks.0.actions.0.key", "Declare Now"),
        "key 'Declare Now' must be lower-case",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=i) for i, m, e in BAD_CASES],
)
def test_bad_template_message_names_file_and_problem(tmp_path, mutate, expected):
    data = base()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(TemplateError) as err:
        load_template(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert "bad-template.yaml" in message
    assert expected in message, message
    assert len(err.value.problems) == 1, message  # no knock-on errors
    assert isinstance(err.value, ValueError)


def test_several_problems_are_reported_together(tmp_path):
    data = base()
    data["version"] = 0
    data["blocks"][0]["actions"][0]["owner"] = "nobody"
    path = write(tmp_path, data)
    with pytest.raises(TemplateError) as err:
        load_template(path)
    assert "2 problems" in str(err.value)
    assert len(err.value.problems) == 2
    assert err.value.source == str(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key: x\n  title: [unclosed\n", "invalid YAML at line"),
        ("- just\n- a list\n", "must be a mapping of template fields"),
        ("", "must be a mapping of template fields"),
        ("key: a\nkey: b\n", "duplicate key 'key'"),
    ],
)
def test_unreadable_yaml_names_the_file(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(TemplateError, match="bad-template.yaml") as err:
        load_template(path)
    assert expected in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(TemplateError, match="nope.yaml: cannot read file"):
        load_template(tmp_path / "nope.yaml")
    with pytest.raises(TemplateError, match="not a directory"):
        load_templates(tmp_path / "missing")


def test_duplicate_template_keys_across_files(tmp_path):
    write(tmp_path, base(), "a-first.yaml")
    second = base()
    second["title"] = "Another title"
    write(tmp_path, second, "b-second.yaml")
    with pytest.raises(TemplateError) as err:
        load_templates(tmp_path)
    message = str(err.value)
    assert "b-second.yaml" in message
    assert (
        "duplicate template key 'test-protocol' (already defined in a-first.yaml)"
        in message
    )


def test_load_templates_ignores_other_files(tmp_path):
    write(tmp_path, base(), "one.yml")
    (tmp_path / "README.md").write_text("not a template")
    assert list(load_templates(tmp_path)) == ["test-protocol"]


def test_open_ended_last_block_is_allowed():
    data = base()
    data["blocks"][2]["end_hours"] = None
    t = parse_template(data)
    assert t.blocks[2].end_hours is None
    assert parse_template(template_to_dict(t)) == t


# ---------------------------------------------------------------------------
# Progress and overdue
# ---------------------------------------------------------------------------


def test_progress_by_block_and_role(tpl):
    states = {
        "a1": done(),
        "a2": ActionState(done=False, version=2),  # ticked then unticked
        "b1": done(),
        "s1": done(),
        "ghost": done(),  # not in the template: ignored
    }
    by_block = progress_by_block(tpl, states)
    assert list(by_block) == ["immediate", "intermediate", "extended", "stand-down"]
    assert {k: (p.done, p.total) for k, p in by_block.items()} == {
        "immediate": (1, 2),
        "intermediate": (1, 2),
        "extended": (0, 1),
        "stand-down": (1, 1),
    }
    assert by_block["immediate"].percent == 50.0
    assert by_block["stand-down"].complete
    assert by_block["extended"].remaining == 1

    by_role = progress_by_role(tpl, states)
    # commander: a1 done, c1 not, s1 done; site: a2 not, b1 done; comms: b2 not
    assert {k: (p.done, p.total) for k, p in by_role.items()} == {
        "commander": (2, 3),
        "site": (1, 2),
        "comms": (0, 1),
    }
    assert by_role["site"].title == "Site manager"
    total = overall_progress(tpl, states)
    assert (total.done, total.total) == (3, 6)


def test_progress_with_no_states(tpl):
    assert all(p.done == 0 for p in progress_by_block(tpl, {}).values())
    assert [a.key for a in outstanding_actions(tpl, {})] == [
        "a1",
        "a2",
        "b1",
        "b2",
        "c1",
    ]
    assert [a.key for a in outstanding_actions(tpl, {}, include_stand_down=True)][
        -1
    ] == "s1"


def test_overdue_actions_by_block_end(tpl):
    states = {"a1": done(), "b2": done()}
    declared = T0  # 09:00 UTC
    # before and exactly at the end of Immediate: nothing overdue yet
    assert (
        overdue_actions(tpl, states, declared, T0 + timedelta(hours=1, minutes=59))
        == []
    )
    assert overdue_actions(tpl, states, declared, T0 + timedelta(hours=2)) == []

    later = overdue_actions(tpl, states, declared, T0 + timedelta(hours=2, minutes=15))
    assert [(o.action.key, o.block.key) for o in later] == [("a2", "immediate")]
    assert later[0].due_at == utc(2026, 1, 12, 11, 0)
    assert later[0].overdue_by == timedelta(minutes=15)

    much_later = overdue_actions(tpl, {}, declared, T0 + timedelta(days=3))
    # stand-down actions are never overdue
    assert [o.action.key for o in much_later] == ["a1", "a2", "b1", "b2", "c1"]


def test_open_ended_block_never_overdue():
    data = base()
    data["blocks"][2]["end_hours"] = None
    t = parse_template(data)
    overdue = overdue_actions(t, {}, T0, T0 + timedelta(days=30))
    assert "c1" not in {o.action.key for o in overdue}


def test_overdue_uses_elapsed_hours_across_spring_clock_change(tpl):
    # Clocks go forward at 01:00 UTC on 29 Mar 2026 (01:00 GMT -> 02:00 BST).
    declared = utc(2026, 3, 29, 0, 30)  # 00:30 local (GMT)
    # 02:00 UTC is 03:00 BST: the wall clock shows 2.5 h but only 1.5 h has passed
    assert overdue_actions(tpl, {}, declared, utc(2026, 3, 29, 2, 0)) == []
    overdue = overdue_actions(tpl, {}, declared, utc(2026, 3, 29, 2, 31))
    assert [o.action.key for o in overdue] == ["a1", "a2"]
    assert overdue[0].due_at == utc(2026, 3, 29, 2, 30)  # shown as 03:30 BST


def test_overdue_uses_elapsed_hours_across_autumn_clock_change(tpl):
    # Clocks go back at 01:00 UTC on 25 Oct 2026 (02:00 BST -> 01:00 GMT).
    declared = utc(2026, 10, 25, 0, 0)  # 01:00 local (BST)
    # 02:30 UTC is 02:30 GMT: the wall clock shows 1.5 h but 2.5 h has passed
    overdue = overdue_actions(tpl, {}, declared, utc(2026, 10, 25, 2, 30))
    assert [o.action.key for o in overdue] == ["a1", "a2"]
    assert overdue[0].overdue_by == timedelta(minutes=30)


def test_naive_datetimes_are_taken_as_utc(tpl):
    naive = datetime(2026, 1, 12, 9, 0)
    assert overdue_actions(tpl, {}, naive, naive + timedelta(hours=3))[0].due_at == utc(
        2026, 1, 12, 11, 0
    )


def test_current_block(tpl):
    assert current_block(tpl, T0, T0 - timedelta(minutes=1)) is None
    assert current_block(tpl, T0, T0).key == "immediate"
    assert current_block(tpl, T0, T0 + timedelta(hours=2)).key == "intermediate"
    assert (
        current_block(tpl, T0, T0 + timedelta(hours=23, minutes=59)).key == "extended"
    )
    assert current_block(tpl, T0, T0 + timedelta(hours=24)) is None


# ---------------------------------------------------------------------------
# Tick / untick
# ---------------------------------------------------------------------------


def tick(tpl, key, current, **kw):
    args: dict[str, Any] = {"done": True, "by": "Alex Jones", "now": T0, "tz": LONDON}
    args.update(kw)
    return check_tick(tpl, key, current, **args)


def test_tick_accepted_records_who_when_and_note(tpl):
    result = tick(tpl, "a1", None, note="  Declared   at huddle ")
    assert result == Accepted(
        ActionState(
            done=True,
            done_at=T0,
            done_by="Alex Jones",
            note="Declared at huddle",
            version=1,
        )
    )
    # a note is optional where not required
    assert isinstance(tick(tpl, "a2", ActionState(version=2)), Accepted)
    assert tick(tpl, "a2", ActionState(version=2)).state.version == 3


def test_tick_already_done_is_conflict_in_local_time(tpl):
    summer = utc(2026, 7, 1, 13, 2)  # 14:02 BST
    result = tick(
        tpl, "a2", done("Sam Patel", summer), now=summer + timedelta(minutes=5)
    )
    assert isinstance(result, Conflict)
    assert result.message == "Already done by Sam Patel at 14:02."
    assert result.by == "Sam Patel"
    assert result.at == summer


def test_tick_conflict_on_an_earlier_day_shows_the_date(tpl):
    done_at = utc(2026, 1, 11, 23, 50)
    result = tick(tpl, "a2", done("Sam Patel", done_at), now=utc(2026, 1, 12, 0, 10))
    assert result.message == "Already done by Sam Patel at 23:50 on Sun 11 Jan."


def test_untick(tpl):
    result = tick(tpl, "a2", done(version=4), done=False, expected_version=4)
    assert result == Accepted(ActionState(done=False, version=5))

    not_done = tick(tpl, "a2", ActionState(version=5), done=False)
    assert isinstance(not_done, Conflict)
    assert "Not done" in not_done.message
    assert isinstance(tick(tpl, "a2", None, done=False), Conflict)


def test_stale_version_is_conflict(tpl):
    # Someone ticked and unticked while this user was looking at version 1.
    result = tick(tpl, "a2", ActionState(version=3), expected_version=1)
    assert isinstance(result, Conflict)
    assert "Changed by someone else" in result.message
    # untick of a re-ticked action names the latest holder
    result = tick(
        tpl,
        "a2",
        done("Sam Patel", utc(2026, 1, 12, 8, 5), version=3),
        done=False,
        expected_version=1,
    )
    assert "(last by Sam Patel at 08:05)" in result.message


@pytest.mark.parametrize("note", [None, "", "   "])
def test_note_required_but_empty_is_rejected(tpl, note):
    result = tick(tpl, "a1", None, note=note)
    assert result == Rejected("A note is required for “Declare”.")


def test_tick_rejections(tpl):
    assert tick(tpl, "zz", None) == Rejected("Unknown action 'zz' in Test protocol.")
    assert (
        "stood down" in tick(tpl, "a2", None, run_status=RunStatus.STOOD_DOWN).message
    )
    assert isinstance(tick(tpl, "a2", None, by="  "), Rejected)


# ---------------------------------------------------------------------------
# Role handover
# ---------------------------------------------------------------------------


def test_first_assignment_and_handover_intervals(tpl):
    t1, t2, t3 = T0, T0 + timedelta(hours=8), T0 + timedelta(hours=20)
    a = handover([], "commander", "Dr Amy Khan", t1, template=tpl)
    assert a == [Assignment("commander", "Dr Amy Khan", t1, None)]
    a = handover(a, "site", "Ben Ode", t1)
    a = handover(a, "commander", "Chris Lee", t2, template=tpl)
    a = handover(a, "commander", "Dr Amy Khan", t3)
    assert a == [
        Assignment("commander", "Dr Amy Khan", t1, t2),
        Assignment("site", "Ben Ode", t1, None),
        Assignment("commander", "Chris Lee", t2, t3),
        Assignment("commander", "Dr Amy Khan", t3, None),
    ]
    holders = current_holders(a)
    assert {k: v.person for k, v in holders.items()} == {
        "site": "Ben Ode",
        "commander": "Dr Amy Khan",
    }
    closed = close_assignments(a, t3 + timedelta(hours=1))
    assert all(x.held_to is not None for x in closed)
    assert closed[0].held_to == t2  # already closed intervals keep their end


def test_handover_rules(tpl):
    a = handover([], "commander", "Dr Amy Khan", T0)
    with pytest.raises(ProtocolRuleError, match="already holds"):
        handover(a, "commander", "dr amy  khan", T0 + timedelta(hours=1))
    with pytest.raises(ProtocolRuleError, match="Name the person"):
        handover(a, "commander", " ", T0 + timedelta(hours=1))
    with pytest.raises(ProtocolRuleError, match="earlier than"):
        handover(a, "commander", "Chris Lee", T0 - timedelta(minutes=1))
    with pytest.raises(ProtocolRuleError, match="Unknown role 'ceo'"):
        handover(a, "ceo", "Chris Lee", T0, template=tpl)
    corrupt = a + [Assignment("commander", "Chris Lee", T0)]
    with pytest.raises(ProtocolRuleError, match="more than one current holder"):
        handover(corrupt, "commander", "Dana Fox", T0 + timedelta(hours=1))
    assert a == [Assignment("commander", "Dr Amy Khan", T0)]  # input never mutated


# ---------------------------------------------------------------------------
# Stand-down and declaration
# ---------------------------------------------------------------------------


def test_stand_down_rules():
    result = stand_down(
        "active", "  Dr Amy  Khan ", T0 + timedelta(hours=5), declared_at=T0
    )
    assert result.status == "stood_down" == RunStatus.STOOD_DOWN
    assert result.stood_down_by == "Dr Amy Khan"
    assert result.stood_down_at == T0 + timedelta(hours=5)
    with pytest.raises(ProtocolRuleError, match="Only an active protocol"):
        stand_down("stood_down", "Dr Amy Khan", T0)
    with pytest.raises(ProtocolRuleError, match="authorising"):
        stand_down("active", "", T0)
    with pytest.raises(ProtocolRuleError, match="Unknown run status"):
        stand_down("paused", "Dr Amy Khan", T0)
    with pytest.raises(ProtocolRuleError, match="earlier than the declaration"):
        stand_down("active", "Dr Amy Khan", T0, declared_at=T0 + timedelta(minutes=1))
    assert not result.early and result.reason is None


def test_stand_down_with_open_actions_needs_a_reason():
    template = load_template(PROTOCOL_DIR / "opel3-escalation.yaml")
    first = template.actions[0]
    states = {first.key: ActionState(True, T0, "Dr Amy Khan", None, 1)}
    left = outstanding_actions(template, states, include_stand_down=True)
    assert len(left) == len(template.actions) - 1 and first not in left
    assert [a.key for a in left] == [a.key for a in template.actions[1:]]
    for reason in (None, "", "   "):
        with pytest.raises(ProtocolRuleError, match=f"{len(left)} actions are still"):
            stand_down("active", "Dr Amy Khan", T0, open_actions=left, reason=reason)
    with pytest.raises(ProtocolRuleError, match="1 action is still open"):
        stand_down("active", "Dr Amy Khan", T0, open_actions=left[:1])
    early = stand_down(
        "active", "Dr Amy Khan", T0, open_actions=left, reason="  OPEL 2 for 6 h "
    )
    assert early.early and early.reason == "OPEL 2 for 6 h"
    assert early.open_actions == tuple(left)
    # nothing open: no reason needed (a note may still be given)
    done = stand_down("active", "Dr Amy Khan", T0, reason="all done")
    assert not done.early and done.reason == "all done"


METHANE_OK = {
    "major_incident_declared": "Yes",
    "exact_location": "M6 northbound between J10 and J11",
    "type": "Road traffic collision, coach and HGV",
    "hazards": "Fuel spill; fire risk",
    "access": "Via J10 slip road; RVP at services car park",
    "number_and_type_of_casualties": "About 35: 5 P1, 10 P2, 20 P3",
    "emergency_services": "Ambulance, fire and police on scene; HEMS requested",
}


def test_methane_valid():
    report = validate_methane(METHANE_OK)
    assert isinstance(report, MethaneReport)
    assert report.major_incident_declared == "yes"
    assert report.hazards == "Fuel spill; fire risk"
    assert (
        validate_methane(
            METHANE_OK | {"major_incident_declared": " Standby "}
        ).major_incident_declared
        == "standby"
    )
    assert (
        validate_methane(
            METHANE_OK | {"major_incident_declared": False}
        ).major_incident_declared
        == "no"
    )


def test_methane_lists_every_missing_field():
    data = dict(METHANE_OK)
    del data["exact_location"]
    data["hazards"] = "   "
    data["emergency_services"] = None
    with pytest.raises(ValueError) as err:
        validate_methane(data)
    message = str(err.value)
    assert message.startswith("METHANE report incomplete: missing ")
    assert "exact_location" in message and "hazards" in message
    assert "emergency_services" in message
    assert "access" not in message
    assert message.index("exact_location") < message.index("hazards")


def test_methane_bad_values():
    with pytest.raises(ValueError, match="must be yes, no or standby"):
        validate_methane(METHANE_OK | {"major_incident_declared": "maybe"})
    with pytest.raises(ValueError, match="unknown field"):
        validate_methane(METHANE_OK | {"weather": "rain"})
    with pytest.raises(ValueError, match="missing M - Major incident declared"):
        validate_methane(
            {k: v for k, v in METHANE_OK.items() if k != "major_incident_declared"}
        )


def test_declaration_requires_methane_for_major_incident(tpl):
    major = load_template(PROTOCOL_DIR / "major-incident.yaml")
    with pytest.raises(ProtocolRuleError, match="needs a METHANE report"):
        validate_declaration(major, "Dr Amy Khan")
    assert validate_declaration(major, "Dr Amy Khan", METHANE_OK).type.startswith(
        "Road"
    )
    assert validate_declaration(tpl, "Dr Amy Khan") is None
    with pytest.raises(ProtocolRuleError, match="declaring"):
        validate_declaration(tpl, " ")
