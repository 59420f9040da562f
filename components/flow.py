"""Flow page: the bed gap, discharges today and the discharge-barrier board.

Pure builders: ``callbacks/flow.py`` feeds them ``data.queries.flow`` results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from components.a11y import labelled
from components.chart_text import ChartText, chart_figure
from components.common import MISSING_VALUE_TEXT, kpi_tile, page_header, query_string
from ops import flow as rules
from ops.timeutil import format_local

FILTER_KEYS = ("site", "specialty", "ward")


class IDS:
    body = "flow-body"
    sent = "flow-sent"
    url = "flow-url"
    freshness = "flow-freshness"
    site = "flow-site"
    specialty = "flow-specialty"
    ward = "flow-ward"
    gap = "flow-gap"
    discharges = "flow-discharges"
    discharge_chart = "flow-discharge-chart"
    board = "flow-board"
    board_count = "flow-board-count"
    summary = "flow-summary"
    export = "flow-export"
    download = "flow-download"
    # board-round edit
    edit = "flow-edit"
    edit_title = "flow-edit-title"
    edit_token = "flow-edit-token"
    edit_edd = "flow-edit-edd"
    edit_ctr = "flow-edit-ctr"
    edit_pathway = "flow-edit-pathway"
    edit_reason = "flow-edit-reason"
    edit_save = "flow-edit-save"
    edit_message = "flow-edit-message"
    # board-round actions of the selected patient
    actions = "flow-actions"
    action_what = "flow-action-what"
    action_owner = "flow-action-owner"
    action_due = "flow-action-due"
    action_add = "flow-action-add"
    action_message = "flow-action-message"
    action_toggle = "flow-action-toggle"  # pattern-matching type of done / reopen


def search_for(query: Mapping[str, str | None], **changes: str | None) -> str:
    return query_string(FILTER_KEYS, query, **changes)


def filter_values(query: Mapping[str, str]) -> tuple[Any, Any, Any]:
    ward = query.get("ward")
    return (
        query.get("site"),
        query.get("specialty"),
        int(ward) if ward and ward.isdigit() else None,
    )


def _initial(value: Any) -> list[dict[str, Any]]:
    return [{"label": str(value), "value": value}] if value else []


def _filter(label: str, control: Any) -> dbc.Col:
    return dbc.Col(
        html.Div(labelled(label, control)),
        xs=12,
        sm=4,
        lg=3,
        className="mb-2",
    )


def filters_row(query: Mapping[str, str]) -> dbc.Row:
    site, specialty, ward = filter_values(query)
    return dbc.Row(
        [
            _filter(
                "Site",
                dcc.Dropdown(
                    id=IDS.site,
                    options=_initial(site),
                    value=site,
                    placeholder="All sites",
                    clearable=True,
                ),  # fmt: skip
            ),
            _filter(
                "Specialty",
                dcc.Dropdown(
                    id=IDS.specialty,
                    options=_initial(specialty),
                    value=specialty,
                    placeholder="All specialties",
                    clearable=True,
                ),  # fmt: skip
            ),
            _filter(
                "Ward",
                dcc.Dropdown(
                    id=IDS.ward,
                    options=_initial(ward),
                    value=ward,
                    placeholder="All wards",
                    clearable=True,
                ),  # fmt: skip
            ),
        ],
        className="mb-2 align-items-end",
    )


def options(pairs: Sequence[tuple[Any, str]]) -> list[dict[str, Any]]:
    return [{"label": label, "value": value} for value, label in pairs]


def _card(title: str, body: Any, right: Any = None) -> dbc.Card:
    header = html.Div(
        [html.H2(title, className="h6 mb-0 me-auto"), right],
        className="d-flex flex-wrap align-items-center gap-2",
    )
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className="mb-3")


BOARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("patient", "Patient ref"),
    ("ward", "Ward"),
    ("bed", "Bed"),
    ("los", "LoS (days)"),
    ("stranded", "Stranded"),
    ("edd", "Expected discharge"),
    ("ctr", "Criteria to reside"),
    ("pathway", "Pathway"),
    ("reason", "Delay reason"),
    ("actions", "Open actions"),
)


def _grid() -> dag.AgGrid:
    cols: list[dict[str, Any]] = [
        {"field": f, "headerName": h, "filter": True, "sortable": True}
        for f, h in BOARD_COLUMNS
    ]
    cols[3].update(filter="agNumberColumnFilter", type="rightAligned", width=110)
    cols[5]["cellClassRules"] = {"flow-overdue": "params.data.overdue"}
    cols[4]["cellClassRules"] = {"flow-stranded": "params.data.stranded"}
    cols[9].update(minWidth=200, tooltipField="actions")
    cols[9]["cellClassRules"] = {"flow-overdue": "params.data.actions_overdue"}
    return dag.AgGrid(
        id=IDS.board,
        columnDefs=cols,
        rowData=[],
        getRowId="params.data.stay",
        defaultColDef={"resizable": True, "flex": 1, "minWidth": 90},
        dashGridOptions={
            "rowSelection": {
                "mode": "singleRow",
                "checkboxes": False,
                "enableClickSelection": True,
            },
            "animateRows": False,
            # ten columns: all drawn, so each is in the page for screen readers too
            "suppressColumnVirtualisation": True,
            "theme": {
                "function": "themeQuartz.withParams({backgroundColor: '#222', "
                "foregroundColor: '#e6e6e6', headerBackgroundColor: '#303030', "
                "accentColor: '#56B4E9', fontSize: 13})"
            },
        },  # fmt: skip
        style={"height": "460px"},
    )


def edit_panel(reasons: Sequence[str]) -> dbc.Card:
    body = [
        html.P(
            "Select a patient on the board to review their discharge.",
            id=IDS.edit_title,
            className="small text-muted",
        ),
        dcc.Store(id=IDS.edit_token),
        dbc.Row(
            [
                _filter(
                    "Expected discharge (local)",
                    dbc.Input(
                        id=IDS.edit_edd,
                        type="text",
                        size="sm",
                        placeholder="YYYY-MM-DD HH:MM",
                        debounce=True,
                    ),
                ),
                _filter(
                    "Criteria to reside",
                    dbc.RadioItems(
                        id=IDS.edit_ctr,
                        options=[
                            {"label": "Meets criteria", "value": "yes"},
                            {"label": "No criteria to reside", "value": "no"},
                        ],
                        inline=True,
                    ),
                ),
                _filter(
                    "Pathway",
                    dcc.Dropdown(
                        id=IDS.edit_pathway,
                        options=[
                            {"label": label, "value": p}
                            for p, label in rules.PATHWAY_LABELS.items()
                        ],
                        clearable=True,
                    ),
                ),
                _filter(
                    "Delay reason",
                    dcc.Dropdown(
                        id=IDS.edit_reason,
                        options=[{"label": r, "value": r} for r in reasons],
                        clearable=True,
                    ),
                ),
            ]
        ),
        dbc.Button("Save", id=IDS.edit_save, size="sm", color="primary", disabled=True),
        html.Div(id=IDS.edit_message, className="small mt-2"),
        html.H3("Actions", className="h6 mt-3"),
        html.Div(id=IDS.actions),
        dbc.Row(
            [
                _filter(
                    "Action (what is to be done)",
                    dbc.Input(
                        id=IDS.action_what, type="text", size="sm", maxLength=200
                    ),
                ),
                _filter(
                    "Owner",
                    dbc.Input(
                        id=IDS.action_owner, type="text", size="sm", maxLength=80
                    ),
                ),
                _filter(
                    "Due (local, optional)",
                    dbc.Input(
                        id=IDS.action_due,
                        type="text",
                        size="sm",
                        placeholder="YYYY-MM-DD HH:MM",
                    ),
                ),
                dbc.Col(
                    dbc.Button(
                        "Add action",
                        id=IDS.action_add,
                        size="sm",
                        color="primary",
                        outline=True,
                        disabled=True,
                    ),
                    xs=12,
                    sm=4,
                    lg=3,
                    className="mb-2",
                ),
            ],  # fmt: skip
            className="align-items-end mt-2",
        ),
        html.Div(id=IDS.action_message, className="small"),
    ]
    return _card("Board round", body)


def _action_due(a: Any, tz: str, now: datetime) -> str:
    if a.due_at is None:
        return "no due time"
    text = f"due {format_local(a.due_at, tz, '%H:%M %d %b')}"
    return text + " (overdue)" if a.overdue(now) else text


def action_line(a: Any, tz: str, now: datetime) -> str:
    """One open action as the board's column shows it."""
    return f"{a.what} ({a.owner}, {_action_due(a, tz, now)})"


