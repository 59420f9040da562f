"""Users and browser sign-in for tests."""

from __future__ import annotations

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.security import create_user as _create_user
from tests.support.apps import FROZEN_NOW

DEFAULT_PASSWORD = "correct horse battery staple"


def create_user(
    url: str,
    username: str,
    role: str,
    password: str = DEFAULT_PASSWORD,
    display_name: str | None = None,
) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    with write_session(make_session_factory(engine)) as session:
        _create_user(
            session,
            username,
            password,
            role,
            display_name or username.title(),
            FROZEN_NOW,
        )
    engine.dispose()


def login(
    dash_duo, username: str, password: str = DEFAULT_PASSWORD, next_path: str = "/"
) -> None:  # noqa: ANN001
    """Sign in through the real login form in dash_duo's browser."""
    login_driver(dash_duo.driver, dash_duo.server.url, username, password, next_path)


def login_driver(
    driver,
    server_url: str,
    username: str,
    password: str = DEFAULT_PASSWORD,  # noqa: ANN001
    next_path: str = "/",
) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{server_url}/login?next={next_path}")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
