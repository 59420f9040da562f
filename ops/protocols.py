"""Surge-protocol checklists: templates and the pure rules over a protocol run.

A *template* (``config/protocols/*.yaml``) describes one protocol in the style of a
HICS job action sheet / NHS EPRR action card: what triggers it, the command roles
(each with a mission and whom it reports to) and timed blocks of actions, each
action owned by a role. Blocks are measured in hours from the declaration:
Immediate (0-2 h), Intermediate (2-12 h), Extended (> 12 h), then Stand-down, which
has no time window and is never overdue.

Templates are validated when loaded; every problem raises :class:`TemplateError`
whose message names the file and what is wrong. :func:`template_fingerprint` hashes
a template's content so the store can keep ``(key, version, fingerprint)`` and refuse
changed content published under an existing version number.

The run rules (progress, overdue, tick/untick, role handover, stand-down, METHANE)
take plain values -- a mapping ``action_key -> ActionState``, assignment intervals,
aware UTC datetimes -- and return plain values. No database, no Dash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from ops.timeutil import ensure_utc, format_local, to_local

STAND_DOWN_KEY = "stand-down"
INCIDENT_TYPES = ("business-continuity", "critical", "major")
OPEL_LEVELS = (1, 2, 3, 4)

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TEMPLATE_FIELDS = {
    "key",
    "version",
    "title",
    "summary",
    "trigger",
    "roles",
    "blocks",
    "requires_methane",
}
_TRIGGER_FIELDS = {"opel_level", "alert_rules", "incident_type"}
_ROLE_FIELDS = {"key", "title", "mission", "reports_to"}
_BLOCK_FIELDS = {"key", "title", "start_hours", "end_hours", "actions"}
_ACTION_FIELDS = {"key", "text", "owner", "note_required"}


# ---------------------------------------------------------------------------
# Template model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """What suggests or requires the protocol; at least one kind is set."""

    opel_level: int | None = None
    alert_rules: tuple[str, ...] = ()
    incident_type: str | None = None  # one of INCIDENT_TYPES


@dataclass(frozen=True)
class Role:
    key: str
    title: str
    mission: str
    reports_to: str | None = None  # role key; None for the commander


@dataclass(frozen=True)
class Action:
    key: str  # unique within the template
    text: str
    owner: str  # role key
    note_required: bool = False


@dataclass(frozen=True)
class Block:
    key: str
    title: str
    start_hours: float | None  # None only for the stand-down block
    end_hours: float | None  # None for stand-down and an open-ended last timed block
    actions: tuple[Action, ...]

    @property
    def is_stand_down(self) -> bool:
        return self.key == STAND_DOWN_KEY

    def window(self, declared_at: datetime) -> tuple[datetime | None, datetime | None]:
        """UTC [start, end) of the block for a run declared at ``declared_at``.

        Offsets are elapsed hours, so a block spanning a clock change is still the
        same number of real hours long.
        """
        base = ensure_utc(declared_at)
        start = None if self.start_hours is None else base + _hours(self.start_hours)
        end = None if self.end_hours is None else base + _hours(self.end_hours)
        return start, end


@dataclass(frozen=True)
class ProtocolTemplate:
    key: str
    version: int
    title: str
    summary: str
    trigger: Trigger
    roles: tuple[Role, ...]
    blocks: tuple[Block, ...]
    requires_methane: bool = False

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action, in block order then listed order."""
        return tuple(a for b in self.blocks for a in b.actions)

    def role(self, key: str) -> Role | None:
        return next((r for r in self.roles if r.key == key), None)

    def action(self, key: str) -> Action | None:
        return next((a for a in self.actions if a.key == key), None)

    def block_of(self, action_key: str) -> Block | None:
        return next(
            (b for b in self.blocks if any(a.key == action_key for a in b.actions)),
            None,
        )


class TemplateError(ValueError):
    """A protocol template that cannot be used; the message names the file."""

    def __init__(self, source: str | Path | None, problems: Sequence[str]) -> None:
        self.source = None if source is None else str(source)
        self.problems = tuple(problems)
        where = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(where + text)


