"""Theatres page builders and the filter callback (no browser, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dash import no_update

from callbacks.theatres import filters_changed
from components import theatres
from components.common import Status
from ops.theatres import BoardRow, LostTimeRow, TheatreRow, TheatreState


def _text(component) -> str:  # noqa: ANN001
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def _row(
    state: TheatreState, late: float | None = None, started: bool = True
) -> BoardRow:
    return BoardRow(
        theatre=TheatreRow(1, "RGH", "T1", "Main Theatre 1", "Main"),
        state=state,
        detail="In theatre · Knee",
        procedure="Knee",
        phase="In theatre",
        since=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        specialty="Orthopaedics",
        session_start=datetime(2026, 11, 23, 8, tzinfo=UTC),
        session_end=datetime(2026, 11, 23, 12, 30, tzinfo=UTC),
        late_start_min=late,
        started=started,
        cases_done_today=2,
        cancellations_today=1,
        utilisation_today=80.0,
    )


def test_th201_board_card_state_and_late_start_with_icon_and_text():
    card = theatres.board_card(
        _row(TheatreState.IN_PROGRESS, 28.4), NOW, "Europe/London", True
    )
    text = _text(card)
    assert "Case in progress" in text and "Late start · 28 min" in text
    assert "RGH · Main Theatre 1" in text and "since 09:30 (60 min)" in text
    assert "08:00–12:30" in text and "2 done · 1 cancelled" in text
    assert "bi-activity" in str(card) and "bi-exclamation-triangle" in str(card)
    waiting = _text(
        theatres.board_card(_row(TheatreState.IDLE, 20, False), NOW, "UTC", False)
    )
    assert "Idle" in waiting and "Not started · 20 min late" in waiting
    for state in TheatreState:
        assert state.label in _text(theatres.state_badge(state.value))


def test_th202_utilisation_heatmap_fixed_scale_with_gaps():
    days = [date(2026, 11, 21), date(2026, 11, 23)]
    grid = {
        (1, days[0]): None,
        (1, days[1]): 72.5,
        (2, days[0]): None,
        (2, days[1]): None,
    }
    fig = theatres.utilisation_heatmap([(1, "T1"), (2, "T2")], days, grid)
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == (0, 100)
    assert list(trace.z[0]) == [None, 72.5] and list(trace.z[1]) == [None, None]
    assert list(trace.text[0]) == [
        "",
        "72",
    ]  # 72.5 rounds half to even; gaps have no text
    assert trace.hoverongaps is False
    empty = theatres.utilisation_heatmap([(1, "T1")], days, {})
    assert "No sessions" in empty.layout.annotations[0].text


def test_th203_lost_time_table_summary_and_rows():
    at = datetime(2026, 11, 23, 8, tzinfo=UTC)
    rows = [
        LostTimeRow("Late start", date(2026, 11, 23), "RGH", "T1", "Urology", 33.2, "x", at),
        LostTimeRow("Cancellation", date(2026, 11, 23), "RGH", "T1", "Urology", None,
                    "Cystoscopy: no bed", at),
    ]  # fmt: skip
    text = _text(theatres.lost_time_table(rows, "Today", show_site=True))
    assert "Today: 1 late starts, 0 early finishes, 1 on-the-day cancellations." in text
    assert "Cystoscopy: no bed" in text and "33" in text
    assert "0 late starts" in _text(theatres.lost_time_table([], "Last 7 days", False))


def test_th204_tiles_stale_and_missing():
    values = theatres.TheatreTiles(3, 12, 5, 0, None, 2)
    text = _text(theatres.tiles(values, "as of 10:30", Status.STALE))
    assert text.count("Stale") == 5
    ok = _text(theatres.tiles(values, "as of 10:30", Status.OK))
    assert "no data" in ok  # utilisation undefined is shown as missing, not 0
    assert "of 12 theatres" in ok


def test_th205_filters_write_the_url():
    assert filters_changed("DDH", 14, "today", "") == "?site=DDH"
    assert (
        filters_changed("DDH", 28, "7d", "?site=DDH") == "?site=DDH&days=28&period=7d"
    )
    assert filters_changed(theatres.ALL_SITES, 14, "today", "?site=DDH") == ""
    assert filters_changed("DDH", 14, "today", "?site=DDH") is no_update
    assert theatres.days_from_query({"days": "28"}) == 28
    assert theatres.period_from_query({"period": "bogus"}) == "today"
