"""Theatres read queries for the Theatres page, the wall and ``/api/v1/theatres``.

Two statements per refresh: every theatre (so a theatre with no sessions still shows),
and every session in the window with its cases (one outer join), read into the plain
rows of :mod:`ops.theatres`. The live board, the theatre x day capped utilisation,
late starts, early finishes and on-the-day cancellations are derived there (pure
rules); :func:`theatres_page_data` composes one page refresh from the two.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from data.models.capacity import Site, Theatre, TheatreCase, TheatreSession
from ops.theatres import (
    DEFAULT_LOST_TIME_PERIOD,
    DEFAULT_UTILISATION_DAYS,
    LOST_TIME_PERIODS,
    BoardRow,
    CaseRow,
    LostTimeRow,
    SessionRow,
    TheatreRow,
    TheatreWindow,
    board,
    lost_time,
    utilisation_grid,
    window_for,
)
from ops.timeutil import ensure_utc, local_day_bounds_utc, to_local


def _site_filter(stmt: Select, site_code: str | None) -> Select:
    return stmt.where(Site.code == site_code) if site_code else stmt


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else ensure_utc(value)


def load_window(
    session: Session, start: datetime, end: datetime, site_code: str | None = None
) -> TheatreWindow:
    """Every theatre, and the sessions planned to start in ``[start, end)`` with cases."""
    return TheatreWindow(
        ensure_utc(start),
        ensure_utc(end),
        _theatres(session, site_code),
        _sessions(session, start, end, site_code),
        _next_lists(session, end, site_code),
    )


NEXT_LIST_HORIZON = timedelta(days=14)


def _next_lists(
    session: Session, after: datetime, site_code: str | None
) -> dict[int, tuple[datetime, str]]:
    """Each theatre's first list (not cancelled) starting in the fortnight after
    ``after``: what the board says comes next once the day's lists are over."""
    after = ensure_utc(after)
    stmt = (
        select(
            TheatreSession.theatre_id,
            TheatreSession.planned_start,
            TheatreSession.specialty,
        )
        .join(Theatre, Theatre.id == TheatreSession.theatre_id)
        .join(Site, Site.id == Theatre.site_id)
        .where(
            TheatreSession.planned_start >= after,
            TheatreSession.planned_start < after + NEXT_LIST_HORIZON,
            TheatreSession.cancelled_reason.is_(None),
        )
        .order_by(TheatreSession.theatre_id, TheatreSession.planned_start)
    )
    out: dict[int, tuple[datetime, str]] = {}
    for theatre_id, start, specialty in session.execute(_site_filter(stmt, site_code)):
        out.setdefault(theatre_id, (ensure_utc(start), specialty))
    return out


