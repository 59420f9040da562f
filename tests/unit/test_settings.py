"""Configuration is parsed in one place; bad values name the variable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops.settings import SettingsError, load_settings
from ops.timeutil import (
    FrozenClock,
    ScaledClock,
    local_day_bounds_utc,
    local_midnight_utc,
)


def test_set001_defaults_run_the_embedded_demo():
    s = load_settings({})
    assert s.is_sqlite and s.demo and s.run_background and s.auth_required
    assert (s.host, s.port, s.timezone) == ("127.0.0.1", 8050, "Europe/London")
    assert not s.secure_cookies  # the demo is served on http://127.0.0.1


KEY = "4f9c2a7e1b8d3f6a0c5e9b2d7f4a1c8e"  # a strong SECRET_KEY (production needs one)


def test_set002_postgres_urls_use_psycopg_and_no_demo_by_default():
    s = load_settings(
        {
            "DATABASE_URL": "postgres://u:p@db/cc",
            "PORT": "9000",
            "SECRET_KEY": KEY,
            "COMMAND_CENTRE_HL7_KEY": KEY,
        }
    )
    assert s.database_url == "postgresql+psycopg://u:p@db/cc"
    assert s.port == 9000 and not s.demo and not s.run_background
    assert s.secure_cookies  # production: the session cookie travels over HTTPS only
    plain = {
        "DATABASE_URL": "postgres://u:p@db/cc",
        "COMMAND_CENTRE_SECURE_COOKIES": "0",
        "SECRET_KEY": KEY,
        "COMMAND_CENTRE_HL7_KEY": KEY,
    }
    assert not load_settings(plain).secure_cookies


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "0"}, "PORT"),
        ({"COMMAND_CENTRE_TIMEZONE": "Mars/Olympus"}, "COMMAND_CENTRE_TIMEZONE"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"COMMAND_CENTRE_DEMO": "perhaps"}, "COMMAND_CENTRE_DEMO"),
        (
            {"COMMAND_CENTRE_FROZEN_NOW": "2026-11-23T10:30:00"},
            "COMMAND_CENTRE_FROZEN_NOW",
        ),
        ({"COMMAND_CENTRE_SIM_SPEED": "0"}, "COMMAND_CENTRE_SIM_SPEED"),
        (
            {
                "DATABASE_URL": "postgresql://db/cc",
                "COMMAND_CENTRE_AUTH_DISABLED": "true",
            },
            "COMMAND_CENTRE_AUTH_DISABLED",
        ),
    ],
)
def test_set003_bad_values_name_the_variable(env, names):
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_set004_frozen_and_scaled_clocks():
    s = load_settings({"COMMAND_CENTRE_FROZEN_NOW": "2026-11-23T10:30:00+00:00"})
    assert isinstance(s.clock, FrozenClock)
    assert s.clock() == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    real = datetime.now(UTC)
    fast = ScaledClock(
        real_anchor=real - timedelta(seconds=10), sim_anchor=real, speed=6.0
    )
    assert fast() - real >= timedelta(seconds=59)


def test_set005_local_days_are_23_or_25_hours_at_clock_changes():
    autumn = local_day_bounds_utc(datetime(2026, 10, 25).date(), "Europe/London")
    spring = local_day_bounds_utc(datetime(2026, 3, 29).date(), "Europe/London")
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    assert spring[1] - spring[0] == timedelta(hours=23)
    assert local_midnight_utc(
        datetime(2026, 7, 1, 12, tzinfo=UTC), "Europe/London"
    ) == datetime(2026, 6, 30, 23, tzinfo=UTC)
