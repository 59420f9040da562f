"""The alert banner shown under the navigation on every page, and small shared pieces.

Pure builders: :func:`alert_banner` takes the current alerts and the trust's OPEL
assessment as plain values (``ops.alert_views.AlertView`` / ``OpelView`` fit the
protocols below) and returns the banner; ``callbacks/alerts.py`` fills
``components.shell.IDS.banner`` with it on every poll. Severity, state,
acknowledgement and silence are always an icon and words, never colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.common import MISSING_VALUE_TEXT, Status, format_age, format_value
from ops.timeutil import format_local

BANNER_MAX_ROWS = 3
SEEN_TYPE = "alert-banner-seen"


class IDS:
    root = "alert-banner"
    opel = "alert-banner-opel"
    list = "alert-banner-list"
    more = "alert-banner-more"
    pending = "alert-banner-pending"
    opel_detail = "alert-banner-opel-detail"
    toast = "alert-banner-toast"
    # The banner's own memory of the firing alerts it has shown (pattern-matching id,
    # so the callback can read it as State even before the first banner exists).
    seen = {"type": SEEN_TYPE, "id": "banner"}

    @staticmethod
    def item(alert_id: int) -> str:
        return f"alert-banner-item-{alert_id}"


class AlertLike(Protocol):
    id: int
    title: str
    scope_label: str
    severity: str
    state: str
    value: float | None
    unit: str
    since: datetime
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    silenced: bool
    silenced_until: datetime | None
    silenced_by: str | None
    silence_reason: str | None


class OpelLike(Protocol):
    scope_label: str
    level: int | None
    total: float
    incomplete: bool
    assessed_at: datetime
    config_version: str


OPEL_MEANING = {
    1: "flow maintained",
    2: "signs of pressure",
    3: "major pressures",
    4: "comprehensive care at risk",
}
_OPEL_STATUS = {1: Status.OK, 2: Status.WARNING, 3: Status.CRITICAL, 4: Status.CRITICAL}

# severity -> (label, icon, css status class)
SEVERITY_STYLE: dict[str, tuple[str, str, str]] = {
    "critical": ("Critical", "bi-x-octagon", Status.CRITICAL.css_class),
    "warning": ("Warning", "bi-exclamation-triangle", Status.WARNING.css_class),
    "info": ("Info", "bi-info-circle", Status.STALE.css_class),
}
SEVERITY_RANK = {"critical": 2, "warning": 1, "info": 0}

# state -> (label, icon, css status class)
STATE_STYLE: dict[str, tuple[str, str, str]] = {
    "firing": ("Firing", "bi-bell-fill", Status.CRITICAL.css_class),
    "pending": ("Pending", "bi-hourglass-split", Status.WARNING.css_class),
    "recovering": ("Recovering", "bi-arrow-down-right-circle", Status.OK.css_class),
    "normal": ("Normal", "bi-check-circle", Status.OK.css_class),
    "no_data": ("No data", "bi-question-circle", Status.MISSING.css_class),
    "error": ("Error", "bi-bug", Status.ERROR.css_class),
}


def _icon(name: str) -> html.I:
    return html.I(className=f"bi {name}", **{"aria-hidden": "true"})


def _badge(label: str, icon: str, css: str, title: str | None = None) -> html.Span:
    return html.Span(
        [_icon(icon), html.Span(label, className="status-badge-text")],
        className=f"badge status-badge {css}",
        title=title or label,
    )


def severity_badge(severity: str) -> html.Span:
    label, icon, css = SEVERITY_STYLE.get(
        severity, (severity.capitalize(), "bi-info-circle", Status.STALE.css_class)
    )
    return _badge(label, icon, css, f"Severity: {label}")


def state_badge(state: str) -> html.Span:
    label, icon, css = STATE_STYLE.get(
        state, (state.replace("_", " ").capitalize(), "bi-circle", "status-missing")
    )
    return _badge(label, icon, css, f"State: {label}")


def opel_badge(
    level: int | None, *, suffix: str = "", badge_id: str | None = None
) -> html.Span:
    """``OPEL 3 · major pressures``; an unknown level is shown as such, never as 1."""
    if level is None:
        text, status = "OPEL unknown", Status.MISSING
        title = "OPEL level unknown: too many parameters have no data"
    else:
        text, status = f"OPEL {level}", _OPEL_STATUS.get(level, Status.CRITICAL)
        title = f"OPEL {level}: {OPEL_MEANING.get(level, '')}"
    icon = "bi-speedometer" if level is not None else "bi-question-circle"
    children: list[Any] = [
        _icon(icon),
        html.Span(text + suffix, className="status-badge-text"),
    ]
    kwargs = {"id": badge_id} if badge_id else {}
    return html.Span(
        children,
        className=f"badge status-badge {status.css_class}",
        title=title,
        **kwargs,
    )


def format_alert_value(value: float | None, unit: str) -> str:
    """``95.4 %``, ``9``, ``34 min``, ``30 min`` (seconds as an age), ``OPEL 4``."""
    if value is None:
        return MISSING_VALUE_TEXT
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "minutes":
        return f"{value:.0f} min"
    if unit == "seconds":
        return format_age(value)
    if unit == "level":
        return f"OPEL {int(value)}"
    return format_value(
        round(value, 1) if not float(value).is_integer() else int(value)
    )


def ack_silence_lines(alert: AlertLike, tz: str) -> list[html.Div]:
    """ "Acknowledged by X 14:02" / "Silenced by Y until 15:00 — reason" (icon + words)."""
    lines: list[html.Div] = []
    if alert.acknowledged and alert.acknowledged_at is not None:
        lines.append(
            html.Div(
                [
                    _icon("bi-check2-circle me-1"),
                    f"Acknowledged by {alert.acknowledged_by} "
                    f"{format_local(alert.acknowledged_at, tz)}",
                ],
                className="alert-ack small",
            )
        )
    if alert.silenced and alert.silenced_until is not None:
        lines.append(
            html.Div(
                [
                    _icon("bi-bell-slash me-1"),
                    f"Silenced by {alert.silenced_by} until "
                    f"{format_local(alert.silenced_until, tz)} — "
                    f"{alert.silence_reason or ''}",
                ],
                className="alert-silence small",
            )
        )
    return lines


def _banner_row(alert: AlertLike, tz: str) -> html.Div:
    value = format_alert_value(alert.value, alert.unit)
    return html.Div(
        [
            severity_badge(alert.severity),
            html.Span(
                [
                    html.Strong(alert.title),
                    f" — {alert.scope_label}",
                    html.Span(f" · {value}", className="text-nowrap"),
                    html.Span(
                        f" · firing since {format_local(alert.since, tz)}",
                        className="text-muted text-nowrap",
                    ),
                ],
                className="ms-2",
            ),
            html.Span(
                ack_silence_lines(alert, tz), className="ms-3 d-inline-flex gap-3"
            ),
        ],
        id=IDS.item(alert.id),
        className="d-flex flex-wrap align-items-center gap-1 py-1",
    )


def firing_sorted(alerts: Sequence[AlertLike]) -> list[AlertLike]:
    """Firing alerts, most severe first, then those needing attention, then oldest."""
    firing = [a for a in alerts if a.state == "firing"]
    return sorted(
        firing,
        key=lambda a: (
            -SEVERITY_RANK.get(a.severity, 0),
            a.acknowledged or a.silenced,
            a.since,
        ),
    )


def opel_headroom(
    total: float, level: int | None, levels: Sequence[tuple[int, float]]
) -> str:
    """The score and how far it is from the next level: ``score 22 of 44 · top of
    OPEL 2 (OPEL 3 above 22)``, ``score 18 · 5 to OPEL 3 (above 22)``. ``levels`` are
    ``(level, max_total)`` pairs of the configuration, lowest first."""
    text = f"score {total:g}"
    if level is None or not levels:
        return text
    ordered = sorted(levels)
    top = ordered[-1][1]
    text += f" of {top:g}"
    ceiling = next((m for lv, m in ordered if lv == level), None)
    nxt = next((lv for lv, _ in ordered if lv > level), None)
    if ceiling is None or nxt is None:
        return text + " · highest level"
    gap = ceiling - total
    if gap <= 0:
        return text + f" · top of OPEL {level} (OPEL {nxt} above {ceiling:g})"
    return text + f" · {gap:g} to OPEL {nxt} (above {ceiling:g})"


def assessment_age(assessed_at: datetime, now: datetime) -> str:
    """``assessed 3 min ago`` / ``assessed just now``."""
    minutes = int((now - assessed_at).total_seconds() // 60)
    if minutes < 1:
        return "assessed just now"
    if minutes < 120:
        return f"assessed {minutes} min ago"
    return f"assessed {minutes // 60} h ago"


def group_ward_alerts(firing: Sequence[AlertLike]) -> list[Any]:
    """Firing alerts with ward-level ones of one rule and site folded into one
    entry ``(rule title, site, [alerts])``; others stay as they are. Ward labels
    carry their site code first (``data.writes.alerts.scope_label``)."""
    out: list[Any] = []
    groups: dict[tuple[str, str], list[AlertLike]] = {}
    for a in firing:
        if getattr(a, "scope_kind", None) != "ward":
            out.append(a)
            continue
        site = a.scope_label.split(" ", 1)[0]
        key = (a.title, site)
        if key not in groups:
            groups[key] = []
            out.append(key)
        groups[key].append(a)
    return [
        (item[0], item[1], groups[item]) if isinstance(item, tuple) else item
        for item in out
    ]


def _ward_group_row(
    title: str, site: str, alerts: Sequence[AlertLike], tz: str
) -> html.Div:
    if len(alerts) == 1:
        return _banner_row(alerts[0], tz)
    names = ", ".join(a.scope_label.split(" ", 1)[-1] for a in alerts[:4])
    more = f" and {len(alerts) - 4} more" if len(alerts) > 4 else ""
    return html.Div(
        [
            severity_badge(alerts[0].severity),
            html.Span(
                [
                    html.Strong(title),
                    f" — {len(alerts)} wards at {site}",
                    html.Span(f" · {names}{more}", className="text-muted"),
                ],
                className="ms-2",
            ),
        ],
        id=f"alert-banner-group-{site}-{alerts[0].rule_id}",
        className="d-flex flex-wrap align-items-center gap-1 py-1",
    )


def alert_banner(
    alerts: Sequence[AlertLike],
    opel: OpelLike | None,
    *,
    tz: str = "Europe/London",
    seen: Sequence[str] | None = None,
    new_alerts: Sequence[AlertLike] = (),
    max_rows: int = BANNER_MAX_ROWS,
    opel_levels: Sequence[tuple[int, float]] = (),
    now: datetime | None = None,
) -> html.Div:
    """Firing alerts by severity with their ack/silence state, and the trust's OPEL.

    ``seen`` is stored in the banner (its own memory for "new since the last poll");
    ``new_alerts`` adds a toast naming alerts that started firing since then.
    """
    firing = firing_sorted(alerts)
    if opel is None:
        opel_part: Any = html.Span(
            [_icon("bi-speedometer me-1"), "OPEL not assessed yet"],
            className="small text-muted",
            id=IDS.opel,
        )
    else:
        suffix = f" · {OPEL_MEANING.get(opel.level, '')}" if opel.level else ""
        suffix += " (incomplete)" if opel.incomplete and opel.level is not None else ""
        detail = opel_headroom(opel.total, opel.level, opel_levels)
        if now is not None:
            detail += f" · {assessment_age(opel.assessed_at, now)}"
        opel_part = html.Span(
            [
                dcc.Link(
                    opel_badge(opel.level, suffix=suffix, badge_id=IDS.opel),
                    href="/alerts",
                    title=(
                        f"{opel.scope_label}: total {opel.total:g}, assessed "
                        f"{format_local(opel.assessed_at, tz)}, "
                        f"config {opel.config_version}"
                    ),
                    className="text-decoration-none",
                ),
                html.Span(f" {detail}", id=IDS.opel_detail, className="small ms-1"),
            ]
        )
    if firing:
        entries = group_ward_alerts(firing)
        rows: list[Any] = [
            _ward_group_row(*e, tz) if isinstance(e, tuple) else _banner_row(e, tz)
            for e in entries[:max_rows]
        ]
        extra = len(entries) - max_rows
        headline = [
            _icon("bi-bell-fill me-1"),
            f"{len(firing)} firing alert{'s' if len(firing) != 1 else ''}",
        ]
        more = dcc.Link(
            f"+{extra} more — see all alerts" if extra > 0 else "See all alerts",
            href="/alerts",
            id=IDS.more,
            className="small",
        )
    else:
        rows = []
        headline = [_icon("bi-check-circle me-1"), "No firing alerts"]
        more = dcc.Link(
            "Alerts and OPEL", href="/alerts", id=IDS.more, className="small"
        )
    pending = sum(1 for a in alerts if a.state == "pending")
    if pending:
        # Conditions holding whose `for` time is still running: said, not hidden.
        headline.append(
            html.Span(
                f" · {pending} pending",
                id=IDS.pending,
                className="fw-normal",
                title="Conditions holding whose 'for' time has not run out yet",
            )
        )
    children: list[Any] = [
        html.Div(
            [
                html.Span(opel_part, className="me-3"),
                html.Strong(headline, className="me-3"),
                more,
            ],
            className="d-flex flex-wrap align-items-center",
        ),
    ]
    if rows:
        children.append(html.Div(rows, id=IDS.list))
    children.append(dcc.Store(id=IDS.seen, data=list(seen) if seen is not None else []))
    if new_alerts:
        children.append(new_alert_toast(new_alerts))
    return html.Div(
        children,
        id=IDS.root,
        # Not a live region: it is redrawn at every poll. A newly firing alert is
        # announced once, by its toast (role=alert).
        className="container-fluid py-2 mb-3 border-bottom border-secondary",
        style={"backgroundColor": "var(--cc-surface)"},
    )


WORKER_SILENT_ID = "worker-silent"
WORKER_SILENT_WORDS = "alerts, OPEL and stale-data checks are not running"


def worker_silent_text(since: datetime, tz: str) -> str:
    """The words of the silent-worker notice (the page banner and the wall)."""
    return (
        f"Background worker silent since {format_local(since, tz, '%H:%M')} — "
        f"{WORKER_SILENT_WORDS}"
    )


def worker_silent_notice(since: datetime, tz: str = "Europe/London") -> html.Div:
    """Shown above everything while the background worker has stopped renewing its
    lease: no alert can fire and no OPEL is assessed, so the screens must say so."""
    return html.Div(
        [
            status_badge_icon("bi-exclamation-octagon-fill"),
            html.Strong("Background worker silent", className="ms-1 me-2"),
            html.Span(worker_silent_text(since, tz), className="worker-silent-text"),
            html.Span(
                " Check the worker process (flask --app app worker); /healthz shows "
                "its heartbeat.",
                className="small ms-2",
            ),
        ],
        id=WORKER_SILENT_ID,
        role="alert",
        className="worker-silent container-fluid py-2 status-critical",
    )


def status_badge_icon(name: str) -> html.I:
    return _icon(name)


def new_alert_toast(alerts: Sequence[AlertLike]) -> dbc.Toast:
    items = [
        html.Div(
            [severity_badge(a.severity), html.Span(f" {a.title} — {a.scope_label}")],
            className="mb-1",
        )
        for a in alerts[:5]
    ]
    if len(alerts) > 5:
        items.append(html.Div(f"and {len(alerts) - 5} more", className="small"))
    return dbc.Toast(
        items,
        id=IDS.toast,
        header=f"New alert{'s' if len(alerts) != 1 else ''} firing",
        icon="danger",
        is_open=True,
        dismissable=True,
        duration=20000,
        style={
            "position": "fixed",
            "top": 72,
            "right": 16,
            "width": 380,
            "zIndex": 1080,
        },
    )
