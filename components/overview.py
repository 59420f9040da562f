"""Overview page: per-site bed and ED figures."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from components.common import Status, kpi_tile, page_header


class IDS:
    body = "overview-body"
    freshness = "overview-freshness"


def layout() -> html.Div:
    return html.Div(
        [
            page_header("Overview", "Beds and emergency department, per site", right=html.Div(id=IDS.freshness)),
            html.Div(id=IDS.body, children=html.P("Loading…", className="text-muted")),
        ]
    )


def site_section(site, as_of_text: str | None, status: Status) -> dbc.Card:  # noqa: ANN001
    """Tiles for one site (``site`` is a ``data.queries.overview.SiteOverview``)."""
    occupancy = (100.0 * site.ga_occupied / site.ga_open) if site.ga_open else None
    prefix = f"overview-{site.code.lower()}"
    tiles = [
        kpi_tile("G&A occupancy", None if occupancy is None else round(occupancy, 1), "%",
                 as_of_text, status, href=f"/beds?site={site.code}", tile_id=f"{prefix}-occupancy"),
        kpi_tile("Beds available now", site.beds.get("available", 0), "", as_of_text, status,
                 href=f"/beds?site={site.code}", tile_id=f"{prefix}-available"),
        kpi_tile("Beds occupied", site.beds.get("occupied", 0), "", as_of_text, status,
                 href=f"/beds?site={site.code}", tile_id=f"{prefix}-occupied"),
        kpi_tile("Patients in ED", site.ed_in_department, "", as_of_text, status,
                 href=f"/ed?site={site.code}", tile_id=f"{prefix}-ed-in"),
        kpi_tile("Waiting to be seen", site.ed_waiting_to_be_seen, "", as_of_text, status,
                 href=f"/ed?site={site.code}", tile_id=f"{prefix}-ed-waiting"),
    ]
    return dbc.Card(
        [
            dbc.CardHeader(html.H3(site.name, className="h5 mb-0")),
            dbc.CardBody(
                dbc.Row([dbc.Col(t, xs=12, sm=6, lg=4, xl=True, className="mb-3") for t in tiles])
            ),
        ],
        className="mb-3",
        id=f"{prefix}-card",
    )
