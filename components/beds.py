"""Beds page: filters, ward x hour heatmap, ward table and a ward's bed grid.

Pure builders: the callbacks in ``callbacks/beds.py`` feed them query results.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.a11y import labelled
from components.chart_text import chart_figure
from components.common import (
    MISSING_VALUE_TEXT,
    format_age,
    format_value,
    page_header,
    query_string,
)
from components.figures_beds import (
    DEFAULT_BREAKS,
    ROW_HEIGHT_PX,
    band_colours,
    band_labels,
)

FILTER_KEYS = ("site", "specialty", "type", "range", "ward")


class IDS:
    body = "beds-body"
    sent = "beds-sent"  # hashes of what the browser shows (callbacks.delta)
    url = "beds-url"  # the address as this page's filters read and write it
    freshness = "beds-freshness"
    site = "beds-site"
    specialty = "beds-specialty"
    ward_type = "beds-type"
    range = "beds-range"
    heatmap = "beds-heatmap"
    heatmap_freshness = "beds-heatmap-freshness"
    legend = "beds-heatmap-legend"
    table = "beds-table"
    table_freshness = "beds-table-freshness"
    drill = "beds-drill"

    @staticmethod
    def row(ward_id: int) -> str:
        return f"beds-row-{ward_id}"

    @staticmethod
    def cell(ward_id: int | str, column: str) -> str:
        return f"beds-ward-{ward_id}-{column.replace('_', '-')}"

    @staticmethod
    def row_detail(ward_id: int) -> str:
        return f"beds-row-{ward_id}-beds"

    @staticmethod
    def bed(bed_id: int) -> str:
        return f"beds-bed-{bed_id}"


WARD_TYPE_LABELS: dict[str, str] = {
    "general_acute": "General & acute",
    "assessment": "Assessment unit",
    "critical_care": "Critical care",
    "paediatric": "Paediatric",
    "escalation": "Escalation area",
}

RANGE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("24h", "24 h"),
    ("7d", "7 days"),
    ("28d", "28 days"),
)
DEFAULT_RANGE = "24h"

# state -> (label, bootstrap icon, accent colour from the Okabe-Ito palette)
BED_STATES: dict[str, tuple[str, str, str]] = {
    "occupied": ("Occupied", "bi-person-fill", "#56B4E9"),
    "available": ("Available", "bi-check-circle", "#009E73"),
    "awaiting_clean": ("Awaiting clean", "bi-stars", "#F0E442"),
    "blocked": ("Blocked", "bi-slash-circle", "#D55E00"),
    "closed": ("Closed", "bi-lock", "#BBBBBB"),
}

# Table columns: (field, header, right-aligned number?)
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("core_beds", "Core"),
    ("open_beds", "Open"),
    ("occupied", "Occupied"),
    ("available", "Available"),
    ("awaiting_clean", "Awaiting clean"),
    ("blocked", "Blocked"),
    ("closed", "Closed"),
    ("escalation_open", "Escalation open"),
)


def ward_type_label(value: str) -> str:
    return WARD_TYPE_LABELS.get(value, value.replace("_", " ").capitalize())


def search_for(query: Mapping[str, str | None], **changes: str | None) -> str:
    """A query string (with "?") for the page's filters in a stable key order."""
    return query_string(FILTER_KEYS, query, **changes)


def _initial_options(
    value: str | None, label: str | None = None
) -> list[dict[str, str]]:
    """Options before the first refresh: the URL's value, so it is not dropped."""
    return [{"label": label or value, "value": value}] if value else []


def _filter(label: str, control: Any) -> dbc.Col:
    return dbc.Col(
        html.Div(labelled(label, control)),
        xs=12,
        sm=6,
        lg=3,
        className="mb-2",
    )


def filter_values(
    query: Mapping[str, str],
) -> tuple[str | None, str | None, str | None, str]:
    """What the site, specialty, ward-type and range controls show for a query."""
    rng = (
        query.get("range")
        if query.get("range") in dict(RANGE_OPTIONS)
        else DEFAULT_RANGE
    )
    return query.get("site"), query.get("specialty"), query.get("type"), rng


