"""ED page glue and the read API ``GET /api/v1/ed``.

Catalogue figures (tiles, per-area patients, handover counts) come from the metric
snapshot (``data.queries.metrics``); the distributions, arrivals and the handover
queue from ``data.queries.ed``.
"""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash, Input, Output, State, no_update
from flask import jsonify, request

from callbacks import delta
from callbacks.common import (
    filter_sync,
    freshness,
    no_data_yet_json,
    query_failed,
)
from callbacks.router import parse_query
from components import chart_text, ed
from components.common import empty_figure
from components.shell import IDS as SHELL
from data.queries import ed as q
from data.queries.feeds import reported_domains
from data.queries.metrics import MetricSnapshot, shared_snapshot
from data.runtime import current
from ops.alerting import tile_bands

log = logging.getLogger(__name__)

API_PATH = "/api/v1/ed"


def scope_of(snap: MetricSnapshot, site: str | None) -> tuple[str, str]:
    """The snapshot scope for a site filter: the site, or the whole trust."""
    if site:
        return "site", site
    trusts = snap.scopes("trust")
    return "trust", trusts[0] if trusts else "trust"


def _int(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def tile_values(snap: MetricSnapshot, site: str | None) -> ed.EdTiles:
    kind, sid = scope_of(snap, site)
    return ed.EdTiles(
        in_department=_int(snap.get("ed_in_department", kind, sid)),
        waiting_to_be_seen=_int(snap.get("ed_waiting_to_be_seen", kind, sid)),
        four_hour_pct_today=snap.get("ed_4h_pct_today", kind, sid),
        over_12h_count=_int(snap.get("ed_over_12h_count", kind, sid)),
        over_12h_pct=snap.get("ed_over_12h_pct", kind, sid),
        median_time_to_treatment_min=snap.get(
            "median_time_to_treatment_min", kind, sid
        ),
        ambulances_waiting_over_30=_int(
            snap.get("ambulances_waiting_over_30", kind, sid)
        ),
    )


def area_lines(snap: MetricSnapshot, areas: list[q.EdAreaRow]) -> list[ed.AreaLine]:
    return [
        ed.AreaLine(
            site_code=a.site_code,
            area_code=a.code,
            name=a.name,
            patients=_int(snap.get("ed_in_department", "ed_area", a.scope_id)),
            spaces=a.spaces,
            occupancy_pct=snap.get("ed_area_occupancy_pct", "ed_area", a.scope_id),
        )
        for a in areas
    ]


def _site_label(site: str | None, sites: list[tuple[str, str]]) -> str:
    if not site:
        return "All sites"
    return dict(sites).get(site, site)


def _as_of(as_of_text: str | None) -> str | None:
    return f"as of {as_of_text}" if as_of_text else None


def refresh(search: str | None, _n: int | None, _body_id: str | None = None) -> tuple:
    """Everything on the page from one read session.

    Returns: freshness, tiles, area table, time-in-department figure, arrivals figure,
    arrivals note, handover counts, handover table, heatmap, heatmap note, site options,
    and the three charts' texts.
    """
    runtime = current()
    tz = runtime.settings.timezone
    query = parse_query(search)
    site = query.get("site") or None
    if site == ed.ALL_SITES:
        site = None
    weeks = ed.weeks_from_query(query)
    now = runtime.now()
    try:
        with runtime.factory() as session:
            data = q.ed_page_data(session, now, tz, site, weeks)
            snap = shared_snapshot(session, now, tz)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("ed", exc)
        message = ed.error_message("ED figures")
        failed = empty_figure("Data could not be read")
        return (fresh.line, message, message, failed, failed, "", "", message, failed, "",
                no_update, *_texts(chart_text.unavailable(
                    "ED figures could not be read.")))  # fmt: skip
    options = ed.site_options(data.sites)
    if site and site not in dict(data.sites):
        fresh = freshness(runtime, snap.as_of)
        message = ed.error_message(f"Site {site!r} is unknown; its figures")
        empty = empty_figure(f"Unknown site {site}")
        return (
            fresh.line,
            message,
            message,
            empty,
            empty,
            "",
            "",
            message,
            empty,
            "",
            options,
            *_texts(chart_text.unavailable(f"Site {site!r} is unknown; no figures.")),
        )
    fresh = freshness(runtime, snap.as_of)
    values = tile_values(snap, site)
    kind, sid = scope_of(snap, site)
    label = _site_label(site, data.sites)
    uirevision = f"ed|{site or 'all'}"
    show_site = site is None
    return (
        fresh.line,
        ed.tiles(values, _as_of(fresh.as_of_text), fresh.status, tile_bands(kind)),
        ed.area_table(area_lines(snap, data.areas), show_site),
        ed.time_in_department_figure(data.time_in_department, uirevision),
        ed.arrivals_figure(data.today, uirevision),
        ed.arrivals_note(data.today, label),
        ed.handover_counts(_int(snap.get("handovers_over_30_today", kind, sid)),
                           _int(snap.get("handovers_over_60_today", kind, sid))),
        ed.handover_table(data.handovers, tz, show_site),
        ed.heatmap_figure(data.heatmap, uirevision),
        ed.heatmap_note(data.heatmap, label),
        options,
        *_texts(chart_text.time_in_department_text(data.time_in_department),
                chart_text.arrivals_today_text(data.today),
                chart_text.arrivals_heatmap_text(data.heatmap)),
    )  # fmt: skip


TEXT_GRAPHS = (ed.IDS.tid, ed.IDS.arrivals, ed.IDS.heatmap)


def _texts(*texts: chart_text.ChartText) -> list[list]:
    """The rendered texts of the time-in-department, arrivals and heatmap charts (one
    text for all three when they share it)."""
    if len(texts) == 1:
        texts = texts * len(TEXT_GRAPHS)
    return [
        chart_text.alternative(t, g) for t, g in zip(texts, TEXT_GRAPHS, strict=True)
    ]


def filters_changed(
    site: str | None, weeks: int | str | None, search: str | None
) -> str:
    """Write the filters into the URL (defaults are left out)."""
    query = parse_query(search)
    weeks_text = str(weeks) if weeks is not None else None
    changes = {
        "site": None if site in (None, "", ed.ALL_SITES) else site,
        "weeks": None if weeks_text in (None, str(ed.DEFAULT_WEEKS)) else weeks_text,
    }
    new = ed.search_for(query, **changes)
    if new == ed.search_for(query):
        return no_update
    return new


# ---------------------------------------------------------------------------
# GET /api/v1/ed
# ---------------------------------------------------------------------------


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def site_json(
    snap: MetricSnapshot, code: str, name: str, areas: list[q.EdAreaRow]
) -> dict[str, Any]:
    tiles = tile_values(snap, code)
    return {
        "code": code,
        "name": name,
        "in_department": tiles.in_department,
        "waiting_to_be_seen": tiles.waiting_to_be_seen,
        "four_hour_pct_today": _round(tiles.four_hour_pct_today),
        "over_12h_count": tiles.over_12h_count,
        "over_12h_pct": _round(tiles.over_12h_pct),
        "median_time_to_treatment_min": _round(tiles.median_time_to_treatment_min),
        "ambulances_waiting": _int(snap.get("ambulances_waiting", "site", code)),
        "ambulances_waiting_over_30": tiles.ambulances_waiting_over_30,
        "handovers_over_30_today": _int(
            snap.get("handovers_over_30_today", "site", code)
        ),
        "handovers_over_60_today": _int(
            snap.get("handovers_over_60_today", "site", code)
        ),
        "by_area": [
            {
                "code": a.area_code,
                "name": a.name,
                "patients": a.patients,
                "spaces": a.spaces,
                "occupancy_pct": _round(a.occupancy_pct),
            }
            for a in area_lines(snap, [a for a in areas if a.site_code == code])
        ],
    }


def api_ed():  # noqa: ANN201
    """``GET /api/v1/ed[?site=RGH]``: ED figures per site, read-only."""
    runtime = current()
    site = request.args.get("site") or None
    try:
        with runtime.factory() as session:
            snap = shared_snapshot(session, runtime.now(), runtime.settings.timezone)
            areas = q.ed_areas(session, site)
            reported = reported_domains(session)
    except Exception as exc:
        log.error("ed api failed: %s: %s", exc.__class__.__name__, exc)
        return jsonify({"error": "ED figures could not be read"}), 503
    sites = [(code, snap.labels[("site", code)]) for code in snap.scopes("site")]
    if site and site not in dict(sites):
        return jsonify({"error": f"unknown site {site!r}"}), 404
    if "ed" not in reported:
        return no_data_yet_json(runtime, "ed")
    body = {
        "as_of": snap.as_of.isoformat() if snap.as_of else None,
        "generated_at": runtime.now().isoformat(),
        "definitions": {
            "in_department": "arrived and not departed",
            "four_hour_pct_today": "departures since local midnight within 4 h of arrival / "
            "departures; null when none",
            "over_12h_count": "patients now in the department > 12 h from arrival",
            "by_area.patients": "patients in the area's spaces (ambulances not yet handed "
            "over are not in a space)",
            "handovers_over_30_today": "ambulance handovers since local midnight > 30 min",
        },
        "sites": [
            site_json(snap, code, name, areas)
            for code, name in sites
            if not site or code == site
        ],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Dash) -> None:
    app.callback(
        Output(ed.IDS.freshness, "children"),
        Output(ed.IDS.tiles, "children"),
        Output(ed.IDS.areas, "children"),
        Output(ed.IDS.tid, "figure"),
        Output(ed.IDS.arrivals, "figure"),
        Output(ed.IDS.arrivals_note, "children"),
        Output(ed.IDS.handover_counts, "children"),
        Output(ed.IDS.handover, "children"),
        Output(ed.IDS.heatmap, "figure"),
        Output(ed.IDS.heatmap_note, "children"),
        Output(ed.IDS.site, "options"),
        *(Output(chart_text.text_id(g), "children") for g in TEXT_GRAPHS),
        Output(ed.IDS.sent, "data"),
        Input(SHELL.url, "search"),
        Input(SHELL.poll, "n_intervals"),
        Input(ed.IDS.body, "id"),
        State(ed.IDS.sent, "data"),
    )(delta.filtered_page_poll("ed", refresh))
    app.callback(
        Output(ed.IDS.url, "search"),
        Output(ed.IDS.site, "value"),
        Output(ed.IDS.weeks, "value"),
        Input(ed.IDS.site, "value"),
        Input(ed.IDS.weeks, "value"),
        Input(ed.IDS.url, "search"),
        prevent_initial_call=True,
    )(filter_sync(ed.IDS.url, ed.filter_values, filters_changed))
    app.server.add_url_rule(API_PATH, "api_v1_ed", api_ed, methods=["GET"])
