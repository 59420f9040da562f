"""Overview tile builders: threshold bands, freshness outranking bands, links, ids.

The bands are the alert rules' thresholds (config/alert_rules.yaml through
``ops.alerting.tile_bands``), passed to the builders as values."""

from __future__ import annotations

from components.common import Status
from components.overview import (
    BED_TILES,
    ED_TILES,
    IDS,
    ScopeValues,
    band_status,
    scope_section,
)
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


def test_bed_u021_site_section_ids_values_links_and_band_words():
    card = scope_section(
        "Riverside", "RGH", "RGH",
        _values(ga_occupancy_pct=95.44, beds_available=5, beds_occupied=80,
                ed_in_department=12, ed_4h_pct_today=70.0, beds_blocked=1, beds_closed=2),
        "10:30", Status.OK, SITE_BANDS,
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
        "10:30", Status.STALE, tile_bands("trust"),
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
