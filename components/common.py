"""Pure layout builders shared by every page: status badges, KPI tiles, freshness.

Nothing here touches the database or registers callbacks. Status is never shown by
colour alone: every badge carries a bootstrap-icon and a word, and the colours in
``assets/10-app.css`` (classes ``status-<value>``) only reinforce them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

MISSING_VALUE_TEXT = "—"
NO_DATA_TEXT = "no data yet"

ComponentId = str | dict[str, Any]


class Status(StrEnum):
    """Display status of a value or a data feed, in increasing order of severity."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    STALE = "stale"
    ERROR = "error"
    MISSING = "missing"

    @property
    def label(self) -> str:
        """The word shown next to the icon."""
        return _LABELS[self]

    @property
    def icon(self) -> str:
        """The bootstrap-icons class, e.g. ``"bi-check-circle"``."""
        return _ICONS[self]

    @property
    def css_class(self) -> str:
        """The CSS class in ``assets/10-app.css``, e.g. ``"status-ok"``."""
        return f"status-{self.value}"

    @property
    def rank(self) -> int:
        """Severity for picking the worst of several statuses (higher is worse)."""
        return _RANKS[self]


_LABELS: dict[Status, str] = {
    Status.OK: "OK",
    Status.WARNING: "Warning",
    Status.CRITICAL: "Critical",
    Status.STALE: "Stale",
    Status.ERROR: "Error",
    Status.MISSING: "No data",
}

_ICONS: dict[Status, str] = {
    Status.OK: "bi-check-circle",
    Status.WARNING: "bi-exclamation-triangle",
    Status.CRITICAL: "bi-x-octagon",
    Status.STALE: "bi-clock-history",
    Status.ERROR: "bi-bug",
    Status.MISSING: "bi-question-circle",
}

# A feed problem (stale, error, missing) outranks a threshold status: the number
# shown cannot be trusted, so the tile must say so before it says "critical".
_RANKS: dict[Status, int] = {
    Status.OK: 0,
    Status.WARNING: 1,
    Status.CRITICAL: 2,
    Status.MISSING: 3,
    Status.STALE: 4,
    Status.ERROR: 5,
}


def worst_status(statuses: Iterable[Status | str]) -> Status:
    """The most severe of ``statuses`` (``Status.OK`` for an empty iterable)."""
    return max((Status(s) for s in statuses), key=lambda s: s.rank, default=Status.OK)


def _sub_id(base: ComponentId | None, part: str) -> ComponentId | None:
    """Derive a child id: ``"ed-wait"`` -> ``"ed-wait-value"``; dict ids gain a key."""
    if base is None:
        return None
    if isinstance(base, dict):
        return {**base, "part": part}
    return f"{base}-{part}"


def _id_kwargs(component_id: ComponentId | None) -> dict[str, Any]:
    return {} if component_id is None else {"id": component_id}


def status_icon(status: Status | str) -> html.I:
    """The status icon; screen readers hear the status label."""
    status = Status(status)
    return html.I(
        className=f"bi {status.icon} status-icon",
        role="img",
        **{"aria-label": status.label},
    )


def status_badge(
    status: Status | str,
    text: str | None = None,
    badge_id: ComponentId | None = None,
) -> html.Span:
    """A badge with the status icon and text (``text`` defaults to the status label).

    The icon and a word are always present, so the badge never relies on colour.
    """
    status = Status(status)
    label = text if text else status.label
    return html.Span(
        [status_icon(status), html.Span(label, className="status-badge-text")],
        className=f"badge status-badge {status.css_class}",
        title=status.label,
        **_id_kwargs(badge_id),
    )


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:  # pandas.NA / NaT and numpy NaN scalars
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def format_value(value: object) -> str:
    """Display text for a KPI value; ``None``/NaN give ``"—"``, never ``"0"``.

    Strings pass through unchanged (pre-format them for a specific precision);
    integers get thousands separators; other real numbers get one decimal place.
    """
    if _is_missing(value):
        return MISSING_VALUE_TEXT
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        if number.is_integer():
            return f"{int(number):,}"
        return f"{number:,.1f}"
    return str(value)


def kpi_tile(
    title: str,
    value: str | int | float | None,
    unit: str = "",
    as_of_text: str | Any | None = None,
    status: Status | str = Status.OK,
    href: str | None = None,
    tile_id: ComponentId | None = None,
    detail: str | Any | None = None,
) -> html.Div | dcc.Link:
    """A KPI card: title, big value with unit, optional detail, 'as of' line, badge.

    - ``value`` of ``None`` (or NaN) shows "—" and the words "no data yet"; a status
      of OK is then shown as MISSING, because a missing number is not "OK"; the
      ``detail`` (a breakdown of the number) is left out, since it has nothing to
      break down.
    - ``as_of_text`` may be a string or a component (e.g. from ``freshness_line``).
    - ``href`` makes the whole tile a ``dcc.Link`` to that page.
    - ``tile_id`` ids the tile itself; the element holding the value gets
      ``f"{tile_id}-value"``, the badge ``-status``, the 'as of' line ``-as-of``
      (dict ids gain ``"part": "value"`` etc. for pattern-matching callbacks).
    """
    status = Status(status)
    missing = _is_missing(value)
    if missing and status is Status.OK:
        status = Status.MISSING

    value_children: list[Any] = [
        html.Span(
            format_value(value),
            className="kpi-value",
            **_id_kwargs(_sub_id(tile_id, "value")),
        )
    ]
    if missing:
        value_children.append(html.Span(NO_DATA_TEXT, className="kpi-no-data"))
    elif unit:
        value_children.append(html.Span(unit, className="kpi-unit"))

    children: list[Any] = [
        html.Div(
            [
                html.Div(title, className="kpi-title"),
                status_badge(status, badge_id=_sub_id(tile_id, "status")),
            ],
            className="kpi-tile-header",
        ),
        html.Div(value_children, className="kpi-value-row"),
    ]
    if detail is not None and not missing:
        children.append(html.Div(detail, className="kpi-detail"))
    if as_of_text is not None:
        children.append(
            html.Div(
                as_of_text,
                className="kpi-as-of",
                **_id_kwargs(_sub_id(tile_id, "as-of")),
            )
        )

    tile = html.Div(
        children,
        className=f"kpi-tile {status.css_class}",
        **_id_kwargs(tile_id),
    )
    if href:
        return dcc.Link(tile, href=href, className="kpi-tile-link")
    return tile


