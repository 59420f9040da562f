"""Theatres read queries for the Theatres page and ``/api/v1/theatres``.

Two statements per refresh: every theatre (so a theatre with no sessions still shows),
and every session in the window with its cases (one outer join). The live board, the
theatre x day capped utilisation, late starts, early finishes and on-the-day
cancellations are then derived by the pure functions below, which use the single
definition of capped utilisation in ``ops.metrics``.

Definitions used here (documented on the page):
- touch time of a case = anaesthetic start -> out of theatre (a case still in theatre
  counts up to now);
- a session's day is the local calendar day of its planned start;
- capped utilisation of a theatre-day = touch time inside the planned sessions /
  planned session time, over every planned session of the day (a session cancelled
  on the day counts as planned time lost). For today only the session time elapsed so
  far counts. Days without sessions have no utilisation (a gap, not 0);
- late start: the first anaesthetic start of a session more than 15 min after the
  planned start (or, live, no case started yet 15 min after the planned start);
- early finish: no case left to start and the last case out of theatre more than
  30 min before the planned end;
- on-the-day cancellation: a case cancelled on the local day of its session.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from data.models.capacity import Site, Theatre, TheatreCase, TheatreSession
from ops.metrics import capped_utilisation_pct
from ops.timeutil import ensure_utc, local_day_bounds_utc, to_local

LATE_START_MIN = 15
EARLY_FINISH_MIN = 30
UTILISATION_DAYS: tuple[int, ...] = (14, 28)
DEFAULT_UTILISATION_DAYS = 14
LOST_TIME_PERIODS: dict[str, int] = {"today": 1, "7d": 7}
DEFAULT_LOST_TIME_PERIOD = "today"

ACTIVE = ("anaesthetic_room", "in_theatre")
PENDING = ("scheduled", "sent_for")


class TheatreState(StrEnum):
    IN_PROGRESS = "in_progress"
    TURNAROUND = "turnaround"
    IDLE = "idle"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {
            "in_progress": "Case in progress",
            "turnaround": "Turnaround",
            "idle": "Idle",
            "closed": "Closed",
        }[self.value]


PHASES = {
    "anaesthetic_room": "In anaesthetic room",
    "in_theatre": "In theatre",
    "recovery": "In recovery",
}


@dataclass(frozen=True)
class TheatreRow:
    id: int
    site_code: str
    code: str
    name: str
    suite: str


@dataclass(frozen=True)
class CaseRow:
    id: int
    ref: str
    procedure: str
    planned_start: datetime
    status: str
    sent_for_at: datetime | None
    anaesthetic_at: datetime | None
    in_theatre_at: datetime | None
    out_of_theatre_at: datetime | None
    recovery_done_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


@dataclass
class SessionRow:
    id: int
    theatre_id: int
    specialty: str
    planned_start: datetime
    planned_end: datetime
    cancelled_reason: str | None
    cases: list[CaseRow] = field(default_factory=list)

    def is_running(self, now: datetime) -> bool:
        return (
            self.cancelled_reason is None
            and self.planned_start <= now < self.planned_end
        )


@dataclass
class TheatreWindow:
    """Theatres and their sessions (with cases) planned to start in ``[start, end)``."""

    start: datetime
    end: datetime
    theatres: list[TheatreRow]
    sessions: list[SessionRow]

    def sessions_of(self, theatre_id: int) -> list[SessionRow]:
        return [s for s in self.sessions if s.theatre_id == theatre_id]


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
    )


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


def window_for(
    now: datetime, tz: str | ZoneInfo, days: int
) -> tuple[datetime, datetime]:
    """``days`` local days ending with today (whole days, so today's later sessions too)."""
    today = to_local(now, tz).date()
    return (
        local_day_bounds_utc(today - timedelta(days=days - 1), tz)[0],
        local_day_bounds_utc(today, tz)[1],
    )


# ---------------------------------------------------------------------------
# Pure derivations
# ---------------------------------------------------------------------------


def session_day(s: SessionRow, tz: str | ZoneInfo) -> date:
    return to_local(s.planned_start, tz).date()


def first_start(s: SessionRow) -> datetime | None:
    starts = [c.anaesthetic_at for c in s.cases if c.anaesthetic_at is not None]
    return min(starts) if starts else None


def late_start_minutes(s: SessionRow, now: datetime) -> float | None:
    """Minutes the session started late (> 15 min), or is late now with nothing
    started; ``None`` when on time, not yet due, cancelled or with nothing to start."""
    if s.cancelled_reason is not None:
        return None
    started = first_start(s)
    if started is not None:
        late = (started - s.planned_start).total_seconds() / 60
    elif any(c.status in PENDING for c in s.cases) and now < s.planned_end:
        late = (now - s.planned_start).total_seconds() / 60
    else:
        return None
    return late if late > LATE_START_MIN else None


def early_finish_minutes(s: SessionRow, now: datetime) -> float | None:
    """Minutes before the planned end the last case left theatre (> 30 min) once no
    case is left to start or under way; ``None`` otherwise."""
    if s.cancelled_reason is not None:
        return None
    if any(c.status in PENDING or c.status in ACTIVE for c in s.cases):
        return None
    outs = [c.out_of_theatre_at for c in s.cases if c.out_of_theatre_at is not None]
    if not outs or max(outs) > now:
        return None
    early = (s.planned_end - max(outs)).total_seconds() / 60
    return early if early > EARLY_FINISH_MIN else None


def touch_intervals(s: SessionRow, now: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    for c in s.cases:
        if c.anaesthetic_at is None or c.anaesthetic_at > now:
            continue
        end = c.out_of_theatre_at if c.out_of_theatre_at is not None else now
        out.append((c.anaesthetic_at, min(end, now)))
    return out


def theatre_day_utilisation(sessions: list[SessionRow], now: datetime) -> float | None:
    """Capped utilisation of one theatre's sessions on one day, weighting each session's
    ``ops.metrics.capped_utilisation_pct`` by its planned time; session time after
    ``now`` is not yet planned time used or lost. ``None`` without planned time."""
    weighted = 0.0
    planned = 0.0
    for s in sessions:
        end = min(s.planned_end, now)
        pct = capped_utilisation_pct(s.planned_start, end, touch_intervals(s, now))
        if pct is None:
            continue
        seconds = (end - s.planned_start).total_seconds()
        weighted += pct * seconds
        planned += seconds
    return weighted / planned if planned > 0 else None


def utilisation_grid(
    window: TheatreWindow, days: list[date], now: datetime, tz: str | ZoneInfo
) -> dict[tuple[int, date], float | None]:
    """Capped utilisation per (theatre id, local day); ``None`` where no sessions."""
    by_key: dict[tuple[int, date], list[SessionRow]] = {}
    for s in window.sessions:
        by_key.setdefault((s.theatre_id, session_day(s, tz)), []).append(s)
    return {
        (t.id, d): theatre_day_utilisation(by_key.get((t.id, d), []), now)
        for t in window.theatres
        for d in days
    }


@dataclass(frozen=True)
class BoardRow:
    theatre: TheatreRow
    state: TheatreState
    detail: str  # e.g. "In theatre · Total knee replacement"
    procedure: str | None
    phase: str | None
    since: datetime | None
    specialty: str | None
    session_start: datetime | None
    session_end: datetime | None
    late_start_min: float | None
    started: bool  # whether the late start is over (first case under way)
    cases_done_today: int
    cancellations_today: int
    utilisation_today: float | None


def _fmt(t: datetime | None, tz: str | ZoneInfo) -> str:
    return "—" if t is None else to_local(t, tz).strftime("%H:%M")


def board(window: TheatreWindow, now: datetime, tz: str | ZoneInfo) -> list[BoardRow]:
    """The live state of every theatre at ``now``."""
    today = to_local(now, tz).date()
    day_start = local_day_bounds_utc(today, tz)[0]
    rows = []
    for t in window.theatres:
        todays = [s for s in window.sessions_of(t.id) if session_day(s, tz) == today]
        cases = [(s, c) for s in todays for c in s.cases]
        running = next((s for s in todays if s.is_running(now)), None)
        active = [(s, c) for s, c in cases if c.status in ACTIVE]
        recovering = [(s, c) for s, c in cases if c.status == "recovery"]
        procedure = phase = None
        since = None
        shown = running
        if active:
            s, c = max(
                active, key=lambda sc: sc[1].anaesthetic_at or sc[1].planned_start
            )
            state, shown, procedure, phase = (
                TheatreState.IN_PROGRESS,
                s,
                c.procedure,
                PHASES[c.status],
            )
            since = c.in_theatre_at if c.status == "in_theatre" else c.anaesthetic_at
            detail = f"{phase} · {procedure}"
        elif running is not None:
            pending = [c for c in running.cases if c.status in PENDING]
            outs = [c for c in running.cases if c.out_of_theatre_at is not None]
            if outs and pending:
                last = max(outs, key=lambda c: c.out_of_theatre_at)
                state, since = TheatreState.TURNAROUND, last.out_of_theatre_at
                nxt = pending[0]
                detail = f"Between cases · next {nxt.procedure}" + (
                    " (sent for)" if nxt.status == "sent_for" else ""
                )
            elif recovering and not pending:
                s, c = max(recovering, key=lambda sc: sc[1].out_of_theatre_at)
                state, procedure, phase = (
                    TheatreState.IN_PROGRESS,
                    c.procedure,
                    PHASES["recovery"],
                )
                since = c.out_of_theatre_at
                detail = f"{phase} · {procedure}"
            else:
                state = TheatreState.IDLE
                if pending:
                    detail = f"Session running · first case {pending[0].procedure} not started"
                else:
                    detail = "Session running · list finished"
        elif recovering:
            s, c = max(recovering, key=lambda sc: sc[1].out_of_theatre_at)
            state, shown, procedure, phase = (
                TheatreState.IN_PROGRESS,
                s,
                c.procedure,
                PHASES["recovery"],
            )
            since = c.out_of_theatre_at
            detail = f"{phase} · {procedure}"
        else:
            state = TheatreState.CLOSED
            upcoming = [
                s
                for s in todays
                if s.planned_start > now and s.cancelled_reason is None
            ]
            cancelled = [s for s in todays if s.cancelled_reason is not None]
            if upcoming:
                detail = f"No session now · next {_fmt(upcoming[0].planned_start, tz)}"
            elif cancelled and not any(s.cancelled_reason is None for s in todays):
                detail = f"Sessions cancelled · {cancelled[0].cancelled_reason}"
            elif todays:
                detail = "No session now · today's sessions over"
            else:
                detail = "No session today"
        late = started = None
        if shown is not None:
            late = late_start_minutes(shown, now)
            started = first_start(shown) is not None
        rows.append(
            BoardRow(
                theatre=t,
                state=state,
                detail=detail,
                procedure=procedure,
                phase=phase,
                since=since,
                specialty=shown.specialty if shown else None,
                session_start=shown.planned_start if shown else None,
                session_end=shown.planned_end if shown else None,
                late_start_min=late,
                started=bool(started),
                cases_done_today=sum(
                    1
                    for _, c in cases
                    if c.out_of_theatre_at is not None
                    and day_start <= c.out_of_theatre_at <= now
                ),
                cancellations_today=sum(
                    1
                    for s, c in cases
                    if is_on_the_day_cancellation(s, c, day_start, now, tz)
                ),
                utilisation_today=theatre_day_utilisation(todays, now),
            )
        )
    return rows


def is_on_the_day_cancellation(
    s: SessionRow, c: CaseRow, start: datetime, end: datetime, tz: str | ZoneInfo
) -> bool:
    """A case cancelled in ``(start, end]`` on the local day of its session."""
    return (
        c.status == "cancelled"
        and c.cancelled_at is not None
        and start < c.cancelled_at <= end
        and to_local(c.cancelled_at, tz).date() == session_day(s, tz)
    )


@dataclass(frozen=True)
class LostTimeRow:
    kind: str  # "Late start", "Early finish", "Cancellation"
    day: date
    site_code: str
    theatre: str
    specialty: str
    minutes: float | None
    detail: str
    at: datetime


def lost_time(
    window: TheatreWindow, start: datetime, now: datetime, tz: str | ZoneInfo
) -> list[LostTimeRow]:
    """Late starts and early finishes of sessions planned to start in ``[start, now]``
    and on-the-day cancellations made in ``(start, now]``, newest first."""
    theatres = {t.id: t for t in window.theatres}
    out: list[LostTimeRow] = []
    for s in window.sessions:
        t = theatres.get(s.theatre_id)
        if t is None:
            continue
        day = session_day(s, tz)
        due = start <= s.planned_start <= now
        late = late_start_minutes(s, now) if due else None
        if late is not None:
            began = first_start(s)
            detail = (
                f"planned {_fmt(s.planned_start, tz)}, first anaesthetic {_fmt(began, tz)}"
                if began
                else f"planned {_fmt(s.planned_start, tz)}, not started yet"
            )
            out.append(
                LostTimeRow(
                    "Late start",
                    day,
                    t.site_code,
                    t.name,
                    s.specialty,
                    late,
                    detail,
                    s.planned_start,
                )
            )
        early = early_finish_minutes(s, now) if due else None
        if early is not None:
            last_out = max(c.out_of_theatre_at for c in s.cases if c.out_of_theatre_at)
            out.append(
                LostTimeRow(
                    "Early finish",
                    day,
                    t.site_code,
                    t.name,
                    s.specialty,
                    early,
                    f"planned end {_fmt(s.planned_end, tz)}, last case out {_fmt(last_out, tz)}",
                    last_out,
                )
            )
        for c in s.cases:
            if is_on_the_day_cancellation(s, c, start, now, tz):
                out.append(
                    LostTimeRow(
                        "Cancellation",
                        day,
                        t.site_code,
                        t.name,
                        s.specialty,
                        None,
                        f"{c.procedure}: {c.cancel_reason or 'reason not recorded'}",
                        c.cancelled_at,  # type: ignore[arg-type]
                    )
                )
    out.sort(key=lambda r: r.at, reverse=True)
    return out


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