def actions_list(actions: Sequence[Any], tz: str, now: datetime, can: bool) -> Any:
    """The selected patient's actions, open first, each with done / reopen."""
    if not actions:
        return html.P("No actions yet.", className="small text-muted mb-0")
    rows = []
    for a in actions:
        done = a.done_at is not None
        state = (
            f"done {format_local(a.done_at, tz, '%H:%M %d %b')} by {a.done_by}"
            if done
            else _action_due(a, tz, now)
        )
        button = dbc.Button(
            "Reopen" if done else "Done",
            id={
                "type": IDS.action_toggle,
                "action": f"{a.id}:{a.version}:{int(not done)}",
            },
            size="sm",
            color="secondary" if done else "success",
            outline=True,
            disabled=not can,
        )
        rows.append(
            html.Tr(
                [
                    html.Td(
                        a.what,
                        className="text-decoration-line-through" if done else None,
                    ),
                    html.Td(a.owner),
                    html.Td(
                        state,
                        className="text-warning" if a.overdue(now) else "text-muted",
                    ),
                    html.Td(button, className="text-end"),
                ],
                className="flow-action-row",
            )
        )
    head = html.Thead(
        html.Tr([html.Th("What"), html.Th("Owner"), html.Th("Due / done"),
                 html.Th(html.Span("Change", className="visually-hidden"))])
    )  # fmt: skip
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0",
                     id="flow-actions-table")  # fmt: skip


