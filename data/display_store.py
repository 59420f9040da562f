"""Wall displays: profiles, display tokens, and the one read pass a wall refresh makes.

* Profiles (``display_profile``) say what a television shows: scope (the trust or one
  site), panels, grid or rotation, poll interval and a resolution hint. Admins edit
  them; every change is audited.
* Display tokens (``display_token``) let an unattended screen open ``/wall`` without
  signing in. Only a SHA-256 of the token is stored; it is shown once when issued.
  The request guard (``callbacks/identity.py``) checks the token on every request, so
  revoking it stops the display at its next poll.
* :func:`read_wall` gathers everything one refresh shows, reusing the feature queries
  (catalogue metrics, bed occupancy, ED areas, theatre board, protocol runs, alerts
  and OPEL when those stores are installed).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, inspect, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from data.audit import record_audit
from data.db import write_session
from data.models.capacity import Site
from data.models.wall import MODES, PANELS, RESOLUTIONS, DisplayProfile, DisplayToken
from data.queries.metrics import MetricSnapshot, shared_snapshot

log = logging.getLogger(__name__)

TOKEN_PREFIX = "wall_"
# last_used_at is written at most this often per token (a poll every few seconds
# must not become a write every few seconds).
TOUCH_EVERY = timedelta(seconds=60)
POLL_LIMITS = (2, 600)
ROTATE_LIMITS = (5, 600)
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

PANEL_LABELS: dict[str, str] = {
    "opel_alerts": "OPEL and alerts",
    "bed_heatmap": "Beds",
    "ed_board": "Emergency department",
    "theatre_board": "Theatres",
    "protocols": "Surge protocols",
}
MODE_LABELS = {
    "grid": "Grid (all panels at once)",
    "rotate": "Rotate (one panel at a time)",
}
RESOLUTION_LABELS = {"1080p": "1920 × 1080 (HD)", "4k": "3840 × 2160 (4K)"}

DEFAULT_PROFILES: tuple[dict[str, Any], ...] = (
    {"slug": "trust-overview", "name": "Trust overview", "scope": "trust",
     "panels": ["opel_alerts", "bed_heatmap", "ed_board", "theatre_board", "protocols"],
     "mode": "grid", "rotate_seconds": 20, "poll_seconds": 30, "resolution": "1080p"},
    {"slug": "rgh-beds", "name": "Riverside beds", "scope": "RGH",
     "panels": ["bed_heatmap", "ed_board", "protocols"],
     "mode": "rotate", "rotate_seconds": 20, "poll_seconds": 30, "resolution": "1080p"},
)  # fmt: skip


class DisplayStoreError(Exception):
    """A refused profile or token change; the message is safe to show."""


class ProfileConflict(DisplayStoreError):
    """Someone else changed the profile since it was read."""


# ---------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileSpec:
    """A validated profile as the admin form submits it."""

    slug: str
    name: str
    scope: str
    panels: tuple[str, ...]
    mode: str
    rotate_seconds: int
    poll_seconds: int
    resolution: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "scope": self.scope,
            "panels": list(self.panels),
            "mode": self.mode,
            "rotate_seconds": self.rotate_seconds,
            "poll_seconds": self.poll_seconds,
            "resolution": self.resolution,
        }


@dataclass(frozen=True)
class ProfileInfo(ProfileSpec):
    id: int = 0
    version: int = 1
    updated_at: datetime | None = None

    @property
    def rotates(self) -> bool:
        return self.mode == "rotate" and len(self.panels) > 1


def _int_in(value: object, limits: tuple[int, int], what: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DisplayStoreError(f"{what} must be a whole number of seconds.") from None
    lo, hi = limits
    if not lo <= number <= hi:
        raise DisplayStoreError(f"{what} must be between {lo} and {hi} seconds.")
    return number


def validate_profile(raw: Mapping[str, Any], site_codes: Sequence[str]) -> ProfileSpec:
    """Check a submitted profile; DisplayStoreError says what is wrong."""
    slug = str(raw.get("slug") or "").strip().lower()
    if not SLUG.match(slug):
        raise DisplayStoreError(
            "The short name may use lower-case letters, digits and hyphens (max 63)."
        )
    name = str(raw.get("name") or "").strip()
    if not name or len(name) > 120:
        raise DisplayStoreError("The display name is required (max 120 characters).")
    scope = str(raw.get("scope") or "trust").strip()
    if scope != "trust" and scope not in site_codes:
        raise DisplayStoreError(f"Unknown scope {scope!r}: use 'trust' or a site code.")
    chosen = raw.get("panels") or []
    if not isinstance(chosen, list | tuple) or not all(
        isinstance(p, str) for p in chosen
    ):
        raise DisplayStoreError("Choose the panels from the list.")
    panels = tuple(p for p in PANELS if p in set(chosen))
    unknown = set(chosen) - set(PANELS)
    if unknown:
        raise DisplayStoreError(f"Unknown panels: {', '.join(sorted(unknown))}.")
    if not panels:
        raise DisplayStoreError("Choose at least one panel.")
    mode = str(raw.get("mode") or "grid")
    if mode not in MODES:
        raise DisplayStoreError("The mode must be grid or rotate.")
    resolution = str(raw.get("resolution") or "1080p")
    if resolution not in RESOLUTIONS:
        raise DisplayStoreError("The resolution must be 1080p or 4k.")
    return ProfileSpec(
        slug=slug,
        name=name,
        scope=scope,
        panels=panels,
        mode=mode,
        rotate_seconds=_int_in(
            raw.get("rotate_seconds", 20), ROTATE_LIMITS, "Rotation"
        ),
        poll_seconds=_int_in(raw.get("poll_seconds", 30), POLL_LIMITS, "Refresh"),
        resolution=resolution,
    )


def _info(row: DisplayProfile) -> ProfileInfo:
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


def ensure_default_profiles(session: Session, now: datetime) -> int:
    """Insert the default profiles when none exist (the migration seeds them too)."""
    if session.scalar(select(func.count(DisplayProfile.id))):
        return 0
    for spec in DEFAULT_PROFILES:
        session.add(DisplayProfile(**spec, created_at=now, updated_at=now, version=1))
    session.flush()
    return len(DEFAULT_PROFILES)


def list_profiles(session: Session) -> list[ProfileInfo]:
    rows = session.scalars(select(DisplayProfile).order_by(DisplayProfile.slug))
    return [_info(r) for r in rows]


def get_profile(session: Session, slug: str | None) -> ProfileInfo | None:
    """The profile called ``slug``; with no slug, the first profile by id."""
    stmt = select(DisplayProfile)
    stmt = (
        stmt.where(DisplayProfile.slug == slug)
        if slug
        else stmt.order_by(DisplayProfile.id).limit(1)
    )
    row = session.scalars(stmt).first()
    return _info(row) if row else None


def site_codes(session: Session) -> list[str]:
    return list(session.scalars(select(Site.code).order_by(Site.code)))


def save_profile(
    session: Session,
    spec: ProfileSpec,
    *,
    actor_username: str,
    actor_role: str,
    now: datetime,
    expected_version: int | None = None,
) -> ProfileInfo:
    """Create the profile ``spec.slug`` or update it (audited).

    ``expected_version`` (the version the editor read) makes a concurrent edit fail
    with :class:`ProfileConflict` instead of silently overwriting it.
    """
    row = session.scalars(
        select(DisplayProfile).where(DisplayProfile.slug == spec.slug)
    ).first()
    if row is None:
        row = DisplayProfile(
            **spec.as_dict(), created_at=now, updated_at=now, version=1
        )
        session.add(row)
        session.flush()
        record_audit(
            session, actor_username=actor_username, actor_role=actor_role,
            action="display_profile.create", entity_type="display_profile",
            entity_id=row.slug, after=spec.as_dict(), at=now,
        )  # fmt: skip
        return _info(row)
    if expected_version is not None and row.version != expected_version:
        raise ProfileConflict(
            f"The profile {spec.slug!r} was changed by someone else; reload and retry."
        )
    before = _info(row).as_dict()
    for key, value in spec.as_dict().items():
        setattr(row, key, value)
    row.updated_at = now
    row.version += 1
    session.flush()
    record_audit(
        session, actor_username=actor_username, actor_role=actor_role,
        action="display_profile.update", entity_type="display_profile",
        entity_id=row.slug, before=before, after=spec.as_dict(), at=now,
    )  # fmt: skip
    return _info(row)


# ---------------------------------------------------------------------------
# Display tokens
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    id: int
    profile_slug: str
    label: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class DisplayAccess:
    """What a display session may show: the token's profile, nothing else."""

    token_id: int
    profile_slug: str
    last_used_at: datetime | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    profile_slug: str,
    *,
    created_by: str,
    created_by_role: str,
    now: datetime,
    label: str = "",
) -> tuple[str, TokenInfo]:
    """A new display token for ``profile_slug``: (the token, shown once; its record)."""
    profile = session.scalars(
        select(DisplayProfile).where(DisplayProfile.slug == profile_slug)
    ).first()
    if profile is None:
        raise DisplayStoreError(f"There is no display profile {profile_slug!r}.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = DisplayToken(
        token_hash=hash_token(token),
        profile_id=profile.id,
        label=label.strip()[:120],
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session, actor_username=created_by, actor_role=created_by_role,
        action="display_token.issue", entity_type="display_token", entity_id=row.id,
        after={"profile": profile_slug, "label": row.label}, at=now,
    )  # fmt: skip
    return token, _token_info(row, profile_slug)