class _SettledSessions:
    """Per-process memo of the sessions that started before yesterday (settled: their
    lists have finished; a session never runs 24 h).

    The Theatres page reads 14-28 days of sessions and cases on every poll; only
    yesterday's and today's change. Key: (engine, site filter, window start, start
    of yesterday, newest session id, newest case id, 10-minute bucket): a new session
    or case (a late record included) or a new day reloads; a correction to a settled
    case shows within 10 minutes. Saves work only: each gunicorn worker keeps its own
    and a miss loads from SQL as before.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: dict[tuple, list[SessionRow]] = {}

    def get(
        self, session: Session, start: datetime, cut: datetime, site_code: str | None
    ) -> list[SessionRow]:
        bind = session.get_bind()
        newest = session.execute(
            select(
                select(func.max(TheatreSession.id)).scalar_subquery(),
                select(func.max(TheatreCase.id)).scalar_subquery(),
            )
        ).one()
        key = (id(bind), str(bind.url), site_code, start, cut, tuple(newest),
               int(time.time() // 600))  # fmt: skip
        with self._lock:
            found = self._entries.get(key)
        if found is not None:
            return found
        rows = _sessions(session, start, cut, site_code)
        with self._lock:
            self._entries[key] = rows
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))
        return rows


_SETTLED = _SettledSessions(size=12)


def load_window_for_page(
    session: Session,
    start: datetime,
    end: datetime,
    now: datetime,
    tz: str | ZoneInfo,
    site_code: str | None = None,
) -> TheatreWindow:
    """:func:`load_window` with the settled sessions (before yesterday) from a memo."""
    start, end = ensure_utc(start), ensure_utc(end)
    yesterday = to_local(now, tz).date() - timedelta(days=1)
    cut = min(max(start, local_day_bounds_utc(yesterday, tz)[0]), end)
    settled = _SETTLED.get(session, start, cut, site_code) if cut > start else []
    return TheatreWindow(
        start,
        end,
        _theatres(session, site_code),
        [*settled, *_sessions(session, cut, end, site_code)],
        _next_lists(session, end, site_code),
    )


def _theatres(session: Session, site_code: str | None) -> list[TheatreRow]:
    return [
        TheatreRow(*row)
        for row in session.execute(
            _site_filter(
                select(Theatre.id, Site.code, Theatre.code, Theatre.name, Theatre.suite)
                .join(Site, Site.id == Theatre.site_id)
                .order_by(Site.code, Theatre.id),
                site_code,
            )
        )
    ]


def _sessions(
    session: Session, start: datetime, end: datetime, site_code: str | None
) -> list[SessionRow]:
    stmt = (
        select(
            TheatreSession.id,
            TheatreSession.theatre_id,
            TheatreSession.specialty,
            TheatreSession.planned_start,
            TheatreSession.planned_end,
            TheatreSession.cancelled_reason,
            TheatreCase.id,
            TheatreCase.ref,
            TheatreCase.procedure,
            TheatreCase.planned_start,
            TheatreCase.status,
            TheatreCase.sent_for_at,
            TheatreCase.anaesthetic_at,
            TheatreCase.in_theatre_at,
            TheatreCase.out_of_theatre_at,
            TheatreCase.recovery_done_at,
            TheatreCase.cancelled_at,
            TheatreCase.cancel_reason,
        )
        .join(Theatre, Theatre.id == TheatreSession.theatre_id)
        .join(Site, Site.id == Theatre.site_id)
        .outerjoin(TheatreCase, TheatreCase.session_id == TheatreSession.id)
        .where(
            TheatreSession.planned_start >= start, TheatreSession.planned_start < end
        )
        .order_by(
            TheatreSession.planned_start, TheatreSession.id, TheatreCase.planned_start
        )
    )
    sessions: dict[int, SessionRow] = {}
    for row in session.execute(_site_filter(stmt, site_code)):
        sid = row[0]
        if sid not in sessions:
            sessions[sid] = SessionRow(
                sid, row[1], row[2], ensure_utc(row[3]), ensure_utc(row[4]), row[5]
            )
        if row[6] is not None:
            sessions[sid].cases.append(
                CaseRow(
                    row[6],
                    row[7],
                    row[8],
                    ensure_utc(row[9]),
                    row[10],
                    *(_utc(v) for v in row[11:17]),
                    row[17],
                )
            )
    return list(sessions.values())


@dataclass
class TheatresPageData:
    window: TheatreWindow
    board: list[BoardRow]
    days: list[date]
    utilisation: dict[tuple[int, date], float | None]
    lost_time: list[LostTimeRow]
    sites: list[tuple[str, str]]


def theatres_page_data(
    session: Session,
    now: datetime,
    tz: str | ZoneInfo,
    site_code: str | None = None,
    days: int = DEFAULT_UTILISATION_DAYS,
    period: str = DEFAULT_LOST_TIME_PERIOD,
) -> TheatresPageData:
    now = ensure_utc(now)
    span = max(days, LOST_TIME_PERIODS.get(period, 1))
    start, end = window_for(now, tz, span)
    window = load_window_for_page(session, start, end, now, tz, site_code)
    today = to_local(now, tz).date()
    day_list = [today - timedelta(days=k) for k in range(days - 1, -1, -1)]
    period_start = window_for(now, tz, LOST_TIME_PERIODS.get(period, 1))[0]
    return TheatresPageData(
        window=window,
        board=board(window, now, tz),
        days=day_list,
        utilisation=utilisation_grid(window, day_list, now, tz),
        lost_time=lost_time(window, period_start, now, tz),
        sites=[
            (c, n)
            for c, n in session.execute(
                select(Site.code, Site.name).order_by(Site.code)
            )
        ],
    )
