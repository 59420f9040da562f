"""Live board states, late starts, early finishes, capped utilisation, cancellations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ops.theatres import (
    CaseRow,
    SessionRow,
    TheatreRow,
    TheatreState,
    TheatreWindow,
    board,
    early_finish_minutes,
    late_start_minutes,
    lost_time,
    theatre_day_utilisation,
    utilisation_grid,
)

TZ = "Europe/London"
DAY = datetime(2026, 11, 23, tzinfo=UTC)  # GMT: local = UTC


def at(hh: int, mm: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hh, minutes=mm)


_ids = iter(range(1, 10_000))


def case(status: str, start: datetime, anaes: datetime | None = None,
         out: datetime | None = None, cancelled: datetime | None = None,
         reason: str | None = None, procedure: str = "Hernia repair") -> CaseRow:  # fmt: skip
    i = next(_ids)
    return CaseRow(i, f"C{i}", procedure, start, status, None, anaes,
                   anaes + timedelta(minutes=10) if anaes else None, out, None,
                   cancelled, reason)  # fmt: skip


def session(theatre_id: int, start: datetime, end: datetime, cases: list[CaseRow],
            cancelled: str | None = None) -> SessionRow:  # fmt: skip
    return SessionRow(
        next(_ids), theatre_id, "General surgery", start, end, cancelled, cases
    )


def theatre(i: int) -> TheatreRow:
    return TheatreRow(i, "RGH", f"T{i}", f"Theatre {i}", "Main")


def test_th101_board_states():
    now = at(10, 30)
    theatres = [theatre(i) for i in range(1, 8)]
    sessions = [
        # 1: in theatre
        session(1, at(8), at(12, 30), [case("in_theatre", at(8), at(8, 5), procedure="Knee")]),
        # 2: turnaround: first case out, next case sent for
        session(2, at(8), at(12, 30), [case("recovery", at(8), at(8), at(10, 10)),
                                       case("sent_for", at(10, 20))]),
        # 3: idle: session running, first case not started (late)
        session(3, at(8), at(12, 30), [case("scheduled", at(8))]),
        # 4: closed: afternoon session only
        session(4, at(13, 30), at(18), [case("scheduled", at(13, 30))]),
        # 5: last case in recovery and nothing left: case in progress (recovery)
        session(5, at(8), at(12, 30), [case("recovery", at(8), at(8, 2), at(10, 15),
                                            procedure="Cataract")]),
        # 6: session cancelled on the day
        session(6, at(8), at(12, 30), [case("cancelled", at(8), cancelled=at(7), reason="surge")],
                cancelled="electives stood down"),
    ]  # fmt: skip
    # 7: no sessions at all
    rows = {r.theatre.id: r for r in board(TheatreWindow(at(0), at(24), theatres, sessions),
                                           now, TZ)}  # fmt: skip
    assert rows[1].state is TheatreState.IN_PROGRESS and rows[1].phase == "In theatre"
    assert rows[1].procedure == "Knee"
    assert rows[2].state is TheatreState.TURNAROUND and rows[2].since == at(10, 10)
    assert rows[3].state is TheatreState.IDLE
    assert rows[3].late_start_min == pytest.approx(150) and not rows[3].started
    assert rows[4].state is TheatreState.CLOSED and "next 13:30" in rows[4].detail
    assert rows[5].state is TheatreState.IN_PROGRESS and rows[5].phase == "In recovery"
    assert rows[6].state is TheatreState.CLOSED and "cancelled" in rows[6].detail
    assert rows[6].cancellations_today == 1
    assert rows[7].state is TheatreState.CLOSED and rows[7].detail == "No session today"
    assert rows[7].utilisation_today is None and rows[7].cases_done_today == 0
    assert rows[2].cases_done_today == 1 and rows[5].cases_done_today == 1


def test_th102_late_start_thresholds():
    s = session(1, at(8), at(12), [case("done", at(8), at(8, 15), at(9))])
    assert late_start_minutes(s, at(12)) is None  # exactly 15 min is not late
    s = session(1, at(8), at(12), [case("done", at(8), at(8, 16), at(9))])
    assert late_start_minutes(s, at(12)) == pytest.approx(16)
    waiting = session(1, at(8), at(12), [case("scheduled", at(8))])
    assert late_start_minutes(waiting, at(8, 10)) is None  # not yet 15 min late
    assert late_start_minutes(waiting, at(8, 40)) == pytest.approx(40)
    gone = session(1, at(8), at(12), [case("cancelled", at(8), cancelled=at(7))])
    assert late_start_minutes(gone, at(9)) is None  # nothing to start


def test_th103_early_finish_only_once_the_list_is_over():
    s = session(1, at(8), at(12, 30), [case("done", at(8), at(8), at(11, 50))])
    assert early_finish_minutes(s, at(12, 0)) == pytest.approx(40)
    s2 = session(1, at(8), at(12, 30), [case("done", at(8), at(8), at(12, 10))])
    assert early_finish_minutes(s2, at(13)) is None  # 20 min early is within tolerance
    pending = session(1, at(8), at(12, 30), [case("done", at(8), at(8), at(9)),
                                             case("scheduled", at(9, 30))])  # fmt: skip
    assert early_finish_minutes(pending, at(10)) is None


def test_th104_capped_utilisation_excludes_overrun_and_weights_sessions():
    am = session(1, at(8), at(12), [case("done", at(8), at(8), at(10)),
                                    case("done", at(10), at(11), at(12, 30))])  # fmt: skip
    pm = session(1, at(13), at(17), [case("done", at(13), at(13), at(14))])
    # am: touch inside 2 h + 1 h = 3 h of 4 h; pm: 1 h of 4 h -> (3 + 1) / 8
    assert theatre_day_utilisation([am, pm], at(23)) == pytest.approx(50.0)
    # Today so far (at 11:00): am elapsed 3 h, touch 2 h + in-progress 0 h -> ...
    live = session(1, at(8), at(12), [case("done", at(8), at(8), at(10)),
                                      case("in_theatre", at(10), at(10, 30))])  # fmt: skip
    assert theatre_day_utilisation([live], at(11)) == pytest.approx(100 * 2.5 / 3)
    assert theatre_day_utilisation([], at(11)) is None
    not_started = session(1, at(13), at(17), [case("scheduled", at(13))])
    assert theatre_day_utilisation([not_started], at(11)) is None


def test_th105_utilisation_grid_has_gaps_not_zeros():
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    cancelled = session(1, at(8), at(12), [], cancelled="surge")
    window = TheatreWindow(at(0), at(48), [theatre(1), theatre(2)], [cancelled])
    grid = utilisation_grid(window, [monday, tuesday], at(30), TZ)
    assert grid[(1, monday)] == 0.0  # planned and lost
    assert grid[(1, tuesday)] is None and grid[(2, monday)] is None


def test_th106_on_the_day_cancellations_and_lost_time_table():
    yesterday = DAY - timedelta(days=1)
    s_today = session(1, at(8), at(12), [
        case("cancelled", at(9), cancelled=at(6), reason="no bed"),
        case("done", at(8), at(8, 30), at(9, 30)),
    ])  # fmt: skip
    # Cancelled the day before its session: not an on-the-day cancellation.
    s_early = session(
        1, at(13), at(17), [case("cancelled", at(13), cancelled=at(20, day=yesterday))]
    )
    window = TheatreWindow(yesterday, at(24), [theatre(1)], [s_today, s_early])
    rows = lost_time(window, DAY, at(12, 30), TZ)
    kinds = sorted(r.kind for r in rows)
    assert kinds == ["Cancellation", "Early finish", "Late start"]
    cancel = next(r for r in rows if r.kind == "Cancellation")
    assert "no bed" in cancel.detail
    late = next(r for r in rows if r.kind == "Late start")
    assert late.minutes == pytest.approx(30)


def test_th107_a_night_list_runs_past_midnight_and_the_next_list_is_named():
    """The emergency theatre's night list (20:00-08:00) is running at 03:00 although it
    was planned yesterday; once a day's lists are over, or on a day without any, the
    board names the next planned list instead of a bare "closed"."""
    yesterday = DAY - timedelta(days=1)
    night = session(1, at(20, day=yesterday), at(8), [
        case("in_theatre", at(20, day=yesterday), at(2, 40), procedure="Laparotomy"),
    ])  # fmt: skip
    window = TheatreWindow(yesterday, at(24), [theatre(1)], [night])
    [row] = board(window, at(3), TZ)
    assert row.state is TheatreState.IN_PROGRESS and row.procedure == "Laparotomy"

    over = session(2, at(8), at(12), [case("done", at(8), at(8), at(11))])
    tuesday = DAY + timedelta(days=1)
    window = TheatreWindow(
        DAY, at(24), [theatre(2), theatre(3)], [over],
        next_lists={2: (at(8, day=tuesday), "Urology"),
                    3: (at(19), "Emergency (CEPOD)")},
    )  # fmt: skip
    rows = {r.theatre.id: r for r in board(window, at(18, 30), TZ)}
    assert rows[2].state is TheatreState.CLOSED
    assert (
        rows[2].detail
        == "No session now · today's sessions over · next Tue 08:00 Urology"
    )
    assert rows[3].detail == "No session today · next 19:00 Emergency (CEPOD)"
    # nothing planned: said as before
    [row] = board(TheatreWindow(DAY, at(24), [theatre(4)], []), at(18, 30), TZ)
    assert row.detail == "No session today"
