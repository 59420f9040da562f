"""Emergency department read queries for the ED page and ``/api/v1/ed``.

Catalogue figures (4-hour %, > 12 h, median time to treatment, handovers ...) come
from ``data.queries.metrics.snapshot_metrics``; this module holds the page-specific
shapes: patients by area, waiting to be seen, the time-in-department distribution,
arrivals per hour against the usual band, the hour x weekday heatmap and the
ambulance handover queue.

Every query function runs one aggregated SQL statement. Arrivals are counted per UTC
hour in SQL; the few hour buckets are turned into local (Europe/London) hours here in
Python, which stays right across the clock changes because local hours are whole-hour
offsets of UTC hours. The helpers that do that are pure and unit-tested.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Select, and_, case, func, literal, select
from sqlalchemy.orm import Session

from data.models.base import UTCDateTime
from data.models.capacity import EdArea, EdAttendance, Site
from data.queries.sql import seconds_between, utc_hour
from ops.timeutil import ensure_utc, local_day_bounds_utc, to_local

HOUR = timedelta(hours=1)
# Heatmap range selector: weeks of history (local days before today).
HEATMAP_WEEKS: tuple[int, ...] = (4, 8, 12)
DEFAULT_HEATMAP_WEEKS = 8
# Same weekdays of history behind the "usual" band of arrivals per hour.
BAND_WEEKS = 8
# Time-in-department histogram: whole hours 0..23, then "24 h and over".
TID_BINS = 24
HANDOVER_FLAGS_MIN = (30, 60)


def _site_filter(stmt: Select, site_code: str | None) -> Select:
    return stmt.where(Site.code == site_code) if site_code else stmt


def _at(value: datetime):  # noqa: ANN202
    """A bound UTC timestamp usable inside SQL expressions on both backends."""
    return literal(ensure_utc(value), UTCDateTime())


# ---------------------------------------------------------------------------
# Now: areas, waiting, time in department, handover queue
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EdAreaRow:
    site_code: str
    code: str
    name: str
    spaces: int

    @property
    def scope_id(self) -> str:
        """The ``ed_area`` scope id of the metric snapshot."""
        return f"{self.site_code}-{self.code}"


def ed_areas(session: Session, site_code: str | None = None) -> list[EdAreaRow]:
    """Every ED area with its spaces (patients per area come from the snapshot)."""
    stmt = (
        select(Site.code, EdArea.code, EdArea.name, EdArea.spaces)
        .join(Site, Site.id == EdArea.site_id)
        .order_by(Site.code, EdArea.id)
    )
    return [EdAreaRow(*row) for row in session.execute(_site_filter(stmt, site_code))]


def time_in_department(
    session: Session, now: datetime, site_code: str | None = None
) -> list[int]:
    """Patients now in the department by whole hours since arrival.

    Index ``h`` (0..23) counts stays of [h, h+1) hours; the last index counts 24 h+.
    Counts the same patients as the snapshot's ``ed_in_department``.
    """
    secs = seconds_between(EdAttendance.arrival_at, _at(now))
    bucket = case(
        *[(secs < (h + 1) * 3600, h) for h in range(TID_BINS)], else_=TID_BINS
    ).label("bucket")
    stmt = (
        select(bucket, func.count(EdAttendance.id))
        .join(Site, Site.id == EdAttendance.site_id)
        .where(
            EdAttendance.departure_at.is_(None),
            EdAttendance.arrival_at <= ensure_utc(now),
        )
        .group_by(bucket)
    )
    out = [0] * (TID_BINS + 1)
    for b, n in session.execute(_site_filter(stmt, site_code)):
        out[int(b)] += int(n)
    return out


@dataclass(frozen=True)
class WaitingAmbulance:
    site_code: str
    ref: str
    area: str
    triage: int
    arrival_at: datetime
    waiting_min: float

    @property
    def over_30(self) -> bool:
        return self.waiting_min > 30

    @property
    def over_60(self) -> bool:
        return self.waiting_min > 60


def handover_queue(
    session: Session, now: datetime, site_code: str | None = None
) -> list[WaitingAmbulance]:
    """Ambulances arrived and not yet handed over (nor gone), longest wait first."""
    stmt = (
        select(
            Site.code,
            EdAttendance.ref,
            EdArea.name,
            EdAttendance.triage,
            EdAttendance.arrival_at,
        )
        .join(Site, Site.id == EdAttendance.site_id)
        .join(EdArea, EdArea.id == EdAttendance.area_id)
        .where(
            and_(
                EdAttendance.mode == "ambulance",
                EdAttendance.handover_at.is_(None),
                EdAttendance.departure_at.is_(None),
                EdAttendance.arrival_at <= ensure_utc(now),
            )
        )
        .order_by(EdAttendance.arrival_at, EdAttendance.ref)
    )
    now = ensure_utc(now)
    return [
        WaitingAmbulance(
            site,
            ref,
            area,
            triage,
            ensure_utc(at),
            (now - ensure_utc(at)).total_seconds() / 60,
        )
        for site, ref, area, triage, at in session.execute(
            _site_filter(stmt, site_code)
        )
    ]


# ---------------------------------------------------------------------------
# Arrivals per UTC hour (one query) and the pure shapes built from it
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HourlyArrivals:
    """Arrivals per UTC hour start for arrivals in ``[start, end]``; hours absent had none.

    ``data_from`` is the first hour the store holds arrivals for (at or before
    ``start`` when the history reaches back that far): hours before it are unknown,
    not zero.
    """

    start: datetime
    end: datetime
    counts: dict[datetime, int]
    data_from: datetime | None


def arrivals_window_start(now: datetime, tz: str | ZoneInfo) -> datetime:
    """Earliest instant the ED page needs: the band's and the heatmap's history."""
    weeks = max(BAND_WEEKS, *HEATMAP_WEEKS)
    today = to_local(now, tz).date()
    return local_day_bounds_utc(today - timedelta(days=7 * weeks), tz)[0]


def _count_by_hour(
    session: Session,
    start: datetime,
    end: datetime,
    site_code: str | None,
    include_end: bool,
) -> dict[datetime, int]:
    hour = utc_hour(EdAttendance.arrival_at).label("hour")
    upper = (
        EdAttendance.arrival_at <= end if include_end else EdAttendance.arrival_at < end
    )
    stmt = (
        select(hour, func.count(EdAttendance.id))
        .join(Site, Site.id == EdAttendance.site_id)
        .where(and_(EdAttendance.arrival_at >= start, upper))
        .group_by(hour)
    )
    return {
        datetime.strptime(h, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC): int(n)
        for h, n in session.execute(_site_filter(stmt, site_code))
    }


class _PastHours:
    """Per-process memo of the arrivals in whole past hours (they do not change).

    The ED page counts 8-12 weeks of arrivals per hour on every poll; only the hour
    under way changes between polls. Key: (engine, site filter, window start, start
    of the current hour, newest attendance id, 10-minute bucket): a new attendance
    (a late one for a past hour included) or a new hour recounts; a correction of an
    existing attendance's arrival time shows within 10 minutes. Saves work only:
    each gunicorn worker keeps its own and a miss counts in SQL as before.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[dict[datetime, int], datetime | None]] = {}

    def get(
        self, session: Session, start: datetime, cut: datetime, site_code: str | None
    ) -> tuple[dict[datetime, int], datetime | None]:
        bind = session.get_bind()
        newest = session.scalar(select(func.max(EdAttendance.id)))
        key = (id(bind), str(bind.url), site_code, start, cut, newest,
               int(time.time() // 600))  # fmt: skip
        with self._lock:
            found = self._entries.get(key)
        if found is not None:
            return found
        counts = _count_by_hour(session, start, cut, site_code, include_end=False)
        first_stmt = select(func.min(EdAttendance.arrival_at)).join(
            Site, Site.id == EdAttendance.site_id
        )
        first = session.scalar(_site_filter(first_stmt, site_code))
        value = (counts, None if first is None else ensure_utc(first))
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))
        return value