def filters_row(query: Mapping[str, str]) -> dbc.Row:
    _, _, wtype, rng = filter_values(query)
    return dbc.Row(
        [
            _filter(
                "Site",
                dcc.Dropdown(
                    id=IDS.site,
                    options=_initial_options(query.get("site")),
                    value=query.get("site"),
                    placeholder="All sites",
                    clearable=True,
                ),
            ),
            _filter(
                "Specialty",
                dcc.Dropdown(
                    id=IDS.specialty,
                    options=_initial_options(query.get("specialty")),
                    value=query.get("specialty"),
                    placeholder="All specialties",
                    clearable=True,
                ),
            ),
            _filter(
                "Ward type",
                dcc.Dropdown(
                    id=IDS.ward_type,
                    options=_initial_options(
                        wtype, ward_type_label(wtype) if wtype else None
                    ),
                    value=wtype,
                    placeholder="All ward types",
                    clearable=True,
                ),
            ),
            _filter(
                "Heatmap range",
                dbc.RadioItems(
                    id=IDS.range,
                    options=[
                        {"label": text, "value": key} for key, text in RANGE_OPTIONS
                    ],
                    value=rng,
                    inline=True,
                    className="btn-group",
                    inputClassName="btn-check",
                    labelClassName="btn btn-outline-light btn-sm",
                    labelCheckedClassName="active",
                ),
            ),
        ],
        className="mb-2 align-items-end",
    )


def site_options(sites: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"label": f"{name} ({code})", "value": code} for code, name in sites]


def specialty_options(specialties: Sequence[str]) -> list[dict[str, str]]:
    return [{"label": s, "value": s} for s in specialties]


def ward_type_options(ward_types: Sequence[str]) -> list[dict[str, str]]:
    return [{"label": ward_type_label(t), "value": t} for t in ward_types]


def _card(title: str, body: Any, freshness_id: str, extra: Any = None) -> dbc.Card:
    header = html.Div(
        [
            html.H2(title, className="h6 mb-0 me-auto"),
            html.Div(id=freshness_id, className="small"),
        ],
        className="d-flex flex-wrap align-items-center gap-2",
    )
    children = [dbc.CardHeader(header), dbc.CardBody(body)]
    if extra is not None:
        children.append(extra)
    return dbc.Card(children, className="mb-3")


def layout(query: dict[str, str]) -> html.Div:
    """The Beds page for the URL's query (filters pre-set from it)."""
    heatmap = html.Div(
        [
            chart_figure(
                dcc.Graph(
                    id=IDS.heatmap,
                    # no "Share chart" button: it would send the figures to plotly's
                    # cloud, outside the hospital's network
                    config={
                        "displaylogo": False,
                        "responsive": True,
                        "showSendToCloud": False,
                    },
                    style={"minHeight": f"{ROW_HEIGHT_PX * 12}px"},
                ),
                "Bed occupancy heatmap: wards by hour",
            ),
            html.Div(occupancy_legend(DEFAULT_BREAKS), id=IDS.legend),
            html.P(
                [
                    "Occupied beds ÷ open beds (occupied, available, awaiting clean) "
                    "at the start of each hour. Blank cells: no record, or no open beds "
                    "in the ward at that hour.",
                ],
                className="small text-muted mb-0",
            ),
        ]
    )
    return html.Div(
        id=IDS.body,
        children=[
            page_header(
                "Beds",
                "Ward occupancy and bed states",
                right=html.Div(id=IDS.freshness),
            ),
            dcc.Store(id=IDS.sent),
            dcc.Location(id=IDS.url, refresh="callback-nav"),
            filters_row(query),
            html.Div(id=IDS.drill),
            _card("Occupancy by ward and hour", heatmap, IDS.heatmap_freshness),
            _card(
                "Wards now",
                html.Div(
                    id=IDS.table, children=html.P("Loading…", className="text-muted")
                ),
                IDS.table_freshness,
            ),
        ],
    )


def _num_cell(value: Any, cell_id: str | None = None) -> html.Td:
    kwargs = {"id": cell_id} if cell_id else {}
    return html.Td(format_value(value), className="text-end", **kwargs)


def _pct_text(value: float | None) -> str:
    return MISSING_VALUE_TEXT if value is None else f"{value:.1f}%"


