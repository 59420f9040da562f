"""The hourly occupancy roll-up (``ward_occupancy_hour``), derived from ``bed_event``.

The row for hour ``h`` counts each ward's beds by their state at ``h`` (the last
event at or before ``h``). :func:`roll_up` adds the hours that have passed;
:func:`recompute_from` rewrites the hours after a late event changed the history.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from data.models.capacity import BED_STATES, Bed, BedEvent, WardOccupancyHour

HOUR = timedelta(hours=1)


def floor_hour(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0)


def _states_at(session: Session, at: datetime) -> dict[int, str]:
    """Each bed's state at ``at`` (events at ``at`` included)."""
    last = (
        select(BedEvent.bed_id, func.max(BedEvent.at).label("at"))
        .where(BedEvent.at <= at)
        .group_by(BedEvent.bed_id)
        .subquery()
    )
    best: dict[int, tuple[int, str]] = {}
    for bed_id, row_id, state in session.execute(
        select(BedEvent.bed_id, BedEvent.id, BedEvent.state).join(
            last, (last.c.bed_id == BedEvent.bed_id) & (last.c.at == BedEvent.at)
        )
    ):
        if bed_id not in best or row_id > best[bed_id][0]:
            best[bed_id] = (row_id, state)
    return {bed_id: state for bed_id, (_, state) in best.items()}


def _write_hours(session: Session, first: datetime, last: datetime) -> int:
    """(Re)write the rows of hours ``first``..``last`` inclusive."""
    if last < first:
        return 0
    wards = {b: w for b, w in session.execute(select(Bed.id, Bed.ward_id))}
    retired = _retired_at(session)
    states = _states_at(session, first - timedelta(microseconds=1))
    events = session.execute(
        select(BedEvent.bed_id, BedEvent.at, BedEvent.state)
        .where(BedEvent.at >= first, BedEvent.at <= last)
        .order_by(BedEvent.at, BedEvent.id)
    ).all()
    session.execute(
        delete(WardOccupancyHour).where(
            WardOccupancyHour.hour_start >= first, WardOccupancyHour.hour_start <= last
        )
    )
    rows = []
    i = 0
    hour = first
    ward_ids = sorted(set(wards.values()))
    while hour <= last:
        while i < len(events) and events[i][1] <= hour:
            bed_id, _, state = events[i]
            states[bed_id] = state
            i += 1
        counts: dict[int, dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(BED_STATES, 0)
        )
        for bed_id, state in states.items():
            gone = retired.get(bed_id)
            if gone is not None and gone <= hour:
                continue
            counts[wards[bed_id]][state] += 1
        for ward_id in ward_ids:
            if ward_id in counts:
                rows.append({"ward_id": ward_id, "hour_start": hour, **counts[ward_id]})
        hour += HOUR
    from data.writes.events import bulk_insert

    bulk_insert(session, WardOccupancyHour, rows)
    return len(rows)


def _retired_at(session: Session) -> dict[int, datetime]:
    col = getattr(Bed, "retired_at", None)
    if col is None:
        return {}
    return {
        bed_id: at
        for bed_id, at in session.execute(select(Bed.id, col).where(col.is_not(None)))
    }


def roll_up(session: Session, until: datetime) -> int:
    """Add the rows of every whole hour up to ``until`` not yet rolled up."""
    last_done = session.scalar(select(func.max(WardOccupancyHour.hour_start)))
    if last_done is None:
        first_event = session.scalar(select(func.min(BedEvent.at)))
        if first_event is None:
            return 0
        first = floor_hour(first_event)
        if first < first_event:
            first += HOUR
    else:
        first = last_done + HOUR
    return _write_hours(session, first, floor_hour(until))


def recompute_from(session: Session, start: datetime) -> int:
    """Rewrite the rolled-up hours at or after ``start`` (after a late event)."""
    last_done = session.scalar(select(func.max(WardOccupancyHour.hour_start)))
    if last_done is None:
        return 0
    first = floor_hour(start)
    if first < start:
        first += HOUR
    if first > last_done:
        return 0
    return _write_hours(session, first, last_done)
