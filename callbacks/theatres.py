"""Theatres page glue and the read API ``GET /api/v1/theatres``.

The on-the-day cancellations tile comes from the metric snapshot
(``data.queries.metrics``); the board, utilisation and lost time from
``data.queries.theatres`` and ``ops.theatres``.
"""

from __future__ import annotations

import logging
from datetime import datetime
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
from components import chart_text, theatres
from components.common import empty_figure
from components.shell import IDS as SHELL
from data.queries import theatres as q
from data.queries.feeds import reported_domains
from data.queries.metrics import MetricSnapshot, shared_snapshot
from data.runtime import current
from ops import theatres as rules
from ops.timeutil import local_midnight_utc, to_local

log = logging.getLogger(__name__)

API_PATH = "/api/v1/theatres"


def _int(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def scope_of(snap: MetricSnapshot, site: str | None) -> tuple[str, str]:
    if site:
        return "site", site
    trusts = snap.scopes("trust")
    return "trust", trusts[0] if trusts else "trust"


def utilisation_of(window: rules.TheatreWindow, now: datetime, tz: str) -> float | None:
    """Capped utilisation today (so far) over every theatre in the window."""
    today = to_local(now, tz).date()
    sessions = [s for s in window.sessions if rules.session_day(s, tz) == today]
    return rules.theatre_day_utilisation(sessions, now)


def tile_values(
    board: list[rules.BoardRow],
    window: rules.TheatreWindow,
    snap: MetricSnapshot,
    site: str | None,
    now: datetime,
    tz: str,
) -> theatres.TheatreTiles:
    kind, sid = scope_of(snap, site)
    midnight = local_midnight_utc(now, tz)
    late_today = sum(
        1
        for s in window.sessions
        if midnight <= s.planned_start <= now
        and rules.late_start_minutes(s, now) is not None
    )
    return theatres.TheatreTiles(
        in_use=sum(1 for r in board if r.state is rules.TheatreState.IN_PROGRESS),
        theatres=len(board),
        cases_done_today=sum(r.cases_done_today for r in board),
        cancellations_today=_int(snap.get("theatre_cancellations_today", kind, sid)),
        utilisation_today=utilisation_of(window, now, tz),
        late_starts_today=late_today,
    )


def _as_of(as_of_text: str | None) -> str | None:
    return f"as of {as_of_text}" if as_of_text else None


def refresh(search: str | None, _n: int | None, _body_id: str | None = None) -> tuple:
    """Returns: freshness, tiles, board, heatmap, heatmap note, lost time, site options,
    and the heatmap's text."""
    runtime = current()
    tz = runtime.settings.timezone
    query = parse_query(search)
    site = query.get("site") or None
    if site == theatres.ALL_SITES:
        site = None
    days = theatres.days_from_query(query)
    period = theatres.period_from_query(query)
    now = runtime.now()
    try:
        with runtime.factory() as session:
            data = q.theatres_page_data(session, now, tz, site, days, period)
            snap = shared_snapshot(session, now, tz)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("theatres", exc)
        message = theatres.error_message("Theatre figures")
        return (fresh.line, message, message, empty_figure("Data could not be read"), "",
                message, no_update, _text(chart_text.unavailable(
                    "Theatre figures could not be read.")))  # fmt: skip
    options = theatres.site_options(data.sites)
    fresh = freshness(runtime, snap.as_of)
    if site and site not in dict(data.sites):
        message = theatres.error_message(f"Site {site!r} is unknown; its figures")
        return (fresh.line, message, message, empty_figure(f"Unknown site {site}"), "",
                message, options, _text(chart_text.unavailable(
                    f"Site {site!r} is unknown; no figures.")))  # fmt: skip
    show_site = site is None
    label = dict(data.sites).get(site, site) if site else "All sites"
    values = tile_values(data.board, data.window, snap, site, now, tz)
    rows = [
        (t.id, f"{t.site_code} {t.code}" if show_site else t.code)
        for t in data.window.theatres
    ]
    period_label = dict(theatres.PERIOD_OPTIONS)[period]
    return (
        fresh.line,
        theatres.tiles(values, _as_of(fresh.as_of_text), fresh.status),
        theatres.board(data.board, now, tz, show_site),
        theatres.utilisation_heatmap(
            rows, data.days, data.utilisation, f"theatres|{site}"
        ),
        theatres.heatmap_note(data.days, label),
        theatres.lost_time_table(data.lost_time, period_label, show_site),
        options,
        _text(
            chart_text.theatre_utilisation_text(
                rows, data.days, data.utilisation, theatres.UTILISATION_TARGET
            )
        ),
    )


def _text(text: chart_text.ChartText) -> list:
    return chart_text.alternative(text, theatres.IDS.heatmap)


def filters_changed(
    site: str | None, days: int | str | None, period: str | None, search: str | None
) -> str:
    query = parse_query(search)
    days_text = None if days is None else str(days)
    changes = {
        "site": None if site in (None, "", theatres.ALL_SITES) else site,
        "days": None if days_text in (None, str(theatres.DEFAULT_DAYS)) else days_text,
        "period": None if period in (None, theatres.DEFAULT_PERIOD) else period,
    }
    new = theatres.search_for(query, **changes)
    if new == theatres.search_for(query):
        return no_update
    return new


# ---------------------------------------------------------------------------
# GET /api/v1/theatres
# ---------------------------------------------------------------------------


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def theatre_json(row: rules.BoardRow) -> dict[str, Any]:
    return {
        "code": row.theatre.code,
        "name": row.theatre.name,
        "suite": row.theatre.suite,
        "state": row.state.value,
        "state_label": row.state.label,
        "detail": row.detail,
        "procedure": row.procedure,
        "phase": row.phase,
        "since": row.since.isoformat() if row.since else None,
        "late_start_min": _round(row.late_start_min),
        "cases_done_today": row.cases_done_today,
        "cancellations_today": row.cancellations_today,
        "capped_utilisation_today_pct": _round(row.utilisation_today),
    }


def api_theatres():  # noqa: ANN201
    """``GET /api/v1/theatres[?site=RGH]``: every theatre's state and today's figures."""
    runtime = current()
    tz = runtime.settings.timezone
    site = request.args.get("site") or None
    now = runtime.now()
    try:
        with runtime.factory() as session:
            snap = shared_snapshot(session, now, tz)
            window = q.load_window(session, *rules.window_for(now, tz, 1), site)
            reported = reported_domains(session)
    except Exception as exc:
        log.error("theatres api failed: %s: %s", exc.__class__.__name__, exc)
        return jsonify({"error": "theatre figures could not be read"}), 503
    codes = snap.scopes("site")
    if site and site not in codes:
        return jsonify({"error": f"unknown site {site!r}"}), 404
    if "theatres" not in reported:
        return no_data_yet_json(runtime, "theatres")
    rows = rules.board(window, now, tz)
    sites = []
    for code in codes:
        if site and code != site:
            continue
        mine = [r for r in rows if r.theatre.site_code == code]
        site_window = rules.TheatreWindow(
            window.start,
            window.end,
            [r.theatre for r in mine],
            [
                s
                for s in window.sessions
                if s.theatre_id in {r.theatre.id for r in mine}
            ],
        )
        tiles = tile_values(mine, site_window, snap, code, now, tz)
        sites.append(
            {
                "code": code,
                "name": snap.labels[("site", code)],
                "theatres_in_progress": tiles.in_use,
                "cases_done_today": tiles.cases_done_today,
                "cancellations_today": tiles.cancellations_today,
                "capped_utilisation_today_pct": _round(tiles.utilisation_today),
                "late_starts_today": tiles.late_starts_today,
                "theatres": [theatre_json(r) for r in mine],
            }
        )
    body = {
        "as_of": snap.as_of.isoformat() if snap.as_of else None,
        "generated_at": now.isoformat(),
        "definitions": {
            "state": "in_progress (anaesthetic room, theatre or recovery), turnaround "
            "(between cases), idle (session running, nothing in progress), closed",
            "capped_utilisation_today_pct": "touch time (anaesthetic start -> out of "
            "theatre) inside today's planned sessions / planned session time elapsed so "
            "far; null when no session time has elapsed",
            "cancellations_today": "cases cancelled since local midnight on the day of "
            "their session",
        },
        "sites": sites,
    }
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Dash) -> None:
    app.callback(
        Output(theatres.IDS.freshness, "children"),
        Output(theatres.IDS.tiles, "children"),
        Output(theatres.IDS.board, "children"),
        Output(theatres.IDS.heatmap, "figure"),
        Output(theatres.IDS.heatmap_note, "children"),
        Output(theatres.IDS.lost, "children"),
        Output(theatres.IDS.site, "options"),
        Output(chart_text.text_id(theatres.IDS.heatmap), "children"),
        Output(theatres.IDS.sent, "data"),
        Input(SHELL.url, "search"),
        Input(SHELL.poll, "n_intervals"),
        Input(theatres.IDS.body, "id"),
        State(theatres.IDS.sent, "data"),
    )(delta.filtered_page_poll("theatres", refresh))
    app.callback(
        Output(theatres.IDS.url, "search"),
        Output(theatres.IDS.site, "value"),
        Output(theatres.IDS.days, "value"),
        Output(theatres.IDS.period, "value"),
        Input(theatres.IDS.site, "value"),
        Input(theatres.IDS.days, "value"),
        Input(theatres.IDS.period, "value"),
        Input(theatres.IDS.url, "search"),
        prevent_initial_call=True,
    )(filter_sync(theatres.IDS.url, theatres.filter_values, filters_changed))
    app.server.add_url_rule(API_PATH, "api_v1_theatres", api_theatres, methods=["GET"])
