"""Patient-flow reads: the bed gap, discharges by hour and the discharge-barrier board.

G&A means the ward types of ``data.queries.metrics.GA_WARD_TYPES`` (the G&A occupancy
definition); retired wards and beds do not count. Times are UTC; "today" is the
trust's local calendar day (``ops.timeutil``), so a day may have 23 or 25 hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from data.models.capacity import Bed, BedEvent, EdAttendance, InpatientStay, Site, Ward
from data.queries.metrics import GA_WARD_TYPES
from ops import flow as rules
from ops.timeutil import ensure_utc, local_day_bounds_utc, to_local


@dataclass(frozen=True)
class FlowFilters:
    """The page's filters from the URL; ``None`` means "all"."""

    site: str | None = None  # site code
    specialty: str | None = None
    ward: int | None = None  # ward id

    @classmethod
    def from_query(cls, query: dict[str, str]) -> FlowFilters:
        ward = query.get("ward")
        return cls(
            site=query.get("site") or None,
            specialty=query.get("specialty") or None,
            ward=int(ward) if ward and ward.isdigit() else None,
        )

    @property
    def by_ward(self) -> bool:
        return self.specialty is not None or self.ward is not None

    def apply(self, stmt: Select) -> Select:
        """Restrict a statement that already joins ``Ward`` and ``Site``."""
        stmt = stmt.where(Ward.retired_at.is_(None))
        if self.site:
            stmt = stmt.where(Site.code == self.site)
        if self.specialty:
            stmt = stmt.where(Ward.specialty == self.specialty)
        if self.ward is not None:
            stmt = stmt.where(Ward.id == self.ward)
        return stmt


@dataclass(frozen=True)
class BedGap:
    available: int
    awaiting_clean: int
    occupied: int
    open_beds: int
    waiting: int | None  # ED patients with a DTA, not departed (None: ward filter)
    longest_wait_min: float | None
    expected_today: int  # stays with an EDD today (open or discharged since)
    discharged_today: int  # G&A stays discharged since local midnight
    projections: list[rules.Projection] = field(default_factory=list)


@dataclass(frozen=True)
class Discharges:
    today: list[int]  # discharges per local hour today (up to now)
    admissions: list[int]
    usual: list[float | None]  # mean discharges per hour, same weekday, 4 weeks
    usual_admissions: list[float | None]
    total_today: int
    before_noon_today: int
    yesterday_total: int
    yesterday_before_noon: int
    expected_by_11: int
    done_by_11: int
    weekend: bool


@dataclass(frozen=True)
class BoardRow:
    stay_ref: str
    patient_ref: str
    site_code: str
    ward_id: int
    ward: str
    specialty: str
    bed: str | None
    admitted_at: datetime
    los_days: float
    stranded: str | None
    expected_discharge_at: datetime | None
    overdue: bool
    medically_ready_at: datetime | None  # no criteria to reside since
    pathway: str | None
    delay_reason: str | None


def _ga_wards(filters: FlowFilters) -> Select:
    return filters.apply(
        select(Ward.id)
        .join(Site, Site.id == Ward.site_id)
        .where(Ward.ward_type.in_(GA_WARD_TYPES))
    )


def ga_bed_counts(session: Session, filters: FlowFilters) -> dict[str, int]:
    rows = session.execute(
        select(Bed.state, func.count(Bed.id))
        .where(Bed.retired_at.is_(None), Bed.ward_id.in_(_ga_wards(filters)))
        .group_by(Bed.state)
    ).all()
    counts = dict.fromkeys(("occupied", "available", "awaiting_clean"), 0)
    counts.update({state: n for state, n in rows})
    return counts


def waiting_for_bed(
    session: Session, filters: FlowFilters, now: datetime
) -> tuple[int, float | None]:
    """ED attendances with a decision to admit and no departure: count and the
    longest wait since the decision (minutes)."""
    stmt = (
        select(func.count(EdAttendance.id), func.min(EdAttendance.decision_to_admit_at))
        .join(Site, Site.id == EdAttendance.site_id)
        .where(
            EdAttendance.decision_to_admit_at.is_not(None),
            EdAttendance.decision_to_admit_at <= now,
            or_(EdAttendance.departure_at.is_(None), EdAttendance.departure_at > now),
        )
    )
    if filters.site:
        stmt = stmt.where(Site.code == filters.site)
    n, first = session.execute(stmt).one()
    longest = (now - ensure_utc(first)).total_seconds() / 60.0 if first else None
    return int(n), longest


def _stays(filters: FlowFilters, ga: bool = True) -> Select:
    stmt = select(InpatientStay).join(Ward, Ward.id == InpatientStay.ward_id)
    stmt = stmt.join(Site, Site.id == Ward.site_id)
    if ga:
        stmt = stmt.where(Ward.ward_type.in_(GA_WARD_TYPES))
    return filters.apply(stmt)