# ---------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping key written twice.

    Plain ``safe_load`` silently keeps the last of two ``note_required:`` lines; in
    a checklist that is a silent content change, so it is an error here.
    """


def _construct_unique_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_template(path: str | Path) -> ProtocolTemplate:
    """Read and validate one template file; raise :class:`TemplateError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(path, [f"cannot read file ({exc.strerror})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TemplateError(path, [f"invalid YAML{where}: {problem}"]) from None
    return parse_template(data, source=path)


def load_templates(directory: str | Path) -> dict[str, ProtocolTemplate]:
    """Load every ``*.yaml``/``*.yml`` file in ``directory``, keyed by template key."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TemplateError(directory, ["not a directory of protocol templates"])
    files = sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
    )
    templates: dict[str, ProtocolTemplate] = {}
    origin: dict[str, Path] = {}
    for path in files:
        template = load_template(path)
        if template.key in templates:
            raise TemplateError(
                path,
                [
                    f"duplicate template key {template.key!r} "
                    f"(already defined in {origin[template.key].name})"
                ],
            )
        templates[template.key] = template
        origin[template.key] = path
    return templates


def parse_template(data: Any, source: str | Path | None = None) -> ProtocolTemplate:
    """Validate a template given as plain data (parsed YAML or stored JSON).

    All problems found are reported together in one :class:`TemplateError`.
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise TemplateError(source, ["the file must be a mapping of template fields"])
    _unknown_fields(data, _TEMPLATE_FIELDS, "template", problems)

    key = _required_key(data, "key", "template", problems)
    version = data.get("version")
    if "version" not in data:
        problems.append("missing required field 'version'")
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(f"bad version {version!r}: must be a whole number >= 1")
        version = None
    title = _required_text(data, "title", "template", problems)
    summary = _required_text(data, "summary", "template", problems)
    requires_methane = _optional_bool(data, "requires_methane", "template", problems)
    trigger = _parse_trigger(data.get("trigger"), "trigger" in data, problems)
    roles, role_keys = _parse_roles(data.get("roles"), "roles" in data, problems)
    blocks = _parse_blocks(data.get("blocks"), "blocks" in data, role_keys, problems)

    if problems:
        raise TemplateError(source, problems)
    assert key is not None and title is not None and summary is not None
    assert isinstance(version, int) and trigger is not None
    return ProtocolTemplate(
        key=key,
        version=version,
        title=title,
        summary=summary,
        trigger=trigger,
        roles=roles,
        blocks=blocks,
        requires_methane=requires_methane,
    )


def _hours(value: float) -> timedelta:
    return timedelta(hours=value)


def _unknown_fields(
    data: Mapping[str, Any], allowed: set[str], where: str, problems: list[str]
) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        problems.append(
            f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _required_text(
    data: Mapping[str, Any], field: str, where: str, problems: list[str]
) -> str | None:
    if field not in data or data[field] is None:
        problems.append(f"{where}: missing required field {field!r}")
        return None
    value = data[field]
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {field!r} must be non-empty text")
        return None
    return " ".join(value.split())


def _required_key(
    data: Mapping[str, Any], field: str, where: str, problems: list[str]
) -> str | None:
    value = _required_text(data, field, where, problems)
    if value is not None and not _KEY_RE.match(value):
        problems.append(
            f"{where}: {field} {value!r} must be lower-case letters, digits, '-' or '_'"
        )
        return None
    return value


def _optional_bool(
    data: Mapping[str, Any], field: str, where: str, problems: list[str]
) -> bool:
    value = data.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(f"{where}: {field!r} must be true or false, not {value!r}")
        return False
    return value


def _parse_trigger(raw: Any, present: bool, problems: list[str]) -> Trigger | None:
    if not present or raw is None:
        problems.append("missing required field 'trigger'")
        return None
    if not isinstance(raw, Mapping):
        problems.append(
            "trigger must be a mapping (opel_level, alert_rules, incident_type)"
        )
        return None
    before = len(problems)
    _unknown_fields(raw, _TRIGGER_FIELDS, "trigger", problems)
    level = raw.get("opel_level")
    if level is not None and (
        isinstance(level, bool)
        or not isinstance(level, int)
        or level not in OPEL_LEVELS
    ):
        problems.append(f"trigger: opel_level {level!r} must be one of 1, 2, 3, 4")
    rules_raw = raw.get("alert_rules") or []
    rules: list[str] = []
    if not isinstance(rules_raw, list):
        problems.append("trigger: alert_rules must be a list of alert rule ids")
    else:
        for rule in rules_raw:
            if not isinstance(rule, str) or not _KEY_RE.match(rule):
                problems.append(f"trigger: alert rule id {rule!r} is not a valid id")
            elif rule in rules:
                problems.append(f"trigger: alert rule {rule!r} listed twice")
            else:
                rules.append(rule)
    incident = raw.get("incident_type")
    if incident is not None and incident not in INCIDENT_TYPES:
        problems.append(
            f"trigger: incident_type {incident!r} must be one of {', '.join(INCIDENT_TYPES)}"
        )
    if level is None and not rules_raw and incident is None:
        problems.append(
            "trigger: give at least one of opel_level, alert_rules, incident_type"
        )
    if len(problems) > before:
        return None
    return Trigger(opel_level=level, alert_rules=tuple(rules), incident_type=incident)


def _parse_roles(
    raw: Any, present: bool, problems: list[str]
) -> tuple[tuple[Role, ...], set[str] | None]:
    """Valid roles, and every role key declared (None when there is no roles list,
    so that actions are not each reported as having an unknown owner)."""
    if not present or raw is None:
        problems.append("missing required field 'roles'")
        return (), None
    if not isinstance(raw, list) or not raw:
        problems.append("roles must be a non-empty list")
        return (), None
    roles: list[Role] = []
    seen: set[str] = set()
    declared: set[str] = set()
    for i, item in enumerate(raw):
        where = f"roles[{i}]"
        if not isinstance(item, Mapping):
            problems.append(
                f"{where}: must be a mapping (key, title, mission, reports_to)"
            )
            continue
        key = _required_key(item, "key", where, problems)
        if key is not None:
            where = f"role {key!r}"
            declared.add(key)
        _unknown_fields(item, _ROLE_FIELDS, where, problems)
        title = _required_text(item, "title", where, problems)
        mission = _required_text(item, "mission", where, problems)
        reports_to = item.get("reports_to")
        if reports_to is not None and not isinstance(reports_to, str):
            problems.append(f"{where}: reports_to must be a role key or null")
            reports_to = None
        if key is None or title is None or mission is None:
            continue
        if key in seen:
            problems.append(f"duplicate role key {key!r}")
            continue
        seen.add(key)
        roles.append(Role(key=key, title=title, mission=mission, reports_to=reports_to))

    for role in roles:
        if role.reports_to is not None and role.reports_to not in declared:
            problems.append(
                f"role {role.key!r}: reports_to {role.reports_to!r} is not a defined role"
            )
    _check_reporting_lines(roles, seen, problems)
    return tuple(roles), declared


def _check_reporting_lines(
    roles: Sequence[Role], keys: set[str], problems: list[str]
) -> None:
    parent = {r.key: r.reports_to for r in roles if r.reports_to in keys}
    reported: set[frozenset[str]] = set()
    for start in parent:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parent and node not in path:
            path.append(node)
            node = parent[node]
        if node is not None and node in path:
            cycle = path[path.index(node) :] + [node]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                problems.append(f"reports_to cycle: {' -> '.join(cycle)}")
    if reported or not roles:
        return
    roots = [r.key for r in roles if r.reports_to is None]
    if not roots:
        problems.append("no commander role: exactly one role needs reports_to: null")
    elif len(roots) > 1:
        problems.append(
            "exactly one role (the commander) may have reports_to: null; found "
            + ", ".join(repr(r) for r in roots)
        )


def _parse_number(
    item: Mapping[str, Any], field: str, where: str, problems: list[str]
) -> float | None:
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: {field} must be a number of hours, not {value!r}")
        return None
    if value < 0:
        problems.append(f"{where}: {field} must not be negative ({value})")
        return None
    return float(value)


def _parse_blocks(
    raw: Any, present: bool, role_keys: set[str] | None, problems: list[str]
) -> tuple[Block, ...]:
    if not present or raw is None:
        problems.append("missing required field 'blocks'")
        return ()
    if not isinstance(raw, list) or not raw:
        problems.append("blocks must be a non-empty list")
        return ()
    blocks: list[Block] = []
    block_keys: set[str] = set()
    action_keys: set[str] = set()
    offsets_ok = True
    for i, item in enumerate(raw):
        where = f"blocks[{i}]"
        if not isinstance(item, Mapping):
            problems.append(
                f"{where}: must be a mapping (key, title, offsets, actions)"
            )
            continue
        key = _required_key(item, "key", where, problems)
        if key is not None:
            where = f"block {key!r}"
        _unknown_fields(item, _BLOCK_FIELDS, where, problems)
        title = _required_text(item, "title", where, problems)
        before = len(problems)
        start = _parse_number(item, "start_hours", where, problems)
        end = _parse_number(item, "end_hours", where, problems)
        offsets_ok = offsets_ok and len(problems) == before
        actions = _parse_actions(
            item.get("actions"), where, role_keys, action_keys, problems
        )
        if key is None or title is None:
            continue
        if key in block_keys:
            problems.append(f"duplicate block key {key!r}")
            continue
        block_keys.add(key)
        blocks.append(Block(key, title, start, end, actions))
    if offsets_ok and len(blocks) == len(raw):
        _check_block_order(blocks, problems)
    return tuple(blocks)


def _parse_actions(
    raw: Any,
    where: str,
    role_keys: set[str] | None,
    action_keys: set[str],
    problems: list[str],
) -> tuple[Action, ...]:
    if raw is None or (isinstance(raw, list) and not raw):
        problems.append(
            f"{where}: actions is empty; every block needs at least one action"
        )
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}: actions must be a list")
        return ()
    actions: list[Action] = []
    for j, item in enumerate(raw):
        at = f"{where} actions[{j}]"
        if not isinstance(item, Mapping):
            problems.append(
                f"{at}: must be a mapping (key, text, owner, note_required)"
            )
            continue
        key = _required_key(item, "key", at, problems)
        if key is not None:
            at = f"{where} action {key!r}"
        _unknown_fields(item, _ACTION_FIELDS, at, problems)
        text = _required_text(item, "text", at, problems)
        owner = _required_text(item, "owner", at, problems)
        note_required = _optional_bool(item, "note_required", at, problems)
        if owner is not None and role_keys is not None and owner not in role_keys:
            known = ", ".join(sorted(role_keys)) or "none"
            problems.append(
                f"{at}: owner {owner!r} is not a defined role (roles: {known})"
            )
            owner = None
        if key is None or text is None or owner is None:
            continue
        if key in action_keys:
            problems.append(f"duplicate action key {key!r} ({where})")
            continue
        action_keys.add(key)
        actions.append(Action(key, text, owner, note_required))
    return tuple(actions)


def _check_block_order(blocks: Sequence[Block], problems: list[str]) -> None:
    """Stand-down last; timed blocks from 0 h, contiguous, each ending after it starts.

    Only called when every block was readable, so one bad block is reported once.
    """
    stand_downs = [i for i, b in enumerate(blocks) if b.is_stand_down]
    if not stand_downs:
        problems.append(f"blocks: the last block must be the {STAND_DOWN_KEY!r} block")
    elif stand_downs != [len(blocks) - 1]:
        problems.append(f"blocks: the {STAND_DOWN_KEY!r} block must come last, once")
    for b in blocks:
        if b.is_stand_down and (b.start_hours is not None or b.end_hours is not None):
            problems.append(
                f"block {b.key!r}: stand-down has no start_hours/end_hours "
                "(it starts when the run is stood down)"
            )
    timed = [b for b in blocks if not b.is_stand_down]
    if not timed:
        problems.append("blocks: at least one timed block (e.g. immediate) is needed")
        return
    previous_end: float | None = 0.0
    for i, b in enumerate(timed):
        last = i == len(timed) - 1
        if b.start_hours is None:
            problems.append(f"block {b.key!r}: missing required field 'start_hours'")
            return
        if b.end_hours is None and not last:
            problems.append(
                f"block {b.key!r}: missing end_hours (only the last timed block "
                "may be open-ended)"
            )
            return
        if i == 0 and b.start_hours != 0:
            problems.append(
                f"block {b.key!r}: the first block must start at 0 h, not {b.start_hours:g} h"
            )
            return
        if b.end_hours is not None and b.end_hours <= b.start_hours:
            problems.append(
                f"block {b.key!r}: end_hours {b.end_hours:g} must be after "
                f"start_hours {b.start_hours:g}"
            )
            return
        if i > 0 and b.start_hours != previous_end:
            problems.append(
                f"block {b.key!r}: starts at {b.start_hours:g} h but the previous "
                f"block ends at {previous_end:g} h; blocks must be in time order "
                "with no gaps or overlaps"
            )
            return
        previous_end = b.end_hours


# ---------------------------------------------------------------------------
# Canonical form and fingerprint
# ---------------------------------------------------------------------------


def template_to_dict(template: ProtocolTemplate) -> dict[str, Any]:
    """Canonical plain-data form; :func:`parse_template` reads it back unchanged."""
    trigger: dict[str, Any] = {}
    if template.trigger.opel_level is not None:
        trigger["opel_level"] = template.trigger.opel_level
    if template.trigger.alert_rules:
        trigger["alert_rules"] = list(template.trigger.alert_rules)
    if template.trigger.incident_type is not None:
        trigger["incident_type"] = template.trigger.incident_type
    blocks = []
    for b in template.blocks:
        block: dict[str, Any] = {"key": b.key, "title": b.title}
        if not b.is_stand_down:
            block["start_hours"] = b.start_hours
            block["end_hours"] = b.end_hours
        block["actions"] = [
            {
                "key": a.key,
                "text": a.text,
                "owner": a.owner,
                "note_required": a.note_required,
            }
            for a in b.actions
        ]
        blocks.append(block)
    return {
        "key": template.key,
        "version": template.version,
        "title": template.title,
        "summary": template.summary,
        "requires_methane": template.requires_methane,
        "trigger": trigger,
        "roles": [
            {
                "key": r.key,
                "title": r.title,
                "mission": r.mission,
                "reports_to": r.reports_to,
            }
            for r in template.roles
        ],
        "blocks": blocks,
    }


def template_fingerprint(template: ProtocolTemplate) -> str:
    """SHA-256 (hex) of the template's content, excluding its version number.

    Computed from the validated model, so YAML comments, quoting, key order and
    whitespace do not change it; any change to a title, role, offset or action does.
    The store keeps ``(key, version, fingerprint)`` and refuses a different
    fingerprint under a version it already holds.
    """
    content = template_to_dict(template)
    del content["version"]
    canonical = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# METHANE
# ---------------------------------------------------------------------------

METHANE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("major_incident_declared", "M", "Major incident declared?"),
    ("exact_location", "E", "Exact location"),
    ("type", "T", "Type of incident"),
    ("hazards", "H", "Hazards (present and potential)"),
    ("access", "A", "Access (routes in and out)"),
    ("number_and_type_of_casualties", "N", "Number and type of casualties"),
    ("emergency_services", "E", "Emergency services present and required"),
)
MAJOR_INCIDENT_DECLARED_VALUES = ("yes", "no", "standby")


@dataclass(frozen=True)
class MethaneReport:
    major_incident_declared: str  # "yes", "no" or "standby"
    exact_location: str
    type: str
    hazards: str
    access: str
    number_and_type_of_casualties: str
    emergency_services: str


def validate_methane(data: Mapping[str, Any]) -> MethaneReport:
    """Build a METHANE report; raise ``ValueError`` listing every missing field.

    "None known" is an answer; a blank is not. ``major_incident_declared`` takes
    yes / no / standby (booleans are read as yes / no).
    """
    missing: list[str] = []
    values: dict[str, str] = {}
    for field, letter, label in METHANE_FIELDS:
        raw = data.get(field)
        if isinstance(raw, bool):
            raw = "yes" if raw else "no"
        text = " ".join(str(raw).split()) if raw is not None else ""
        if not text:
            missing.append(f"{letter} - {label} ({field})")
        values[field] = text
    problems: list[str] = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    declared = values["major_incident_declared"].lower()
    if declared and declared not in MAJOR_INCIDENT_DECLARED_VALUES:
        problems.append(
            f"major_incident_declared must be yes, no or standby, not {declared!r}"
        )
    unknown = sorted(str(k) for k in data if k not in {f for f, _, _ in METHANE_FIELDS})
    if unknown:
        problems.append("unknown field(s) " + ", ".join(repr(u) for u in unknown))
    if problems:
        raise ValueError("METHANE report incomplete: " + "; ".join(problems))
    values["major_incident_declared"] = declared
    return MethaneReport(**values)


# ---------------------------------------------------------------------------
# Run state and rules
# ---------------------------------------------------------------------------


class RunStatus(StrEnum):
    ACTIVE = "active"
    STOOD_DOWN = "stood_down"


RUN_STATUSES = tuple(s.value for s in RunStatus)


class ProtocolRuleError(ValueError):
    """A run operation the rules refuse; the message is fit to show the user."""


@dataclass(frozen=True)
class ActionState:
    """One action's state in a run. ``version`` counts changes (optimistic locking)."""

    done: bool = False
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None
    version: int = 0


NOT_DONE = ActionState()


@dataclass(frozen=True)
class Progress:
    key: str  # block key or role key
    title: str
    done: int
    total: int

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.done / self.total

    @property
    def complete(self) -> bool:
        return self.done == self.total


def _is_done(states: Mapping[str, ActionState], key: str) -> bool:
    state = states.get(key)
    return state is not None and state.done


def progress_by_block(
    template: ProtocolTemplate, states: Mapping[str, ActionState]
) -> dict[str, Progress]:
    """Done/total per block, in block order. Missing states count as not done."""
    return {
        b.key: Progress(
            b.key,
            b.title,
            sum(_is_done(states, a.key) for a in b.actions),
            len(b.actions),
        )
        for b in template.blocks
    }


def progress_by_role(
    template: ProtocolTemplate, states: Mapping[str, ActionState]
) -> dict[str, Progress]:
    """Done/total per role (all blocks), in role order; a role may own 0 actions."""
    result: dict[str, Progress] = {}
    for role in template.roles:
        owned = [a for a in template.actions if a.owner == role.key]
        result[role.key] = Progress(
            role.key,
            role.title,
            sum(_is_done(states, a.key) for a in owned),
            len(owned),
        )
    return result


def overall_progress(
    template: ProtocolTemplate, states: Mapping[str, ActionState]
) -> Progress:
    actions = template.actions
    done = sum(_is_done(states, a.key) for a in actions)
    return Progress(template.key, template.title, done, len(actions))


@dataclass(frozen=True)
class OverdueAction:
    action: Action
    block: Block
    due_at: datetime  # UTC
    overdue_by: timedelta


def overdue_actions(
    template: ProtocolTemplate,
    states: Mapping[str, ActionState],
    declared_at: datetime,
    now: datetime,
) -> list[OverdueAction]:
    """Not-done actions whose block ended before ``now``, most overdue first.

    Due times are ``declared_at`` plus the block's end offset in elapsed hours
    (UTC arithmetic), so clock changes neither shorten nor lengthen a block. The
    stand-down block and an open-ended last block are never overdue.
    """
    now = ensure_utc(now)
    result: list[OverdueAction] = []
    for block in template.blocks:
        if block.is_stand_down:
            continue
        _, due = block.window(declared_at)
        if due is None or now <= due:
            continue
        for action in block.actions:
            if not _is_done(states, action.key):
                result.append(OverdueAction(action, block, due, now - due))
    return result


def current_block(
    template: ProtocolTemplate, declared_at: datetime, now: datetime
) -> Block | None:
    """The timed block whose window contains ``now`` (None before declaration or
    after the last block ends)."""
    now = ensure_utc(now)
    for block in template.blocks:
        if block.is_stand_down:
            continue
        start, end = block.window(declared_at)
        if start is not None and start <= now and (end is None or now < end):
            return block
    return None


def outstanding_actions(
    template: ProtocolTemplate,
    states: Mapping[str, ActionState],
    *,
    include_stand_down: bool = False,
) -> list[Action]:
    """Actions not yet done, in template order."""
    return [
        a
        for b in template.blocks
        if include_stand_down or not b.is_stand_down
        for a in b.actions
        if not _is_done(states, a.key)
    ]


# --- tick / untick ----------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """The change is allowed; write ``state`` (its version is one higher)."""

    state: ActionState


@dataclass(frozen=True)
class Conflict:
    """Someone else got there first; ``message`` says who and when."""

    message: str
    by: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Rejected:
    """The request itself is wrong (unknown action, missing note, run closed…)."""

    message: str


TickResult = Accepted | Conflict | Rejected


def _when(at: datetime | None, now: datetime, tz: str | ZoneInfo) -> str:
    if at is None:
        return "an unknown time"
    same_day = to_local(at, tz).date() == to_local(now, tz).date()
    return (
        format_local(at, tz) if same_day else format_local(at, tz, "%H:%M on %a %d %b")
    )


def check_tick(
    template: ProtocolTemplate,
    action_key: str,
    current: ActionState | None,
    *,
    done: bool,
    by: str,
    now: datetime,
    tz: str | ZoneInfo,
    note: str | None = None,
    expected_version: int | None = None,
    run_status: str = RunStatus.ACTIVE,
) -> TickResult:
    """Decide a tick (``done=True``) or untick (``done=False``) of one action.

    ``current`` is the stored state (None = never touched). ``expected_version`` is
    the version the user saw; when given and different from the stored one the
    change is a conflict. Times in messages are in the trust's local time ``tz``.
    """
    action = template.action(action_key)
    if action is None:
        return Rejected(f"Unknown action {action_key!r} in {template.title}.")
    if run_status != RunStatus.ACTIVE:
        return Rejected(
            "This protocol has been stood down; its checklist is read-only."
        )
    person = " ".join((by or "").split())
    if not person:
        return Rejected("Say who is recording this action.")
    current = current or NOT_DONE
    now = ensure_utc(now)

    if done and current.done:
        who = current.done_by or "someone"
        return Conflict(
            f"Already done by {who} at {_when(current.done_at, now, tz)}.",
            by=current.done_by,
            at=current.done_at,
        )
    if not done and not current.done:
        return Conflict(
            "Not done, so there is nothing to untick (someone may have unticked it "
            "already); refresh to see the latest state."
        )
    if expected_version is not None and expected_version != current.version:
        last = ""
        if current.done_by:
            last = f" (last by {current.done_by} at {_when(current.done_at, now, tz)})"
        return Conflict(
            f"Changed by someone else since you loaded it{last}; refresh and try again.",
            by=current.done_by,
            at=current.done_at,
        )

    clean_note = " ".join(note.split()) if note else ""
    if done:
        if action.note_required and not clean_note:
            return Rejected(f"A note is required for “{action.text}”.")
        return Accepted(
            ActionState(
                done=True,
                done_at=now,
                done_by=person,
                note=clean_note or None,
                version=current.version + 1,
            )
        )
    return Accepted(
        ActionState(done=False, note=clean_note or None, version=current.version + 1)
    )


# --- role assignments ---------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """Who held a role, from when to when (``held_to`` None = holds it now)."""

    role_key: str
    person: str
    held_from: datetime
    held_to: datetime | None = None


def current_holders(assignments: Iterable[Assignment]) -> dict[str, Assignment]:
    """The open assignment of each role."""
    return {a.role_key: a for a in assignments if a.held_to is None}


def handover(
    assignments: Sequence[Assignment],
    role_key: str,
    new_person: str,
    now: datetime,
    *,
    template: ProtocolTemplate | None = None,
) -> list[Assignment]:
    """Hand ``role_key`` to ``new_person`` at ``now`` (or assign it the first time).

    Returns a new list: the previous holder's interval closed at ``now`` and a new
    open interval appended. Raises :class:`ProtocolRuleError` for a blank name, a
    handover to the person already holding the role, a time before the current
    holder took over, an unknown role (when ``template`` is given) or corrupt data
    with two open intervals for the role.
    """
    person = " ".join((new_person or "").split())
    if not person:
        raise ProtocolRuleError("Name the person taking over the role.")
    if template is not None and template.role(role_key) is None:
        raise ProtocolRuleError(f"Unknown role {role_key!r} in {template.title}.")
    now = ensure_utc(now)
    open_idx = [
        i
        for i, a in enumerate(assignments)
        if a.role_key == role_key and a.held_to is None
    ]
    if len(open_idx) > 1:
        raise ProtocolRuleError(f"Role {role_key!r} has more than one current holder.")
    updated = list(assignments)
    if open_idx:
        holder = updated[open_idx[0]]
        if holder.person.casefold() == person.casefold():
            raise ProtocolRuleError(f"{holder.person} already holds this role.")
        if now < ensure_utc(holder.held_from):
            raise ProtocolRuleError(
                "A handover cannot be earlier than the current holder took over."
            )
        updated[open_idx[0]] = replace(holder, held_to=now)
    updated.append(Assignment(role_key, person, now))
    return updated


def close_assignments(
    assignments: Sequence[Assignment], now: datetime
) -> list[Assignment]:
    """Close every open interval at ``now`` (used at stand-down)."""
    now = ensure_utc(now)
    return [
        a if a.held_to is not None else replace(a, held_to=now) for a in assignments
    ]


# --- declaration and stand-down ----------------------------------------------


def validate_declaration(
    template: ProtocolTemplate,
    declared_by: str,
    methane: Mapping[str, Any] | None = None,
) -> MethaneReport | None:
    """Check a declaration; returns the METHANE report when the template needs one."""
    if not " ".join((declared_by or "").split()):
        raise ProtocolRuleError("Name the person declaring the protocol.")
    if template.requires_methane:
        if methane is None:
            raise ProtocolRuleError(f"{template.title} needs a METHANE report.")
        return validate_methane(methane)
    return validate_methane(methane) if methane else None


@dataclass(frozen=True)
class StandDown:
    status: str  # RunStatus.STOOD_DOWN
    stood_down_by: str
    stood_down_at: datetime
    open_actions: tuple[Action, ...] = ()  # not done at stand-down: "early" if any
    reason: str | None = None  # why it was stood down (required when early)

    @property
    def early(self) -> bool:
        return bool(self.open_actions)


def stand_down(
    run_status: str,
    authorised_by: str,
    now: datetime,
    *,
    declared_at: datetime | None = None,
    open_actions: Sequence[Action] = (),
    reason: str | None = None,
) -> StandDown:
    """Stand an active run down; raise :class:`ProtocolRuleError` otherwise.

    ``open_actions`` are those not done (``outstanding_actions(...,
    include_stand_down=True)``). With any open the stand-down is *early*: it needs a reason, which is
    recorded with the list of what was left open."""
    if run_status not in RUN_STATUSES:
        raise ProtocolRuleError(f"Unknown run status {run_status!r}.")
    if run_status != RunStatus.ACTIVE:
        raise ProtocolRuleError("Only an active protocol can be stood down.")
    person = " ".join((authorised_by or "").split())
    if not person:
        raise ProtocolRuleError(
            "Stand-down needs the name of the person authorising it."
        )
    now = ensure_utc(now)
    if declared_at is not None and now < ensure_utc(declared_at):
        raise ProtocolRuleError("Stand-down cannot be earlier than the declaration.")
    why = (reason or "").strip() or None
    if open_actions and why is None:
        n = len(open_actions)
        raise ProtocolRuleError(
            f"{n} action{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} still "
            "open. Give the reason for standing down early."
        )
    return StandDown(RunStatus.STOOD_DOWN.value, person, now, tuple(open_actions), why)
