"""Alert banner, alerts page builders, the OPEL alert step and the filter callback."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
from dash import html

from callbacks.alerts import filters_changed
from components import alert_banner as banner
from components import alerts as page
from ops.alert_views import AlertView, TrendPoint
from ops.alerting import AlertState, AlertStatus, opel_step
from ops.opel import load_opel_config, score_opel

TZ = "Europe/London"
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def _text(component) -> str:  # noqa: ANN001
    """All visible text of a component tree."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def _alert(**kw) -> AlertView:  # noqa: ANN003
    base = dict(
        id=1,
        rule_id="ga-occupancy-red-site",
        scope_kind="site",
        scope_id="RGH",
        scope_label="Riverside General Hospital",
        title="G&A occupancy red",
        metric="ga_occupancy_pct",
        unit="%",
        severity="critical",
        state="firing",
        since=NOW - timedelta(minutes=28),
        value=96.4,
        last_evaluated_at=NOW,
        active_since=NOW - timedelta(minutes=43),
        episode_started_at=NOW - timedelta(minutes=28),
        acknowledged=False,
        acknowledged_by=None,
        acknowledged_at=None,
        ack_note=None,
        silenced=False,
        silenced_until=None,
        silenced_by=None,
        silence_reason=None,
        needs_attention=True,
        version=1,
    )
    base.update(kw)
    return AlertView(**base)


@dataclasses.dataclass
class _Opel:
    scope_label: str = "Demo Trust"
    level: int | None = 3
    total: float = 27
    incomplete: bool = False
    assessed_at: datetime = NOW
    config_version: str = "local-defaults-2025.1"


def test_banner_lists_firing_alerts_most_severe_first_with_ack_and_silence_text():
    alerts = [
        _alert(
            id=1,
            severity="warning",
            title="Escalation beds open",
            unit="count",
            value=12,
        ),
        _alert(
            id=2,
            acknowledged=True,
            acknowledged_by="Bea Beds",
            acknowledged_at=datetime(2026, 11, 23, 14, 2, tzinfo=UTC),
        ),
        _alert(
            id=3,
            title="Feed data stale",
            scope_label="simulator",
            unit="seconds",
            value=1800,
            silenced=True,
            silenced_until=datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
            silence_reason="planned outage",
            silenced_by="Sid Lead",
        ),
        _alert(id=4, state="pending", title="Pending thing"),
    ]
    div = banner.alert_banner(alerts, _Opel(), tz=TZ)
    text = _text(div)
    assert "3 firing alerts" in text and "Pending thing" not in text
    assert "Acknowledged by Bea Beds 14:02" in text
    assert "Silenced by Sid Lead until 15:00 — planned outage" in text
    assert "OPEL 3 · major pressures" in text
    rows = [c for c in div.children if getattr(c, "id", None) == banner.IDS.list][
        0
    ].children
    assert [r.id for r in rows] == [
        banner.IDS.item(i) for i in (2, 3, 1)
    ]  # critical first
    assert "96.4 %" in _text(rows[0])
    assert "30 min" in _text(rows[1])  # seconds shown as an age
    assert not any(
        isinstance(c, type(banner.new_alert_toast([alerts[0]]))) for c in div.children
    )


def test_banner_without_firing_alerts_and_without_opel_says_so():
    text = _text(banner.alert_banner([], None, tz=TZ))
    assert "No firing alerts" in text and "OPEL not assessed yet" in text
    unknown = _text(banner.alert_banner([], _Opel(level=None, incomplete=True), tz=TZ))
    assert "OPEL unknown" in unknown and "OPEL 1" not in unknown


def test_banner_keeps_seen_keys_and_toasts_new_alerts():
    alerts = [_alert(id=5)]
    div = banner.alert_banner(alerts, None, tz=TZ, seen=["5@x"], new_alerts=alerts)
    store = [c for c in div.children if getattr(c, "id", None) == banner.IDS.seen][0]
    assert store.data == ["5@x"]
    toast = div.children[-1]
    assert toast.id == banner.IDS.toast and toast.is_open
    assert "G&A occupancy red — Riverside General Hospital" in _text(toast)


def test_more_than_three_firing_alerts_link_to_the_page():
    alerts = [_alert(id=i) for i in range(1, 6)]
    text = _text(banner.alert_banner(alerts, None, tz=TZ))
    assert "5 firing alerts" in text and "+2 more — see all alerts" in text


def test_current_table_shows_state_value_since_and_actions():
    alerts = [
        _alert(),
        _alert(
            id=2, acknowledged=True, acknowledged_by="Bea Beds", acknowledged_at=NOW
        ),
    ]
    table = page.current_table(alerts, TZ, NOW)
    text = _text(table)
    assert "Firing" in text and "96.4 %" in text
    assert "14:02" in text  # since, local time (GMT in November)
    assert "Acknowledged by Bea Beds 14:30" in text
    body = table.children[1].children
    assert "Acknowledge" in _text(body[0].children[-1])
    assert "Acknowledge" not in _text(body[1].children[-1])  # already acknowledged
    read_only = _text(page.current_table(alerts, TZ, NOW, can_act=False))
    assert "Silence" not in read_only
    assert "No active alerts" in _text(page.current_table([], TZ, NOW))