def bed_gap(
    session: Session,
    filters: FlowFilters,
    now: datetime,
    tz: str,
    *,
    with_waiting: bool = True,
) -> BedGap:
    zone = ZoneInfo(tz)
    today = to_local(now, zone).date()
    start, end = local_day_bounds_utc(today, zone)
    counts = ga_bed_counts(session, filters)
    if filters.by_ward or not with_waiting:
        waiting, longest = None, None  # ED does not know the ward a patient will go to
    else:
        waiting, longest = waiting_for_bed(session, filters, now)
    edd = InpatientStay.expected_discharge_at
    expected_today = session.scalar(
        select(func.count()).select_from(
            _stays(filters)
            .where(
                edd >= start,
                edd < end,
                or_(
                    InpatientStay.discharged_at.is_(None),
                    InpatientStay.discharged_at >= start,
                ),
            )
            .subquery()
        )
    )
    discharged = session.scalar(
        select(func.count()).select_from(
            _stays(filters)
            .where(
                InpatientStay.discharged_at >= start,
                InpatientStay.discharged_at <= now,
            )
            .subquery()
        )
    )
    open_edds = [
        ensure_utc(t)
        for t in session.scalars(
            _stays(filters)
            .with_only_columns(edd)
            .where(
                InpatientStay.discharged_at.is_(None),
                edd >= start,
                edd < end,
            )
        )
    ]
    projections = []
    for label, hour in rules.PROJECTION_TIMES:
        if hour is None:
            at = end
        else:
            at = datetime(today.year, today.month, today.day, hour, tzinfo=zone)
            at = ensure_utc(at)
        out = sum(1 for t in open_edds if t <= at) if at > now else 0
        free = (
            rules.project_free(
                counts["available"], counts["awaiting_clean"], waiting, out
            )
            if at > now
            else None
        )
        projections.append(rules.Projection(label, at, out, free))
    return BedGap(
        available=counts["available"],
        awaiting_clean=counts["awaiting_clean"],
        occupied=counts["occupied"],
        open_beds=sum(counts[s] for s in ("occupied", "available", "awaiting_clean")),
        waiting=waiting,
        longest_wait_min=longest,
        expected_today=int(expected_today or 0),
        discharged_today=int(discharged or 0),
        projections=projections,
    )


def _times(
    session: Session, filters: FlowFilters, column, start: datetime, end: datetime
) -> list[datetime]:  # noqa: ANN001
    return [
        ensure_utc(t)
        for t in session.scalars(
            _stays(filters)
            .with_only_columns(column)
            .where(column >= start, column < end)
        )
    ]


def discharges(
    session: Session, filters: FlowFilters, now: datetime, tz: str
) -> Discharges:
    """G&A discharges and admissions today by local hour against the mean of the
    same weekday in the four weeks before."""
    zone = ZoneInfo(tz)
    today = to_local(now, zone).date()
    start, _end = local_day_bounds_utc(today, zone)
    first = local_day_bounds_utc(rules.same_weekdays(today)[-1], zone)[0]
    out_times = _times(session, filters, InpatientStay.discharged_at, first, now)
    in_times = _times(session, filters, InpatientStay.admitted_at, first, now)

    def by_day(times: list[datetime]) -> dict:
        days: dict = {}
        for t in times:
            local = to_local(t, zone)
            days.setdefault(local.date(), []).append(local)
        return days

    out_days, in_days = by_day(out_times), by_day(in_times)
    earlier = rules.same_weekdays(today)
    today_out = rules.hourly_counts(out_days.get(today, []))
    yesterday = today - timedelta(days=1)
    noon = ensure_utc(datetime(today.year, today.month, today.day, 12, tzinfo=zone))
    eleven = ensure_utc(datetime(today.year, today.month, today.day, 11, tzinfo=zone))
    y_out = out_days.get(yesterday, [])
    edd = InpatientStay.expected_discharge_at
    expected_by_11 = session.scalar(
        select(func.count()).select_from(
            _stays(filters)
            .where(
                edd >= start,
                edd <= eleven,
                or_(
                    InpatientStay.discharged_at.is_(None),
                    InpatientStay.discharged_at >= start,
                ),
            )
            .subquery()
        )
    )
    done_by_11 = sum(1 for t in out_times if start <= t <= min(eleven, now))
    return Discharges(
        today=today_out,
        admissions=rules.hourly_counts(in_days.get(today, [])),
        usual=rules.usual_by_hour(
            [rules.hourly_counts(out_days.get(d, [])) for d in earlier]
        ),
        usual_admissions=rules.usual_by_hour(
            [rules.hourly_counts(in_days.get(d, [])) for d in earlier]
        ),
        total_today=sum(today_out),
        before_noon_today=sum(1 for t in out_times if start <= t < noon),
        yesterday_total=len(y_out),
        yesterday_before_noon=sum(1 for t in y_out if t.hour < 12),
        expected_by_11=int(expected_by_11 or 0),
        done_by_11=done_by_11,
        weekend=today.weekday() >= 5,
    )


