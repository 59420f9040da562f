"""Beds page builders and URL glue (no browser, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dash import no_update

from callbacks.beds import filters_changed
from components.beds import IDS, bed_card, search_for, ward_drilldown, ward_table
from data.queries.beds import BedRow, WardBeds, WardCounts

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def _ward(ward_id: int, **counts: int) -> WardCounts:
    base = dict.fromkeys(
        (
            "core_beds",
            "total_beds",
            "open_beds",
            "occupied",
            "available",
            "awaiting_clean",
            "blocked",
            "closed",
            "escalation_open",
        ),
        0,
    )
    base.update(counts)
    return WardCounts(
        ward_id,
        "RGH",
        "Riverside",
        f"W{ward_id}",
        f"Ward {ward_id}",
        "General medicine",
        "general_acute",
        **base,
    )


def _texts(component) -> list[str]:  # noqa: ANN001
    out: list[str] = []

    def walk(node) -> None:  # noqa: ANN001
        if isinstance(node, str | int | float):
            out.append(str(node))
            return
        if node is None:
            return
        if isinstance(node, list | tuple):
            for n in node:
                walk(n)
            return
        walk(getattr(node, "children", None))

    walk(component)
    return out


def _find(component, wanted_id: str):  # noqa: ANN001, ANN202
    if getattr(component, "id", None) == wanted_id:
        return component
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for c in children:
            found = _find(c, wanted_id)
            if found is not None:
                return found
    elif children is not None and not isinstance(children, str | int | float):
        return _find(children, wanted_id)
    return None


def test_bed_u010_table_shows_counts_and_dash_for_undefined_occupancy():
    full = _ward(
        1,
        core_beds=10,
        total_beds=10,
        open_beds=8,
        occupied=6,
        available=1,
        awaiting_clean=1,
        blocked=1,
        closed=1,
    )
    shut = _ward(2, core_beds=0, total_beds=4, closed=4)
    table = ward_table(
        [full, shut], {"site": "RGH"}, totals={**full.__dict__}, total_pct=75.0
    )
    assert _find(table, IDS.cell(1, "occupied")).children == "6"
    assert _find(table, IDS.cell(1, "occupancy")).children == "75.0%"
    assert _find(table, IDS.cell(2, "occupancy")).children == "—"
    assert _find(table, IDS.cell(2, "closed")).children == "4"
    link = _find(table, IDS.cell(2, "link"))
    assert link.href == "/beds?site=RGH&ward=2"


def test_bed_u011_bed_card_shows_state_in_words_time_in_state_and_escalation():
    bed = BedRow(
        7,
        "CAR-E1",
        "blocked",
        NOW - timedelta(hours=3, minutes=20),
        "infection control",
        True,
    )
    text = " ".join(_texts(bed_card(bed, NOW)))
    assert "CAR-E1" in text
    assert "Blocked" in text
    assert "for 3 h 20 min" in text
    assert "Escalation" in text
    assert "infection control" in text
    plain = BedRow(8, "CAR-01", "available", NOW - timedelta(minutes=5), None, False)
    assert "Escalation" not in " ".join(_texts(bed_card(plain, NOW)))


def test_bed_u012_drilldown_lists_every_bed_with_a_close_link():
    beds = [
        BedRow(i, f"X-{i:02d}", "occupied", NOW - timedelta(hours=i), None, False)
        for i in range(1, 4)
    ]
    card = ward_drilldown(
        WardBeds(5, "RGH", "X", "Ward X", "Cardiology", "general_acute", beds),
        NOW,
        {"site": "RGH", "ward": "5"},
    )
    for i in range(1, 4):
        assert _find(card, IDS.bed(i)) is not None
    close = _find(card, f"{IDS.drill}-close")
    assert close.href == "/beds?site=RGH"


def test_bed_u013_search_keeps_a_stable_order_and_drops_empty_values():
    assert search_for({"ward": "3", "site": "RGH"}) == "?site=RGH&ward=3"
    assert search_for({"site": "RGH"}, site=None) == ""
    assert (
        search_for({}, specialty="Care of the elderly")
        == "?specialty=Care+of+the+elderly"
    )


def test_bed_u014_filter_change_writes_url_and_closes_the_grid_for_a_new_site():
    assert filters_changed("DDH", None, None, "24h", "?site=RGH&ward=4") == "?site=DDH"
    # A range change keeps the open ward; the default range is left out of the URL.
    assert (
        filters_changed("RGH", None, None, "7d", "?site=RGH&ward=4")
        == "?site=RGH&range=7d&ward=4"
    )
    assert (
        filters_changed("RGH", None, None, "24h", "?site=RGH&range=7d") == "?site=RGH"
    )
    # Nothing changed (e.g. options refreshed): do not touch the URL.
    assert filters_changed("RGH", None, None, "24h", "?site=RGH") is no_update
    assert (
        filters_changed(None, None, "general_acute", "24h", "") == "?type=general_acute"
    )
