"""What the alert store gives its readers: plain values for pages, the banner, the
wall and the read API (``data.queries.alerts`` builds them from stored rows).

Also the orders and keys every reader uses: most urgent first, and one key per
alert and episode for "new since the last poll" checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ops.alerting import Severity
from ops.opel import OpelResult

# Display order of states in the current-alerts list (most urgent first).
STATE_ORDER = {
    "firing": 0,
    "error": 1,
    "no_data": 2,
    "pending": 3,
    "recovering": 4,
    "normal": 5,
}


@dataclass(frozen=True)
class AlertView:
    id: int
    rule_id: str
    scope_kind: str
    scope_id: str
    scope_label: str
    title: str
    metric: str | None
    unit: str
    severity: str
    state: str
    since: datetime
    value: float | None
    last_evaluated_at: datetime
    active_since: datetime | None
    episode_started_at: datetime | None
    acknowledged: bool  # an acknowledgement covers the current spell
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_note: str | None
    silenced: bool  # a silence is running now
    silenced_until: datetime | None
    silenced_by: str | None
    silence_reason: str | None
    needs_attention: bool
    version: int

    @property
    def key(self) -> str:
        return f"{self.rule_id}/{self.scope_kind}/{self.scope_id}"

    @property
    def is_active(self) -> bool:
        return self.state != "normal"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "title": self.title,
            "scope_kind": self.scope_kind,
            "scope_id": self.scope_id,
            "scope_label": self.scope_label,
            "metric": self.metric,
            "unit": self.unit,
            "severity": self.severity,
            "state": self.state,
            "since": self.since.isoformat(),
            "value": self.value,
            "last_evaluated_at": self.last_evaluated_at.isoformat(),
            "acknowledged": self.acknowledged,
            "acknowledged_by": self.acknowledged_by if self.acknowledged else None,
            "acknowledged_at": _iso(self.acknowledged_at)
            if self.acknowledged
            else None,
            "ack_note": self.ack_note if self.acknowledged else None,
            "silenced": self.silenced,
            "silenced_until": _iso(self.silenced_until) if self.silenced else None,
            "silenced_by": self.silenced_by if self.silenced else None,
            "silence_reason": self.silence_reason if self.silenced else None,
            "needs_attention": self.needs_attention,
            "version": self.version,
        }


def alert_sort_key(a: AlertView) -> tuple:
    return (
        STATE_ORDER.get(a.state, 9),
        -Severity(a.severity).rank if a.severity in Severity._value2member_map_ else 0,
        a.since,
        a.rule_id,
        a.scope_id,
    )


@dataclass(frozen=True)
class EventFilters:
    rule: str | None = None
    scope: str | None = None  # "<kind>:<id>"
    state: str | None = None  # an alert state (to_state) or an event kind
    date_from: date | None = None  # local calendar dates, inclusive
    date_to: date | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilters:
        return cls(
            rule=query.get("rule") or None,
            scope=query.get("scope") or None,
            state=query.get("state") or None,
            date_from=_parse_date(query.get("from")),
            date_to=_parse_date(query.get("to")),
        )

    def problem(self) -> str | None:
        """Why these filters can match nothing, in words; ``None`` when they can."""
        if self.date_from and self.date_to and self.date_from > self.date_to:
            return (
                f"“From” ({self.date_from:%d/%m/%Y}) is after “To” "
                f"({self.date_to:%d/%m/%Y}), so no day is in the range. "
                "Swap the dates or clear one."
            )
        return None


@dataclass(frozen=True)
class EventView:
    id: int
    alert_id: int
    rule_id: str
    title: str
    scope_kind: str
    scope_id: str
    scope_label: str
    kind: str
    at: datetime
    from_state: str | None
    to_state: str | None
    value: float | None
    unit: str
    reason: str | None
    actor: str | None
    actor_username: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "title": self.title,
            "scope_kind": self.scope_kind,
            "scope_id": self.scope_id,
            "scope_label": self.scope_label,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "value": self.value,
            "unit": self.unit,
            "reason": self.reason,
            "actor": self.actor,
            "actor_username": self.actor_username,
        }


@dataclass(frozen=True)
class HistoryOptions:
    rules: list[tuple[str, str]]  # (rule id, title)
    scopes: list[tuple[str, str]]  # ("kind:id", label)


@dataclass(frozen=True)
class OpelView:
    scope_kind: str
    scope_id: str
    scope_label: str
    assessed_at: datetime
    level: int | None
    total: float
    config_version: str
    incomplete: bool
    result: OpelResult

    def to_json(self) -> dict[str, Any]:
        return {
            "scope_kind": self.scope_kind,
            "scope_id": self.scope_id,
            "scope_label": self.scope_label,
            "assessed_at": self.assessed_at.isoformat(),
            "level": self.level,
            "total": self.total,
            "config_version": self.config_version,
            "incomplete": self.incomplete,
            "breakdown": self.result.to_dict(),
        }


@dataclass(frozen=True)
class TrendPoint:
    scope_kind: str
    scope_id: str
    scope_label: str
    at: datetime
    level: int | None


@dataclass(frozen=True)
class EvaluationInfo:
    last_run_at: datetime
    rules_version: str
    opel_config_version: str
    runs: int


def alerts_by_metric(
    alerts: Iterable[AlertView], scope_kind: str, scope_id: str
) -> dict[str, tuple[AlertView, ...]]:
    """The active alerts of one scope per metric, most urgent first: what a tile on
    that metric shows as its status (the alert state itself, never a second
    computation of the thresholds)."""
    out: dict[str, list[AlertView]] = {}
    for a in sorted(alerts, key=alert_sort_key):
        if (
            a.metric
            and a.is_active
            and a.scope_kind == scope_kind
            and str(a.scope_id) == str(scope_id)
        ):
            out.setdefault(a.metric, []).append(a)
    return {m: tuple(found) for m, found in out.items()}


def firing_key(alert: AlertView) -> str:
    """One key per alert and episode, for "new since the last poll" checks: a return
    to firing within the same episode is not new; an OPEL escalation is."""
    return f"{alert.id}@{_iso(alert.episode_started_at)}"


def firing_keys(alerts: Iterable[AlertView]) -> list[str]:
    return sorted(firing_key(a) for a in alerts if a.state == "firing")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