def board(session: Session, filters: FlowFilters, now: datetime) -> list[BoardRow]:
    """Every open stay in the filtered wards (all ward types), longest stay first."""
    stmt = (
        select(
            InpatientStay.stay_ref,
            InpatientStay.patient_ref,
            Site.code,
            Ward.id,
            Ward.name,
            Ward.specialty,
            Bed.label,
            InpatientStay.admitted_at,
            InpatientStay.expected_discharge_at,
            InpatientStay.medically_ready_at,
            InpatientStay.discharge_pathway,
            InpatientStay.delay_reason,
        )
        .join(Ward, Ward.id == InpatientStay.ward_id)
        .join(Site, Site.id == Ward.site_id)
        .join(Bed, and_(Bed.id == InpatientStay.bed_id), isouter=True)
        .where(InpatientStay.discharged_at.is_(None), InpatientStay.admitted_at <= now)
        .order_by(InpatientStay.admitted_at, InpatientStay.stay_ref)
    )
    rows = []
    for r in session.execute(filters.apply(stmt)):
        admitted = ensure_utc(r.admitted_at)
        los = rules.length_of_stay_days(admitted, now)
        edd = ensure_utc(r.expected_discharge_at) if r.expected_discharge_at else None
        ready = ensure_utc(r.medically_ready_at) if r.medically_ready_at else None
        rows.append(
            BoardRow(
                stay_ref=r.stay_ref,
                patient_ref=r.patient_ref,
                site_code=r.code,
                ward_id=r.id,
                ward=r.name,
                specialty=r.specialty,
                bed=r.label,
                admitted_at=admitted,
                los_days=los,
                stranded=rules.stranded_flag(los),
                expected_discharge_at=edd,
                overdue=rules.edd_overdue(edd, now),
                medically_ready_at=ready if ready and ready <= now else None,
                pathway=r.discharge_pathway,
                delay_reason=r.delay_reason,
            )
        )
    return rows


def filter_options(session: Session) -> tuple[list, list, list]:
    """(sites (code, name), specialties, wards (id, label)) of current wards."""
    sites = [
        (c, n)
        for c, n in session.execute(
            select(Site.code, Site.name)
            .where(Site.retired_at.is_(None))
            .order_by(Site.code)
        )
    ]
    specialties = list(
        session.scalars(
            select(Ward.specialty)
            .where(Ward.retired_at.is_(None))
            .distinct()
            .order_by(Ward.specialty)
        )
    )
    wards = [
        (i, f"{c} {n}")
        for i, c, n in session.execute(
            select(Ward.id, Site.code, Ward.name)
            .join(Site, Site.id == Ward.site_id)
            .where(Ward.retired_at.is_(None))
            .order_by(Site.code, Ward.name)
        )
    ]
    return sites, specialties, wards


@dataclass(frozen=True)
class TrendDay:
    day: date
    at: datetime  # the snapshot time (08:00 local), UTC
    by_pathway: dict[str, int]  # "not recorded" for a stay without one
    total: int
    # by delay reason as the stay's stands now ("not recorded" without one)
    by_reason: dict[str, int] = field(default_factory=dict)
    # False before the store's first bed record: not a day with none, a day unknown
    covered: bool = True


TREND_SNAPSHOT_HOUR = 8  # the discharge sitrep counts patients at 08:00


def nctr_trend(
    session: Session, filters: FlowFilters, now: datetime, tz: str, days: int = 28
) -> list[TrendDay]:
    """G&A patients with no criteria to reside at 08:00 local on each of the last
    ``days`` days (today's only once 08:00 has passed), by pathway and by delay
    reason.

    Counted from the stays: admitted by then, not discharged by then, and no
    criteria to reside since before then, with the stay's pathway as it stands (a
    patient who met the criteria again before discharge is not counted)."""
    zone = ZoneInfo(tz)
    today = to_local(now, zone).date()
    snaps = []
    for back in range(days - 1, -1, -1):
        d = today - timedelta(days=back)
        at = ensure_utc(
            datetime(d.year, d.month, d.day, TREND_SNAPSHOT_HOUR, tzinfo=zone)
        )
        if at <= now:
            snaps.append((d, at))
    if not snaps:
        return []
    first, last = snaps[0][1], snaps[-1][1]
    ready = InpatientStay.medically_ready_at
    rows = session.execute(
        _stays(filters)
        .with_only_columns(
            InpatientStay.admitted_at,
            ready,
            InpatientStay.discharged_at,
            InpatientStay.discharge_pathway,
            InpatientStay.delay_reason,
        )
        .where(
            ready.is_not(None),
            ready <= last,
            InpatientStay.admitted_at <= last,
            or_(
                InpatientStay.discharged_at.is_(None),
                InpatientStay.discharged_at > first,
            ),
        )
    ).all()
    stays = [
        (
            ensure_utc(a),
            ensure_utc(r),
            ensure_utc(out) if out else None,
            p or "not recorded",
            why or "not recorded",
        )
        for a, r, out, p, why in rows
    ]
    began = session.scalar(select(func.min(BedEvent.at)))
    trend = []
    for d, at in snaps:
        counts: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for admitted, since, out, pathway, reason in stays:
            if admitted <= at and since <= at and (out is None or out > at):
                counts[pathway] = counts.get(pathway, 0) + 1
                reasons[reason] = reasons.get(reason, 0) + 1
        covered = began is not None and ensure_utc(began) <= at
        trend.append(TrendDay(d, at, counts, sum(counts.values()), reasons, covered))
    return trend
