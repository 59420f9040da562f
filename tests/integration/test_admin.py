"""Admin page: an admin creates and disables a user; everything lands in the audit trail."""

from __future__ import annotations

from sqlalchemy import select

from app import create_app
from data.models.security import AppUser, AuditEvent
from tests.support.apps import runtime_for, settings_for, start_app
from tests.support.auth import create_user, login


def test_adm001_admin_creates_and_disables_a_user(dash_duo, seeded_sqlite_url):
    create_user(seeded_sqlite_url, "ada.admin", "admin", display_name="Ada Admin")
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    login(dash_duo, "ada.admin", next_path="/admin")
    dash_duo.wait_for_contains_text("#admin-users", "ada.admin")
    editor = dash_duo.find_element("#admin-wall-editor")
    assert editor.get_attribute("href").endswith("/wall?admin=1")
    assert "Wall displays" in editor.text
    dash_duo.find_element("#admin-new-username").send_keys("bob.beds")
    dash_duo.find_element("#admin-new-name").send_keys("Bob Beds")
    dash_duo.select_dcc_dropdown("#admin-new-role", "Bed manager")
    dash_duo.find_element("#admin-new-password").send_keys("short")
    dash_duo.find_element("#admin-create").click()
    dash_duo.wait_for_contains_text("#admin-message", "at least 12 characters")
    message = dash_duo.find_element("#admin-message").text.strip()
    assert message[0].isupper() and message.endswith("."), message  # a sentence
    dash_duo.find_element("#admin-new-password").send_keys(" but now long enough")
    dash_duo.find_element("#admin-create").click()
    dash_duo.wait_for_contains_text("#admin-message", "Created bob.beds")
    dash_duo.wait_for_contains_text("#admin-users", "Bob Beds")
    dash_duo.find_element("#admin-toggle-user").send_keys("bob.beds")
    dash_duo.find_element("#admin-toggle").click()
    dash_duo.wait_for_contains_text("#admin-message", "bob.beds disabled")
    dash_duo.wait_for_contains_text("#admin-audit", "user.disable")
    runtime = runtime_for(settings_for(seeded_sqlite_url))
    with runtime.factory() as s:
        bob = s.scalar(select(AppUser).where(AppUser.username == "bob.beds"))
        actions = [
            e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert bob is not None and not bob.is_active and bob.role == "bed_manager"
    assert actions[-2:] == ["user.create", "user.disable"]
    assert dash_duo.get_logs() == []
