"""Wall displays as plain values: profiles, display access, what a wall shows.

A profile says what a television shows (scope, panels, grid or rotation, poll
interval, resolution hint); :func:`validate_profile` checks an admin's submission.
:func:`wall_opel` decides the OPEL level a wall shows: the stored assessment when
there is one, else the level calculated now from the same catalogue figures with the
same configuration, labelled as such. :func:`wall_alerts` picks the alerts of a
wall's scope. ``data.queries.display`` and ``data.writes.display`` store and read them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ops.opel import OpelConfig, score_opel

PANELS = ("opel_alerts", "bed_heatmap", "ed_board", "theatre_board", "protocols")
MODES = ("grid", "rotate")
RESOLUTIONS = ("1080p", "4k")

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


def needs_touch(access: DisplayAccess, now: datetime) -> bool:
    return access.last_used_at is None or now - access.last_used_at >= TOUCH_EVERY


# ---------------------------------------------------------------------------
# What a wall shows
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
    value: float | None = None
    unit: str = ""  # the metric's unit (ops.metrics.CATALOGUE); "level" for OPEL
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


def wall_opel(
    stored: Any | None,
    config: OpelConfig,
    value_of: Callable[[str], float | None],
    at: datetime,
) -> WallOpel:
    """The OPEL a wall shows: the stored assessment of its scope (an
    ``ops.alert_views.OpelView``) or, when there is none yet, the level scored now
    from the catalogue figures (``value_of(metric)``) with ``config``."""
    if stored is not None:
        return WallOpel(
            level=stored.level,
            source="assessed",
            assessed_at=stored.assessed_at,
            incomplete=stored.incomplete,
            parameters=stored.result.parameters,
        )
    result = score_opel(
        config, {p.metric: value_of(p.metric) for p in config.parameters}
    )
    return WallOpel(
        level=result.level,
        source="calculated",
        assessed_at=at,
        incomplete=result.incomplete,
        parameters=result.parameters,
    )


def wall_alerts(
    views: Iterable[Any],
    site: str | None,
    site_of: Mapping[tuple[str, str], str],
) -> list[WallAlert]:
    """The active alerts (``ops.alert_views.AlertView``) a wall of ``site`` (None:
    the trust) shows, in the given order; a site wall shows trust-wide alerts and its
    own. Acknowledged and silenced ones stay listed."""
    out = []
    for a in views:
        scope_site = site_of.get((a.scope_kind, a.scope_id), site)
        if site is not None and a.scope_kind != "trust" and scope_site != site:
            continue
        out.append(
            WallAlert(
                title=a.title,
                scope=a.scope_label,
                severity=a.severity,
                state=a.state,
                since=a.since,  # the Alerts page's "since" (the state's start)
                value=a.value,
                unit=a.unit,
                acknowledged=a.acknowledged,
                silenced=a.silenced,
                attention=a.needs_attention,
            )
        )
    return out


def wall_protocols(
    runs: Sequence[Any], site: str | None, site_name: str | None
) -> list[Any]:
    """Active runs (``ops.protocol_runs.BannerRun``) a wall shows: all of them on the
    trust wall (``site`` None), trust-wide runs and the site's own on a site's."""
    if site is None:
        return list(runs)
    return [r for r in runs if r.scope in ("Trust-wide", site_name)]
