"""Overview figures that are not catalogue metrics, aggregated in SQL.

The catalogue metrics (G&A occupancy, ED 4-hour, handovers, NCTR ...) come from
``data.queries.metrics.snapshot_metrics``; this module adds the breakdowns only the
overview shows: beds available by ward type, theatre lists running now and cases done
today. Three aggregate statements, whatever the number of wards or theatres.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from data.models.capacity import Bed, Site, Theatre, TheatreCase, TheatreSession, Ward
from ops.timeutil import local_day_bounds_utc, to_local

TRUST = "trust"  # key of the trust-wide totals in the dicts below
# No theatre list runs this long (as the Theatres page's settled sessions assume):
# the lower bound of the lists read for "running now / planned today".
LONGEST_LIST = timedelta(hours=24)


@dataclass
class OverviewExtras:
    """Per site code (and ``TRUST``): breakdowns beyond the metric catalogue."""

    available_by_type: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    lists_running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lists_planned_today: dict[str, int] = field(
        default_factory=lambda: defaultdict(int)
    )
    cases_done_today: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def overview_extras(
    session: Session, now: datetime, tz: str | ZoneInfo
) -> OverviewExtras:
    """Beds available by ward type, theatre lists running now, cases done today.

    - a list is running when it is not cancelled and ``planned_start <= now <
      planned_end`` (as on the Theatres page); a list runs less than a day
      (``LONGEST_LIST``), so only lists planned to start since a day before the
      earlier of midnight and now are read (an index range, whatever the history);
    - lists planned today: not cancelled, planned to start on the local day;
    - a case is done today when it came out of theatre since local midnight (a case
      out at 00:00:00 belongs to the new day: [midnight, now]).
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    midnight, next_midnight = local_day_bounds_utc(to_local(now, zone).date(), zone)
    out = OverviewExtras()
    codes = dict(session.execute(select(Site.id, Site.code)).all())

    for site_id, ward_type, n in session.execute(
        select(Ward.site_id, Ward.ward_type, func.count(Bed.id))
        .join(Bed, Bed.ward_id == Ward.id)
        .where(
            Bed.state == "available",
            Bed.retired_at.is_(None),
            Ward.retired_at.is_(None),
        )
        .group_by(Ward.site_id, Ward.ward_type)
    ):
        for key in (codes[site_id], TRUST):
            out.available_by_type[key][ward_type] += int(n)

    not_cancelled = TheatreSession.cancelled_reason.is_(None)
    running = and_(
        not_cancelled,
        TheatreSession.planned_start <= now,
        TheatreSession.planned_end > now,
    )
    for site_id, n_running, n_planned in session.execute(
        select(
            Theatre.site_id,
            func.coalesce(func.sum(case((running, 1), else_=0)), 0),
            func.coalesce(
                func.sum(
                    case(
                        (
                            and_(
                                not_cancelled, TheatreSession.planned_start >= midnight
                            ),
                            1,
                        ),
                        else_=0,
                    )
                ),
                0,
            ),
        )
        .join(TheatreSession, TheatreSession.theatre_id == Theatre.id)
        .where(
            TheatreSession.planned_start >= min(midnight, now) - LONGEST_LIST,
            TheatreSession.planned_start < next_midnight,
            TheatreSession.planned_end > min(midnight, now),
        )
        .group_by(Theatre.site_id)
    ):
        for key in (codes[site_id], TRUST):
            out.lists_running[key] += int(n_running)
            out.lists_planned_today[key] += int(n_planned)

    for site_id, n in session.execute(
        select(Theatre.site_id, func.count(TheatreCase.id))
        .join(TheatreSession, TheatreSession.id == TheatreCase.session_id)
        .join(Theatre, Theatre.id == TheatreSession.theatre_id)
        .where(
            TheatreCase.out_of_theatre_at >= midnight,
            TheatreCase.out_of_theatre_at <= now,
        )
        .group_by(Theatre.site_id)
    ):
        for key in (codes[site_id], TRUST):
            out.cases_done_today[key] += int(n)
    return out
