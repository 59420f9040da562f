"""Beds read queries: ward counts, hourly occupancy, one ward's beds.

Every function runs one SQL statement (aggregated in the database) and returns small
dataclasses or a DataFrame; nothing here issues a query per ward.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from data.models.capacity import OPEN_BED_STATES, Bed, Site, Ward, WardOccupancyHour
from ops.metrics import occupancy_pct

HOUR = timedelta(hours=1)

# Range selector values -> hours of history shown in the heatmap.
RANGES: dict[str, int] = {"24h": 24, "7d": 24 * 7, "28d": 24 * 28}
DEFAULT_RANGE = "24h"

COUNT_FIELDS = (
    "core_beds",
    "total_beds",
    "open_beds",
    "occupied",
    "available",
    "awaiting_clean",
    "blocked",
    "closed",
    "escalation_open",
)


@dataclass(frozen=True)
class BedFilters:
    """Ward filters from the URL; ``None`` means "all"."""

    site: str | None = None  # site code
    specialty: str | None = None
    ward_type: str | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> BedFilters:
        return cls(
            site=query.get("site") or None,
            specialty=query.get("specialty") or None,
            ward_type=query.get("type") or None,
        )

    def apply(self, stmt: Select) -> Select:
        """Restrict a statement that already joins ``Ward`` and ``Site``."""
        if self.site:
            stmt = stmt.where(Site.code == self.site)
        if self.specialty:
            stmt = stmt.where(Ward.specialty == self.specialty)
        if self.ward_type:
            stmt = stmt.where(Ward.ward_type == self.ward_type)
        return stmt


@dataclass(frozen=True)
class FilterOptions:
    sites: list[tuple[str, str]]  # (code, name)
    specialties: list[str]
    ward_types: list[str]


@dataclass(frozen=True)
class WardCounts:
    """Bed counts for one ward right now (from ``bed.state``)."""

    ward_id: int
    site_code: str
    site_name: str
    code: str
    name: str
    specialty: str
    ward_type: str
    core_beds: int
    total_beds: int
    open_beds: int  # occupied + available + awaiting clean
    occupied: int
    available: int
    awaiting_clean: int
    blocked: int
    closed: int
    escalation_open: int  # escalation beds in an open state

    @property
    def occupancy_pct(self) -> float | None:
        """Occupied / open beds; ``None`` when the ward has no open beds."""
        return occupancy_pct(self.occupied, self.open_beds)


@dataclass
class SiteCounts:
    """A site's totals over the wards that passed the filters."""

    code: str
    name: str
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0)
    )
    wards: list[WardCounts] = field(default_factory=list)

    @property
    def occupancy_pct(self) -> float | None:
        return occupancy_pct(self.counts["occupied"], self.counts["open_beds"])


@dataclass(frozen=True)
class BedRow:
    id: int
    label: str
    state: str
    state_since: datetime
    state_reason: str | None
    is_escalation: bool


@dataclass(frozen=True)
class WardBeds:
    ward_id: int
    site_code: str
    code: str
    name: str
    specialty: str
    ward_type: str
    beds: list[BedRow]


def filter_options(session: Session) -> FilterOptions:
    """The values the filter dropdowns offer (one query over ``ward``)."""
    rows = session.execute(
        select(Site.code, Site.name, Ward.specialty, Ward.ward_type)
        .join(
            Ward,
            and_(Ward.site_id == Site.id, Ward.retired_at.is_(None)),
            isouter=True,
        )
        .where(Site.retired_at.is_(None))
        .distinct()
    ).all()
    sites = sorted({(r.code, r.name) for r in rows})
    return FilterOptions(
        sites=sites,
        specialties=sorted({r.specialty for r in rows if r.specialty}),
        ward_types=sorted({r.ward_type for r in rows if r.ward_type}),
    )


def _count(condition) -> object:  # noqa: ANN001
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def ward_counts(
    session: Session, filters: BedFilters | None = None
) -> list[WardCounts]:
    """Current bed counts per ward, in one aggregated query.

    Wards without any bed rows are included with zero counts (outer join).
    """
    is_open = Bed.state.in_(OPEN_BED_STATES)
    stmt = (
        select(
            Ward.id,
            Site.code.label("site_code"),
            Site.name.label("site_name"),
            Ward.code,
            Ward.name,
            Ward.specialty,
            Ward.ward_type,
            Ward.core_beds,
            func.count(Bed.id).label("total_beds"),
            _count(is_open).label("open_beds"),
            _count(Bed.state == "occupied").label("occupied"),
            _count(Bed.state == "available").label("available"),
            _count(Bed.state == "awaiting_clean").label("awaiting_clean"),
            _count(Bed.state == "blocked").label("blocked"),
            _count(Bed.state == "closed").label("closed"),
            _count(and_(Bed.is_escalation, is_open)).label("escalation_open"),
        )
        .select_from(Ward)
        .join(Site, Site.id == Ward.site_id)
        # retired wards and beds (no longer in the organisation file) do not count
        .join(Bed, and_(Bed.ward_id == Ward.id, Bed.retired_at.is_(None)), isouter=True)
        .where(Ward.retired_at.is_(None))
        .group_by(
            Ward.id,
            Site.code,
            Site.name,
            Ward.code,
            Ward.name,
            Ward.specialty,
            Ward.ward_type,
            Ward.core_beds,
        )
        .order_by(Site.code, Ward.code)
    )
    stmt = (filters or BedFilters()).apply(stmt)
    return [
        WardCounts(
            ward_id=r.id,
            site_code=r.site_code,
            site_name=r.site_name,
            code=r.code,
            name=r.name,
            specialty=r.specialty,
            ward_type=r.ward_type,
            core_beds=int(r.core_beds),
            total_beds=int(r.total_beds),
            open_beds=int(r.open_beds),
            occupied=int(r.occupied),
            available=int(r.available),
            awaiting_clean=int(r.awaiting_clean),
            blocked=int(r.blocked),
            closed=int(r.closed),
            escalation_open=int(r.escalation_open),
        )
        for r in session.execute(stmt)
    ]