def format_age(age_seconds: float) -> str:
    """Short human age: ``"45 s"``, ``"12 min"``, ``"3 h 5 min"``, ``"2 d 4 h"``."""
    seconds = max(0, int(age_seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def age_span(
    age_seconds: float, as_of_ms: int | None = None, now_ms: int | None = None
) -> html.Span | str:
    """The age text ("45 s"); given the data's and the server's times (epoch ms) the
    browser keeps it ageing between refreshes (``assets/30-staleness.js``)."""
    text = format_age(age_seconds)
    if as_of_ms is None or now_ms is None:
        return text
    return html.Span(
        text,
        className="cc-age",
        **{"data-cc-as-of": str(as_of_ms), "data-cc-now": str(now_ms)},
    )


def freshness_line(
    as_of_text: str | None,
    age_seconds: float | None,
    stale_after_seconds: float,
    error: str | None = None,
    *,
    as_of_ms: int | None = None,
    now_ms: int | None = None,
    tz: str | None = None,
) -> tuple[Status, html.Span]:
    """Status and display of how fresh a feed's data is.

    - ``error`` given: ERROR badge with the (short, user-safe) message.
    - no data yet (``as_of_text`` or ``age_seconds`` is ``None``): MISSING badge.
    - ``age_seconds > stale_after_seconds``: STALE badge with the age.
    - otherwise OK: plain text "as of 14:02 (45 s ago)".

    With ``as_of_ms``/``now_ms`` (epoch ms) the age keeps counting in the browser.
    """
    attrs = {"data-cc-tz": tz} if tz else {}
    if as_of_text is None or age_seconds is None:
        since = None
    else:
        since = [
            f"as of {as_of_text} (",
            age_span(age_seconds, as_of_ms, now_ms),
            " ago)",
        ]
    if error:
        parts: list[Any] = [status_badge(Status.ERROR, "Feed error"), " ", error]
        if since:
            parts += [" · last data ", *since]
        return Status.ERROR, html.Span(parts, className="freshness-line", **attrs)
    if as_of_text is None or age_seconds is None:
        return Status.MISSING, html.Span(
            [status_badge(Status.MISSING), " no data has been received yet"],
            className="freshness-line",
        )
    if age_seconds > stale_after_seconds:
        return Status.STALE, html.Span(
            [
                status_badge(Status.STALE, f"Stale · {format_age(age_seconds)} old"),
                f" as of {as_of_text} (",
                age_span(age_seconds, as_of_ms, now_ms),
                " ago)",
            ],
            className="freshness-line",
            **attrs,
        )
    return Status.OK, html.Span(since, className="freshness-line", **attrs)


def page_header(
    title: str,
    subtitle: str | Any | None = None,
    right: Any | None = None,
) -> html.Div:
    """Page title with an optional subtitle and a right-aligned slot (e.g. freshness)."""
    heading: list[Any] = [html.H1(title, className="page-title")]
    if subtitle is not None:
        heading.append(html.P(subtitle, className="page-subtitle"))
    children: list[Any] = [html.Div(heading, className="page-header-left")]
    if right is not None:
        children.append(html.Div(right, className="page-header-right"))
    return html.Div(children, className="page-header")


def empty_figure(message: str = NO_DATA_TEXT) -> go.Figure:
    """A figure with ``message`` centred and no axes, for "no data" states.

    Uses the default template (``register_plotly_template()`` at app start-up).
    """
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=False,
        margin={"l": 16, "r": 16, "t": 16, "b": 16},
        annotations=[
            {
                "text": message,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 16},
            }
        ],
    )
    return fig


def query_string(
    keys: Sequence[str], query: Mapping[str, str | None], **changes: str | None
) -> str:
    """The URL query (with "?") for a page's filters, in a stable key order.

    ``keys`` are the page's filter names; empty values are left out.
    """
    from urllib.parse import urlencode

    merged = {**query, **changes}
    items = [(k, merged[k]) for k in keys if merged.get(k)]
    return f"?{urlencode(items)}" if items else ""


def site_options(
    sites: Sequence[tuple[str, str]], all_value: str
) -> list[dict[str, str]]:
    """Dropdown options: "All sites" then each (code, name)."""
    return [{"label": "All sites", "value": all_value}] + [
        {"label": f"{name} ({code})", "value": code} for code, name in sites
    ]


def date_input(component_id: str, value: str | None) -> dcc.DatePickerSingle:
    """A local calendar date, shown and typed the UK way (``dd/mm/yyyy``, weeks from
    Monday) whatever the browser's language; its ``date`` is ISO ``yyyy-mm-dd``."""
    return dcc.DatePickerSingle(
        id=component_id,
        date=value or None,
        display_format="DD/MM/YYYY",
        placeholder="dd/mm/yyyy",
        first_day_of_week=1,
        clearable=True,
    )