def _token_info(row: DisplayToken, slug: str) -> TokenInfo:
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


def needs_touch(access: DisplayAccess, now: datetime) -> bool:
    return access.last_used_at is None or now - access.last_used_at >= TOUCH_EVERY


def touch_token(session: Session, token_id: int, now: datetime) -> bool:
    """Record that the token was used (at most once per ``TOUCH_EVERY``)."""
    result = session.execute(
        update(DisplayToken)
        .where(
            DisplayToken.id == token_id,
            or_(
                DisplayToken.last_used_at.is_(None),
                DisplayToken.last_used_at <= now - TOUCH_EVERY,
            ),
        )
        .values(last_used_at=now)
    )
    return bool(result.rowcount)


def revoke_token(
    session: Session,
    token_id: int,
    *,
    revoked_by: str,
    revoked_by_role: str,
    now: datetime,
) -> TokenInfo:
    row = session.get(DisplayToken, token_id)
    if row is None:
        raise DisplayStoreError(f"There is no display token {token_id}.")
    slug = session.scalar(
        select(DisplayProfile.slug).where(DisplayProfile.id == row.profile_id)
    )
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_by = revoked_by
        session.flush()
        record_audit(
            session, actor_username=revoked_by, actor_role=revoked_by_role,
            action="display_token.revoke", entity_type="display_token", entity_id=row.id,
            before={"revoked_at": None}, after={"revoked_at": now.isoformat()}, at=now,
        )  # fmt: skip
    return _token_info(row, slug or "")


