"""Surge-protocol runs as their readers see them: plain values, refusals, the
after-action timeline and the facility-snapshot fields.

``data.queries.protocols`` builds these from stored rows and ``data.writes.protocols``
raises the errors; components take them as values. The checklist rules themselves
are in :mod:`ops.protocols`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ops import protocols as rules
from ops.permissions import Role as UserRole
from ops.settings import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "config" / "protocols"


# ---------------------------------------------------------------------------
# Errors and inputs
# ---------------------------------------------------------------------------


class ProtocolStoreError(Exception):
    """A refused protocol operation; ``str(exc)`` is fit to show the user."""


class RunNotFound(ProtocolStoreError):
    pass


class Refused(ProtocolStoreError):
    """The rules, the input or the actor's permissions refuse the change.

    ``field_errors`` maps form field names to messages (declaration form).
    """

    def __init__(self, message: str, field_errors: Mapping[str, str] | None = None):
        super().__init__(message)
        self.field_errors = dict(field_errors or {})


class ActionConflict(ProtocolStoreError):
    """Someone else changed the same thing first; nothing was overwritten."""

    def __init__(self, message: str, by: str | None = None, at: datetime | None = None):
        super().__init__(message)
        self.by = by
        self.at = at


class TemplateVersionConflict(ProtocolStoreError):
    """A template file's content changed but its version number did not."""


@dataclass(frozen=True)
class RunTrigger:
    kind: str = "manual"  # manual, alert, opel
    detail: str | None = None


@dataclass(frozen=True)
class TemplateFile:
    template: rules.ProtocolTemplate
    path: Path


# ---------------------------------------------------------------------------
# Template files
# ---------------------------------------------------------------------------


_FILES_CACHE: dict[Path, tuple[tuple, dict[str, TemplateFile]]] = {}


def available_templates(directory: str | Path | None = None) -> dict[str, TemplateFile]:
    """Every template file in ``directory`` (default ``config/protocols``) by key.

    Raises :class:`ops.protocols.TemplateError` naming the file for a bad one or a
    key defined twice. Cached until a file changes (name, size or mtime).
    """
    directory = Path(directory) if directory is not None else TEMPLATES_DIR
    if not directory.is_dir():
        raise rules.TemplateError(directory, ["not a directory of protocol templates"])
    paths = sorted(
        p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
    )
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    cached = _FILES_CACHE.get(directory)
    if cached is not None and cached[0] == stamp:
        return dict(cached[1])
    out: dict[str, TemplateFile] = {}
    for path in paths:
        template = rules.load_template(path)
        if template.key in out:
            raise rules.TemplateError(
                path,
                [
                    f"duplicate template key {template.key!r} "
                    f"(already defined in {out[template.key].path.name})"
                ],
            )
        out[template.key] = TemplateFile(template, path)
    _FILES_CACHE[directory] = (stamp, out)
    return dict(out)


# ---------------------------------------------------------------------------
# Facility status snapshot (HICS 251 style)
# ---------------------------------------------------------------------------

SNAPSHOT_FIELDS: tuple[tuple[str, str], ...] = (
    ("beds_available", "Beds available"),
    ("beds_occupied", "Beds occupied"),
    ("beds_awaiting_clean", "Beds awaiting clean"),
    ("beds_blocked", "Beds blocked"),
    ("beds_closed", "Beds closed"),
    ("ga_occupancy_pct", "G&A occupancy %"),
    ("ed_in_department", "Patients in ED"),
    ("ed_waiting_to_be_seen", "Waiting to be seen"),
    ("ed_over_12h", "In ED > 12 h from arrival"),
    ("ambulances_waiting", "Ambulances waiting handover"),
    ("theatre_sessions_today", "Theatre sessions today"),
    ("theatre_sessions_cancelled_today", "Sessions cancelled today"),
    ("cases_in_theatre_now", "Cases in theatre now"),
    ("cases_cancelled_today", "Cases cancelled today"),
    # From the metric catalogue (data.queries.metrics), so they match every screen.
    ("ed_4h_pct_today", "ED 4-hour % today"),
    ("majors_resus_occupancy_pct", "Majors + resus occupancy %"),
    ("handovers_over_60_today", "Handovers > 60 min today"),
    ("escalation_beds_open", "Escalation beds open"),
    ("nctr_pct", "Beds occupied by NCTR patients %"),
)
CATALOGUE_FIELDS = (
    "ed_4h_pct_today",
    "majors_resus_occupancy_pct",
    "handovers_over_60_today",
    "escalation_beds_open",
    "nctr_pct",
)


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentRow:
    role_key: str
    person: str
    held_from: datetime
    held_to: datetime | None
    assigned_by: str
    contact: str | None = None  # bleep or phone


@dataclass(frozen=True)
class RunInfo:
    id: int
    template_key: str
    template_version: int
    title: str
    trigger_kind: str
    trigger_detail: str | None
    declared_by: str
    declared_by_role: str
    declared_at: datetime
    reason: str
    site_id: int | None
    site_code: str | None
    site_name: str | None
    status: str
    stood_down_by: str | None
    stood_down_at: datetime | None
    stand_down_note: str | None
    methane: dict | None
    facility_snapshot: dict
    version: int

    @property
    def scope_text(self) -> str:
        return self.site_name or "Trust-wide"

    @property
    def active(self) -> bool:
        return self.status == rules.RunStatus.ACTIVE


