"""Sign-in with a real browser: pages need a session; identity shows in the navbar."""

from __future__ import annotations

from dash.testing import wait

from app import create_app
from tests.support.apps import settings_for, start_app
from tests.support.auth import create_user, login


def test_auth001_sign_in_then_sign_out(dash_duo, seeded_sqlite_url):
    create_user(seeded_sqlite_url, "sam.lead", "site_lead", display_name="Sam Patel")
    app = create_app(settings_for(seeded_sqlite_url, auth_required=True), prepare=False)
    start_app(dash_duo, app, navigate=False)
    # Not signed in: the page redirects to the login form.
    dash_duo.driver.get(dash_duo.server.url + "/beds")
    wait.until(lambda: "/login" in dash_duo.driver.current_url, timeout=5)
    login(dash_duo, "sam.lead", "wrong password entirely", next_path="/beds")
    dash_duo.wait_for_contains_text("#login-error", "wrong password")
    login(dash_duo, "sam.lead", next_path="/beds")
    dash_duo.wait_for_contains_text("#shell-user", "Sam Patel (site lead)")
    assert dash_duo.driver.current_url.endswith("/beds")
    dash_duo.find_element("#shell-sign-out").click()
    wait.until(lambda: "/login" in dash_duo.driver.current_url, timeout=5)
    dash_duo.driver.get(dash_duo.server.url + "/")
    wait.until(lambda: "/login" in dash_duo.driver.current_url, timeout=5)
    assert dash_duo.get_logs() == []
