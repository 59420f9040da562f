"""Wall display glue: the refresh, the self-recovery loop and the admin editor.

* :func:`refresh` reads everything a wall shows in one pass. A failed read never
  raises: it returns ``no_update`` for the figures (the last good ones stay on screen)
  and a *stale marker* in the status store, which ``assets/wall.js`` turns into the
  STALE banner with the figures' age, and into a slower poll (backoff).
* The status carries the app version and a build fingerprint (the same in every
  worker of one deployment: version + callback signatures + asset contents); when
  either changes, the page reloads itself.
* The admin callbacks (``/wall?admin=1``) edit profiles (EDIT_CONFIG) and issue or
  revoke display tokens (MANAGE_USERS); the store layer audits every change.
* :func:`display_callbacks` is the allow-list the request guard applies to display
  tokens: only these callback outputs may be called by an unattended screen.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, ctx, no_update
from flask import current_app, request

from callbacks import delta
from callbacks.beds import occupancy_breaks
from callbacks.common import freshness
from callbacks.hardening import declared_values
from callbacks.identity import PermissionDenied, display_access, require
from callbacks.router import parse_query
from components import chart_text, wall
from components.figures_beds import occupancy_matrix
from components.shell import IDS as SHELL
from data.db import write_session
from data.queries import display as reads
from data.queries.feeds import DOMAIN_LABELS
from data.runtime import current
from data.writes import display as writes
from jobs.worker import silent_since
from ops import display
from ops.alerting import tile_bands
from ops.permissions import Permission
from ops.timeutil import format_local

log = logging.getLogger(__name__)

IDS = wall.IDS
BUILD_KEY = "command_centre.wall_build"
DASH_APP_KEY = "command_centre.dash_app"
DISPLAY_OUTPUTS_KEY = "command_centre.display_outputs"
# Back-off of a failing display: the poll interval doubles per failed poll up to this.
MAX_POLL_MS = 60_000
# The STALE banner turns red when the figures on screen are older than this.
STALE_RED_SECONDS = 300


# ---------------------------------------------------------------------------
# Version and build fingerprint (identical in every worker of a deployment)
# ---------------------------------------------------------------------------


def _find_store(component: Any, component_id: str) -> Any:
    if getattr(component, "id", None) == component_id:
        return getattr(component, "data", None)
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            found = _find_store(child, component_id)
            if found is not None:
                return found
    return None


def build_info() -> tuple[str, str]:
    """(app version, build fingerprint), computed once per process.

    The version is the one the shell layout embeds (``SHELL.version``); the
    fingerprint hashes it with every callback's signature and the asset files, so it
    is the same in all workers running the same code and changes on a deployment.
    """
    cfg = current_app.config
    if BUILD_KEY not in cfg:
        app: Dash | None = current_app.extensions.get(DASH_APP_KEY)
        version = str(cfg.get("COMMAND_CENTRE_VERSION") or "")
        digest = hashlib.sha256()
        if app is not None:
            if not version:
                root = app.layout() if callable(app.layout) else app.layout
                version = str(_find_store(root, SHELL.version) or "")
            digest.update("\n".join(sorted(app.callback_map)).encode())
            folder = Path(app.config.assets_folder)
            for path in sorted(folder.glob("*.*")):
                if path.suffix in (".css", ".js"):
                    digest.update(path.name.encode() + path.read_bytes())
        digest.update(version.encode())
        cfg[BUILD_KEY] = (version, digest.hexdigest()[:16])
    return cfg[BUILD_KEY]


# ---------------------------------------------------------------------------
# Refresh
# ---------------------------------------------------------------------------

OUTPUT_COUNT = 8  # title, as-of, OPEL, alerts, panels, panels class, root class, status


def _profile_slug(search: str | None) -> str | None:
    access = display_access()
    if access is not None:  # a display token shows its own profile and nothing else
        return access.profile_slug
    return parse_query(search).get("display") or None


class _ReadFailed(Exception):
    """The wall's read pass failed (the database is away)."""


def _base(n: int | None, runtime: Any) -> dict[str, Any]:
    """The per-poll part of the status: poll counter, build, server time."""
    version, fingerprint = build_info()
    return {
        "n": n or 0,
        "version": version,
        "fingerprint": fingerprint,
        "server_now_ms": int(runtime.now().timestamp() * 1000),
        "tz": runtime.settings.timezone,
        "stale_red_s": STALE_RED_SECONDS,
        "max_poll_ms": MAX_POLL_MS,
    }