def _ward_row(w: Any, query: Mapping[str, str], selected: bool) -> html.Tr:
    link = dcc.Link(
        [
            w.name,
            html.I(className="bi bi-grid-3x3-gap ms-2", **{"aria-hidden": "true"}),
        ],
        href=f"/beds{search_for(query, ward=str(w.ward_id))}",
        title=f"Show the beds on {w.name}",
        id=IDS.cell(w.ward_id, "link"),
    )
    return html.Tr(
        [
            html.Td([link, html.Div(w.specialty, className="small text-muted")]),
            html.Td(w.site_code),
            html.Td(ward_type_label(w.ward_type)),
        ]
        + [_num_cell(getattr(w, f), IDS.cell(w.ward_id, f)) for f, _ in TABLE_COLUMNS]
        + [
            html.Td(
                _pct_text(w.occupancy_pct),
                className="text-end",
                id=IDS.cell(w.ward_id, "occupancy"),
            )
        ],
        id=IDS.row(w.ward_id),
        className="table-active" if selected else None,
    )


def ward_table(
    wards: Sequence[Any],
    query: Mapping[str, str],
    totals: Mapping[str, int] | None = None,
    total_pct: float | None = None,
    selected_ward: int | None = None,
    drill: Any = None,
    reuse: Callable[[Hashable, Callable[[], Any]], Any] | None = None,
) -> html.Div:
    """The ward table; each ward name links to its bed grid (``?ward=<id>``).

    ``reuse(key, build)`` may return a row built earlier for the same key (a ward
    whose figures did not change) instead of building it again.

    ``drill`` (the selected ward's bed grid) is shown in a row under that ward.

    ``wards`` are ``data.queries.beds.WardCounts``; occupancy % is "—" when a ward has
    no open beds.
    """
    if not wards:
        return html.P("No wards match the filters.", className="text-muted mb-0")
    head = html.Thead(
        html.Tr(
            [html.Th("Ward"), html.Th("Site"), html.Th("Type")]
            + [html.Th(header, className="text-end") for _, header in TABLE_COLUMNS]
            + [html.Th("Occupancy", className="text-end")]
        )
    )
    rows = []
    for w in wards:
        selected = w.ward_id == selected_ward
        if reuse is None:
            rows.append(_ward_row(w, query, selected))
        else:
            key = (
                "beds-row",
                repr(w),
                search_for(query, ward=str(w.ward_id)),
                selected,
            )
            rows.append(reuse(key, lambda w=w, sel=selected: _ward_row(w, query, sel)))
        if drill is not None and w.ward_id == selected_ward:
            # The bed grid opens under the ward's row, where the click was.
            rows.append(
                html.Tr(
                    html.Td(drill, colSpan=4 + len(TABLE_COLUMNS), className="p-2"),
                    id=IDS.row_detail(w.ward_id),
                )
            )
    foot = None
    if totals is not None:
        foot = html.Tfoot(
            html.Tr(
                [html.Th(f"All {len(wards)} wards shown", colSpan=3)]
                + [
                    html.Th(
                        format_value(totals[f]),
                        className="text-end",
                        id=IDS.cell("all", f),
                    )
                    for f, _ in TABLE_COLUMNS
                ]
                + [
                    html.Th(
                        _pct_text(total_pct),
                        className="text-end",
                        id=IDS.cell("all", "occupancy"),
                    )
                ]
            )
        )
    parts = [head, html.Tbody(rows)] + ([foot] if foot is not None else [])
    return html.Div(
        dbc.Table(parts, hover=True, size="sm", className="mb-0 align-middle"),
        className="table-responsive",
    )


def bed_state_badge(state: str) -> html.Span:
    label, icon, colour = BED_STATES.get(
        state, (state, "bi-question-circle", "#BBBBBB")
    )
    return html.Span(
        [
            html.I(className=f"bi {icon} me-1", role="img", **{"aria-label": label}),
            label,
        ],
        className="fw-bold",
        style={"color": colour},
    )


def bed_card(bed: Any, now: datetime) -> html.Div:
    """One bed: label, state (icon + word), time in state, escalation flag, reason."""
    _, _, colour = BED_STATES.get(bed.state, ("", "", "#BBBBBB"))
    age = format_age((now - bed.state_since).total_seconds())
    children: list[Any] = [
        html.Div(
            [
                html.Span(bed.label, className="fw-bold"),
                html.Span(
                    [html.I(className="bi bi-arrow-up-circle me-1"), "Escalation"],
                    className="badge text-bg-warning",
                    title="Escalation bed (above the core bed base)",
                )
                if bed.is_escalation
                else None,
            ],
            className="d-flex justify-content-between align-items-center gap-1",
        ),
        bed_state_badge(bed.state),
        html.Div(f"for {age}", className="small"),
    ]
    if bed.state_reason:
        children.append(
            html.Div(bed.state_reason, className="small text-muted text-truncate")
        )
    return html.Div(
        children,
        id=IDS.bed(bed.id),
        className="bed-card",
        style={
            "background": "var(--cc-surface, #303030)",
            "border": "1px solid var(--cc-border, #444)",
            "borderLeft": f"6px solid {colour}",
            "borderRadius": "0.375rem",
            "padding": "0.4rem 0.6rem",
            "minWidth": 0,
        },
    )


