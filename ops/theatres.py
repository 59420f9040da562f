"""The theatre board and lost-time rules: pure functions on plain rows.

``data.queries.theatres`` reads every theatre and the sessions of a window with their
cases into the rows below; everything shown is derived here, using the single
definition of capped utilisation in ``ops.metrics``.

Definitions (documented on the page):
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

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ops.metrics import capped_utilisation_pct
from ops.timeutil import local_day_bounds_utc, to_local

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
    # Each theatre's next list after the window (start, specialty), for the board
    # once the day's lists are over; empty when not loaded.
    next_lists: dict[int, tuple[datetime, str]] = field(default_factory=dict)

    def sessions_of(self, theatre_id: int) -> list[SessionRow]:
        return [s for s in self.sessions if s.theatre_id == theatre_id]


def window_for(
    now: datetime, tz: str | ZoneInfo, days: int
) -> tuple[datetime, datetime]:
    """``days`` local days ending with today (whole days, so today's later sessions too)."""
    today = to_local(now, tz).date()
    return (
        local_day_bounds_utc(today - timedelta(days=days - 1), tz)[0],
        local_day_bounds_utc(today, tz)[1],
    )


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


def _next_list(nxt: tuple[datetime, str], now: datetime, tz: str | ZoneInfo) -> str:
    """``"Tue 08:00 Orthopaedics"``; the weekday only when it is not today."""
    start, specialty = nxt
    local = to_local(start, tz)
    day = "" if local.date() == to_local(now, tz).date() else f"{local:%a} "
    return f"{day}{local:%H:%M} {specialty}"


def board(window: TheatreWindow, now: datetime, tz: str | ZoneInfo) -> list[BoardRow]:
    """The live state of every theatre at ``now``."""
    today = to_local(now, tz).date()
    day_start = local_day_bounds_utc(today, tz)[0]
    rows = []
    for t in window.theatres:
        mine = window.sessions_of(t.id)
        todays = [s for s in mine if session_day(s, tz) == today]
        # a night list that began yesterday evening runs into today
        live = [
            s for s in mine if session_day(s, tz) < today and s.planned_end > day_start
        ]
        live += todays
        cases = [(s, c) for s in live for c in s.cases]
        running = next((s for s in live if s.is_running(now)), None)
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
            later = window.next_lists.get(t.id)
            then = "" if later is None else f" · next {_next_list(later, now, tz)}"
            if upcoming:
                detail = f"No session now · next {_fmt(upcoming[0].planned_start, tz)}"
            elif cancelled and not any(s.cancelled_reason is None for s in todays):
                detail = f"Sessions cancelled · {cancelled[0].cancelled_reason}{then}"
            elif todays:
                detail = f"No session now · today's sessions over{then}"
            else:
                detail = f"No session today{then}"
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