def layout(query: dict[str, str], reasons: Sequence[str] = ()) -> html.Div:
    return html.Div(
        id=IDS.body,
        children=[
            page_header(
                "Flow",
                "Bed gap, discharges and discharge barriers",
                right=html.Div(id=IDS.freshness),
            ),
            dcc.Store(id=IDS.sent),
            dcc.Location(id=IDS.url, refresh="callback-nav"),
            filters_row(query),
            _card(
                "Bed gap (G&A)",
                html.Div(
                    id=IDS.gap, children=html.P("Loading…", className="text-muted")
                ),
            ),
            _card(
                "Discharges today",
                [
                    html.Div(id=IDS.discharges),
                    chart_figure(
                        dcc.Graph(
                            id=IDS.discharge_chart,
                            # no "Share chart" button: it would send the figures to
                            # plotly's cloud, outside the hospital's network
                            config={
                                "displaylogo": False,
                                "responsive": True,
                                "showSendToCloud": False,
                            },
                            style={"height": "280px"},
                        ),
                        "Discharges and admissions today by hour against the usual",
                    ),
                ],
            ),
            _card(
                "Discharge-barrier board",
                [_grid(), dcc.Download(id=IDS.download)],
                right=html.Div(
                    [
                        html.Span(id=IDS.board_count, className="small text-muted"),
                        dbc.Button(
                            "Export CSV",
                            id=IDS.export,
                            size="sm",
                            color="secondary",
                            outline=True,
                        ),  # fmt: skip
                    ],
                    className="d-flex gap-2 align-items-center",
                ),
            ),
            edit_panel(reasons),
            _card("By pathway and delay reason", html.Div(id=IDS.summary)),
        ],
    )


