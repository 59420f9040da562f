"""Overview tile builders: the alert rules' state as the tile status, freshness
outranking it, links, ids.

A tile's status is the state of the alerts on its figure at its scope (active
alerts by metric, ``ops.alert_views.alerts_by_metric``), passed to the builders as
values; the threshold bands (``band_status``) remain for the pages without alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from components.common import Status
from components.overview import (
    BED_TILES,
    ED_TILES,
    IDS,
    ScopeValues,
    band_status,
    rule_status,
    scope_section,
)
from ops.alert_views import AlertView, alerts_by_metric
from ops.alerting import tile_bands
from tests.unit.test_beds_components import _find, _texts

SITE_BANDS = tile_bands("site")


def _values(**metrics: float | None) -> ScopeValues:
    return ScopeValues(
        metrics=metrics,
        available_by_type={"general_acute": 3, "paediatric": 2},
        lists_running=4,
        lists_planned_today=9,
        cases_done_today=11,
    )


def test_bed_u020_bands_follow_the_alert_rules_thresholds():
    b = SITE_BANDS
    assert band_status(b, "ga_occupancy_pct", 91.9) is Status.OK
    assert band_status(b, "ga_occupancy_pct", 92.0) is Status.WARNING
    assert band_status(b, "ga_occupancy_pct", 94.9) is Status.WARNING
    assert band_status(b, "ga_occupancy_pct", 95.0) is Status.CRITICAL
    assert band_status(b, "ed_4h_pct_today", 78.0) is Status.OK
    assert band_status(b, "ed_4h_pct_today", 77.9) is Status.WARNING
    assert band_status(b, "ga_occupancy_pct", None) is Status.OK
    assert band_status(b, "beds_available", 0) is Status.OK
    assert band_status(None, "ga_occupancy_pct", 99.0) is Status.OK  # no bands given


AT = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def _alert(
    rule_id: str, metric: str, severity: str, state: str, scope_id: str = "RGH",
    kind: str = "site", title: str | None = None,
) -> AlertView:  # fmt: skip
    return AlertView(
        id=hash((rule_id, scope_id)) % 1000, rule_id=rule_id, scope_kind=kind,
        scope_id=scope_id, scope_label=scope_id, title=title or rule_id, metric=metric,
        unit="%", severity=severity, state=state, since=AT, value=99.9,
        last_evaluated_at=AT, active_since=AT, episode_started_at=AT, acknowledged=False,
        acknowledged_by=None, acknowledged_at=None, ack_note=None, silenced=False,
        silenced_until=None, silenced_by=None, silence_reason=None,
        needs_attention=state == "firing", version=1,
    )  # fmt: skip


def test_tile_status_is_the_rule_state_not_a_band():
    # The rule fires: every tile on G&A occupancy, beds free included, says so, whatever
    # the value (a band on "beds available" never existed, so it showed OK).
    firing = [
        _alert("ga-occupancy-red-site", "ga_occupancy_pct", "critical", "firing",
               title="G&A occupancy red"),
        _alert("escalation-beds-open-site", "escalation_beds_open", "warning", "pending"),
        _alert("nctr-high-site", "nctr_pct", "warning", "firing", scope_id="DDH"),
        _alert("ga-occupancy-red-trust", "ga_occupancy_pct", "critical", "normal",
               kind="trust", scope_id="RDT"),
    ]  # fmt: skip
    states = alerts_by_metric(firing, "site", "RGH")
    assert set(states) == {"ga_occupancy_pct", "escalation_beds_open"}
    card = scope_section(
        "Riverside", "RGH", "RGH",
        _values(ga_occupancy_pct=80.0, beds_available=29, escalation_beds_open=52,
                nctr_count=141, nctr_pct=20.0),
        "10:30", Status.OK, states,
    )  # fmt: skip
    assert _find(card, "overview-rgh-available-status").title == "Critical"
    assert _find(card, "overview-rgh-flow-free-status").title == "Critical"
    # An 80 % value in no band: the rule state decides, not a second threshold check.
    assert _find(card, "overview-rgh-occupancy-status").title == "Critical"
    assert "G&A occupancy red: firing" in " ".join(_texts(card))
    assert _find(card, "overview-rgh-escalation-status").title == "Warning"  # pending
    assert _find(card, "overview-rgh-nctr-status").title == "OK"  # DDH's alert
    # No active alert: OK even at a value a band would colour (97 %).
    quiet = scope_section(
        "Riverside", "RGH", "RGH", _values(ga_occupancy_pct=97.0, beds_available=0),
        "10:30", Status.OK, {},
    )  # fmt: skip
    assert _find(quiet, "overview-rgh-occupancy-status").title == "OK"


def test_rule_status_ranks_states():
    assert rule_status([]) == (Status.OK, None)
    assert rule_status([_alert("r", "m", "critical", "pending", title="T")]) == (
        Status.WARNING,
        "T: pending",
    )
    assert rule_status([_alert("r", "m", "critical", "recovering")])[0] is (
        Status.CRITICAL
    )
    assert rule_status([_alert("r", "m", "info", "firing")])[0] is Status.OK
    assert rule_status([_alert("r", "m", "warning", "no_data")])[0] is Status.MISSING
    both = [
        _alert("a", "m", "warning", "firing", title="A"),
        _alert("b", "m", "critical", "firing", title="B"),
    ]
    assert rule_status(both) == (Status.CRITICAL, "B: firing")


def test_bed_u021_site_section_ids_values_links_and_band_words():
    states = alerts_by_metric(
        [
            _alert("ga-occupancy-red-site", "ga_occupancy_pct", "critical", "firing"),
            _alert("ed-4h-below-target-site", "ed_4h_pct_24h", "warning", "firing"),
        ],
        "site",
        "RGH",
    )
    card = scope_section(
        "Riverside", "RGH", "RGH",
        _values(ga_occupancy_pct=95.44, beds_available=5, beds_occupied=80,
                ed_in_department=12, ed_4h_pct_today=70.0, beds_blocked=1, beds_closed=2),
        "10:30", Status.OK, states,
    )  # fmt: skip
    assert card.id == "overview-rgh-card"
    assert _find(card, "overview-rgh-available-value").children == "5"
    assert _find(card, "overview-rgh-occupied-value").children == "80"
    assert _find(card, "overview-rgh-ed-in-value").children == "12"
    assert _find(card, "overview-rgh-occupancy-value").children == "95.4"
    assert _find(card, "overview-rgh-blocked-closed-value").children == "1 / 2"
    assert _find(card, "overview-rgh-theatres-running-value").children == "4"
    occupancy_badge = _find(card, "overview-rgh-occupancy-status")
    assert "Critical" in occupancy_badge.title and "bi-x-octagon" in str(
        occupancy_badge
    )
    assert _find(card, "overview-rgh-ed-4h-status").title == "Warning"
    # Missing figures show "—" and "no data", never 0.
    assert _find(card, "overview-rgh-nctr-value").children == "—"
    assert _find(card, "overview-rgh-nctr-status").title == "No data"
    assert "G&A 3 · Paediatric 2" in " ".join(_texts(card))


def test_bed_u022_stale_outranks_the_threshold_band_and_trust_links_are_unfiltered():
    card = scope_section(
        "Trust", "trust", None, _values(ga_occupancy_pct=97.0, ed_in_department=3),
        "10:30", Status.STALE,
        {"ga_occupancy_pct": (_alert("t", "ga_occupancy_pct", "critical", "firing"),)},
    )  # fmt: skip
    assert _find(card, IDS.tile("trust", "occupancy") + "-status").title == "Stale"
    for spec in BED_TILES + ED_TILES:
        assert _find(card, IDS.tile("trust", spec.key)) is not None
    hrefs = _hrefs(card)
    assert {"/beds", "/flow", "/ed", "/theatres"} == set(hrefs)


def _hrefs(component) -> list[str]:  # noqa: ANN001
    out = [component.href] if getattr(component, "href", None) else []
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for c in children:
            out += _hrefs(c)
    elif children is not None and not isinstance(children, str | int | float):
        out += _hrefs(children)
    return out


def test_bed_u023_site_tiles_link_to_their_page_filtered_to_the_site():
    card = scope_section("Downs", "DDH", "DDH", _values(), None, Status.OK)
    assert set(_hrefs(card)) == {
        "/beds?site=DDH",
        "/flow?site=DDH",
        "/ed?site=DDH",
        "/theatres?site=DDH",
    }