def _failed(base: Mapping[str, Any]) -> tuple:
    """Keep the last good figures; the browser shows STALE and backs off."""
    return (*[no_update] * (OUTPUT_COUNT - 1),
            {**base, "ok": False, "error": "The database cannot be reached"})  # fmt: skip


def _read_and_render(
    slug: str | None, viewport_height: float | None, runtime: Any, base: Mapping
) -> tuple:
    tz = runtime.settings.timezone
    try:
        with runtime.factory() as session:
            profile = reads.get_profile(session, slug)
            if profile is None:
                known = [p.slug for p in reads.list_profiles(session)]
            else:
                data = reads.read_wall(session, profile, runtime.now(), tz)
                worker_since = silent_since(session, runtime.now(), runtime.settings)
    except Exception as exc:
        log.warning(
            "wall refresh failed (%s): %s: %s", slug, exc.__class__.__name__, exc
        )
        raise _ReadFailed from exc
    if profile is None:
        return (
            "Wall display", "", None, [], wall.not_found(slug, known),
            wall.panels_class([], "grid"), wall.root_class("1080p"),
            {**base, "ok": True, "poll_ms": 30_000, "mode": "grid", "panels": 0},
        )  # fmt: skip
    return render(data, runtime, base, viewport_height, worker_since)


def refresh(
    n: int | None,
    search: str | None,
    _body_id: str | None = None,
    health: Mapping[str, Any] | None = None,
) -> tuple:
    """Everything on the wall from one read pass; a failed read keeps the screen."""
    runtime = current()
    base = _base(n, runtime)
    try:
        return _read_and_render(
            _profile_slug(search), (health or {}).get("viewportHeight"), runtime, base
        )
    except _ReadFailed:
        return _failed(base)


def poll(
    n: int | None,
    search: str | None,
    _body_id: str | None = None,
    health: Mapping[str, Any] | None = None,
    sent: list[str | None] | None = None,
) -> tuple:
    """The registered refresh: :func:`refresh` shared by every screen showing the
    same profile (``callbacks.delta``), sent as what changed for this screen; only
    the status (poll counter, server time) is made per poll."""
    runtime = current()
    base = _base(n, runtime)
    slug = _profile_slug(search)
    height = (health or {}).get("viewportHeight")
    try:
        rendered = delta.MEMO.get(
            delta.version_of(runtime),
            ("wall", slug, height),
            lambda: _read_and_render(slug, height, runtime, base),
        )
    except _ReadFailed:
        return (*_failed(base), no_update)
    delta.SENDER.remember(rendered)
    status = {**rendered.values[-1], **base}
    return delta.SENDER.reply(rendered, sent, {OUTPUT_COUNT - 1: status})


# Panels whose figures all come from one domain (data.queries.feeds.DOMAINS).
PANEL_DOMAIN = {"bed_heatmap": "beds", "ed_board": "ed", "theatre_board": "theatres"}