# -- the bed gap ------------------------------------------------------------------


def _minutes_text(minutes: float | None) -> str | None:
    if minutes is None:
        return None
    h, m = divmod(int(minutes), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def gap_tiles(gap: Any, tz: str, as_of: Any) -> html.Div:
    """Tiles for the bed gap, then each projection with the sum that makes it."""
    waiting_detail = (
        f"longest wait {_minutes_text(gap.longest_wait_min)}"
        if gap.longest_wait_min is not None
        else None
    )
    tiles = [
        kpi_tile("G&A beds available now", gap.available, as_of_text=as_of,
                 tile_id="flow-tile-available",
                 detail=f"+ {gap.awaiting_clean} awaiting clean"),
        kpi_tile("Waiting for a bed (ED, DTA)", gap.waiting, as_of_text=as_of,
                 tile_id="flow-tile-waiting", detail=waiting_detail),
        kpi_tile("Expected discharges today", gap.expected_today, as_of_text=as_of,
                 tile_id="flow-tile-expected",
                 detail=f"{gap.discharged_today} discharged so far"),
        kpi_tile("Elective admissions expected", None, as_of_text=as_of,
                 tile_id="flow-tile-electives"),
    ]  # fmt: skip
    rows = []
    for p in gap.projections:
        if p.free is None:
            sum_text = (
                "passed"
                if gap.waiting is not None
                else "needs the ED count (not known per ward)"
            )
        else:
            sum_text = (
                f"{gap.available} + {gap.awaiting_clean} + {p.expected_out} "
                f"− {gap.waiting} = {p.free}"
            )
        rows.append(
            html.Tr(
                [
                    html.Td(f"{p.label} ({format_local(p.at, tz, '%H:%M %d %b')})"),
                    html.Td(
                        MISSING_VALUE_TEXT if p.free is None else str(p.free),
                        className="text-end fw-bold",
                        id=f"flow-free-{p.label.lower().replace(':', '')}",
                    ),
                    html.Td(sum_text, className="text-muted small"),
                ]
            )
        )
    table = dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th("Expected G&A beds free at"),
                        html.Th("Beds"),
                        html.Th("available + awaiting clean + expected out − waiting"),
                    ]
                )
            ),  # fmt: skip
            html.Tbody(rows),
        ],
        size="sm",
        className="mb-1 mt-3",
    )
    notes = html.P(
        [
            f"How: {rules.PROJECTION_RULE}. ",
            "Elective admissions are not in the sum: no feed reports planned "
            "admissions yet. Waiting for a bed counts the whole site's ED; with a "
            "ward or specialty filter it is not known and the projection is left "
            "blank.",
        ],
        className="small text-muted mb-0",
    )
    row = dbc.Row([dbc.Col(t, xs=12, sm=6, xl=3, className="mb-2") for t in tiles])
    return html.Div([row, table, notes])


# -- discharges ---------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return MISSING_VALUE_TEXT if value is None else f"{value:.0f}%"


def discharge_summary(dis: Any, now_hour: int) -> html.Div:
    today_pct = rules.pct_before_noon(dis.before_noon_today, dis.total_today)
    y_pct = rules.pct_before_noon(dis.yesterday_before_noon, dis.yesterday_total)
    deficit = rules.deficit(dis.expected_by_11, dis.done_by_11)
    usual_total = (
        None if dis.usual[0] is None else sum(v for v in dis.usual[: now_hour + 1])
    )
    items = [
        ("Discharged today", str(dis.total_today), "flow-dis-total"),
        (
            "Usual by this hour",
            MISSING_VALUE_TEXT if usual_total is None else f"{usual_total:.1f}",
            "flow-dis-usual",
        ),
        ("Before noon today", _pct(today_pct), "flow-dis-noon"),
        ("Before noon yesterday", _pct(y_pct), "flow-dis-noon-yesterday"),
        (
            "Deficit at 11:00",
            f"{deficit} ({dis.expected_by_11} expected − {dis.done_by_11} done)",
            "flow-dis-deficit",
        ),
    ]
    day = "Weekend day" if dis.weekend else "Weekday"
    return html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(label, className="small text-muted"),
                            html.Div(value, className="fw-bold", id=cid),
                        ]
                    )  # fmt: skip
                    for label, value, cid in items
                ],
                className="d-flex flex-wrap gap-4 mb-2",
            ),
            html.P(
                f"{day}. SAFER: {rules.SAFER_BEFORE_NOON_PCT:.0f}% of discharges "
                "before midday. The usual is the mean of the same weekday in the "
                "four weeks before; G&A wards only.",
                className="small text-muted mb-0",
            ),
        ]
    )


