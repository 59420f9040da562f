"""The Overview's "theatre lists running / planned today" reads only the lists that
can be running or planned today (a bounded window on ``planned_start``), and still
counts the right ones: an overnight list that started yesterday evening, lists
today, not cancelled ones, not tomorrow's, not old history — on SQLite and
PostgreSQL, in winter and summer time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import Site, Theatre, TheatreSession, Trust
from data.queries.overview import LONGEST_LIST, TRUST, overview_extras

TZ = "Europe/London"
H = timedelta(hours=1)
# local midnight of Monday 23 November 2026 (GMT) and of Monday 6 July 2026 (BST)
MIDNIGHTS = {
    "gmt": datetime(2026, 11, 23, 0, 0, tzinfo=UTC),
    "bst": datetime(2026, 7, 5, 23, 0, tzinfo=UTC),
}


def _build(url: str, midnight: datetime) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    lists = {
        # ref: (theatre, start, end, cancelled)
        "old": ("T1", midnight - timedelta(days=400) + 8 * H, midnight - timedelta(days=400) + 13 * H, None),
        "yesterday": ("T1", midnight - 16 * H, midnight - 11 * H, None),
        "overnight": ("T2", midnight - 4 * H, midnight + 2 * H, None),
        "morning": ("T1", midnight + 8 * H, midnight + 13 * H, None),
        "afternoon": ("T2", midnight + 14 * H, midnight + 18 * H, None),
        "cancelled": ("T3", midnight + 8 * H, midnight + 13 * H, "no anaesthetist"),
        "tomorrow": ("T1", midnight + 32 * H, midnight + 37 * H, None),
        "other-site": ("U1", midnight + 9 * H, midnight + 12 * H, None),
    }  # fmt: skip
    with write_session(factory) as s:
        trust = Trust(code="TT", name="Test trust")
        s.add(trust)
        s.flush()
        sites = {code: Site(trust_id=trust.id, code=code, name=f"{code} Hospital")
                 for code in ("AAA", "BBB")}  # fmt: skip
        s.add_all(sites.values())
        s.flush()
        theatres = {
            code: Theatre(site_id=sites["BBB" if code.startswith("U") else "AAA"].id,
                          code=code, name=f"Theatre {code}", suite="Main")
            for code in ("T1", "T2", "T3", "U1")
        }  # fmt: skip
        s.add_all(theatres.values())
        s.flush()
        s.add_all(
            TheatreSession(ref=ref, theatre_id=theatres[t].id, specialty="General surgery",
                           planned_start=start, planned_end=end, cancelled_reason=reason)
            for ref, (t, start, end, reason) in lists.items()
        )  # fmt: skip
    engine.dispose()


@pytest.mark.parametrize("season", ["gmt", "bst"])
@pytest.mark.parametrize(
    ("hours_after_midnight", "running", "planned"),
    [
        # 01:00 local: the overnight list (started yesterday 20:00) is running
        (1, {"AAA": 1, "BBB": 0}, {"AAA": 2, "BBB": 1}),
        # 10:30: the morning list and the other site's list are running
        (10.5, {"AAA": 1, "BBB": 1}, {"AAA": 2, "BBB": 1}),
        # 15:00: the afternoon list
        (15, {"AAA": 1, "BBB": 0}, {"AAA": 2, "BBB": 1}),
        # 23:00: none running; still two planned today (cancelled, tomorrow's not)
        (23, {"AAA": 0, "BBB": 0}, {"AAA": 2, "BBB": 1}),
    ],
)
def test_the_lists_running_and_planned_today(
    empty_url: str,
    season: str,
    hours_after_midnight: float,
    running: dict,
    planned: dict,
) -> None:
    midnight = MIDNIGHTS[season]
    _build(empty_url, midnight)
    now = midnight + timedelta(hours=hours_after_midnight)
    engine = create_db_engine(empty_url)
    with make_session_factory(engine)() as s:
        extras = overview_extras(s, now, TZ)
    engine.dispose()
    assert {k: extras.lists_running.get(k, 0) for k in running} == running
    assert {k: extras.lists_planned_today.get(k, 0) for k in planned} == planned
    assert extras.lists_running.get(TRUST, 0) == sum(running.values())
    assert extras.lists_planned_today.get(TRUST, 0) == sum(planned.values())


def test_the_statement_bounds_planned_start_from_below(empty_url: str) -> None:
    """The statement's parameters hold a lower bound on ``planned_start`` a day
    before midnight, so its cost does not grow with the history kept."""
    midnight = MIDNIGHTS["gmt"]
    _build(empty_url, midnight)
    now = midnight + 10.5 * H
    engine = create_db_engine(empty_url)
    seen: list[tuple[str, object]] = []

    def before(conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
        if "theatre_session" in statement and "planned_end" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", before)
    with make_session_factory(engine)() as s:
        overview_extras(s, now, TZ)
    engine.dispose()
    assert len(seen) == 1
    statement, params = seen[0]
    values = params.values() if isinstance(params, dict) else params
    bound = midnight - LONGEST_LIST

    def is_bound(v: object) -> bool:  # a datetime (psycopg) or its text (SQLite)
        if isinstance(v, datetime):
            return v.astimezone(UTC) == bound
        return isinstance(v, str) and v.startswith(f"{bound:%Y-%m-%d %H:%M:%S}")

    assert any(is_bound(v) for v in values), (statement, params)
    assert "theatre_session.planned_start >=" in " ".join(statement.split())