_PAST_HOURS = _PastHours()


def arrivals_by_utc_hour(
    session: Session, start: datetime, end: datetime, site_code: str | None = None
) -> HourlyArrivals:
    """Count arrivals in ``[start, end]`` per UTC hour, aggregated in SQL.

    The whole hours before the hour under way come from a per-process memo
    (:class:`_PastHours`); the hour under way is counted on every call.
    """
    start, end = ensure_utc(start), ensure_utc(end)
    cut = max(start, end.replace(minute=0, second=0, microsecond=0))
    counts, first = _PAST_HOURS.get(session, start, cut, site_code)
    counts = {
        **counts,
        **_count_by_hour(session, cut, end, site_code, include_end=True),
    }
    if first is None:  # no arrivals before the hour under way: look again now
        first_stmt = select(func.min(EdAttendance.arrival_at)).join(
            Site, Site.id == EdAttendance.site_id
        )
        found = session.scalar(_site_filter(first_stmt, site_code))
        first = None if found is None else ensure_utc(found)
    data_from = None
    if first is not None:
        data_from = first.replace(minute=0, second=0, microsecond=0)
    return HourlyArrivals(start, end, counts, data_from)


def _hours(start: datetime, end: datetime) -> list[datetime]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += HOUR
    return out


def _complete_day(arrivals: HourlyArrivals, start: datetime, end: datetime) -> bool:
    """Whether the store holds the whole of ``[start, end)`` (otherwise: unknown)."""
    if arrivals.data_from is None:
        return False
    # The first hour with data may be partial; a day starting before it is unknown.
    return (
        arrivals.data_from <= start and end <= arrivals.end and start >= arrivals.start
    )


