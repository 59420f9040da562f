"""A viewer in a real browser: no controls they cannot use, and looking is not
audited as a refused write (the server still refuses: test_permission_status)."""

from __future__ import annotations

from sqlalchemy import func, select

from app import create_app
from data.models.security import AuditEvent
from tests.support.apps import runtime_for, settings_for, start_app
from tests.support.auth import create_user, login


def _denied(url: str) -> int:
    runtime = runtime_for(settings_for(url))
    with runtime.factory() as s:
        n = s.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "denied")
        )
    runtime.engine.dispose()
    return n


def test_viewer_sees_no_declare_form_or_admin_link_and_is_not_audited(
    dash_duo, seeded_sqlite_url
):
    url = seeded_sqlite_url
    create_user(url, "vera", "viewer", display_name="Vera Viewer")
    app = create_app(settings_for(url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    before = _denied(url)
    login(dash_duo, "vera", next_path="/surge")

    dash_duo.wait_for_contains_text("#surge-active", "No protocol is active")
    assert not dash_duo.find_element("#surge-declare-col").is_displayed()
    assert not dash_duo.find_elements("#surge-declare")[0].is_displayed()
    nav = dash_duo.find_element("#shell-nav").text
    assert "Surge" in nav and "Overview" in nav
    for hidden in ("Admin", "Feeds", "Imports"):
        assert hidden not in nav
    assert dash_duo.find_elements("#nav-admin") == []

    # Typed in by hand, /admin says what the role may not do, and writes nothing.
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/admin")
    dash_duo.wait_for_contains_text("#shell-page", "may not manage users", timeout=6)
    assert _denied(url) == before
    assert dash_duo.get_logs() == []
