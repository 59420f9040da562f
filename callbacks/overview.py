"""Overview refresh: trust and per-site tiles from one pass of queries."""

from __future__ import annotations

from dash import Dash, Input, Output, State, html

from callbacks import delta
from callbacks.common import freshness, query_failed
from components import overview
from components.shell import IDS as SHELL
from data.queries.alerts import current_alerts
from data.queries.metrics import MetricSnapshot, shared_snapshot
from data.queries.overview import TRUST, OverviewExtras, overview_extras
from data.runtime import current
from ops.alert_views import alerts_by_metric


def scope_values(
    snap: MetricSnapshot, extras: OverviewExtras, kind: str, scope_id: str, key: str
) -> overview.ScopeValues:
    """The section's values: catalogue metrics of one scope plus the breakdowns.

    Breakdowns of a domain no feed has reported are missing, not zero."""
    beds = "beds" not in snap.unreported
    theatres = "theatres" not in snap.unreported
    return overview.ScopeValues(
        metrics={
            m: v
            for (m, k, sid), v in snap.values.items()
            if k == kind and sid == scope_id
        },
        available_by_type=dict(extras.available_by_type.get(key, {})) if beds else {},
        lists_running=extras.lists_running.get(key, 0) if theatres else None,
        lists_planned_today=(
            extras.lists_planned_today.get(key, 0) if theatres else None
        ),
        cases_done_today=extras.cases_done_today.get(key, 0) if theatres else None,
    )


def _states_key(rule_states: dict) -> tuple:
    """What a section shows of its alerts (not their evaluation times)."""
    return tuple(
        sorted(
            (m, a.rule_id, a.state, a.severity, a.title)
            for m, found in rule_states.items()
            for a in found
        )
    )


def _section(
    title: str,
    scope: str,
    site_code: str | None,
    values: overview.ScopeValues,
    as_of_text: str | None,
    status: object,
    rule_states: dict,
) -> object:
    """A scope's section, rebuilt only when something it shows has changed (kept in
    its JSON form, which Dash sends as it is)."""
    key = ("overview-section", title, scope, site_code, repr(values), as_of_text,
           status, _states_key(rule_states))  # fmt: skip
    return delta.PARTS.get(
        key,
        lambda: overview.scope_section(
            title, scope, site_code, values, as_of_text, status, rule_states
        ),
    )


def refresh(_n: int | None, _body_id: str | None = None) -> tuple[object, object]:
    runtime = current()
    now = runtime.now()
    tz = runtime.settings.timezone
    try:
        with runtime.factory() as session:
            snap = shared_snapshot(session, now, tz)
            extras = overview_extras(session, now, tz)
            # Tile statuses are the alerts' own states (one source with the banner).
            alerts = current_alerts(session, now)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("overview", exc)
        return fresh.line, html.P("Figures could not be read.", className="text-danger")
    fresh = freshness(runtime, snap.as_of)
    sites = snap.scopes("site")
    if not sites:
        return fresh.line, html.P(
            "No sites are configured yet.", className="text-muted"
        )
    sections = []
    for trust_id in snap.scopes("trust"):
        title = f"Trust · {snap.labels[('trust', trust_id)]}"
        values = scope_values(snap, extras, "trust", trust_id, TRUST)
        sections.append(
            _section(
                title,
                overview.TRUST_SCOPE,
                None,
                values,
                fresh.as_of_text,
                fresh.status,
                alerts_by_metric(alerts, "trust", trust_id),
            )
        )
    for code in sites:
        values = scope_values(snap, extras, "site", code, code)
        sections.append(
            _section(
                f"{snap.labels[('site', code)]} ({code})",
                code,
                code,
                values,
                fresh.as_of_text,
                fresh.status,
                alerts_by_metric(alerts, "site", code),
            )
        )
    return fresh.line, overview.sections_row(sections)


def poll(n: int | None, body_id: str | None = None, sent: list | None = None) -> tuple:
    """The registered refresh: one render shared by every poller (``callbacks.delta``),
    sent as what changed for this browser."""
    runtime = current()
    return delta.poll(
        ("overview",),
        lambda: refresh(n, body_id),
        sent,
        version=delta.version_of(runtime),
    )


def register(app: Dash) -> None:
    app.callback(
        Output(overview.IDS.freshness, "children"),
        Output(overview.IDS.body, "children"),
        Output(overview.IDS.sent, "data"),
        Input(SHELL.poll, "n_intervals"),
        Input(overview.IDS.body, "id"),
        State(overview.IDS.sent, "data"),
    )(poll)
