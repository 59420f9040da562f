"""Overview refresh: trust and per-site tiles from one pass of queries."""

from __future__ import annotations

from dash import Dash, Input, Output, html

from callbacks.common import freshness, query_failed
from components import overview
from components.shell import IDS as SHELL
from data.queries.metrics import MetricSnapshot, snapshot_metrics
from data.queries.overview import TRUST, OverviewExtras, overview_extras
from data.runtime import current


def scope_values(
    snap: MetricSnapshot, extras: OverviewExtras, kind: str, scope_id: str, key: str
) -> overview.ScopeValues:
    """The section's values: catalogue metrics of one scope plus the breakdowns."""
    return overview.ScopeValues(
        metrics={
            m: v
            for (m, k, sid), v in snap.values.items()
            if k == kind and sid == scope_id
        },
        available_by_type=dict(extras.available_by_type.get(key, {})),
        lists_running=extras.lists_running.get(key, 0),
        lists_planned_today=extras.lists_planned_today.get(key, 0),
        cases_done_today=extras.cases_done_today.get(key, 0),
    )


def refresh(_n: int | None, _body_id: str | None = None) -> tuple[object, object]:
    runtime = current()
    now = runtime.now()
    tz = runtime.settings.timezone
    try:
        with runtime.factory() as session:
            snap = snapshot_metrics(session, now, tz)
            extras = overview_extras(session, now, tz)
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
            overview.scope_section(
                title,
                overview.TRUST_SCOPE,
                None,
                values,
                fresh.as_of_text,
                fresh.status,
            )
        )
    for code in sites:
        values = scope_values(snap, extras, "site", code, code)
        sections.append(
            overview.scope_section(
                f"{snap.labels[('site', code)]} ({code})",
                code,
                code,
                values,
                fresh.as_of_text,
                fresh.status,
            )
        )
    return fresh.line, overview.sections_row(sections)


def register(app: Dash) -> None:
    app.callback(
        Output(overview.IDS.freshness, "children"),
        Output(overview.IDS.body, "children"),
        Input(SHELL.poll, "n_intervals"),
        Input(overview.IDS.body, "id"),
    )(refresh)
