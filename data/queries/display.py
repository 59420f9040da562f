"""Wall displays as stored: profiles, display tokens, and the one read pass a wall
refresh makes (:func:`read_wall`).

The request guard (``callbacks/identity.py``) checks a display token on every request
(:func:`resolve_token`, :func:`check_access`), so revoking it stops the display at its
next poll. :func:`read_wall` gathers everything one refresh shows, reusing the feature
queries (catalogue metrics, bed occupancy, ED areas, theatre board, protocol runs,
alerts and OPEL). The writes are in :mod:`data.writes.display`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from data.models.capacity import Site
from data.models.wall import DisplayProfile, DisplayToken
from data.queries.metrics import MetricSnapshot, shared_snapshot
from ops.display import (
    PANELS,
    TOKEN_PREFIX,
    DisplayAccess,
    ProfileInfo,
    TokenInfo,
    WallAlert,
    WallOpel,
    hash_token,
    wall_alerts,
    wall_opel,
    wall_protocols,
)

log = logging.getLogger(__name__)


def profile_info(row: DisplayProfile) -> ProfileInfo:
    return ProfileInfo(
        slug=row.slug,
        name=row.name,
        scope=row.scope,
        panels=tuple(p for p in row.panels or () if p in PANELS),
        mode=row.mode,
        rotate_seconds=row.rotate_seconds,
        poll_seconds=row.poll_seconds,
        resolution=row.resolution,
        id=row.id,
        version=row.version,
        updated_at=row.updated_at,
    )


def list_profiles(session: Session) -> list[ProfileInfo]:
    rows = session.scalars(select(DisplayProfile).order_by(DisplayProfile.slug))
    return [profile_info(r) for r in rows]


def get_profile(session: Session, slug: str | None) -> ProfileInfo | None:
    """The profile called ``slug``; with no slug, the first profile by id."""
    stmt = select(DisplayProfile)
    stmt = (
        stmt.where(DisplayProfile.slug == slug)
        if slug
        else stmt.order_by(DisplayProfile.id).limit(1)
    )
    row = session.scalars(stmt).first()
    return profile_info(row) if row else None


def site_codes(session: Session) -> list[str]:
    return list(session.scalars(select(Site.code).order_by(Site.code)))


def token_info(row: DisplayToken, slug: str) -> TokenInfo:
    return TokenInfo(
        row.id, slug, row.label, row.created_by, row.created_at, row.revoked_at,
        row.revoked_by, row.last_used_at,
    )  # fmt: skip


def _live_access(session: Session, condition: Any) -> DisplayAccess | None:
    found = session.execute(
        select(DisplayToken.id, DisplayToken.last_used_at, DisplayProfile.slug)
        .join(DisplayProfile, DisplayProfile.id == DisplayToken.profile_id)
        .where(condition, DisplayToken.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    return DisplayAccess(found[0], found[2], found[1])


def resolve_token(session: Session, token: str) -> DisplayAccess | None:
    """The access a presented token gives, or None (unknown or revoked). Read-only."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return _live_access(session, DisplayToken.token_hash == hash_token(token))


def check_access(session: Session, token_id: int) -> DisplayAccess | None:
    """Re-check a display session's token by id (every request): None once revoked."""
    return _live_access(session, DisplayToken.id == token_id)


def list_tokens(session: Session) -> list[TokenInfo]:
    rows = session.execute(
        select(DisplayToken, DisplayProfile.slug)
        .join(DisplayProfile, DisplayProfile.id == DisplayToken.profile_id)
        .order_by(DisplayToken.revoked_at.is_not(None), DisplayToken.id.desc())
    ).all()
    return [token_info(r, slug) for r, slug in rows]


# ---------------------------------------------------------------------------
# The wall's read pass
# ---------------------------------------------------------------------------