def test_opel_breakdown_explains_each_parameter_with_version_and_source():
    config = load_opel_config()
    values = {p.metric: 50.0 for p in config.parameters}
    values["nctr_pct"] = None
    scored = score_opel(config, values)

    @dataclasses.dataclass
    class View:
        scope_kind: str = "trust"
        scope_id: str = "RDT"
        scope_label: str = "Demo Trust"
        assessed_at: datetime = NOW
        level: int | None = scored.level
        total: float = scored.total
        config_version: str = config.version
        incomplete: bool = True
        result: object = scored

    bands = {(p.key, b.band): b.describe() for p in config.parameters for b in p.bands}
    thresholds = [(lv.level, lv.max_total) for lv in config.levels]
    out = page.opel_breakdown(
        View(), bands, config.source, config.version, thresholds, TZ
    )
    text = _text(out)
    assert "Adult G&A bed occupancy" in text and "50.0 %" in text
    assert "Band 1 (< 85)" in text  # G&A 50 % -> band 1 with its range
    assert "missing" in text and "worst band" in text
    assert config.version in text and "NOT the national figures" in text
    stale = _text(
        page.opel_breakdown(View(), bands, config.source, "other", thresholds, TZ)
    )
    assert "Band 1 (" not in stale and "version other" in stale


def test_opel_trend_is_a_step_line_on_a_fixed_1_to_4_axis():
    since, until = NOW - timedelta(days=7), NOW
    points = [
        TrendPoint("trust", "RDT", "Demo Trust", since, 2),
        TrendPoint("trust", "RDT", "Demo Trust", NOW - timedelta(hours=3), 3),
        TrendPoint("site", "RGH", "Riverside", NOW - timedelta(hours=2), 4),
    ]
    fig = page.opel_trend_figure(points, since, until, TZ)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["Demo Trust", "Riverside"]
    assert all(t.line.shape == "hv" for t in fig.data)
    assert list(fig.data[0].y) == [2, 3, 3]  # extended to the right edge
    assert list(fig.layout.yaxis.range) == [0.5, 4.5]
    assert list(fig.layout.yaxis.ticktext) == ["OPEL 1", "OPEL 2", "OPEL 3", "OPEL 4"]
    assert fig.layout.uirevision
    empty = page.opel_trend_figure([], since, until, TZ)
    assert "No OPEL assessments" in empty.layout.annotations[0].text


def test_opel_step_fires_on_escalation_and_resolves_on_de_escalation():
    config = load_opel_config()
    quiet = score_opel(
        config,
        {
            p.metric: 0.0 if p.direction == "higher_is_worse" else 100.0
            for p in config.parameters
        },
    )
    surge = score_opel(
        config,
        {
            p.metric: 1000.0 if p.direction == "higher_is_worse" else 0.0
            for p in config.parameters
        },
    )
    unknown = score_opel(config, {})
    assert (quiet.level, surge.level, unknown.level) == (1, 4, None)
    status, change = opel_step(None, None, quiet, NOW)
    assert status.state is AlertState.NORMAL and change is None  # first assessment
    t1 = NOW + timedelta(minutes=1)
    status, change = opel_step(status, 1, surge, t1)
    assert status.state is AlertState.FIRING and status.episode_started_at == t1
    assert change[0] == "escalation" and change[1].startswith("OPEL 1 → OPEL 4")
    t2 = t1 + timedelta(minutes=1)
    gap, change = opel_step(status, 4, unknown, t2)
    assert gap.state is AlertState.NO_DATA and change[0] == "transition"
    back, change = opel_step(gap, 4, surge, t2 + timedelta(minutes=1))
    assert (
        back.state is AlertState.FIRING and back.episode_started_at == t1
    )  # same episode
    down, change = opel_step(back, 4, quiet, t2 + timedelta(minutes=2))
    assert down.state is AlertState.NORMAL and change[0] == "de-escalation"
    same, change = opel_step(down, 1, quiet, t2 + timedelta(minutes=3))
    assert change is None and same.since == down.since
    assert isinstance(same, AlertStatus)


def test_filters_are_written_to_the_url_in_a_stable_order():
    search = filters_changed(
        "ward-full", "site:RGH", "firing", "2026-11-20", "", None, ""
    )
    assert search == "?rule=ward-full&scope=site%3ARGH&state=firing&from=2026-11-20"
    assert (
        filters_changed(
            "ward-full", "site:RGH", "firing", "2026-11-20", None, None, search
        )
        is not search
    )  # no_update object when unchanged
    cleared = filters_changed(None, None, None, None, None, "trust:RDT", search)
    assert cleared == "?opel=trust%3ARDT"


def test_error_box_has_an_icon_and_words():
    box = page.error_box("A silence needs a reason.")
    assert isinstance(box.children[0], html.I) and "needs a reason" in _text(box)


def test_alc_declare_link_prefills_the_surge_form():
    """A firing alert that suggests a protocol links to a pre-filled declaration."""
    from urllib.parse import parse_qs, urlparse

    from components import surge

    class _Alert:
        id = 7
        title = "G&A occupancy red"
        scope_label = "Downs District Hospital"

    link = page.declare_link(_Alert(), "opel3-escalation")
    query = {k: v[0] for k, v in parse_qs(urlparse(link.href).query).items()}
    assert urlparse(link.href).path == "/surge"
    assert query == {
        "declare": "opel3-escalation",
        "trigger": "alert",
        "detail": "G&A occupancy red — Downs District Hospital",
    }
    form = surge.declare_form(query)
    values = {}

    def walk(node) -> None:  # noqa: ANN001
        if hasattr(node, "id") and isinstance(getattr(node, "id", None), str):
            values[node.id] = getattr(node, "value", None)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if child is not None and not isinstance(child, str):
                walk(child)

    walk(form)
    assert values[surge.IDS.template] == "opel3-escalation"
    assert values[surge.IDS.trigger_kind] == "alert"
    assert values[surge.IDS.trigger_detail].startswith("G&A occupancy red")