@dataclass(frozen=True)
class HourPoint:
    """One local hour of today: label, arrivals so far, and the usual band."""

    utc_start: datetime
    label: str  # "09:00"; on the long clock-change day the repeated hour is "01:00 BST"/"GMT"
    local_hour: int
    arrivals: int | None  # None for hours not yet started
    complete: bool  # False for the hour under way (arrivals so far)
    p10: float | None
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class ArrivalsToday:
    points: list[HourPoint]
    band_days: list[date]  # the same weekdays the band is built from
    weekday: str

    @property
    def arrivals_so_far(self) -> int:
        return sum(p.arrivals or 0 for p in self.points)


def _local_hour_counts(
    arrivals: HourlyArrivals, day: date, tz: ZoneInfo
) -> dict[int, int]:
    """Arrivals per local hour of day (0..23) on local ``day``; the repeated hour of a
    25-hour day sums both occurrences; the missing hour of a 23-hour day is absent."""
    start, end = local_day_bounds_utc(day, tz)
    out: dict[int, int] = defaultdict(int)
    for h in _hours(start, end):
        out[to_local(h, tz).hour] += arrivals.counts.get(h, 0)
    return dict(out)


def hour_label(utc_start: datetime, tz: str | ZoneInfo, repeated: bool) -> str:
    local = to_local(utc_start, tz)
    label = local.strftime("%H:00")
    return f"{label} {local.tzname()}" if repeated else label


