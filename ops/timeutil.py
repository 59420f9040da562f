"""Time handling: UTC in storage, trust-local time at the edges.

Every timestamp the product stores is an aware UTC ``datetime``. Conversions to the
trust's local time (Europe/London by default) happen only for display and for
local-calendar boundaries such as "today since midnight", which move across the
clock changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FrozenClock:
    """A clock that always answers the same instant (tests, reproducible demos)."""

    at: datetime

    def __call__(self) -> datetime:
        return ensure_utc(self.at)


@dataclass(frozen=True)
class ScaledClock:
    """Demo time running ``speed`` times faster than real time from an anchor.

    ``sim_anchor`` is the demo time at the real instant ``real_anchor``.
    """

    real_anchor: datetime
    sim_anchor: datetime
    speed: float

    def __call__(self) -> datetime:
        return self.sim_anchor + (system_clock() - self.real_anchor) * self.speed


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive values are taken to be UTC already.

    SQLite hands timestamps back naive; PostgreSQL hands them back aware.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_local(value: datetime, tz: str | ZoneInfo) -> datetime:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return ensure_utc(value).astimezone(zone)


def local_midnight_utc(now: datetime, tz: str | ZoneInfo) -> datetime:
    """UTC instant of the most recent local midnight at or before ``now``."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local_day = to_local(now, zone).date()
    return local_day_start_utc(local_day, zone)


def local_day_start_utc(day: date, tz: str | ZoneInfo) -> datetime:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def local_day_bounds_utc(day: date, tz: str | ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day in UTC: 23, 24 or 25 hours long."""
    return local_day_start_utc(day, tz), local_day_start_utc(
        day + timedelta(days=1), tz
    )


def format_local(value: datetime | None, tz: str | ZoneInfo, fmt: str = "%H:%M") -> str:
    if value is None:
        return "—"
    return to_local(value, tz).strftime(fmt)


def format_age(seconds: float | None) -> str:
    """Human age such as '45 s', '12 min', '3 h 5 min', '2 d 4 h'."""
    if seconds is None:
        return "unknown"
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
