"""Admin page: an admin creates a user, then changes them from their row (role, disable,
password reset); everything lands in the audit trail, in words."""

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
    # Bob's row: change his role and disable him in one go
    dash_duo.find_element("[aria-label='Change bob.beds']").click()
    dash_duo.wait_for_contains_text("#admin-edit-title", "Bob Beds (bob.beds)")
    dash_duo.select_dcc_dropdown("#admin-edit-role", "Site lead")
    dash_duo.find_element("#admin-edit-active").click()  # the switch: off
    dash_duo.find_element("#admin-edit-save").click()
    dash_duo.wait_for_contains_text("#admin-message", "bob.beds: role now site lead")
    assert "disabled" in dash_duo.find_element("#admin-message").text
    dash_duo.wait_for_contains_text("#admin-audit", "role: bed manager → site lead")
    assert "active: yes → no" in dash_duo.find_element("#admin-audit").text
    # a too-short password is refused in the dialog, which stays open
    dash_duo.find_element("[aria-label='Change bob.beds']").click()
    dash_duo.wait_for_contains_text("#admin-edit-title", "bob.beds")
    dash_duo.find_element("#admin-edit-password").send_keys("short")
    dash_duo.find_element("#admin-edit-save").click()
    dash_duo.wait_for_contains_text("#admin-edit-error", "at least 12 characters")
    dash_duo.find_element("#admin-edit-password").send_keys(" but long enough now")
    dash_duo.find_element("#admin-edit-save").click()
    dash_duo.wait_for_contains_text("#admin-message", "password reset")
    dash_duo.wait_for_contains_text("#admin-audit", "password: reset")
    # an administrator cannot disable themselves
    dash_duo.find_element("[aria-label='Change ada.admin']").click()
    dash_duo.wait_for_contains_text("#admin-edit-title", "ada.admin")
    dash_duo.find_element("#admin-edit-active").click()
    dash_duo.find_element("#admin-edit-save").click()
    dash_duo.wait_for_contains_text("#admin-edit-error", "cannot disable your own")
    dash_duo.find_element("#admin-edit-cancel").click()
    runtime = runtime_for(settings_for(seeded_sqlite_url))
    with runtime.factory() as s:
        bob = s.scalar(select(AppUser).where(AppUser.username == "bob.beds"))
        ada = s.scalar(select(AppUser).where(AppUser.username == "ada.admin"))
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert bob is not None and not bob.is_active and bob.role == "site_lead"
    assert ada.is_active
    updates = [e for e in events if e.action == "user.update"]
    assert [e.after for e in updates] == [
        {"role": "site_lead", "active": False},
        {"password": "reset"},
    ]
    assert not any("hash" in str(e.after) for e in events)
    assert dash_duo.get_logs() == []
