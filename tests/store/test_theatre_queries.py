"""Theatre queries and ``/api/v1/theatres`` equal an independent recount from raw rows.

Runs on SQLite and a real PostgreSQL server. "Now" is 11:00 on Sunday 25 October
2026, the day the clocks go back: an overnight session runs across the change, a case
is cancelled 10 minutes after local midnight (today) and another 10 minutes before it
(yesterday), and one theatre has no sessions at all.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app import create_app
from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import Site, Theatre, TheatreCase, TheatreSession, Trust
from data.models.system import FeedStatus
from data.queries import theatres as q
from ops import theatres as rules
from tests.support.apps import FROZEN_NOW, settings_for

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 10, 25, 11, 0, tzinfo=UTC)
TODAY, YESTERDAY = date(2026, 10, 25), date(2026, 10, 24)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (theatre, planned start, planned end, cases); case = (status, anaesthetic, out,
# cancelled at, reason)
SESSIONS = {
    "am": ("T1", utc(2026, 10, 25, 8), utc(2026, 10, 25, 12, 30), [
        ("done", utc(2026, 10, 25, 8, 20), utc(2026, 10, 25, 9, 30), None, None),
        ("in_theatre", utc(2026, 10, 25, 9, 50), None, None, None),
        ("scheduled", None, None, None, None),
    ]),
    "pm": ("T1", utc(2026, 10, 25, 13, 30), utc(2026, 10, 25, 18), [
        ("cancelled", None, None, utc(2026, 10, 25, 7), "no bed"),
        ("scheduled", None, None, None, None),
    ]),
    # Saturday (BST) 08:00-12:30 local; the case over-runs the session.
    "sat": ("T1", utc(2026, 10, 24, 7), utc(2026, 10, 24, 11, 30), [
        ("done", utc(2026, 10, 24, 7), utc(2026, 10, 24, 11, 45), None, None),
    ]),
    # 00:30 BST -> 01:30 GMT on the 25th: two hours across the clock change.
    "night": ("T3", utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 1, 30), [
        ("done", utc(2026, 10, 24, 23, 40), utc(2026, 10, 25, 0, 55), None, None),
        ("cancelled", None, None, utc(2026, 10, 24, 23, 10), "patient unfit"),  # 00:10 BST
        ("cancelled", None, None, utc(2026, 10, 24, 22, 50), "did not attend"),  # 23:50 BST 24th
    ]),
}  # fmt: skip


def _build(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with write_session(factory) as s:
        trust = Trust(code="TT", name="Test trust")
        s.add(trust)
        s.flush()
        site = Site(trust_id=trust.id, code="AAA", name="A Hospital")
        s.add(site)
        s.flush()
        theatres = {
            code: Theatre(
                site_id=site.id, code=code, name=f"Theatre {code}", suite="Main"
            )
            for code in ("T1", "T2", "T3")
        }
        s.add_all(theatres.values())
        s.flush()
        for key, (code, start, end, cases) in SESSIONS.items():
            ts = TheatreSession(theatre_id=theatres[code].id, specialty="General surgery",
                                planned_start=start, planned_end=end)  # fmt: skip
            s.add(ts)
            s.flush()
            for i, (status, anaes, out, cancelled, reason) in enumerate(cases):
                s.add(
                    TheatreCase(ref=f"{key}-{i}", session_id=ts.id, procedure=f"Procedure {key}-{i}",
                                planned_start=start + timedelta(minutes=60 * i), planned_minutes=60,
                                status=status, anaesthetic_at=anaes,
                                in_theatre_at=anaes + timedelta(minutes=10) if anaes else None,
                                out_of_theatre_at=out, cancelled_at=cancelled, cancel_reason=reason)
                )  # fmt: skip
        s.add(FeedStatus(feed="simulator", last_write_at=NOW))
    engine.dispose()


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


def _recount_utilisation(keys: list[str], now: datetime) -> float | None:
    """Capped utilisation recounted by hand: touch inside each session, time so far."""
    touch = planned = 0.0
    for key in keys:
        _, start, end, cases = SESSIONS[key]
        end = min(end, now)
        if end <= start:
            continue
        planned += _minutes(start, end)
        inside = 0.0
        for _, anaes, out, _, _ in cases:
            if anaes is None:
                continue
            lo, hi = max(anaes, start), min(out or now, end)
            inside += max(0.0, _minutes(lo, hi))
        touch += min(inside, _minutes(start, end))
    return 100 * touch / planned if planned else None


@pytest.fixture
def store(empty_url: str):  # noqa: ANN201
    _build(empty_url)
    engine = create_db_engine(empty_url)
    yield empty_url, make_session_factory(engine)
    engine.dispose()


def test_th301_board_grid_and_lost_time_equal_recount(store):
    _, factory = store
    with factory() as session:
        data = q.theatres_page_data(session, NOW, "Europe/London", None, 14, "today")
    board = {r.theatre.code: r for r in data.board}
    assert board["T1"].state is rules.TheatreState.IN_PROGRESS
    assert (
        board["T1"].procedure == "Procedure am-1" and board["T1"].phase == "In theatre"
    )
    assert board["T1"].late_start_min == pytest.approx(20)
    assert (
        board["T2"].state is rules.TheatreState.CLOSED
        and board["T2"].detail == "No session today"
    )
    assert board["T3"].state is rules.TheatreState.CLOSED
    # Cases out of theatre since local midnight (23:00 UTC on the 24th, BST).
    assert board["T1"].cases_done_today == 1 and board["T3"].cases_done_today == 1
    assert board["T1"].cancellations_today == 1 and board["T3"].cancellations_today == 1
    assert board["T2"].cancellations_today == 0
    ids = {t.code: t.id for t in data.window.theatres}
    grid = data.utilisation
    assert grid[(ids["T1"], TODAY)] == pytest.approx(
        _recount_utilisation(["am", "pm"], NOW)
    )
    assert grid[(ids["T1"], TODAY)] == pytest.approx(100 * 140 / 180)
    assert grid[(ids["T1"], YESTERDAY)] == pytest.approx(
        100.0
    )  # the over-run is capped
    # The night session is 2 hours long (not 1: the clocks went back inside it).
    assert grid[(ids["T3"], TODAY)] == pytest.approx(
        _recount_utilisation(["night"], NOW)
    )
    assert grid[(ids["T3"], TODAY)] == pytest.approx(100 * 75 / 120)
    assert grid[(ids["T3"], YESTERDAY)] is None and grid[(ids["T2"], TODAY)] is None
    assert len(data.days) == 14 and data.days[-1] == TODAY
    kinds = sorted((r.kind, r.theatre) for r in data.lost_time)
    assert kinds == [
        ("Cancellation", "Theatre T1"),
        ("Cancellation", "Theatre T3"),
        ("Early finish", "Theatre T3"),  # last case out 00:55, planned end 01:30
        ("Late start", "Theatre T1"),
    ]


def test_th302_api_equals_recount(store):
    url, _ = store
    app = create_app(settings_for(url, now=NOW), prepare=False)
    body = app.server.test_client().get("/api/v1/theatres").get_json()
    (site,) = body["sites"]
    theatres = {t["code"]: t for t in site["theatres"]}
    assert theatres["T1"]["state"] == "in_progress"
    assert theatres["T2"]["state"] == "closed"
    assert theatres["T2"]["capped_utilisation_today_pct"] is None
    assert theatres["T1"]["capped_utilisation_today_pct"] == round(
        _recount_utilisation(["am", "pm"], NOW), 1
    )
    assert theatres["T3"]["capped_utilisation_today_pct"] == round(
        _recount_utilisation(["night"], NOW), 1
    )
    midnight = datetime(2026, 10, 25, tzinfo=LONDON).astimezone(UTC)
    cancelled_today = [
        c for _, _, _, cases in SESSIONS.values() for c in cases
        if c[3] is not None and midnight < c[3] <= NOW
    ]  # fmt: skip
    assert site["cancellations_today"] == len(cancelled_today) == 2
    assert sum(t["cancellations_today"] for t in theatres.values()) == 2
    assert site["cases_done_today"] == 2 and site["theatres_in_progress"] == 1
    assert site["late_starts_today"] == 1
    assert site["capped_utilisation_today_pct"] == round(
        _recount_utilisation(["am", "pm", "night"], NOW), 1
    )
    assert app.server.test_client().get("/api/v1/theatres?site=ZZZ").status_code == 404


def test_th303_seeded_store_per_theatre_sums_match_catalogue(seeded_runtime):
    from data.queries.metrics import snapshot_metrics

    with seeded_runtime.factory() as session:
        window = q.load_window(session, *q.window_for(FROZEN_NOW, "Europe/London", 1))
        snap = snapshot_metrics(session, FROZEN_NOW, "Europe/London")
    rows = rules.board(window, FROZEN_NOW, "Europe/London")
    for code in ("RGH", "DDH"):
        mine = [r for r in rows if r.theatre.site_code == code]
        assert mine, code
        assert sum(r.cancellations_today for r in mine) == snap.get(
            "theatre_cancellations_today", "site", code
        )
    # Every theatre appears once, in a known state.
    assert len({r.theatre.id for r in rows}) == len(rows)
    assert {r.state for r in rows} <= set(rules.TheatreState)