def render(
    data: reads.WallData,
    runtime: Any,
    base: Mapping[str, Any],
    viewport_height: float | None = None,
    worker_since: datetime | None = None,
) -> tuple:
    """The refresh outputs for a successful read (pure apart from the runtime clock);
    ``worker_since``: the background worker is silent since then (a notice first)."""
    now = runtime.now()
    tz = runtime.settings.timezone
    snap = data.snapshot
    profile = data.profile
    fresh = freshness(runtime, snap.as_of)
    age = (now - snap.as_of).total_seconds() if snap.as_of else None
    values = {m: v for (m, k, s), v in snap.values.items() if k == data.scope_kind
              and s == data.scope_id}  # fmt: skip
    show_site = data.scope_kind == "trust"
    bands = tile_bands(data.scope_kind)
    panels = []
    for key in profile.panels:
        domain = PANEL_DOMAIN.get(key)
        if domain in snap.unreported:
            panels.append(wall.no_data_panel(key, DOMAIN_LABELS[domain]))
        elif key == "bed_heatmap":
            breaks = occupancy_breaks()
            figures = wall.wall_heatmap(
                data.occupancy, data.wards, data.hours, tz,
                wall.font_scale(profile.resolution, viewport_height), show_site, breaks,
            )  # fmt: skip
            rows = wall.heatmap_rows(data.wards, show_site)
            text = chart_text.bed_occupancy_text(
                rows, occupancy_matrix(data.occupancy, rows, data.hours), data.hours,
                tz, *chart_text.occupancy_thresholds(tile_bands("site")),
            )  # fmt: skip
            panels.append(
                wall.beds_panel(values, fresh.status, figures, bands, text, breaks)
            )
        elif key == "ed_board":
            area_values = {
                a.scope_id: (snap.get("ed_in_department", "ed_area", a.scope_id),
                             snap.get("ed_area_occupancy_pct", "ed_area", a.scope_id))
                for a in data.ed_areas
            }  # fmt: skip
            panels.append(wall.ed_panel(values, data.ed_areas, area_values, fresh.status,
                                        show_site, bands))  # fmt: skip
        elif key == "theatre_board":
            panels.append(
                wall.theatre_panel(data.theatres, values, fresh.status, show_site)
            )
        elif key == "protocols":
            panels.append(wall.protocols_panel(data.protocols))
        elif key == "opel_alerts":
            panels.append(wall.opel_panel(data.opel, data.alerts, tz))
    opel = data.opel
    title = f"{profile.name} · {data.scope_label}"
    status = {
        **base,
        "ok": True,
        "poll_ms": profile.poll_seconds * 1000,
        "mode": "rotate" if profile.rotates else "grid",
        "rotate_ms": profile.rotate_seconds * 1000,
        "panels": len(panels),
        "data_status": fresh.status.value,
        "notes": data.notes,
        "read_at": format_local(now, tz, "%H:%M:%S"),
    }
    return (
        title,
        wall.asof_line(fresh.as_of_text, fresh.status, age),
        wall.opel_badge(opel.level if opel else None, opel.source if opel else None,
                        opel.incomplete if opel else False),
        wall.alert_band(data.alerts, now, tz, worker_since),
        panels,
        wall.panels_class(profile.panels, "rotate" if profile.rotates else "grid"),
        wall.root_class(profile.resolution),
        status,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Admin: profiles (EDIT_CONFIG) and display tokens (MANAGE_USERS)
# ---------------------------------------------------------------------------


def _denied(exc: PermissionDenied) -> Any:
    return wall.error_card(str(exc))


def load_admin(_refresh: int | None, _id: str | None = None) -> tuple:
    """Profile choices, scope choices, the profiles table and the token list."""
    try:
        require(Permission.EDIT_CONFIG)
    except PermissionDenied as exc:
        return [], [], [], _denied(exc), None
    runtime = current()
    try:
        with runtime.factory() as session:
            profiles = reads.list_profiles(session)
            sites = reads.site_codes(session)
            tokens = reads.list_tokens(session)
    except Exception as exc:
        log.error("wall admin read failed: %s", exc.__class__.__name__)
        return [], [], [], wall.error_card("Display profiles could not be read."), None
    choices = [{"label": f"{p.name} ({p.slug})", "value": p.slug} for p in profiles]
    scopes = [{"label": "Whole trust", "value": "trust"}] + [
        {"label": f"Site {c}", "value": c} for c in sites
    ]
    return (
        choices,
        scopes,
        choices,
        wall.profiles_table(profiles),
        wall.tokens_table(tokens, runtime.now(), runtime.settings.timezone),
    )


def pick_profile(slug: str | None) -> tuple:
    """Fill the form from the chosen profile (empty form for a new one)."""
    if not isinstance(slug, str) or not slug:
        panels = list(display.PANEL_LABELS)
        return "", "", "trust", panels, "grid", 20, 30, "1080p", None
    with current().factory() as session:
        p = reads.get_profile(session, slug)
    if p is None:
        return (no_update,) * 9
    return (p.slug, p.name, p.scope, list(p.panels), p.mode, p.rotate_seconds,
            p.poll_seconds, p.resolution, p.version)  # fmt: skip


def save_profile(
    _clicks: int | None,
    slug: str | None,
    name: str | None,
    scope: str | None,
    panels: list[str] | None,
    mode: str | None,
    rotate_seconds: Any,
    poll_seconds: Any,
    resolution: str | None,
    version: int | None,
    counter: int | None,
) -> tuple:
    try:
        actor = require(Permission.EDIT_CONFIG)
    except PermissionDenied as exc:
        return _denied(exc), no_update
    runtime = current()
    raw = {"slug": slug, "name": name, "scope": scope, "panels": panels or [], "mode": mode,
           "rotate_seconds": rotate_seconds, "poll_seconds": poll_seconds,
           "resolution": resolution}  # fmt: skip
    try:
        with write_session(runtime.factory) as session:
            spec = display.validate_profile(raw, reads.site_codes(session))
            existing = reads.get_profile(session, spec.slug)
            saved = writes.save_profile(
                session, spec, actor_username=actor.username, actor_role=actor.role,
                now=runtime.now(),
                expected_version=version
                if isinstance(version, int) and existing and existing.slug == slug
                else None,
            )  # fmt: skip
    except display.DisplayStoreError as exc:
        return wall.error_card(str(exc)), no_update
    return (
        dbc.Alert(f"Saved {saved.slug} (version {saved.version}).", color="success"),
        (counter if isinstance(counter, int) else 0) + 1,
    )


def issue_token(
    _clicks: int | None, slug: str | None, label: str | None, counter: int | None
) -> tuple:
    try:
        actor = require(Permission.MANAGE_USERS)
    except PermissionDenied as exc:
        return _denied(exc), no_update
    if not isinstance(slug, str) or not slug:
        return wall.error_card("Choose the profile the screen shows."), no_update
    label = label if isinstance(label, str) else ""
    runtime = current()
    try:
        with write_session(runtime.factory) as session:
            token, _ = writes.issue_token(
                session, slug, created_by=actor.username, created_by_role=actor.role,
                now=runtime.now(), label=label or "",
            )  # fmt: skip
    except display.DisplayStoreError as exc:
        return wall.error_card(str(exc)), no_update
    url = f"{request.host_url.rstrip('/')}/wall?token={token}"
    return wall.issued_token(token, url), (
        counter if isinstance(counter, int) else 0
    ) + 1


def revoke_token(clicks: list[int | None], counter: int | None) -> Any:
    if not isinstance(clicks, list) or not any(
        isinstance(c, int) and c > 0 for c in clicks
    ):
        return no_update
    try:
        actor = require(Permission.MANAGE_USERS)
    except PermissionDenied:
        return no_update
    triggered = ctx.triggered_id
    token_id = triggered.get("token") if isinstance(triggered, dict) else None
    if not isinstance(token_id, int):
        return no_update
    runtime = current()
    try:
        with write_session(runtime.factory) as session:
            writes.revoke_token(
                session, token_id, revoked_by=actor.username,
                revoked_by_role=actor.role, now=runtime.now(),
            )  # fmt: skip
    except display.DisplayStoreError:
        return no_update
    return (counter if isinstance(counter, int) else 0) + 1


# ---------------------------------------------------------------------------
# Registration and the display allow-list
# ---------------------------------------------------------------------------


def _as_declared(spec: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """A display may call this callback only with a body that is its declaration:
    outputs, inputs and state with the declared ids in the declared order."""

    def check(body: Mapping[str, Any]) -> bool:
        return declared_values(body, spec) is not None

    return check


def _renders_wall_only(spec: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """As :func:`_as_declared`, and for /wall only: the value Dash binds to the
    callback's declared ``pathname`` input (by position, as Dash binds it) is /wall."""
    key = (SHELL.url, "pathname")

    def check(body: Mapping[str, Any]) -> bool:
        values = declared_values(body, spec)
        if values is None or key not in values:
            return False
        path = values[key]
        return isinstance(path, str) and (path.rstrip("/") or "/") == "/wall"

    return check


def display_callbacks(
    app: Dash,
) -> dict[str, Callable[[Mapping[str, Any]], bool] | None]:
    """Callback outputs a display token may call -> an extra check of the request body.

    The router (renders the page, only for /wall), the shell's alert banner (only for
    /wall, where it is empty) and the wall refresh. Clientside
    callbacks never reach the server; the admin callbacks are not listed. Every
    check first confirms the request body is the callback's own declaration, so
    reordered or renamed inputs cannot carry another page's path past it.
    """
    allowed: dict[str, Callable[[Mapping[str, Any]], bool] | None] = {}
    for key, spec in app.callback_map.items():
        if f"{SHELL.page}.children" in key and f"{SHELL.nav}.children" in key:
            allowed[key] = _renders_wall_only(spec)
        elif key == f"{SHELL.banner}.children":
            # The alert banner fires on every page (shell poll + pathname); it is
            # read-only and renders nothing on chromeless /wall: allowed for /wall only.
            allowed[key] = _renders_wall_only(spec)
        elif f"{IDS.panels}.children" in key and f"{IDS.status}.data" in key:
            allowed[key] = _as_declared(spec)
    return allowed


def register(app: Dash) -> None:
    app.server.extensions[DASH_APP_KEY] = app
    app.callback(
        Output(IDS.title, "children"),
        Output(IDS.asof, "children"),
        Output(IDS.opel, "children"),
        Output(IDS.alerts, "children"),
        Output(IDS.panels, "children"),
        Output(IDS.panels, "className"),
        Output(IDS.body, "className"),
        Output(IDS.status, "data"),
        Output(IDS.sent, "data"),
        Input(IDS.poll, "n_intervals"),
        Input(SHELL.url, "search"),
        Input(IDS.body, "id"),
        State(IDS.health, "data"),
        State(IDS.sent, "data"),
    )(poll)
    # Recovery loop in the browser (assets/wall.js): backoff, reload on a new build.
    app.clientside_callback(
        ClientsideFunction("wall", "health"),
        Output(IDS.health, "data"),
        Output(IDS.poll, "interval"),
        Input(IDS.poll, "n_intervals"),
        Input(IDS.status, "data"),
        State(IDS.health, "data"),
        State(SHELL.version, "data"),
    )
    # Clock, STALE banner with the figures' age, rotation.
    app.clientside_callback(
        ClientsideFunction("wall", "tick"),
        Output(IDS.clock, "children"),
        Output(IDS.stale, "children"),
        Output(IDS.stale, "className"),
        Output(IDS.stage, "className"),
        Input(IDS.tick, "n_intervals"),
        State(IDS.health, "data"),
    )
    # Admin editor.
    app.callback(
        Output(IDS.admin_profile, "options"),
        Output(IDS.admin_scope, "options"),
        Output(IDS.admin_token_profile, "options"),
        Output(IDS.admin_profiles, "children"),
        Output(IDS.admin_tokens, "children"),
        Input(IDS.admin_refresh, "data"),
        Input(IDS.admin, "id"),
    )(load_admin)
    app.callback(
        Output(IDS.admin_slug, "value"),
        Output(IDS.admin_name, "value"),
        Output(IDS.admin_scope, "value"),
        Output(IDS.admin_panels, "value"),
        Output(IDS.admin_mode, "value"),
        Output(IDS.admin_rotate, "value"),
        Output(IDS.admin_poll_seconds, "value"),
        Output(IDS.admin_resolution, "value"),
        Output(IDS.admin_version, "data"),
        Input(IDS.admin_profile, "value"),
        prevent_initial_call=True,
    )(pick_profile)
    app.callback(
        Output(IDS.admin_message, "children"),
        Output(IDS.admin_refresh, "data", allow_duplicate=True),
        Input(IDS.admin_save, "n_clicks"),
        State(IDS.admin_slug, "value"),
        State(IDS.admin_name, "value"),
        State(IDS.admin_scope, "value"),
        State(IDS.admin_panels, "value"),
        State(IDS.admin_mode, "value"),
        State(IDS.admin_rotate, "value"),
        State(IDS.admin_poll_seconds, "value"),
        State(IDS.admin_resolution, "value"),
        State(IDS.admin_version, "data"),
        State(IDS.admin_refresh, "data"),
        prevent_initial_call=True,
    )(save_profile)
    app.callback(
        Output(IDS.admin_token_message, "children"),
        Output(IDS.admin_refresh, "data", allow_duplicate=True),
        Input(IDS.admin_issue, "n_clicks"),
        State(IDS.admin_token_profile, "value"),
        State(IDS.admin_token_label, "value"),
        State(IDS.admin_refresh, "data"),
        prevent_initial_call=True,
    )(issue_token)
    app.callback(
        Output(IDS.admin_refresh, "data", allow_duplicate=True),
        Input(IDS.revoke(ALL), "n_clicks"),  # type: ignore[arg-type]
        State(IDS.admin_refresh, "data"),
        prevent_initial_call=True,
    )(revoke_token)
    app.server.config[DISPLAY_OUTPUTS_KEY] = _LazyAllowList(app)


class _LazyAllowList:
    """Computed at first use, when every feature has registered its callbacks."""

    def __init__(self, app: Dash) -> None:
        self._app = app
        self._value: dict[str, Callable[[Mapping[str, Any]], bool] | None] | None = None

    def get(self) -> dict[str, Callable[[Mapping[str, Any]], bool] | None]:
        if self._value is None:
            self._value = display_callbacks(self._app)
        return self._value
