"""Wall callbacks called as plain functions inside a request context (no browser)."""

from __future__ import annotations

from pathlib import Path

from dash import no_update

from app import create_app
from callbacks import wall as cb
from callbacks.identity import PermissionDenied
from components import wall
from tests.support.apps import settings_for


def _ctx(app, path: str = "/_dash-update-component"):  # noqa: ANN001, ANN202
    return app.server.test_request_context(path, method="POST")


def test_refresh_returns_a_stale_marker_when_the_database_is_unreachable(
    tmp_path: Path,
):
    folder = tmp_path / "a-directory-not-a-database"
    folder.mkdir()
    app = create_app(settings_for(f"sqlite:///{folder}"), prepare=False)
    with _ctx(app):
        out = cb.refresh(3, "?display=trust-overview")
    assert len(out) == cb.OUTPUT_COUNT
    assert all(o is no_update for o in out[:-1])  # the figures on screen stay
    status = out[-1]
    assert status["ok"] is False and "database" in status["error"]
    assert status["n"] == 3 and status["version"] and status["fingerprint"]


def test_refresh_renders_every_panel_of_the_profile(seeded_sqlite_url):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    with _ctx(app):
        title, asof, opel, alerts, panels, panels_class, root_class, status = (
            cb.refresh(
                0, "?display=trust-overview", wall.IDS.body, {"viewportHeight": 2160}
            )
        )
    assert title.startswith("Trust overview")
    assert [p.id for p in panels] == [wall.IDS.panel(k) for k in
                                      ("opel_alerts", "bed_heatmap", "ed_board",
                                       "theatre_board", "protocols")]  # fmt: skip
    assert panels_class == "wall-panels wall-grid wall-n-5"
    assert (
        status["ok"] is True and status["poll_ms"] == 30_000 and status["panels"] == 5
    )
    assert alerts == []
    assert "Data as of" in str(asof)


def test_unknown_profile_says_so(seeded_sqlite_url):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    with _ctx(app):
        out = cb.refresh(0, "?display=nope")
    assert "There is no display profile 'nope'" in str(out[4].children[0].children)
    assert out[-1]["ok"] is True


def test_build_fingerprint_is_stable_and_changes_with_the_version(seeded_sqlite_url):
    first = create_app(settings_for(seeded_sqlite_url), prepare=False)
    second = create_app(settings_for(seeded_sqlite_url), prepare=False)
    with _ctx(first):
        a = cb.build_info()
    with _ctx(second):
        b = cb.build_info()
    assert a == b  # two workers of one deployment agree
    third = create_app(settings_for(seeded_sqlite_url), prepare=False)
    third.server.config["COMMAND_CENTRE_VERSION"] = "9.9.9"
    with _ctx(third):
        c = cb.build_info()
    assert c[0] == "9.9.9" and c[1] != a[1]


def test_display_allow_list_is_the_router_for_wall_and_the_wall_refresh(
    seeded_sqlite_url,
):
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    allowed = cb.display_callbacks(app)
    refresh_key = next(k for k in allowed if f"{wall.IDS.status}.data" in k)
    router_key = next(k for k in allowed if "shell-page.children" in k)
    # only the router, the wall refresh and the shell's (read-only) alert banner
    assert set(allowed) - {refresh_key, router_key} <= {"shell-banner.children"}
    assert all(callable(check) for check in allowed.values())

    def declared(key: str, pathname: str) -> dict:
        """A body shaped as the callback's declaration, with ``pathname`` bound."""
        spec = app.callback_map[key]
        outs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
        outputs = [
            {"id": o.component_id, "property": o.component_property} for o in outs
        ]

        def item(dep: dict) -> object:
            if dep["id"].startswith("{"):
                return []  # an ALL pattern with no matching component
            value = (
                pathname if dep == {"id": "shell-url", "property": "pathname"} else None
            )
            return {**dep, "value": value}

        return {
            "output": key,
            "outputs": outputs if isinstance(spec["output"], list) else outputs[0],
            "inputs": [item(d) for d in spec["inputs"]],
            "state": [item(d) for d in spec["state"]],
        }

    for key in set(allowed) - {refresh_key}:
        check = allowed[key]
        assert check(declared(key, "/wall"))
        assert not check(declared(key, "/ed"))
        wall_body = declared(key, "/wall")
        assert not check({**wall_body, "inputs": wall_body["inputs"][::-1]})
        assert not check({"inputs": []})
    assert allowed[refresh_key](declared(refresh_key, "/wall"))
    # no admin callback is reachable by a display
    assert not any("wall-admin" in k for k in allowed)


def test_admin_callbacks_refuse_without_permission(seeded_sqlite_url):
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    with _ctx(app):
        message, counter = cb.save_profile(1, "x", "X", "trust", ["ed_board"], "grid", 20,
                                           30, "1080p", None, 0)  # fmt: skip
        assert counter is no_update and "Sign in" in str(message.children)
        message, counter = cb.issue_token(1, "trust-overview", "TV", 0)
        assert counter is no_update and "Sign in" in str(message.children)
        assert cb.revoke_token([1], 0) is no_update
        denied = cb.load_admin(0)
        assert "Sign in" in str(denied[3].children)
    assert issubclass(PermissionDenied, Exception)
