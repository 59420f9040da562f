"""Text alternatives of the charts (WCAG 1.1.1): what each chart shows now, in words
and as a table.

A chart is drawn by plotly as an SVG that a screen reader cannot make sense of, so
each one is wrapped by :func:`chart_figure`: a ``<figure>`` named after the chart,
the plot hidden from assistive technology, and beneath it a one-line summary and a
table of the chart's data behind a disclosure (:func:`alternative`), both filled by
the page's callback with a :class:`ChartText` from the builders below. The builders
are pure: they take what the figure builders take and return plain text.

Missing data is said to be missing, never zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.common import MISSING_VALUE_TEXT
from components.figures_beds import hour_label, is_ambiguous_local
from ops.timeutil import ensure_utc, to_local


@dataclass(frozen=True)
class ChartText:
    """A chart in words: ``summary`` (one or two sentences) and a table of its data
    (``columns`` headers; each row's first cell heads that row)."""

    summary: str
    caption: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def text_id(graph_id: str) -> str:
    """The id of the element a chart's :class:`ChartText` is rendered into."""
    return f"{graph_id}-text"


def chart_figure(
    graph: dcc.Graph, name: str, *, hidden_text: bool = False, text: Any = None
) -> html.Figure:
    """``graph`` as a named figure with room for its text alternative.

    The figure is named ``name`` and described by the summary; the plot's drawing is
    hidden from assistive technology (its SVG is axis ticks and cell rectangles:
    assets/a11y.js marks it aria-hidden), while plotly's own toolbar buttons, which
    are named, stay usable.
    ``hidden_text`` keeps the summary and table for screen readers only (the wall,
    where every pixel is taken)."""
    graph_id = graph.id
    if text is None:
        text = alternative(ChartText("Loading…", ""), graph_id)
    return html.Figure(
        [
            html.Div(graph, className="cc-chart-plot"),
            html.Div(
                text,
                id=text_id(graph_id),
                className="visually-hidden" if hidden_text else "cc-chart-text",
            ),
        ],
        className="cc-chart",
        **{"aria-label": name, "aria-describedby": f"{text_id(graph_id)}-summary"},
    )


def alternative(text: ChartText, graph_id: str) -> list:
    """The rendered summary and the data table (closed ``<details>``) of a chart."""
    summary = html.P(
        text.summary, id=f"{text_id(graph_id)}-summary", className="cc-chart-summary"
    )
    if not text.rows:
        return [summary]
    head = html.Thead(html.Tr([html.Th(c, scope="col") for c in text.columns]))
    body = html.Tbody(
        [
            html.Tr(
                [html.Th(row[0], scope="row")] + [html.Td(cell) for cell in row[1:]]
            )
            for row in text.rows
        ]
    )
    table = dbc.Table(
        [html.Caption(text.caption), head, body],
        size="sm",
        bordered=False,
        striped=True,
        className="mb-0",
    )
    return [
        summary,
        html.Details(
            [
                html.Summary(f"Table: {text.caption}"),
                html.Div(table, className="table-responsive cc-scroll"),
            ],
            className="cc-chart-data",
        ),
    ]


def unavailable(message: str) -> ChartText:
    """The text of a chart that could not be drawn (read error, unknown filter)."""
    return ChartText(summary=message, caption="")


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def _is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value: float | None, digits: int = 0) -> str:
    return MISSING_VALUE_TEXT if _is_missing(value) else f"{value:.{digits}f} %"


def _occ(value: float | None) -> str:
    """Occupancy as the Beds page shows it: one decimal."""
    return _pct(value, 1)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _listed(items: Sequence[str], limit: int = 5) -> str:
    """``a, b and c``; past ``limit`` the rest are counted."""
    shown = list(items[:limit])
    rest = len(items) - len(shown)
    if rest > 0:
        shown.append(f"{rest} more")
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