def discharge_figure(dis: Any, now_hour: int) -> go.Figure:
    hours = [f"{h:02d}" for h in range(24)]
    fig = go.Figure()
    fig.add_bar(x=hours[: now_hour + 1], y=dis.today[: now_hour + 1],
                name="Discharges today", marker_color="#009E73")  # fmt: skip
    fig.add_bar(x=hours[: now_hour + 1], y=dis.admissions[: now_hour + 1],
                name="Admissions today", marker_color="#E69F00")  # fmt: skip
    if dis.usual[0] is not None:
        fig.add_scatter(x=hours, y=dis.usual, name="Usual discharges",
                        mode="lines", line={"color": "#56B4E9", "dash": "dot"})  # fmt: skip
        fig.add_scatter(x=hours, y=dis.usual_admissions, name="Usual admissions",
                        mode="lines", line={"color": "#F0E442", "dash": "dot"})  # fmt: skip
    fig.update_layout(
        barmode="group",
        margin={"l": 40, "r": 16, "t": 8, "b": 32},
        legend={"orientation": "h", "y": 1.1},
        xaxis={"title": "Local hour"},
        yaxis={"title": "Patients", "rangemode": "tozero"},
        uirevision="flow",
    )
    return fig


def _usual(value: float | None) -> str:
    return MISSING_VALUE_TEXT if value is None else f"{value:.1f}"


def discharge_text(dis: Any, now_hour: int) -> ChartText:
    """The discharges chart in words: today's discharges and admissions so far
    against the usual for this weekday, and the hour-by-hour table."""
    caption = "Discharges and admissions per local hour today against the usual"
    hours = range(now_hour + 1)
    discharged = sum(dis.today[h] for h in hours)
    admitted = sum(dis.admissions[h] for h in hours)
    parts = [
        f"So far today {discharged} "
        f"{'discharge' if discharged == 1 else 'discharges'} and {admitted} "
        f"{'admission' if admitted == 1 else 'admissions'} (G&A)."
    ]
    if dis.usual[0] is None:
        parts.append("No usual figure yet: too little history for this weekday.")
    else:
        usual_out = sum(dis.usual[h] or 0.0 for h in hours)
        usual_in = sum(dis.usual_admissions[h] or 0.0 for h in hours)
        parts.append(
            f"Usual for this weekday to the end of the {now_hour:02d}:00 hour: "
            f"{usual_out:.1f} discharges and "
            f"{usual_in:.1f} admissions."
        )
        net = admitted - discharged
        if net > 0:
            parts.append(f"{net} more admitted than discharged so far.")
    rows = tuple(
        (
            f"{h:02d}:00",
            str(dis.today[h]) if h <= now_hour else MISSING_VALUE_TEXT,
            _usual(dis.usual[h]),
            str(dis.admissions[h]) if h <= now_hour else MISSING_VALUE_TEXT,
            _usual(dis.usual_admissions[h]),
        )
        for h in range(24)
    )
    return ChartText(
        " ".join(parts),
        caption,
        ("Hour", "Discharges", "Usual discharges", "Admissions", "Usual admissions"),
        rows,
    )


