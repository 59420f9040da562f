"""Overview page: a trust row and one section per site of beds, ED and theatre tiles.

Pure builders. Values come from ``data.queries.metrics.MetricSnapshot`` (catalogue
metrics) and ``data.queries.overview.OverviewExtras`` (breakdowns); every tile links
to its page pre-filtered to the scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.common import Status, kpi_tile, page_header, worst_status

TRUST_SCOPE = "trust"


class IDS:
    body = "overview-body"
    sent = "overview-sent"  # hashes of what the browser shows (callbacks.delta)
    freshness = "overview-freshness"

    @staticmethod
    def tile(scope: str, key: str) -> str:
        """``overview-rgh-available`` (value at ``-value``), ``overview-trust-ed-in``."""
        return f"overview-{scope.lower()}-{key}"

    @staticmethod
    def section(scope: str) -> str:
        return f"overview-{scope.lower()}-card"


# A band's severity (the alert rule's) as a tile status; an info rule does not colour
# a tile.
BAND_STATUS: dict[str, Status] = {
    "critical": Status.CRITICAL,
    "warning": Status.WARNING,
}


def band_status(
    bands: Mapping[str, Any] | None, metric: str, value: float | None
) -> Status:
    """The threshold band of a value: ``bands`` maps a metric to its display bands
    (``ops.alerting.metric_bands``: the alert rules' thresholds, passed in by the
    callback). OK when the metric has no band or there is no value. Overview tiles
    use :func:`rule_status` (the alerts' own state) instead."""
    spec = (bands or {}).get(metric)
    if spec is None or value is None:
        return Status.OK
    severity = spec.severity_of(value)
    return BAND_STATUS.get(str(severity), Status.OK) if severity else Status.OK


# A tile's status is the state of the alert rules on its figure at its scope (or on
# the figure it is the other side of: beds free is G&A occupancy seen from the bed
# manager's side), so a tile can never say OK while the rule on it is pending or
# firing.
TILE_RULE_METRICS: dict[str, tuple[str, ...]] = {
    "occupancy": ("ga_occupancy_pct",),
    "available": ("ga_occupancy_pct",),
    "escalation": ("escalation_beds_open", "escalation_beds_pct"),
    "nctr": ("nctr_pct", "nctr_count"),
    "flow-free": ("ga_occupancy_pct",),
    "ed-in": ("majors_resus_occupancy_pct",),
    "ed-4h": ("ed_4h_pct_24h",),
    "ed-12h": ("ed_over_12h_count", "ed_over_12h_pct"),
    "ed-ambulances": ("ambulances_waiting_over_30",),
    "ed-handovers-60": ("handovers_over_60_today",),
    "theatres-cancelled": ("theatre_cancellations_today",),
}

_STATE_WORDS = {
    "firing": "firing",
    "recovering": "recovering",
    "pending": "pending",
    "no_data": "no data",
    "error": "evaluation error",
}


def rule_status(alerts: Sequence[Any]) -> tuple[Status, str | None]:
    """The tile status of the active alerts on a tile (``AlertView``-like: state,
    severity, title), and the words that say why.

    Firing or recovering: the rule's severity (an info rule does not colour a tile);
    pending (the condition holds, its ``for`` time is running): warning whatever the
    severity; no data / error: missing / error. No active alert: OK."""
    worst, why = Status.OK, None
    for a in alerts:
        if a.state in ("firing", "recovering"):
            status = BAND_STATUS.get(a.severity, Status.OK)
        elif a.state == "pending":
            status = Status.WARNING if a.severity != "info" else Status.OK
        elif a.state == "no_data":
            status = Status.MISSING
        elif a.state == "error":
            status = Status.ERROR
        else:
            continue
        if status is not Status.OK and (why is None or status.rank > worst.rank):
            worst = status
            why = f"{a.title}: {_STATE_WORDS.get(a.state, a.state)}"
    return worst, why


def tile_alerts(rule_states: Mapping[str, Sequence[Any]] | None, key: str) -> list[Any]:
    """The active alerts (by metric, ``ops.alert_views.alerts_by_metric``) on a tile."""
    found: list[Any] = []
    for metric in TILE_RULE_METRICS.get(key, ()):
        found.extend((rule_states or {}).get(metric, ()))
    return found


WARD_TYPE_SHORT: dict[str, str] = {
    "general_acute": "G&A",
    "assessment": "Assessment",
    "critical_care": "Critical care",
    "paediatric": "Paediatric",
    "escalation": "Escalation",
}


@dataclass(frozen=True)
class ScopeValues:
    """Everything one section shows, as plain values (``None`` = no data)."""

    metrics: Mapping[str, float | None]  # catalogue metric -> value for this scope
    available_by_type: Mapping[str, int]
    lists_running: int | None
    lists_planned_today: int | None
    cases_done_today: int | None


def _int(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


@dataclass(frozen=True)
class TileSpec:
    key: str  # id suffix: overview-<scope>-<key>
    title: str
    page: str  # /beds, /ed, /theatres
    value: Callable[[ScopeValues], Any]
    unit: str = ""
    band_metric: str | None = None  # the alert-rule metric the figure is (chart words)
    detail: Callable[[ScopeValues], Any] | None = None


def _m(metric: str) -> Callable[[ScopeValues], int | None]:
    return lambda v: _int(v.metrics.get(metric))


def _available_detail(v: ScopeValues) -> Any:
    parts = [
        f"{WARD_TYPE_SHORT.get(t, t)} {n}"
        for t, n in sorted(
            v.available_by_type.items(), key=lambda kv: kv[0] != "general_acute"
        )
    ]
    return " · ".join(parts) if parts else "none in any ward type"


def _blocked_closed(v: ScopeValues) -> str | None:
    blocked, closed = v.metrics.get("beds_blocked"), v.metrics.get("beds_closed")
    if blocked is None or closed is None:
        return None
    return f"{int(blocked)} / {int(closed)}"


BED_TILES: tuple[TileSpec, ...] = (
    TileSpec("occupancy", "G&A occupancy", "/beds",
             lambda v: _pct(v.metrics.get("ga_occupancy_pct")), "%", "ga_occupancy_pct",
             lambda v: "amber ≥ 92%, red ≥ 95%"),
    TileSpec("available", "Beds available now", "/beds", _m("beds_available"),
             detail=_available_detail),
    TileSpec("occupied", "Beds occupied", "/beds", _m("beds_occupied")),
    TileSpec("awaiting-clean", "Beds awaiting clean", "/beds", _m("beds_awaiting_clean")),
    TileSpec("blocked-closed", "Blocked / closed beds", "/beds", _blocked_closed),
    TileSpec("escalation", "Escalation beds open", "/beds", _m("escalation_beds_open"),
             detail=lambda v: f"{_pct_text(v.metrics.get('escalation_beds_pct'))} of open beds"),
    TileSpec("nctr", "No criteria to reside", "/beds", _m("nctr_count"),
             detail=lambda v: f"{_pct_text(v.metrics.get('nctr_pct'))} of occupied beds"),
)  # fmt: skip

ED_TILES: tuple[TileSpec, ...] = (
    TileSpec("ed-in", "Patients in ED", "/ed", _m("ed_in_department")),
    TileSpec("ed-waiting", "Waiting to be seen", "/ed", _m("ed_waiting_to_be_seen")),
    TileSpec("ed-4h", "4-hour performance today", "/ed",
             lambda v: _pct(v.metrics.get("ed_4h_pct_today")), "%", "ed_4h_pct_today",
             lambda v: "since midnight · target 78%"),
    TileSpec("ed-12h", "Patients > 12 h in ED", "/ed", _m("ed_over_12h_count"),
             detail=lambda v: f"{_pct_text(v.metrics.get('ed_over_12h_pct'))} of patients in ED"),
    TileSpec("ed-ambulances", "Ambulances waiting", "/ed", _m("ambulances_waiting"),
             detail=lambda v: f"> 30 min: {_fmt_count(v.metrics.get('ambulances_waiting_over_30'))}"),
    TileSpec("ed-handovers-30", "Handovers > 30 min today", "/ed",
             _m("handovers_over_30_today")),
    TileSpec("ed-handovers-60", "Handovers > 60 min today", "/ed",
             _m("handovers_over_60_today")),
)  # fmt: skip

THEATRE_TILES: tuple[TileSpec, ...] = (
    TileSpec("theatres-running", "Lists running now", "/theatres", lambda v: v.lists_running,
             detail=lambda v: f"{_fmt_count(v.lists_planned_today)} planned today"),
    TileSpec("theatres-done", "Cases done today", "/theatres", lambda v: v.cases_done_today),
    TileSpec("theatres-cancelled", "On-the-day cancellations", "/theatres",
             _m("theatre_cancellations_today"), detail=lambda v: "since midnight"),
)  # fmt: skip


def _discharges_detail(v: ScopeValues) -> str | None:
    expected = v.metrics.get("expected_discharges_today")
    return None if expected is None else f"of {int(expected)} expected today"


FLOW_TILES: tuple[TileSpec, ...] = (
    TileSpec("flow-free", "G&A beds free now", "/flow", _m("ga_beds_free")),
    TileSpec("flow-waiting", "Waiting for a bed", "/flow", _m("waiting_for_bed"),
             detail=lambda v: "decision to admit, still in ED"),
    TileSpec("flow-discharges", "Discharges today", "/flow", _m("discharges_today"),
             detail=_discharges_detail),
)  # fmt: skip

GROUPS: tuple[tuple[str, str, tuple[TileSpec, ...]], ...] = (
    ("Beds", "bi-hospital", BED_TILES),
    ("Patient flow", "bi-arrow-left-right", FLOW_TILES),
    ("Emergency department", "bi-heart-pulse", ED_TILES),
    ("Theatres", "bi-scissors", THEATRE_TILES),
)


def _fmt_count(value: float | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def layout() -> html.Div:
    return html.Div(
        [
            page_header(
                "Overview",
                "Beds, emergency department and theatres: trust and per site",
                right=html.Div(id=IDS.freshness),
            ),
            html.Div(id=IDS.body, children=html.P("Loading…", className="text-muted")),
            dcc.Store(id=IDS.sent),
        ]
    )


def _href(page: str, site_code: str | None) -> str:
    return f"{page}?site={site_code}" if site_code else page


def tile(
    spec: TileSpec,
    values: ScopeValues,
    scope: str,
    site_code: str | None,
    as_of_text: str | None,
    fresh_status: Status,
    rule_states: Mapping[str, Sequence[Any]] | None = None,
) -> Any:
    """One tile; its status is the worst of the data's freshness and the state of
    the alert rules on it (``rule_states``: active alerts of this scope by metric)."""
    value = spec.value(values)
    status, why = rule_status(tile_alerts(rule_states, spec.key))
    detail = spec.detail(values) if spec.detail else None
    if why is not None:
        line = html.Div(
            why, className="kpi-rule", id=IDS.tile(scope, spec.key) + "-rule"
        )
        detail = html.Div([detail, line]) if detail is not None else line
    return kpi_tile(
        spec.title,
        value,
        spec.unit,
        as_of_text,
        worst_status([fresh_status, status]),
        href=_href(spec.page, site_code),
        tile_id=IDS.tile(scope, spec.key),
        detail=detail,
    )


def scope_section(
    title: str,
    scope: str,
    site_code: str | None,
    values: ScopeValues,
    as_of_text: str | None,
    fresh_status: Status,
    rule_states: Mapping[str, Sequence[Any]] | None = None,
) -> dbc.Card:
    """One card (trust or a site): a labelled row of tiles per area."""
    rows = []
    # One "as of" per section (in its header): every tile of a section is read from
    # the same snapshot, so a line per tile would repeat it 20 times.
    shared = (values, scope, site_code, None, fresh_status, rule_states)
    for label, icon, specs in GROUPS:
        rows.append(
            html.Div(
                [
                    html.H3(
                        [
                            html.I(
                                className=f"bi {icon} me-2", **{"aria-hidden": "true"}
                            ),
                            label,
                        ],
                        className="h6 text-muted mb-2",
                    ),
                    html.Div(
                        [tile(s, *shared) for s in specs],
                        style={
                            "display": "grid",
                            "gridTemplateColumns": "repeat(auto-fill, minmax(220px, 1fr))",
                            "gridAutoRows": "minmax(150px, auto)",
                            "gap": "0.75rem",
                        },
                    ),
                ],
                className="mb-3",
            )
        )
    header = html.Div(
        [
            html.H2(title, className="h5 mb-0"),
            html.Span(
                f"as of {as_of_text}" if as_of_text else "no data yet",
                className="small text-muted",
                id=IDS.section(scope) + "-as-of",
            ),
        ],
        # title then "as of" on its own line: every section's header one height,
        # so the same figure lines up across sections
    )
    return dbc.Card(
        [dbc.CardHeader(header), dbc.CardBody(rows, className="pb-0")],
        className="mb-3 h-100",
        id=IDS.section(scope),
    )


def sections_row(sections: list[Any]) -> dbc.Row:
    """Trust and sites side by side, so the same figure lines up across scopes."""
    # Side by side on wide screens (the command centre wall), stacked below 1400 px.
    return dbc.Row([dbc.Col(s, xs=12, xxl=True, className="mb-3") for s in sections])
