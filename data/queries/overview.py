"""Overview figures per site: beds by state and ED now, aggregated in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from data.models.capacity import Bed, EdAttendance, Site, Ward


@dataclass
class SiteOverview:
    site_id: int
    code: str
    name: str
    beds: dict[str, int] = field(default_factory=dict)  # state -> count (all wards)
    ga_occupied: int = 0
    ga_open: int = 0
    ed_in_department: int = 0
    ed_waiting_to_be_seen: int = 0


def site_overview(session: Session) -> list[SiteOverview]:
    out: dict[int, SiteOverview] = {
        r.id: SiteOverview(r.id, r.code, r.name)
        for r in session.execute(select(Site.id, Site.code, Site.name).order_by(Site.code))
    }
    ga = Ward.ward_type.in_(("general_acute", "assessment", "escalation"))
    rows = session.execute(
        select(Ward.site_id, Bed.state, ga.label("ga"), func.count(Bed.id))
        .join(Ward, Ward.id == Bed.ward_id)
        .group_by(Ward.site_id, Bed.state, ga)
    )
    for site_id, state, is_ga, n in rows:
        site = out[site_id]
        site.beds[state] = site.beds.get(state, 0) + n
        if is_ga and state in ("occupied", "available", "awaiting_clean"):
            site.ga_open += n
            if state == "occupied":
                site.ga_occupied += n
    ed = session.execute(
        select(
            EdAttendance.site_id,
            func.count(EdAttendance.id),
            func.sum(case((EdAttendance.seen_at.is_(None), 1), else_=0)),
        )
        .where(and_(EdAttendance.departure_at.is_(None)))
        .group_by(EdAttendance.site_id)
    )
    for site_id, inside, waiting in ed:
        out[site_id].ed_in_department = inside
        out[site_id].ed_waiting_to_be_seen = int(waiting or 0)
    return list(out.values())