def today_vs_usual(
    arrivals: HourlyArrivals, now: datetime, tz: str | ZoneInfo, weeks: int = BAND_WEEKS
) -> ArrivalsToday:
    """Arrivals per local hour today against p10-p90 and median of the same weekday
    and hour over the last ``weeks`` weeks (only days fully held in the store)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    now = ensure_utc(now)
    today = to_local(now, zone).date()
    day_start, day_end = local_day_bounds_utc(today, zone)
    band_days = [
        d
        for d in (today - timedelta(days=7 * k) for k in range(1, weeks + 1))
        if _complete_day(arrivals, *local_day_bounds_utc(d, zone))
    ]
    per_day = [_local_hour_counts(arrivals, d, zone) for d in band_days]
    hours = _hours(day_start, day_end)
    local_hours = [to_local(h, zone).hour for h in hours]
    points = []
    for h, lh in zip(hours, local_hours, strict=True):
        samples = [c[lh] for c in per_day if lh in c]
        if samples:
            p10, med, p90 = (float(v) for v in np.percentile(samples, [10, 50, 90]))
        else:
            p10 = med = p90 = None
        started = h <= now
        points.append(
            HourPoint(
                utc_start=h,
                label=hour_label(h, zone, local_hours.count(lh) > 1),
                local_hour=lh,
                arrivals=arrivals.counts.get(h, 0) if started else None,
                complete=h + HOUR <= now,
                p10=p10,
                median=med,
                p90=p90,
            )
        )
    return ArrivalsToday(points, sorted(band_days), today.strftime("%A"))


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class WeekdayHourHeatmap:
    """Mean arrivals per hour by local weekday (rows, Mon..Sun) and hour (0..23)."""

    weeks: int
    mean: list[list[float | None]]  # [weekday][hour]; None where no hour was observed
    hours_observed: list[list[int]]
    overall_mean: float | None  # mean arrivals per hour over every observed hour
    first_day: date | None
    last_day: date | None

    @property
    def index(self) -> list[list[float | None]]:
        """Each cell over the overall mean (1.0 = an average hour): the colour scale."""
        if not self.overall_mean:
            return [[None] * 24 for _ in range(7)]
        return [
            [None if v is None else v / self.overall_mean for v in row]
            for row in self.mean
        ]


def weekday_hour_heatmap(
    arrivals: HourlyArrivals, now: datetime, tz: str | ZoneInfo, weeks: int
) -> WeekdayHourHeatmap:
    """The last ``weeks`` whole weeks of local days before today (today excluded)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    today = to_local(ensure_utc(now), zone).date()
    days = [
        d
        for d in (today - timedelta(days=k) for k in range(7 * weeks, 0, -1))
        if _complete_day(arrivals, *local_day_bounds_utc(d, zone))
    ]
    total = [[0] * 24 for _ in range(7)]
    seen = [[0] * 24 for _ in range(7)]
    for d in days:
        start, end = local_day_bounds_utc(d, zone)
        for h in _hours(start, end):
            local = to_local(h, zone)
            total[local.weekday()][local.hour] += arrivals.counts.get(h, 0)
            seen[local.weekday()][local.hour] += 1
    mean: list[list[float | None]] = [
        [total[w][h] / seen[w][h] if seen[w][h] else None for h in range(24)]
        for w in range(7)
    ]
    hours_seen = sum(sum(r) for r in seen)
    overall = sum(sum(r) for r in total) / hours_seen if hours_seen else None
    return WeekdayHourHeatmap(
        weeks,
        mean,
        seen,
        overall,
        days[0] if days else None,
        days[-1] if days else None,
    )


# ---------------------------------------------------------------------------
# Everything the page needs, in one read session
# ---------------------------------------------------------------------------


@dataclass
class EdPageData:
    site_code: str | None
    areas: list[EdAreaRow]
    time_in_department: list[int]
    arrivals: HourlyArrivals
    today: ArrivalsToday
    heatmap: WeekdayHourHeatmap
    handovers: list[WaitingAmbulance]
    sites: list[tuple[str, str]] = field(default_factory=list)  # (code, name)


def ed_page_data(
    session: Session,
    now: datetime,
    tz: str | ZoneInfo,
    site_code: str | None = None,
    weeks: int = DEFAULT_HEATMAP_WEEKS,
) -> EdPageData:
    now = ensure_utc(now)
    arrivals = arrivals_by_utc_hour(
        session, arrivals_window_start(now, tz), now, site_code
    )
    return EdPageData(
        site_code=site_code,
        areas=ed_areas(session, site_code),
        time_in_department=time_in_department(session, now, site_code),
        arrivals=arrivals,
        today=today_vs_usual(arrivals, now, tz),
        heatmap=weekday_hour_heatmap(arrivals, now, tz, weeks),
        handovers=handover_queue(session, now, site_code),
        sites=[
            (c, n)
            for c, n in session.execute(
                select(Site.code, Site.name).order_by(Site.code)
            )
        ],
    )