def list_tokens(session: Session) -> list[TokenInfo]:
    rows = session.execute(
        select(DisplayToken, DisplayProfile.slug)
        .join(DisplayProfile, DisplayProfile.id == DisplayToken.profile_id)
        .order_by(DisplayToken.revoked_at.is_not(None), DisplayToken.id.desc())
    ).all()
    return [_token_info(r, slug) for r, slug in rows]


def issue_display_token_cli(
    factory: sessionmaker[Session], profile_slug: str, now: datetime, label: str = ""
) -> str:
    """For ``flask --app app issue-display-token <profile>``: audited as the CLI."""
    with write_session(factory) as session:
        token, _ = issue_token(
            session, profile_slug, created_by="cli", created_by_role="admin", now=now,
            label=label or "issued from the command line",
        )  # fmt: skip
    return token


# ---------------------------------------------------------------------------
# The wall's read pass
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WallOpel:
    level: int | None
    source: str  # "assessed" (stored by the OPEL evaluator) or "calculated" (live)
    assessed_at: datetime | None
    incomplete: bool
    parameters: tuple[Any, ...] = ()  # ops.opel.ParameterScore-like rows


@dataclass(frozen=True)
class WallAlert:
    title: str
    scope: str
    severity: str  # info, warning, critical
    state: str  # firing, no_data, error ...
    since: datetime | None
    value: str | None = None
    acknowledged: bool = False
    silenced: bool = False
    attention: bool | None = None  # the alert store's verdict when it gives one

    @property
    def needs_attention(self) -> bool:
        """Firing, no-data and error alerts not acknowledged and not silenced."""
        if self.attention is not None:
            return self.attention
        loud = self.state in ("firing", "no_data", "error")
        return loud and not (self.acknowledged or self.silenced)


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
    theatres: list[Any] = field(default_factory=list)  # data.queries.theatres.BoardRow
    protocols: list[Any] = field(default_factory=list)  # protocol_store.BannerRun
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

        start, end = window_for(now, tz, 1)
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