def ward_drilldown(ward: Any, now: datetime, query: Mapping[str, str]) -> dbc.Card:
    """The bed grid of one ward (``ward`` is ``data.queries.beds.WardBeds``)."""
    counts: dict[str, int] = {}
    for bed in ward.beds:
        counts[bed.state] = counts.get(bed.state, 0) + 1
    summary = [
        html.Span(
            [bed_state_badge(state), f" {counts.get(state, 0)}"],
            className="me-3",
        )
        for state in BED_STATES
    ]
    close = dcc.Link(
        [html.I(className="bi bi-x-lg me-1"), "Close"],
        href=f"/beds{search_for(query, ward=None)}",
        className="btn btn-sm btn-outline-light",
        id=f"{IDS.drill}-close",
    )
    grid = (
        html.Div(
            [bed_card(b, now) for b in ward.beds],
            style={
                "display": "grid",
                "gridTemplateColumns": "repeat(auto-fill, minmax(170px, 1fr))",
                "gap": "0.5rem",
            },
            id=f"{IDS.drill}-grid",
        )
        if ward.beds
        else html.P("This ward has no beds recorded.", className="text-muted mb-0")
    )
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.H2(
                            f"{ward.site_code} {ward.code} · {ward.name}",
                            className="h6 mb-0 me-auto",
                            id=f"{IDS.drill}-title",
                        ),
                        html.Span(
                            " · ".join(
                                dict.fromkeys(
                                    (
                                        ward.specialty,
                                        ward_type_label(ward.ward_type),
                                        f"{len(ward.beds)} beds",
                                    )
                                )
                            ),
                            className="small text-muted",
                        ),
                        close,
                    ],
                    className="d-flex flex-wrap align-items-center gap-2",
                )
            ),
            dbc.CardBody([html.Div(summary, className="mb-2 small"), grid]),
        ],
        className="mb-3",
    )


def ward_not_found(ward_id: str, query: Mapping[str, str]) -> html.Div:
    return html.Div(
        [
            f"There is no ward {ward_id}. ",
            dcc.Link("Close", href=f"/beds{search_for(query, ward=None)}"),
        ],
        className="alert alert-secondary",
    )


def occupancy_legend(breaks: Sequence[float]) -> html.Div:
    """What the heatmap's colours mean: one swatch per band, the breaks written out
    (the configured OPEL and alert bands, e.g. < 85, 85–92, 92–95, ≥ 95 %)."""
    bands = [
        html.Span(
            [
                html.Span(
                    className="occupancy-swatch",
                    style={"display": "inline-block", "width": "1em", "height": "1em",
                           "marginRight": "0.3em", "verticalAlign": "-0.12em",
                           "background": colour, "border": "1px solid #888"},
                ),
                label,
            ],
            className="occupancy-band",
            style={"marginRight": "1em", "whiteSpace": "nowrap"},
        )
        for label, colour in zip(band_labels(breaks), band_colours(breaks), strict=True)
    ]  # fmt: skip
    return html.Div(
        [
            html.Span("Occupied beds, % of open:", style={"marginRight": "0.6em"}),
            *bands,
        ],
        className="occupancy-legend small mb-1",
    )


def site_not_found(code: str, known: Sequence[tuple[str, str]]) -> html.Div:
    """``?site=XXX`` naming no site: say so (never show every site instead)."""
    names = ", ".join(f"{c} ({n})" for c, n in known) or "none"
    return html.Div(
        [
            html.Strong(f"There is no site {code!r}. "),
            f"Known sites: {names}. ",
            dcc.Link("Show all sites", href="/beds"),
        ],
        className="alert alert-warning",
        id="beds-unknown-site",
        role="alert",
    )