# ---------------------------------------------------------------------------
# Beds (and the wall): ward x hour occupancy heatmap
# ---------------------------------------------------------------------------


def occupancy_thresholds(bands: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The red and amber thresholds a heatmap's words count wards against: the G&A
    occupancy alert rules' bands (``ops.alerting.metric_bands``), so the words use
    the figures of the tiles and alerts; None where no rule sets one."""
    metric = bands.get("ga_occupancy_pct")
    if metric is None:
        return None, None
    by_severity = {str(b.severity): b.threshold for b in metric.bands}
    return by_severity.get("critical"), by_severity.get("warning")


def bed_occupancy_text(
    wards: Sequence[tuple[int, str]],
    z: Sequence[Sequence[float | None]],
    hours: Sequence[datetime],
    tz: str | ZoneInfo,
    red: float | None = None,
    amber: float | None = None,
) -> ChartText:
    """The occupancy heatmap's rows (``wards``) x ``hours`` matrix ``z`` (percent;
    None/NaN where a ward had no record or no open beds) in words: the latest hour's
    wards at or above ``red`` and ``amber``, the highest hour of the range, and per
    ward its latest, highest, average and hours at or above ``red``."""
    caption = "Bed occupancy by ward, each hour"
    if not wards:
        return ChartText("No wards match the filters.", caption)
    cells = [[None if _is_missing(v) else float(v) for v in row] for row in z]
    if not hours or all(v is None for row in cells for v in row):
        return ChartText("No hourly occupancy is recorded in this range.", caption)
    labels = [hour_label(h, tz) for h in hours]
    latest = [row[-1] for row in cells]
    ranked = sorted(
        (
            (v, label)
            for (_, label), v in zip(wards, latest, strict=True)
            if v is not None
        ),
        key=lambda item: -item[0],
    )
    parts = [
        f"Occupancy of {_count(len(wards), 'ward')}, each hour from {labels[0]} to "
        f"{labels[-1]}."
    ]
    if red is not None:
        at_red = [f"{label} {_occ(v)}" for v, label in ranked if v >= red]
        amber_only = (
            [label for v, label in ranked if amber <= v < red]
            if amber is not None
            else []
        )
        sentence = (
            f"Latest hour: {_count(len(at_red), 'ward')} at or above {red:g} %"
            + (f": {_listed(at_red)}" if at_red else "")
        )
        if amber is not None:
            sentence += f"; {len(amber_only)} more at or above {amber:g} %"
        parts.append(sentence + ".")
    elif ranked:
        parts.append(
            "Latest hour, fullest wards: "
            + _listed([f"{label} {_occ(v)}" for v, label in ranked], 3)
            + "."
        )
    peak = max(
        (
            (v, i, j)
            for i, row in enumerate(cells)
            for j, v in enumerate(row)
            if v is not None
        ),
        key=lambda item: (item[0], -item[2]),
    )
    parts.append(f"Highest: {wards[peak[1]][1]} {_occ(peak[0])} at {labels[peak[2]]}.")
    no_latest = sum(1 for v in latest if v is None)
    if no_latest:
        parts.append(f"{_count(no_latest, 'ward')} with no figure for the latest hour.")
    threshold = red if red is not None else 95.0
    rows = []
    for (_, label), row in zip(wards, cells, strict=True):
        known = [(v, j) for j, v in enumerate(row) if v is not None]
        if known:
            top, at = max(known, key=lambda item: (item[0], -item[1]))
            highest = f"{_occ(top)} at {labels[at]}"
            average = _occ(sum(v for v, _ in known) / len(known))
            over = str(sum(1 for v, _ in known if v >= threshold))
        else:
            highest = average = over = MISSING_VALUE_TEXT
        rows.append(
            (
                label,
                _occ(row[-1]),
                highest,
                average,
                over,
                str(len(row) - len(known)),
            )
        )
    return ChartText(
        " ".join(parts),
        caption,
        (
            "Ward",
            f"Latest ({labels[-1]})",
            "Highest",
            "Average",
            f"Hours at or above {threshold:g} %",
            "Hours with no figure",
        ),
        tuple(rows),
    )


# ---------------------------------------------------------------------------
# Theatres: theatre x day capped utilisation heatmap
# ---------------------------------------------------------------------------


def theatre_utilisation_text(
    theatres: Sequence[tuple[int, str]],
    days: Sequence[date],
    grid: Mapping[tuple[int, date], float | None],
    target: float,
) -> ChartText:
    """Capped utilisation per theatre (rows) and local day (columns) in words: the
    latest day's theatres below ``target``, the range's average per theatre, and the
    whole grid as the table (blank = no sessions that day)."""
    caption = "Capped utilisation by theatre and day"
    if not theatres or not days:
        return ChartText("No theatres.", caption)
    values = {
        (tid, d): grid.get((tid, d))
        for tid, _ in theatres
        for d in days
        if not _is_missing(grid.get((tid, d)))
    }
    if not values:
        return ChartText("No sessions in this range.", caption)
    last = days[-1]
    latest = [
        (label, values[(tid, last)]) for tid, label in theatres if (tid, last) in values
    ]
    below = [
        f"{label} {_pct(v)}"
        for label, v in sorted(latest, key=lambda x: x[1])
        if v < target
    ]
    parts = [
        f"Capped utilisation of {_count(len(theatres), 'theatre')} over "
        f"{_count(len(days), 'day')}, {days[0]:%a %d %b} to {last:%a %d %b}."
    ]
    if latest:
        parts.append(
            f"{last:%a %d %b}: {len(below)} of {_count(len(latest), 'theatre')} with "
            f"sessions below the {target:g} % target"
            + (f" ({_listed(below)})" if below else "")
            + "."
        )
    else:
        parts.append(f"{last:%a %d %b}: no sessions.")
    averages = []
    for tid, label in theatres:
        known = [values[(tid, d)] for d in days if (tid, d) in values]
        if known:
            averages.append((sum(known) / len(known), label))
    if averages:
        low = min(averages)
        parts.append(f"Lowest average over the range: {low[1]} {_pct(low[0])}.")
    rows = tuple(
        (label, *(_pct(values.get((tid, d))) for d in days)) for tid, label in theatres
    )
    return ChartText(
        " ".join(parts),
        caption,
        ("Theatre", *(f"{d:%a %d %b}" for d in days)),
        rows,
    )


# ---------------------------------------------------------------------------
# ED: time in department, arrivals today, arrivals by weekday and hour
# ---------------------------------------------------------------------------


def time_in_department_text(
    bins: Sequence[int], four: int = 4, twelve: int = 12
) -> ChartText:
    """Patients now by whole hours since arrival (``bins[h]`` = [h, h+1) hours; the
    last bin counts the rest)."""
    caption = "Patients in the department by hours since arrival"
    total = sum(bins)
    if total == 0:
        return ChartText("No patients in the department.", caption)
    last = len(bins) - 1
    over4 = sum(bins[four:])
    over12 = sum(bins[twelve:])
    longest = max(i for i, n in enumerate(bins) if n)
    longest_text = (
        f"{last} hours or more" if longest >= last else f"{longest}–{longest + 1} hours"
    )
    summary = (
        f"{_count(total, 'patient')} in the department now: "
        f"{over4} for more than {four} hours, {over12} for more than {twelve} hours. "
        f"Longest: {longest_text}."
    )
    rows = tuple(
        (f"{last} h or more" if i >= last else f"{i}–{i + 1} h", str(n))
        for i, n in enumerate(bins)
        if i <= max(longest, twelve)
    )
    return ChartText(summary, caption, ("Hours since arrival", "Patients"), rows)


def arrivals_today_text(today: Any) -> ChartText:
    """Arrivals per local hour today against the usual band (``ArrivalsToday``)."""
    caption = "Arrivals per hour today against the usual"
    points = list(today.points)
    started = [p for p in points if p.arrivals is not None]
    if not started:
        return ChartText("No arrivals recorded today yet.", caption)
    parts = [f"{_count(today.arrivals_so_far, 'arrival')} so far today."]
    complete = [p for p in started if p.complete]
    if complete:
        p = complete[-1]
        usual = (
            f" against a usual {p.median:.0f} (usual range {p.p10:.0f}–{p.p90:.0f})"
            if p.median is not None and p.p10 is not None and p.p90 is not None
            else " (no usual figure yet)"
        )
        parts.append(
            f"Last complete hour, {p.label}: {_count(p.arrivals, 'arrival')}{usual}."
        )
    above = [
        p.label
        for p in complete
        if p.p90 is not None and p.arrivals is not None and p.arrivals > p.p90
    ]
    if any(p.median is not None for p in points):
        parts.append(
            f"{_count(len(above), 'complete hour')} above the usual range"
            + (f": {_listed(above)}" if above else "")
            + "."
        )
    else:
        parts.append("No usual range yet: too little history for this weekday.")

    def usual_range(p: Any) -> str:
        if p.p10 is None or p.p90 is None:
            return MISSING_VALUE_TEXT
        return f"{p.p10:.0f}–{p.p90:.0f}"

    rows = tuple(
        (
            p.label,
            MISSING_VALUE_TEXT
            if p.arrivals is None
            else (str(p.arrivals) if p.complete else f"{p.arrivals} so far"),
            MISSING_VALUE_TEXT if p.median is None else f"{p.median:.0f}",
            usual_range(p),
        )
        for p in points
    )
    return ChartText(
        " ".join(parts),
        caption,
        ("Hour", "Arrivals", "Usual (median)", "Usual range (10th–90th percentile)"),
        rows,
    )


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def arrivals_heatmap_text(heat: Any) -> ChartText:
    """Mean arrivals per hour by weekday and hour (``WeekdayHourHeatmap``)."""
    caption = "Mean arrivals per hour by weekday and local hour"
    cells = [
        (v, d, h)
        for d, row in enumerate(heat.mean)
        for h, v in enumerate(row)
        if v is not None
    ]
    if heat.overall_mean is None or not cells:
        return ChartText(
            f"No arrivals history in the last {heat.weeks} weeks.", caption
        )
    busiest = max(cells, key=lambda c: (c[0], -c[1], -c[2]))
    quietest = min(cells, key=lambda c: (c[0], c[1], c[2]))
    summary = (
        f"Mean arrivals per hour over the last {heat.weeks} weeks: busiest "
        f"{WEEKDAYS[busiest[1]]} {busiest[2]:02d}:00 ({busiest[0]:.1f} an hour), "
        f"quietest {WEEKDAYS[quietest[1]]} {quietest[2]:02d}:00 ({quietest[0]:.1f}); "
        f"the average hour has {heat.overall_mean:.1f}."
    )
    rows = tuple(
        (
            WEEKDAYS[d],
            *(MISSING_VALUE_TEXT if v is None else f"{v:.1f}" for v in row),
        )
        for d, row in enumerate(heat.mean)
    )
    return ChartText(
        summary, caption, ("Weekday", *(f"{h:02d}:00" for h in range(24))), rows
    )


# ---------------------------------------------------------------------------
# Alerts: OPEL level over the last days
# ---------------------------------------------------------------------------


def opel_trend_text(
    points: Sequence[Any], since: datetime, until: datetime, tz: str | ZoneInfo
) -> ChartText:
    """The OPEL level per scope over ``since``–``until`` (assessments ``points`` with
    scope_kind, scope_id, scope_label, at, level): each scope's level now and since
    when, and its highest; the table lists every change of level."""
    caption = "Changes of OPEL level"
    if not points:
        return ChartText("No OPEL assessments in the last 7 days.", caption)

    def when(at: datetime) -> str:
        return to_local(ensure_utc(at), tz).strftime("%a %d %b %H:%M")

    def level(value: int | None) -> str:
        return "no level" if value is None else f"OPEL {value}"

    series: dict[tuple[str, str], list[Any]] = {}
    for p in sorted(points, key=lambda p: ensure_utc(p.at)):
        series.setdefault((p.scope_kind, p.scope_id), []).append(p)
    order = sorted(series, key=lambda k: (k[0] != "trust", series[k][0].scope_label))
    parts = []
    rows = []
    for key in order:
        pts = series[key]
        label = pts[0].scope_label
        changes = [pts[0]] + [
            b for a, b in zip(pts, pts[1:], strict=False) if b.level != a.level
        ]
        now = changes[-1]
        known = [p.level for p in pts if p.level is not None]
        top = f"; highest {level(max(known))}" if known else ""
        parts.append(f"{label}: {level(now.level)} since {when(now.at)}{top}.")
        rows.extend((label, when(p.at), level(p.level)) for p in changes)
    summary = f"OPEL level from {when(since)} to {when(until)}. " + " ".join(parts)
    return ChartText(summary, caption, ("Scope", "From", "Level"), tuple(rows))


# ---------------------------------------------------------------------------
# Feeds: HL7 messages per minute, last hour
# ---------------------------------------------------------------------------


def minute_label(minute_utc: datetime, tz: str | ZoneInfo) -> str:
    """A minute's local ``HH:MM``; in the repeated hour at the autumn clock change
    with its zone (``01:30 BST`` then ``01:30 GMT``), so the two stay apart."""
    local = to_local(ensure_utc(minute_utc), tz)
    text = local.strftime("%H:%M")
    return f"{text} {local.tzname()}" if is_ambiguous_local(local) else text


def hl7_minutes_text(minutes: Sequence[Any], tz: str | ZoneInfo) -> ChartText:
    """HL7 messages received per minute (``data.queries.feeds.MinuteCount``: minute,
    accepted, refused; oldest first, one per minute, a real 0 where none arrived):
    the hour's total accepted and refused, the busiest minute, the minutes with a
    refusal and the latest minute; the table lists every minute."""
    caption = "HL7 messages per minute, accepted and refused"
    if not minutes:
        return ChartText("No minutes to show.", caption)

    def label(m: Any) -> str:
        return minute_label(m.minute, tz)

    accepted = sum(m.accepted for m in minutes)
    refused = sum(m.refused for m in minutes)
    span = f"{_count(len(minutes), 'minute')} from {label(minutes[0])} to " + label(
        minutes[-1]
    )
    if accepted + refused == 0:
        return ChartText(
            f"No HL7 messages received in the last {span}.",
            caption,
            ("Minute", "Accepted (AA)", "Refused (AE / AR)", "Total"),
            tuple((label(m), "0", "0", "0") for m in minutes),
        )
    busiest = max(minutes, key=lambda m: (m.accepted + m.refused, m.minute))
    refusing = [label(m) for m in minutes if m.refused]
    last = minutes[-1]
    parts = [
        f"{_count(accepted + refused, 'HL7 message')} in the last {span}: "
        f"{accepted} accepted, {refused} refused.",
        f"Busiest minute: {label(busiest)} with "
        f"{_count(busiest.accepted + busiest.refused, 'message')}.",
        (
            f"Refusals in {_count(len(refusing), 'minute')}: {_listed(refusing)}."
            if refusing
            else "No refusals."
        ),
        f"Latest minute, {label(last)}: {last.accepted} accepted, "
        f"{last.refused} refused.",
    ]
    rows = tuple(
        (label(m), str(m.accepted), str(m.refused), str(m.accepted + m.refused))
        for m in minutes
    )
    return ChartText(
        " ".join(parts),
        caption,
        ("Minute", "Accepted (AA)", "Refused (AE / AR)", "Total"),
        rows,
    )