@dataclass
class WallData:
    profile: ProfileInfo
    scope_kind: str  # "trust" or "site"
    scope_id: str  # trust code or site code
    scope_label: str
    snapshot: MetricSnapshot
    wards: list[Any] = field(default_factory=list)  # data.queries.beds.WardCounts
    occupancy: pd.DataFrame | None = None
    hours: list[datetime] = field(default_factory=list)
    ed_areas: list[Any] = field(default_factory=list)  # data.queries.ed.EdAreaRow
    theatres: list[Any] = field(default_factory=list)  # ops.theatres.BoardRow
    protocols: list[Any] = field(default_factory=list)  # ops.protocol_runs.BannerRun
    opel: WallOpel | None = None
    alerts: list[WallAlert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # parts that could not be read


def read_wall(
    session: Session, profile: ProfileInfo, now: datetime, tz: str
) -> WallData:
    """Everything one wall refresh shows, for the panels the profile has."""
    snap = shared_snapshot(session, now, tz)
    site = None if profile.scope == "trust" else profile.scope
    if site is None:
        trusts = snap.scopes("trust")
        kind, scope_id = "trust", (trusts[0] if trusts else "trust")
    else:
        kind, scope_id = "site", site
    data = WallData(
        profile=profile,
        scope_kind=kind,
        scope_id=scope_id,
        scope_label=snap.labels.get((kind, scope_id), scope_id),
        snapshot=snap,
    )
    panels = set(profile.panels)
    if "bed_heatmap" in panels:
        from data.queries import beds as bq

        filters = bq.BedFilters(site=site)
        data.wards = bq.ward_counts(session, filters)
        data.hours = bq.hour_window(now, "24h")
        data.occupancy = bq.ward_occupancy_hours(
            session, filters, data.hours[0], data.hours[-1]
        )
    if "ed_board" in panels:
        from data.queries.ed import ed_areas

        data.ed_areas = ed_areas(session, site)
    if "theatre_board" in panels:
        from data.queries import theatres as tq
        from ops.theatres import board, window_for

        start, end = window_for(now, tz, 2)  # yesterday's night list runs into today
        data.theatres = board(tq.load_window(session, start, end, site), now, tz)
    if "protocols" in panels:
        data.protocols = _protocols(session, now, site, data)
    data.opel = _opel(session, kind, scope_id, snap, data)
    data.alerts = _alerts(session, now, site, data)
    return data


def _protocols(
    session: Session, now: datetime, site: str | None, data: WallData
) -> list[Any]:
    from data.queries.protocols import active_run_summaries

    runs = active_run_summaries(session, now)
    if site is None:
        return runs
    # A site wall shows trust-wide runs and the site's own runs.
    site_name = data.snapshot.labels.get(("site", site))
    return [r for r in runs if r.scope in ("Trust-wide", site_name)]


def _protocols(
    session: Session, now: datetime, site: str | None, data: WallData
) -> list[Any]:
    from data.queries.protocols import active_run_summaries

    runs = active_run_summaries(session, now)
    return wall_protocols(runs, site, data.snapshot.labels.get(("site", site or "")))


def _has_table(session: Session, name: str) -> bool:
    try:
        return inspect(session.get_bind()).has_table(name)
    except Exception:
        return False


def _opel(
    session: Session, kind: str, scope_id: str, snap: MetricSnapshot, data: WallData
) -> WallOpel | None:
    """The scope's OPEL (:func:`ops.display.wall_opel`): the latest stored assessment
    (``data.queries.alerts.latest_opel``), else the level calculated now."""
    from data.queries.alerts import latest_opel
    from ops.opel import load_opel_config

    found = None
    if _has_table(session, "opel_assessment"):
        try:
            found = next(
                (v for v in latest_opel(session)
                 if v.scope_kind == kind and v.scope_id == scope_id),
                None,
            )  # fmt: skip
        except Exception as exc:  # fall back to the live calculation
            log.warning("wall: stored OPEL unreadable: %s", exc.__class__.__name__)
            data.notes.append("stored OPEL level unreadable")
    try:
        config = load_opel_config()
        return wall_opel(
            found, config, lambda metric: snap.get(metric, kind, scope_id), snap.at
        )
    except Exception as exc:
        log.warning("wall: OPEL not calculable: %s", exc.__class__.__name__)
        return None


def _alerts(
    session: Session, now: datetime, site: str | None, data: WallData
) -> list[WallAlert]:
    """Active alerts (``data.queries.alerts.current_alerts``) of the wall's scope, in
    the store's order (most urgent first)."""
    from data.queries.alerts import current_alerts

    if not _has_table(session, "alert"):
        return []
    try:
        views = current_alerts(session, now)
    except Exception as exc:
        log.warning("wall: alerts unreadable: %s", exc.__class__.__name__)
        data.notes.append("alerts could not be read")
        return []
    return wall_alerts(views, site, data.snapshot.site_of)