# -- the board ---------------------------------------------------------------------


def board_data(
    rows: Sequence[Any],
    tz: str,
    actions: Mapping[str, Sequence[Any]] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The board's rows; ``actions`` the open actions by stay (soonest due first)."""
    out = []
    for r in rows:
        ready = r.medically_ready_at
        open_ = list((actions or {}).get(r.stay_ref, ()))
        if not open_:
            actions_text = ""
        else:
            first = action_line(open_[0], tz, now) if now else open_[0].what
            actions_text = (
                first if len(open_) == 1 else f"{len(open_)} open: {first}; …"
            )
        out.append(
            {
                "stay": r.stay_ref,
                "patient": r.patient_ref,
                "ward": f"{r.site_code} {r.ward}",
                "bed": r.bed or "no bed yet",
                "los": round(r.los_days, 1),
                "stranded": r.stranded or "",
                "edd": (
                    format_local(r.expected_discharge_at, tz, "%Y-%m-%d %H:%M")
                    + (" overdue" if r.overdue else "")
                    if r.expected_discharge_at
                    else "not set"
                ),
                "overdue": r.overdue,
                "ctr": (
                    f"no, since {format_local(ready, tz, '%d %b %H:%M')}"
                    if ready
                    else "yes"
                ),
                "pathway": r.pathway or "",
                "reason": getattr(r, "delay_reason", None) or "",
                "actions": actions_text,
                "actions_overdue": bool(now and any(a.overdue(now) for a in open_)),
            }
        )
    return out


CSV_HEADER = (
    "Patient ref", "Site and ward", "Bed", "Length of stay (days)", "Stranded",
    "Expected discharge (local)", "EDD overdue", "Criteria to reside",
    "Pathway", "Delay reason", "Open actions",
)  # fmt: skip


def csv_rows(data: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [list(CSV_HEADER)] + [
        [d["patient"], d["ward"], d["bed"], d["los"], d["stranded"], d["edd"],
         "yes" if d["overdue"] else "no", d["ctr"], d["pathway"], d["reason"],
         d.get("actions", "")]
        for d in data
    ]  # fmt: skip


def summary(rows: Sequence[Any]) -> html.Div:
    """Patients with no criteria to reside by pathway and by delay reason."""
    nctr = [r for r in rows if r.medically_ready_at is not None]
    by_pathway: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for r in nctr:
        by_pathway[r.pathway or "not recorded"] = (
            by_pathway.get(r.pathway or "not recorded", 0) + 1
        )
        reason = getattr(r, "delay_reason", None) or "not recorded"
        by_reason[reason] = by_reason.get(reason, 0) + 1

    def table(title: str, counts: dict[str, int], cid: str) -> dbc.Col:
        body = [
            html.Tr([html.Td(k), html.Td(str(v), className="text-end")])
            for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ] or [html.Tr(html.Td("none", colSpan=2, className="text-muted"))]
        return dbc.Col(
            dbc.Table(
                [
                    html.Thead(html.Tr([html.Th(title), html.Th("Patients")])),
                    html.Tbody(body),
                ],
                size="sm",
                id=cid,
            ),  # fmt: skip
            md=6,
        )

    stranded = sum(1 for r in rows if r.stranded)
    super_s = sum(1 for r in rows if r.stranded == "super-stranded")
    return html.Div(
        [
            html.P(
                f"{len(nctr)} of {len(rows)} inpatients have no criteria to reside; "
                f"{stranded} stranded (≥ 7 days), {super_s} super-stranded "
                "(≥ 21 days).",
                id="flow-summary-line",
                className="small",
            ),
            dbc.Row(
                [
                    table("Pathway", by_pathway, "flow-by-pathway"),
                    table("Delay reason", by_reason, "flow-by-reason"),
                ]
            ),
        ]
    )


def when_text(at: datetime | None, tz: str) -> str:
    return format_local(at, tz, "%H:%M %d %b") if at else MISSING_VALUE_TEXT


def reason_trend(trend: Sequence[Any]) -> html.Div:
    """Patients with no criteria to reside at 08:00 by delay reason: today, a week
    before and at the start of the trend, most frequent today first (the numbers a
    discharge hub watches for a reason that is growing)."""
    today, first = trend[-1], trend[0]
    week = trend[-8] if len(trend) >= 8 else None
    reasons = sorted(
        set(today.by_reason)
        | set(first.by_reason)
        | set(week.by_reason if week else ()),
        key=lambda r: (-today.by_reason.get(r, 0), r == "not recorded", r),
    )
    columns = [("Today", today)]
    if week is not None:
        columns.append((week.day.strftime("%a %d %b"), week))
    if first is not week and first is not today:
        columns.append((first.day.strftime("%a %d %b"), first))
    head = html.Thead(
        html.Tr(
            [html.Th("Delay reason (08:00)", scope="col")]
            + [html.Th(t, scope="col", className="text-end") for t, _ in columns]
            + [html.Th("Change", scope="col", className="text-end")]
        )
    )
    rows = []
    for reason in reasons:
        now_n = today.by_reason.get(reason, 0)
        then_n = columns[-1][1].by_reason.get(reason, 0)
        change = now_n - then_n
        rows.append(
            html.Tr(
                [html.Th(reason, scope="row", className="fw-normal text-break")]
                + [
                    html.Td(str(d.by_reason.get(reason, 0)), className="text-end")
                    for _, d in columns
                ]
                + [
                    html.Td(
                        f"{'+' if change > 0 else ''}{change}",
                        className="text-end fw-bold" if change > 0 else "text-end",
                    )
                ]
            )  # fmt: skip
        )
    return html.Details(
        [
            html.Summary("By delay reason: today against earlier"),
            html.Div(
                dbc.Table(
                    [head, html.Tbody(rows)],
                    size="sm",
                    striped=True,
                    className="mb-0",
                    id="flow-reason-trend",
                ),
                className="table-responsive cc-scroll",
                tabIndex=0,
            ),
        ],
        className="mb-1",
    )


def trend_table(trend: Sequence[Any]) -> html.Div:
    """Patients with no criteria to reside at 08:00 on each of the last 28 days, by
    pathway (newest first), inside a disclosure under the summary. Days before the
    store's first record are left out (unknown, not zero)."""
    trend = [t for t in trend if getattr(t, "covered", True)]
    if not trend:
        return html.P("No trend yet.", className="small text-muted mb-0")
    keys = [*rules.PATHWAYS, "not recorded"]
    head = html.Thead(
        html.Tr(
            [html.Th("Day (08:00)", scope="col")]
            + [html.Th(k, scope="col", className="text-end") for k in keys]
            + [html.Th("Total", scope="col", className="text-end")]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [html.Th(t.day.strftime("%a %d %b"), scope="row")]
                + [
                    html.Td(str(t.by_pathway.get(k, 0)), className="text-end")
                    for k in keys
                ]
                + [html.Td(str(t.total), className="text-end fw-bold")]
            )
            for t in reversed(trend)
        ]
    )
    first, last = trend[0].total, trend[-1].total
    change = last - first
    line = (
        f"No criteria to reside at 08:00: {last} today"
        f" against {first} on {trend[0].day.strftime('%d %b')}"
        f" ({'+' if change > 0 else ''}{change})."
    )
    return html.Div(
        [
            html.P(line, className="small mb-1", id="flow-trend-line"),
            reason_trend(trend),
            html.Details(
                [
                    html.Summary(f"Table: the last {len(trend)} days by pathway"),
                    html.Div(
                        dbc.Table(
                            [head, body],
                            size="sm",
                            striped=True,
                            className="mb-0",
                            id="flow-trend",
                        ),  # fmt: skip
                        className="table-responsive cc-scroll",
                        tabIndex=0,
                    ),
                ]
            ),
        ],
        className="mt-2",
    )
