"""Beds page glue and the read API ``GET /api/v1/beds``."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash, Input, Output, State, html, no_update
from flask import jsonify, request

from callbacks import delta
from callbacks.common import (
    filter_sync,
    freshness,
    no_data_yet_json,
    query_failed,
)
from callbacks.router import parse_query
from components import beds, chart_text
from components.common import empty_figure
from components.figures_beds import DEFAULT_BREAKS, occupancy_heatmap, occupancy_matrix
from components.shell import IDS as SHELL
from data.queries import beds as q
from data.queries.common import newest_feed_write
from data.queries.feeds import reported_domains
from data.runtime import current
from ops.alerting import tile_bands
from ops.config_errors import ConfigError
from ops.metrics import occupancy_pct, ratio_pct
from ops.opel import load_opel_config

log = logging.getLogger(__name__)

API_PATH = "/api/v1/beds"


def occupancy_breaks() -> tuple[float, ...]:
    """The heatmap's colour breaks: the OPEL G&A occupancy parameter's band edges
    (config/opel.yaml) and the G&A alert rules' thresholds (config/alert_rules.yaml),
    so the colours change where the tiles, alerts and OPEL do."""
    edges: set[float] = set()
    try:
        for p in load_opel_config().parameters:
            if p.metric == "ga_occupancy_pct":
                for b in p.bands:
                    edges |= {float(x) for x in (b.lower, b.upper) if x is not None}
    except ConfigError as exc:
        log.warning("heatmap bands without the OPEL configuration: %s", exc)
    red, amber = chart_text.occupancy_thresholds(tile_bands("site"))
    edges |= {float(x) for x in (red, amber) if x is not None}
    return tuple(sorted(e for e in edges if 0 < e < 100)) or DEFAULT_BREAKS


def refresh(search: str | None, _n: int | None, _body_id: str | None = None) -> tuple:
    """Everything on the page from one pass of queries.

    Returns: freshness (page, heatmap, table), heatmap figure, ward table, drill-down,
    the options of the site, specialty and ward-type filters, the heatmap's text and
    its legend. A ``?site=`` naming no site says so above an empty page.
    """
    runtime = current()
    query = parse_query(search)
    filters = q.BedFilters.from_query(query)
    range_key = (
        query.get("range") if query.get("range") in q.RANGES else q.DEFAULT_RANGE
    )
    ward_param = query.get("ward")
    now = runtime.now()
    hours = q.hour_window(now, range_key)
    try:
        with runtime.factory() as session:
            options = q.filter_options(session)
            wards = q.ward_counts(session, filters)
            frame = q.ward_occupancy_hours(session, filters, hours[0], hours[-1])
            detail = (
                q.ward_beds(session, int(ward_param))
                if ward_param and ward_param.isdigit()
                else None
            )
            as_of = newest_feed_write(session)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("beds", exc)
        message = html.P("Bed figures could not be read.", className="text-danger mb-0")
        return (
            fresh.line,
            fresh.line,
            fresh.line,
            empty_figure("Data could not be read"),
            message,
            None,
            no_update,
            no_update,
            no_update,
            chart_text.alternative(
                chart_text.unavailable("Bed figures could not be read."),
                beds.IDS.heatmap,
            ),
            no_update,
        )
    fresh = freshness(runtime, as_of)
    breaks = occupancy_breaks()
    legend = beds.occupancy_legend(breaks)
    known = {code for code, _ in options.sites}
    if filters.site and filters.site not in known:
        return (
            fresh.line,
            fresh.line,
            fresh.line,
            empty_figure(f"Unknown site {filters.site}"),
            html.P("No wards: the site is unknown.", className="text-muted mb-0"),
            beds.site_not_found(filters.site, options.sites),
            # kept as a choice, so the filter does not drop it and show every site
            [
                *beds.site_options(options.sites),
                {"label": f"{filters.site} (unknown)", "value": filters.site},
            ],
            beds.specialty_options(options.specialties),
            beds.ward_type_options(options.ward_types),
            chart_text.alternative(
                chart_text.unavailable(f"There is no site {filters.site}."),
                beds.IDS.heatmap,
            ),
            legend,
        )
    tz = runtime.settings.timezone
    labelled = [(w.ward_id, q.ward_label(w.site_code, w.code, w.name)) for w in wards]
    uirevision = "|".join(
        str(v) for v in (filters.site, filters.specialty, filters.ward_type, range_key)
    )
    figure = occupancy_heatmap(
        frame, labelled, hours, tz, uirevision=uirevision, breaks=breaks
    )
    text = chart_text.bed_occupancy_text(
        labelled,
        occupancy_matrix(frame, labelled, hours),
        hours,
        tz,
        *chart_text.occupancy_thresholds(tile_bands("site")),
    )
    total = q.totals(wards)
    grid = beds.ward_drilldown(detail, now, query) if detail is not None else None
    in_table = detail is not None and any(w.ward_id == detail.ward_id for w in wards)
    table = beds.ward_table(
        wards,
        query,
        totals=total,
        total_pct=occupancy_pct(total["occupied"], total["open_beds"]),
        selected_ward=detail.ward_id if detail else None,
        drill=grid if in_table else None,
        reuse=delta.PARTS.get,
    )
    # A ward filtered out of the table (or unknown) is shown above the heatmap.
    drill: Any = None
    if grid is not None and not in_table:
        drill = grid
    elif detail is None and ward_param:
        drill = beds.ward_not_found(ward_param, query)
    return (
        fresh.line,
        fresh.line,
        fresh.line,
        figure,
        table,
        drill,
        beds.site_options(options.sites),
        beds.specialty_options(options.specialties),
        beds.ward_type_options(options.ward_types),
        chart_text.alternative(text, beds.IDS.heatmap),
        legend,
    )


def filters_changed(
    site: str | None,
    specialty: str | None,
    ward_type: str | None,
    range_key: str | None,
    search: str | None,
) -> str:
    """Write the filters into the URL; a ward filter change closes the bed grid."""
    query = parse_query(search)
    changes: dict[str, str | None] = {
        "site": site or None,
        "specialty": specialty or None,
        "type": ward_type or None,
        "range": None if range_key in (None, q.DEFAULT_RANGE) else range_key,
    }
    if any(query.get(k) != changes[k] for k in ("site", "specialty", "type")):
        changes["ward"] = None
    new = beds.search_for(query, **changes)
    if new == beds.search_for(query):
        return no_update
    return new


def _ward_json(w: q.WardCounts) -> dict[str, Any]:
    return {
        "id": w.ward_id,
        "code": w.code,
        "name": w.name,
        "specialty": w.specialty,
        "ward_type": w.ward_type,
        **{name: getattr(w, name) for name in q.COUNT_FIELDS},
        "occupancy_pct": _round(w.occupancy_pct),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def api_beds():  # noqa: ANN201
    """``GET /api/v1/beds[?site=RGH]``: bed counts per site and ward, read-only."""
    runtime = current()
    site = request.args.get("site") or None
    try:
        with runtime.factory() as session:
            wards = q.ward_counts(session, q.BedFilters(site=site))
            as_of = newest_feed_write(session)
            known = (
                {code for code, _ in q.filter_options(session).sites} if site else set()
            )
            reported = reported_domains(session)
    except Exception as exc:
        log.error("beds api failed: %s: %s", exc.__class__.__name__, exc)
        return jsonify({"error": "bed figures could not be read"}), 503
    if site and site not in known:
        return jsonify({"error": f"unknown site {site!r}"}), 404
    if "beds" not in reported:
        return no_data_yet_json(runtime, "beds")
    sites = q.by_site(wards)
    body = {
        "as_of": as_of.isoformat() if as_of else None,
        "generated_at": runtime.now().isoformat(),
        "definitions": {
            "open_beds": "occupied + available + awaiting_clean",
            "occupancy_pct": "occupied / open_beds * 100; null when open_beds is 0",
            "escalation_open": "escalation beds in an open state",
            "escalation_pct": "escalation_open / open_beds * 100 (all open beds, "
            "OPEL parameter 8); null when open_beds is 0",
        },
        "sites": [
            {
                "code": s.code,
                "name": s.name,
                **s.counts,
                "occupancy_pct": _round(s.occupancy_pct),
                "escalation_pct": _round(
                    ratio_pct(s.counts["escalation_open"], s.counts["open_beds"])
                ),
                "wards": [_ward_json(w) for w in s.wards],
            }
            for s in sites
        ],
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Dash) -> None:
    app.callback(
        Output(beds.IDS.freshness, "children"),
        Output(beds.IDS.heatmap_freshness, "children"),
        Output(beds.IDS.table_freshness, "children"),
        Output(beds.IDS.heatmap, "figure"),
        Output(beds.IDS.table, "children"),
        Output(beds.IDS.drill, "children"),
        Output(beds.IDS.site, "options"),
        Output(beds.IDS.specialty, "options"),
        Output(beds.IDS.ward_type, "options"),
        Output(chart_text.text_id(beds.IDS.heatmap), "children"),
        Output(beds.IDS.legend, "children"),
        Output(beds.IDS.sent, "data"),
        Input(SHELL.url, "search"),
        Input(SHELL.poll, "n_intervals"),
        Input(beds.IDS.body, "id"),
        State(beds.IDS.sent, "data"),
    )(delta.filtered_page_poll("beds", refresh))
    app.callback(
        Output(beds.IDS.url, "search"),
        Output(beds.IDS.site, "value"),
        Output(beds.IDS.specialty, "value"),
        Output(beds.IDS.ward_type, "value"),
        Output(beds.IDS.range, "value"),
        Input(beds.IDS.site, "value"),
        Input(beds.IDS.specialty, "value"),
        Input(beds.IDS.ward_type, "value"),
        Input(beds.IDS.range, "value"),
        Input(beds.IDS.url, "search"),
        prevent_initial_call=True,
    )(filter_sync(beds.IDS.url, beds.filter_values, filters_changed))
    app.server.add_url_rule(API_PATH, "api_v1_beds", api_beds, methods=["GET"])
