"""Every catalogue metric (ops.metrics.CATALOGUE) for every scope, in a few SQL passes.

One call gives the figures the overview tiles, the read API, the alert evaluator and
the OPEL engine all use, so a number means the same everywhere. Counts are aggregated
in SQL; percentages and medians use the single definitions in ``ops.metrics``.

Scope ids: trust -> trust code, site -> site code, ward -> str(ward id),
ed_area -> "<site code>-<area code>", theatre_suite -> "<site code>-<suite name>",
feed -> feed name.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from data.models.alerts import AlertEvent, OpelAssessment
from data.models.capacity import (
    Bed,
    EdArea,
    EdAttendance,
    InpatientStay,
    Site,
    Theatre,
    TheatreCase,
    TheatreSession,
    Trust,
    Ward,
)
from data.models.security import AuditEvent
from data.models.system import FeedStatus
from data.queries.feeds import BEDS, ED, THEATRES, reported_domains
from data.queries.sql import seconds_between, utc_hour
from ops.metrics import four_hour_pct, median_minutes, occupancy_pct, ratio_pct
from ops.timeutil import (
    local_day_bounds_utc,
    local_day_start_utc,
    local_midnight_utc,
    to_local,
)

GA_WARD_TYPES = ("general_acute", "assessment", "escalation")
OPEN_STATES = ("occupied", "available", "awaiting_clean")
USUAL_WEEKS = 8

Key = tuple[str, str, str]  # (metric, scope kind, scope id)


@dataclass
class MetricSnapshot:
    at: datetime
    as_of: datetime | None
    values: dict[Key, float | None] = field(default_factory=dict)
    # Domains (data.queries.feeds.DOMAINS) no feed has reported yet: their figures
    # are None ("no data yet"), however the organisation's beds stand.
    unreported: frozenset[str] = frozenset()
    labels: dict[tuple[str, str], str] = field(
        default_factory=dict
    )  # (kind, id) -> name
    site_of: dict[tuple[str, str], str] = field(
        default_factory=dict
    )  # scope -> site code

    def get(self, metric: str, kind: str, scope_id: str) -> float | None:
        return self.values.get((metric, kind, scope_id))

    def scopes(self, kind: str) -> list[str]:
        return sorted({sid for (k, sid) in self.labels if k == kind})

    def set(self, metric: str, kind: str, scope_id: str, value: float | None) -> None:
        self.values[(metric, kind, scope_id)] = None if value is None else float(value)


def snapshot_metrics(session: Session, now: datetime, tz: str) -> MetricSnapshot:
    zone = ZoneInfo(tz)
    midnight = local_midnight_utc(now, zone)
    snap = MetricSnapshot(
        at=now, as_of=session.scalar(select(func.max(FeedStatus.last_write_at)))
    )
    trust = session.execute(select(Trust.code, Trust.name).order_by(Trust.id)).first()
    trust_id = trust.code if trust else "trust"
    snap.labels[("trust", trust_id)] = trust.name if trust else "Trust"
    sites = {r.id: r for r in session.execute(select(Site.id, Site.code, Site.name))}
    for s in sites.values():
        snap.labels[("site", s.code)] = s.name
        snap.site_of[("site", s.code)] = s.code
    by_domain: dict[str, set[Key]] = defaultdict(set)
    for domain, compute in (
        (BEDS, lambda: _beds(session, now, snap, sites, trust_id)),
        (BEDS, lambda: _flow_beds(session, now, tz, snap, sites, trust_id)),
        (ED, lambda: _ed(session, now, midnight, zone, snap, sites, trust_id)),
        (ED, lambda: _flow_ed(session, now, snap, sites, trust_id)),
        (
            THEATRES,
            lambda: _theatres(session, zone, midnight, now, snap, sites, trust_id),
        ),
    ):
        before = set(snap.values)
        compute()
        by_domain[domain] |= set(snap.values) - before
    _feeds(session, now, snap)
    _no_data_until_reported(session, snap, by_domain)
    return snap


# -- one snapshot shared by the polls of a few seconds ----------------------------

SNAPSHOT_BUCKET_SECONDS = 5


class SnapshotCache:
    """A per-process memo of :func:`snapshot_metrics` for polling screens.

    Hundreds of screens poll the same figures; within one time bucket (5 s) and while
    the data has not changed they all get one computation. The key is (database,
    time zone, ``now`` floored to the bucket, :func:`data_version`): every writer
    touches its ``feed_status`` row (``data.writes.touch_feed``) with its write time,
    so a write changes the key and the next poll computes afresh. The key also holds
    the real-time bucket (``timer``), so a change made without touching
    ``feed_status`` shows within one bucket even while the trust clock stands still.
    The snapshot is taken at the bucket's start, so time-window figures ("since
    midnight", "> 12 h") may lag by up to the bucket length; its ``as_of`` is the
    newest write as always.

    Correctness does not depend on it: each process (gunicorn worker) keeps its own,
    and a miss just computes. Use it only with read sessions; a write transaction that
    changed figures must call :func:`snapshot_metrics` itself.
    """

    def __init__(
        self,
        bucket_seconds: int = SNAPSHOT_BUCKET_SECONDS,
        size: int = 8,
        timer: Callable[[], float] = time.time,
    ):
        self.bucket = timedelta(seconds=bucket_seconds)
        self.timer = timer
        self.size = size
        self._lock = threading.Lock()
        self._entries: dict[tuple, MetricSnapshot] = {}
        self._computing: dict[tuple, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, session: Session, now: datetime, tz: str) -> MetricSnapshot:
        at = _floor_to(now, self.bucket)
        bind = session.get_bind()
        real = int(self.timer() // self.bucket.total_seconds())
        key = (id(bind), str(bind.url), tz, at, real, data_version(session))
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self.hits += 1
                return found
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:  # one computation per key; concurrent callers wait for it
            with self._lock:
                found = self._entries.get(key)
                if found is not None:
                    self.hits += 1
                    return found
            snap = snapshot_metrics(session, at, tz)
            with self._lock:
                self.misses += 1
                self._entries[key] = snap
                while len(self._entries) > self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._computing.pop(key, None)
            return snap

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_SHARED = SnapshotCache()


def data_version(session: Session) -> tuple:
    """When each feed last wrote: changes with every write (each writer touches its
    ``feed_status`` row with its write time), the key of the read caches."""
    return tuple(
        session.execute(
            select(FeedStatus.feed, FeedStatus.last_write_at).order_by(FeedStatus.feed)
        ).all()
    )


def view_version(session: Session) -> tuple:
    """Changes with every write a screen can show: each feed's last write
    (:func:`data_version`), the newest audit event (every user's change is audited),
    alert transition and OPEL assessment. The key of the polling screens' memo."""
    newest = session.execute(
        select(
            select(func.max(AuditEvent.id)).scalar_subquery(),
            select(func.max(AlertEvent.id)).scalar_subquery(),
            select(func.max(OpelAssessment.id)).scalar_subquery(),
        )
    ).one()
    return (data_version(session), tuple(newest))


def shared_snapshot(session: Session, now: datetime, tz: str) -> MetricSnapshot:
    """:func:`snapshot_metrics` through this process's :class:`SnapshotCache`."""
    return _SHARED.get(session, now, tz)


def _floor_to(t: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=t.tzinfo)
    return epoch + ((t - epoch) // step) * step


# -- beds ---------------------------------------------------------------------


def _beds(
    session: Session, now: datetime, snap: MetricSnapshot, sites, trust_id: str
) -> None:  # noqa: ANN001
    rows = session.execute(
        select(
            Ward.id,
            Ward.site_id,
            Ward.name,
            Ward.ward_type,
            Bed.state,
            Bed.is_escalation,
            func.count(Bed.id),
        )
        # retired wards and beds (no longer in the organisation file) do not count
        .join(Bed, and_(Bed.ward_id == Ward.id, Bed.retired_at.is_(None)), isouter=True)
        .where(Ward.retired_at.is_(None))
        .group_by(
            Ward.id,
            Ward.site_id,
            Ward.name,
            Ward.ward_type,
            Bed.state,
            Bed.is_escalation,
        )
    ).all()
    Count = dict[str, int]
    ward: dict[str, Count] = defaultdict(lambda: defaultdict(int))
    site: dict[str, Count] = defaultdict(lambda: defaultdict(int))
    trust: Count = defaultdict(int)
    for ward_id, site_id, name, ward_type, state, esc, n in rows:
        code = sites[site_id].code
        wid = str(ward_id)
        snap.labels[("ward", wid)] = name
        snap.site_of[("ward", wid)] = code
        if state is None:
            continue
        keys = [state]
        if ward_type in GA_WARD_TYPES:
            keys.append(f"ga_{state}")
        if esc and state in OPEN_STATES:
            keys.append("esc_open")
        for target in (ward[wid], site[code], trust):
            for k in keys:
                target[k] += n
    for wid in [k[1] for k in snap.labels if k[0] == "ward"]:
        c = ward[wid]
        snap.set("beds_available", "ward", wid, c["available"])
        ga_open = sum(c[f"ga_{s}"] for s in OPEN_STATES)
        snap.set(
            "ga_occupancy_pct", "ward", wid, occupancy_pct(c["ga_occupied"], ga_open)
        )
    nctr = dict(
        session.execute(
            select(InpatientStay.site_id, func.count(InpatientStay.id))
            .where(
                InpatientStay.discharged_at.is_(None),
                InpatientStay.medically_ready_at <= now,
            )
            .group_by(InpatientStay.site_id)
        ).all()
    )
    scopes = [
        ("site", sites[sid].code, site[sites[sid].code], nctr.get(sid, 0))
        for sid in sites
    ]
    scopes.append(("trust", trust_id, trust, sum(nctr.values())))
    for kind, sid, c, nctr_n in scopes:
        ga_open = sum(c[f"ga_{s}"] for s in OPEN_STATES)
        snap.set(
            "ga_occupancy_pct", kind, sid, occupancy_pct(c["ga_occupied"], ga_open)
        )
        snap.set("beds_available", kind, sid, c["available"])
        snap.set("escalation_beds_open", kind, sid, c["esc_open"])
        # OPEL parameter 8: open escalation beds / all open beds (docs/decisions.md)
        all_open = sum(c[s] for s in OPEN_STATES)
        snap.set("escalation_beds_pct", kind, sid, ratio_pct(c["esc_open"], all_open))
        snap.set("nctr_pct", kind, sid, ratio_pct(nctr_n, c["occupied"]))
        snap.set("nctr_count", kind, sid, nctr_n)
        for state in ("occupied", "awaiting_clean", "blocked", "closed"):
            snap.set(f"beds_{state}", kind, sid, c[state])


def _flow_scopes(sites, trust_id: str):  # noqa: ANN001, ANN202
    from data.queries.flow import FlowFilters

    yield "trust", trust_id, FlowFilters()
    for s in sites.values():
        yield "site", s.code, FlowFilters(site=s.code)


def _flow_beds(
    session: Session, now: datetime, tz: str, snap: MetricSnapshot, sites, trust_id
) -> None:  # noqa: ANN001
    """The Flow page's bed-gap figures (one definition: ``data.queries.flow``)."""
    from data.queries.flow import bed_gap

    for kind, sid, filters in _flow_scopes(sites, trust_id):
        gap = bed_gap(session, filters, now, tz, with_waiting=False)
        snap.set("ga_beds_free", kind, sid, gap.available)
        snap.set("expected_discharges_today", kind, sid, gap.expected_today)
        snap.set("discharges_today", kind, sid, gap.discharged_today)


def _flow_ed(
    session: Session, now: datetime, snap: MetricSnapshot, sites, trust_id
) -> None:  # noqa: ANN001
    from data.queries.flow import waiting_for_bed

    for kind, sid, filters in _flow_scopes(sites, trust_id):
        snap.set(
            "waiting_for_bed", kind, sid, waiting_for_bed(session, filters, now)[0]
        )


# -- ED -----------------------------------------------------------------------


def _ed(
    session: Session,
    now: datetime,
    midnight: datetime,
    zone: ZoneInfo,
    snap: MetricSnapshot,
    sites,
    trust_id: str,
) -> None:  # noqa: ANN001
    A = EdAttendance
    areas = session.execute(
        select(EdArea.id, EdArea.site_id, EdArea.code, EdArea.name, EdArea.spaces)
    ).all()
    area_key = {a.id: f"{sites[a.site_id].code}-{a.code}" for a in areas}
    for a in areas:
        key = area_key[a.id]
        snap.labels[("ed_area", key)] = f"{sites[a.site_id].code} {a.name}"
        snap.site_of[("ed_area", key)] = sites[a.site_id].code

    in_dept = and_(A.arrival_at <= now, A.departure_at.is_(None))
    handed = case((and_(A.mode == "ambulance", A.handover_at.is_(None)), 0), else_=1)
    now_rows = session.execute(
        select(
            A.site_id,
            A.area_id,
            func.count(A.id),
            func.sum(case((A.seen_at.is_(None), 1), else_=0)),
            func.sum(case((A.arrival_at < now - timedelta(hours=12), 1), else_=0)),
            func.sum(handed),
            func.sum(
                case(
                    (
                        and_(
                            A.mode == "ambulance",
                            A.handover_at.is_(None),
                            A.arrival_at < now - timedelta(minutes=30),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(
                case((and_(A.mode == "ambulance", A.handover_at.is_(None)), 1), else_=0)
            ),
        )
        .where(in_dept)
        .group_by(A.site_id, A.area_id)
    ).all()
    per_site: dict[str, dict[str, float]] = {
        s.code: defaultdict(float) for s in sites.values()
    }
    per_area: dict[str, int] = defaultdict(int)
    for site_id, area_id, n, waiting, over12, in_space, amb30, amb_wait in now_rows:
        c = per_site[sites[site_id].code]
        c["in"] += n
        c["waiting"] += waiting or 0
        c["over12"] += over12 or 0
        c["amb30"] += amb30 or 0
        c["amb_wait"] += amb_wait or 0
        area_code = area_key[area_id].split("-", 1)[1]
        if area_code in ("majors", "resus"):
            c["mr_in"] += in_space or 0
        per_area[area_key[area_id]] += int(in_space or 0)
    for a in areas:
        c = per_site[sites[a.site_id].code]
        if a.code in ("majors", "resus"):
            c["mr_spaces"] += a.spaces
        key = area_key[a.id]
        snap.set("ed_in_department", "ed_area", key, per_area.get(key, 0))
        snap.set(
            "ed_area_occupancy_pct",
            "ed_area",
            key,
            occupancy_pct(per_area.get(key, 0), a.spaces),
        )

    def departures(
        since: datetime, *, from_midnight: bool
    ) -> dict[int, tuple[int, int]]:
        # "today" is the local calendar day, [midnight, now]: a departure at 00:00:00
        # belongs to the new day; the rolling 24 h window is (now - 24 h, now].
        after = A.departure_at >= since if from_midnight else A.departure_at > since
        rows = session.execute(
            select(
                A.site_id,
                func.count(A.id),
                func.sum(
                    case(
                        (seconds_between(A.arrival_at, A.departure_at) <= 4 * 3600, 1),
                        else_=0,
                    )
                ),
            )
            .where(after, A.departure_at <= now)
            .group_by(A.site_id)
        ).all()
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}

    today = departures(midnight, from_midnight=True)
    rolling = departures(now - timedelta(hours=24), from_midnight=False)
    handovers = {
        r[0]: r[1:]
        for r in session.execute(
            select(
                A.site_id,
                func.sum(
                    case(
                        (
                            and_(
                                A.handover_at >= midnight,
                                seconds_between(A.arrival_at, A.handover_at) > 1800,
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
                func.sum(
                    case(
                        (
                            and_(
                                A.handover_at >= midnight,
                                seconds_between(A.arrival_at, A.handover_at) > 3600,
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
                func.avg(
                    case(
                        (
                            A.handover_at > now - timedelta(hours=4),
                            seconds_between(A.arrival_at, A.handover_at),
                        ),
                        else_=None,
                    )
                ),
            )
            .where(
                A.mode == "ambulance",
                A.handover_at >= min(midnight, now - timedelta(hours=4)),
                A.handover_at <= now,
            )
            .group_by(A.site_id)
        ).all()
    }
    seen_minutes: dict[int, list[float]] = defaultdict(list)
    for site_id, minutes in session.execute(
        select(A.site_id, seconds_between(A.arrival_at, A.seen_at) / 60.0).where(
            A.seen_at >= midnight, A.seen_at <= now
        )
    ):
        seen_minutes[site_id].append(float(minutes))
    arrivals_today = dict(
        session.execute(
            select(A.site_id, func.count(A.id))
            .where(A.arrival_at >= midnight, A.arrival_at <= now)
            .group_by(A.site_id)
        ).all()
    )
    expected = usual_arrivals_by_now(session, now, zone)

    totals: dict[str, float] = defaultdict(float)
    all_seen: list[float] = []
    handover_secs_sum, handover_n = 0.0, 0
    for site_id, s in sites.items():
        c = per_site[s.code]
        dep, within = today.get(site_id, (0, 0))
        rdep, rwithin = rolling.get(site_id, (0, 0))
        h30, h60, hmean = handovers.get(site_id, (0, 0, None))
        arr = arrivals_today.get(site_id, 0)
        exp = expected.get(site_id)
        values = {
            "ed_in_department": c["in"],
            "ed_waiting_to_be_seen": c["waiting"],
            "ed_over_12h_count": c["over12"],
            "ed_over_12h_pct": ratio_pct(c["over12"], c["in"]),
            "ed_4h_pct_today": four_hour_pct(within, dep),
            "ed_4h_pct_24h": four_hour_pct(rwithin, rdep),
            "majors_resus_occupancy_pct": occupancy_pct(c["mr_in"], c["mr_spaces"]),
            "median_time_to_treatment_min": median_minutes(
                seen_minutes.get(site_id, [])
            ),
            "handover_mean_min_4h": None if hmean is None else float(hmean) / 60.0,
            "handovers_over_30_today": h30 or 0,
            "handovers_over_60_today": h60 or 0,
            "ambulances_waiting": c["amb_wait"],
            "ambulances_waiting_over_30": c["amb30"],
            "ed_arrivals_today": arr,
            "ed_attendances_vs_expected_pct": ratio_pct(arr, exp),
        }
        for metric, value in values.items():
            snap.set(metric, "site", s.code, value)
        for k in ("in", "waiting", "over12", "mr_in", "mr_spaces", "amb30", "amb_wait"):
            totals[k] += c[k]
        totals["dep"] += dep
        totals["within"] += within
        totals["rdep"] += rdep
        totals["rwithin"] += rwithin
        totals["h30"] += h30 or 0
        totals["h60"] += h60 or 0
        totals["arr"] += arr
        totals["exp"] += exp or 0
        all_seen.extend(seen_minutes.get(site_id, []))
    for site_id, n in session.execute(
        select(A.site_id, func.count(A.id))
        .where(
            A.mode == "ambulance",
            A.handover_at > now - timedelta(hours=4),
            A.handover_at <= now,
        )
        .group_by(A.site_id)
    ):
        mean = handovers.get(site_id, (0, 0, None))[2]
        if mean is not None:
            handover_secs_sum += float(mean) * n
            handover_n += n
    t = totals
    trust_values = {
        "ed_in_department": t["in"],
        "ed_waiting_to_be_seen": t["waiting"],
        "ed_over_12h_count": t["over12"],
        "ed_over_12h_pct": ratio_pct(t["over12"], t["in"]),
        "ed_4h_pct_today": four_hour_pct(int(t["within"]), int(t["dep"])),
        "ed_4h_pct_24h": four_hour_pct(int(t["rwithin"]), int(t["rdep"])),
        "majors_resus_occupancy_pct": occupancy_pct(
            int(t["mr_in"]), int(t["mr_spaces"])
        ),
        "median_time_to_treatment_min": median_minutes(all_seen),
        "handover_mean_min_4h": (handover_secs_sum / handover_n / 60.0)
        if handover_n
        else None,
        "handovers_over_30_today": t["h30"],
        "handovers_over_60_today": t["h60"],
        "ambulances_waiting": t["amb_wait"],
        "ambulances_waiting_over_30": t["amb30"],
        "ed_arrivals_today": t["arr"],
        "ed_attendances_vs_expected_pct": ratio_pct(t["arr"], t["exp"] or None),
    }
    for metric, value in trust_values.items():
        snap.set(metric, "trust", trust_id, value)


def hourly_arrivals(
    session: Session, since: datetime, until: datetime
) -> list[tuple[int, datetime, int]]:
    """ED arrivals per site per UTC hour in [since, until): (site id, hour start UTC, count)."""
    from datetime import UTC

    hour = utc_hour(EdAttendance.arrival_at)
    rows = session.execute(
        select(EdAttendance.site_id, hour, func.count(EdAttendance.id))
        .where(EdAttendance.arrival_at >= since, EdAttendance.arrival_at < until)
        .group_by(EdAttendance.site_id, hour)
    ).all()
    return [
        (site_id, datetime.strptime(h, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC), int(n))
        for site_id, h, n in rows
    ]


def usual_arrivals_by_now(
    session: Session, now: datetime, zone: ZoneInfo
) -> dict[int, float]:
    """Mean arrivals from local midnight to this local time on the last 8 same weekdays.

    Windows are local-time, so a clock-change day compares like with like. A site with
    no history gets no entry (missing, not zero).
    """
    local_now = to_local(now, zone)
    windows = []
    for weeks in range(1, USUAL_WEEKS + 1):
        day = local_now.date() - timedelta(weeks=weeks)
        start = local_day_start_utc(day, zone)
        end = datetime.combine(day, local_now.time(), tzinfo=zone).astimezone(
            start.tzinfo
        )
        windows.append((start, end))
    counts: dict[int, list[int]] = defaultdict(lambda: [0] * len(windows))
    seen_hours: dict[int, set[int]] = defaultdict(set)
    A = EdAttendance
    for i, (start, end) in enumerate(windows):
        for site_id, n in session.execute(
            select(A.site_id, func.count(A.id))
            .where(A.arrival_at >= start, A.arrival_at < end)
            .group_by(A.site_id)
        ):
            counts[site_id][i] = int(n)
            seen_hours[site_id].add(i)
    out = {}
    for site_id, values in counts.items():
        used = [values[i] for i in sorted(seen_hours[site_id])]
        if used:
            out[site_id] = sum(used) / len(used)
    return out


# -- theatres and feeds ---------------------------------------------------------


def _theatres(
    session: Session,
    zone: ZoneInfo,
    midnight: datetime,
    now: datetime,
    snap: MetricSnapshot,
    sites,
    trust_id: str,
) -> None:  # noqa: ANN001
    next_midnight = local_day_bounds_utc(to_local(now, zone).date(), zone)[1]
    suites = session.execute(select(Theatre.site_id, Theatre.suite).distinct()).all()
    for site_id, suite in suites:
        key = f"{sites[site_id].code}-{suite}"
        snap.labels[("theatre_suite", key)] = f"{sites[site_id].code} {suite}"
        snap.site_of[("theatre_suite", key)] = sites[site_id].code
        snap.set("theatre_cancellations_today", "theatre_suite", key, 0)
    rows = session.execute(
        select(Theatre.site_id, Theatre.suite, func.count(TheatreCase.id))
        .join(TheatreSession, TheatreSession.id == TheatreCase.session_id)
        .join(Theatre, Theatre.id == TheatreSession.theatre_id)
        .where(
            TheatreCase.cancelled_at >= midnight,
            TheatreCase.cancelled_at <= now,
            # on the day of surgery: the list itself is today
            TheatreSession.planned_start >= midnight,
            TheatreSession.planned_start < next_midnight,
        )
        .group_by(Theatre.site_id, Theatre.suite)
    ).all()
    per_site: dict[str, int] = defaultdict(int)
    for site_id, suite, n in rows:
        snap.set(
            "theatre_cancellations_today",
            "theatre_suite",
            f"{sites[site_id].code}-{suite}",
            n,
        )
        per_site[sites[site_id].code] += n
    for s in sites.values():
        snap.set("theatre_cancellations_today", "site", s.code, per_site.get(s.code, 0))
    snap.set("theatre_cancellations_today", "trust", trust_id, sum(per_site.values()))


def _feeds(session: Session, now: datetime, snap: MetricSnapshot) -> None:
    newest = None
    for feed, at in session.execute(select(FeedStatus.feed, FeedStatus.last_write_at)):
        snap.labels[("feed", feed)] = feed
        snap.set("data_age_seconds", "feed", feed, (now - at).total_seconds())
        newest = at if newest is None or at > newest else newest


def _no_data_until_reported(
    session: Session, snap: MetricSnapshot, by_domain: dict[str, set[Key]]
) -> None:
    """A domain no feed has reported has no figures: beds described only by the
    organisation file are not a count of available beds, and no ED feed is not an
    empty department."""
    reported = reported_domains(session)
    snap.unreported = frozenset(d for d in by_domain if d not in reported)
    for domain in snap.unreported:
        for key in by_domain[domain]:
            snap.values[key] = None