@dataclass(frozen=True)
class RunSummary:
    run: RunInfo
    template: rules.ProtocolTemplate
    overall: rules.Progress
    blocks: tuple[rules.Progress, ...]
    overdue: int


@dataclass(frozen=True)
class LogEntry:
    id: int
    at: datetime
    author: str
    author_role: str
    text: str


@dataclass
class RunDetail:
    run: RunInfo
    template: rules.ProtocolTemplate
    states: dict[str, rules.ActionState]
    assignments: list[AssignmentRow] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)  # newest first


@dataclass(frozen=True)
class BannerRun:
    id: int
    title: str
    scope: str
    done: int
    total: int
    overdue: int


# ---------------------------------------------------------------------------
# After-action timeline
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionEventRow:
    """One tick or untick of an action, as stored (``protocol_action_event``)."""

    id: int
    at: datetime
    action_key: str
    done: bool
    by: str
    note: str | None


class EventType:
    DECLARED = "declared"
    SNAPSHOT = "facility snapshot"
    ROLE_ASSIGNED = "role assigned"
    ROLE_HANDOVER = "role handover"
    ACTION_DONE = "action done"
    ACTION_UNDONE = "action unticked"
    LOG = "log entry"
    STOOD_DOWN = "stood down"


_ORDER = {
    EventType.DECLARED: 0,
    EventType.SNAPSHOT: 1,
    EventType.ROLE_ASSIGNED: 2,
    EventType.ROLE_HANDOVER: 2,
    EventType.ACTION_DONE: 3,
    EventType.ACTION_UNDONE: 3,
    EventType.LOG: 4,
    EventType.STOOD_DOWN: 9,
}


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    event: str  # an EventType value
    block: str = ""
    action: str = ""
    person: str = ""
    role: str = ""
    detail: str = ""
    seq: int = 0  # tie-breaker within the same instant (insertion order)


def snapshot_summary(snapshot: Mapping[str, Any]) -> str:
    total = snapshot.get("total") or {}
    if not total:
        return "no facility data"
    occ = total.get("ga_occupancy_pct")
    parts = [
        f"G&A occupancy {'—' if occ is None else f'{occ:.1f}%'}",
        f"beds available {total.get('beds_available', '—')}",
        f"ED in department {total.get('ed_in_department', '—')}",
        f"waiting to be seen {total.get('ed_waiting_to_be_seen', '—')}",
        f"> 12 h {total.get('ed_over_12h', '—')}",
        f"ambulances waiting {total.get('ambulances_waiting', '—')}",
        f"theatre sessions today {total.get('theatre_sessions_today', '—')}"
        f" ({total.get('theatre_sessions_cancelled_today', '—')} cancelled)",
    ]
    return "; ".join(parts)


def user_role_label(role: str) -> str:
    try:
        return UserRole(role).label
    except ValueError:
        return role


def build_timeline(
    detail: RunDetail, action_events: Iterable[ActionEventRow]
) -> list[TimelineEvent]:
    """The after-action timeline of a run, ordered by time: declaration, snapshot,
    role assignments, action ticks (``action_events`` in the order they happened),
    log entries and the stand-down."""
    run, template = detail.run, detail.template
    events: list[TimelineEvent] = [
        TimelineEvent(
            run.declared_at,
            EventType.DECLARED,
            person=run.declared_by,
            role=user_role_label(run.declared_by_role),
            detail=f"{template.title} (v{run.template_version}) · {run.scope_text} · "
            f"trigger: {run.trigger_kind}"
            + (f" ({run.trigger_detail})" if run.trigger_detail else "")
            + f" · reason: {run.reason}",
        ),
        TimelineEvent(
            run.declared_at,
            EventType.SNAPSHOT,
            detail=snapshot_summary(run.facility_snapshot),
        ),
    ]
    roles = {r.key: r.title for r in template.roles}
    previous: dict[str, str] = {}
    for i, a in enumerate(detail.assignments):
        before = previous.get(a.role_key)
        events.append(
            TimelineEvent(
                a.held_from,
                EventType.ROLE_HANDOVER if before else EventType.ROLE_ASSIGNED,
                person=a.person,
                role=roles.get(a.role_key, a.role_key),
                detail=(f"took over from {before}; " if before else "")
                + f"by {a.assigned_by}",
                seq=i,
            )
        )
        previous[a.role_key] = a.person
    for e in action_events:
        action = template.action(e.action_key)
        block = template.block_of(e.action_key)
        events.append(
            TimelineEvent(
                e.at,
                EventType.ACTION_DONE if e.done else EventType.ACTION_UNDONE,
                block=block.title if block else "",
                action=action.text if action else e.action_key,
                person=e.by,
                role=roles.get(action.owner, action.owner) if action else "",
                detail=e.note or "",
                seq=e.id,
            )
        )
    for entry in reversed(detail.log):
        events.append(
            TimelineEvent(
                entry.at,
                EventType.LOG,
                person=entry.author,
                role=entry.author_role,
                detail=entry.text,
                seq=entry.id,
            )
        )
    if run.stood_down_at is not None:
        events.append(
            TimelineEvent(
                run.stood_down_at,
                EventType.STOOD_DOWN,
                person=run.stood_down_by or "",
                detail=run.stand_down_note or "",
            )
        )
    events.sort(key=lambda e: (e.at, _ORDER.get(e.event, 5), e.seq))
    return events
