"""Overview refresh: per-site tiles from one query pass."""

from __future__ import annotations

from dash import Dash, Input, Output, html

from callbacks.common import freshness, query_failed
from components import overview
from components.shell import IDS as SHELL
from data.queries.common import newest_feed_write
from data.queries.overview import site_overview
from data.runtime import current


def refresh(_n: int | None) -> tuple[object, object]:
    runtime = current()
    try:
        with runtime.factory() as session:
            sites = site_overview(session)
            as_of = newest_feed_write(session)
    except Exception as exc:  # the page shows ERROR; the log has the detail
        fresh = query_failed("overview", exc)
        return fresh.line, html.P("Figures could not be read.", className="text-danger")
    fresh = freshness(runtime, as_of)
    cards = [overview.site_section(site, fresh.as_of_text, fresh.status) for site in sites]
    if not cards:
        cards = [html.P("No sites are configured yet.", className="text-muted")]
    return fresh.line, cards


def register(app: Dash) -> None:
    app.callback(
        Output(overview.IDS.freshness, "children"),
        Output(overview.IDS.body, "children"),
        Input(SHELL.poll, "n_intervals"),
        Input(overview.IDS.body, "id"),
    )(refresh_with_id)


def refresh_with_id(n: int | None, _id: str) -> tuple[object, object]:
    return refresh(n)