def _alert_store() -> Any | None:
    """The alerts/OPEL store (another team's feature); None while it is not installed."""
    try:
        return importlib.import_module("data.queries.alerts")
    except ImportError:
        return None


def _has_table(session: Session, name: str) -> bool:
    try:
        return inspect(session.get_bind()).has_table(name)
    except Exception:
        return False


def _opel(
    session: Session, kind: str, scope_id: str, snap: MetricSnapshot, data: WallData
) -> WallOpel | None:
    """The latest stored OPEL assessment of the scope (``alert_store.latest_opel``, the
    OPEL evaluator's); when there is none yet, the level calculated now from the same
    catalogue figures with the same configuration, labelled as such."""
    from ops.opel import load_opel_config, score_opel

    alerts = _alert_store()
    if alerts is not None and _has_table(session, "opel_assessment"):
        try:
            found = next(
                (v for v in alerts.latest_opel(session)
                 if v.scope_kind == kind and v.scope_id == scope_id),
                None,
            )  # fmt: skip
        except Exception as exc:  # fall back to the live calculation
            log.warning("wall: stored OPEL unreadable: %s", exc.__class__.__name__)
            data.notes.append("stored OPEL level unreadable")
            found = None
        if found is not None:
            return WallOpel(
                level=found.level,
                source="assessed",
                assessed_at=found.assessed_at,
                incomplete=found.incomplete,
                parameters=found.result.parameters,
            )
    try:
        config = load_opel_config()
        values = {
            p.metric: snap.get(p.metric, kind, scope_id) for p in config.parameters
        }
        result = score_opel(config, values)
    except Exception as exc:
        log.warning("wall: OPEL not calculable: %s", exc.__class__.__name__)
        return None
    return WallOpel(
        level=result.level,
        source="calculated",
        assessed_at=snap.at,
        incomplete=result.incomplete,
        parameters=result.parameters,
    )


def _alerts(
    session: Session, now: datetime, site: str | None, data: WallData
) -> list[WallAlert]:
    """Active alerts (``alert_store.current_alerts``) of the wall's scope, in the
    store's order (most urgent first); acknowledged and silenced ones stay listed."""
    alerts = _alert_store()
    if alerts is None or not _has_table(session, "alert"):
        return []
    try:
        views = alerts.current_alerts(session, now)
    except Exception as exc:
        log.warning("wall: alerts unreadable: %s", exc.__class__.__name__)
        data.notes.append("alerts could not be read")
        return []
    try:
        from components.alert_banner import format_alert_value
    except ImportError:  # pragma: no cover - shipped together with the store

        def format_alert_value(value: float | None, unit: str) -> str:
            return "" if value is None else f"{value:g}"

    out = []
    for a in views:
        scope_site = data.snapshot.site_of.get((a.scope_kind, a.scope_id), site)
        if site is not None and a.scope_kind != "trust" and scope_site != site:
            continue
        out.append(
            WallAlert(
                title=a.title,
                scope=a.scope_label,
                severity=a.severity,
                state=a.state,
                since=a.active_since or a.since,
                value=None if a.value is None else format_alert_value(a.value, a.unit),
                acknowledged=a.acknowledged,
                silenced=a.silenced,
                attention=a.needs_attention,
            )
        )
    return out