def by_site(wards: Iterable[WardCounts]) -> list[SiteCounts]:
    """Sum ward counts per site (the wards come from one :func:`ward_counts` call)."""
    out: dict[str, SiteCounts] = {}
    for w in wards:
        site = out.setdefault(w.site_code, SiteCounts(w.site_code, w.site_name))
        site.wards.append(w)
        for name in COUNT_FIELDS:
            site.counts[name] += getattr(w, name)
    return list(out.values())


def totals(wards: Iterable[WardCounts]) -> dict[str, int]:
    out = dict.fromkeys(COUNT_FIELDS, 0)
    for w in wards:
        for name in COUNT_FIELDS:
            out[name] += getattr(w, name)
    return out


def hour_window(now: datetime, range_key: str) -> list[datetime]:
    """The UTC hour starts shown for a range: the last N whole hours up to ``now``."""
    hours = RANGES.get(range_key, RANGES[DEFAULT_RANGE])
    last = now.replace(minute=0, second=0, microsecond=0)
    return [last - HOUR * i for i in range(hours - 1, -1, -1)]


def ward_occupancy_hours(
    session: Session, filters: BedFilters, start: datetime, end: datetime
) -> pd.DataFrame:
    """Hourly bed states per ward from ``ward_occupancy_hour`` for [start, end].

    Columns: ward_id, hour_start (UTC), occupied, open_beds. Only stored hours are
    returned; the figure builder shows the rest as gaps.
    """
    stmt = (
        select(
            WardOccupancyHour.ward_id,
            WardOccupancyHour.hour_start,
            WardOccupancyHour.occupied,
            (
                WardOccupancyHour.occupied
                + WardOccupancyHour.available
                + WardOccupancyHour.awaiting_clean
            ).label("open_beds"),
        )
        .join(Ward, Ward.id == WardOccupancyHour.ward_id)
        .join(Site, Site.id == Ward.site_id)
        .where(
            WardOccupancyHour.hour_start >= start, WardOccupancyHour.hour_start <= end
        )
    )
    rows = session.execute(filters.apply(stmt)).all()
    return pd.DataFrame(
        {
            "ward_id": [r[0] for r in rows],
            "hour_start": pd.to_datetime([r[1] for r in rows], utc=True),
            "occupied": [int(r[2]) for r in rows],
            "open_beds": [int(r[3]) for r in rows],
        }
    )


def ward_label(site_code: str, ward_code: str, ward_name: str) -> str:
    """How a ward is named on the heatmap axis and in the drill-down."""
    return f"{site_code} {ward_code} · {ward_name}"


def ward_beds(session: Session, ward_id: int) -> WardBeds | None:
    """One ward and its beds (one query); ``None`` for an unknown ward."""
    rows = session.execute(
        select(
            Ward.id.label("ward_id"),
            Site.code.label("site_code"),
            Ward.code,
            Ward.name,
            Ward.specialty,
            Ward.ward_type,
            Bed.id.label("bed_id"),
            Bed.label,
            Bed.state,
            Bed.state_since,
            Bed.state_reason,
            Bed.is_escalation,
        )
        .select_from(Ward)
        .join(Site, Site.id == Ward.site_id)
        .join(Bed, and_(Bed.ward_id == Ward.id, Bed.retired_at.is_(None)), isouter=True)
        .where(Ward.id == ward_id)
        .order_by(Bed.is_escalation, Bed.label)
    ).all()
    if not rows:
        return None
    first = rows[0]
    beds = [
        BedRow(
            r.bed_id,
            r.label,
            r.state,
            r.state_since,
            r.state_reason,
            bool(r.is_escalation),
        )
        for r in rows
        if r.bed_id is not None
    ]
    return WardBeds(
        first.ward_id,
        first.site_code,
        first.code,
        first.name,
        first.specialty,
        first.ward_type,
        beds,
    )
