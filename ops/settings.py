"""Configuration from environment variables, parsed in one place.

Every setting has a safe default so that ``python app.py`` runs the embedded demo
with no configuration at all. A bad value raises :class:`SettingsError` whose
message names the variable and what is wrong with it.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ops.timeutil import Clock, FrozenClock, system_clock

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "var" / "command-centre.db"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    secret_key: str = ""
    timezone: str = "Europe/London"
    host: str = "127.0.0.1"
    port: int = 8050
    poll_seconds: int = 30
    stale_after_seconds: int = 300
    # Embedded demo: seed an empty database and run the simulator in a thread.
    demo: bool = True
    run_background: bool = True
    sim_speed: float = 1.0
    sim_tick_seconds: float = 15.0
    seed: int = 20261122
    history_days: int = 90
    # The demo's simulator sends its inpatient and ED events as HL7 v2 ADT over MLLP
    # to the listener (COMMAND_CENTRE_DEMO_HL7; docs/hl7.md) instead of writing them.
    demo_hl7: bool = False
    debug: bool = False
    # Sign-in required for every page and callback. Only the embedded SQLite demo may
    # turn it off (COMMAND_CENTRE_AUTH_DISABLED), e.g. for screenshots.
    auth_required: bool = True
    # Session cookie only over HTTPS (on by default in production: PostgreSQL).
    secure_cookies: bool = False
    # Behind a reverse proxy that sets X-Request-Id and X-Forwarded-For
    # (COMMAND_CENTRE_TRUSTED_PROXY): only then are those headers believed.
    trusted_proxy: bool = False
    clock: Clock = field(default=system_clock, compare=False, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} must be true or false")


# A session cookie signed with a guessable key can be forged (a wall display's, an
# administrator's): outside the embedded demo the key must be long and random.
SECRET_KEY_MIN_LENGTH = 32
HL7_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 10
SECRET_KEY_MIN_BITS = 96
KNOWN_SECRET_KEYS = frozenset({"embedded-demo-not-secret", "change-me", "secret"})
SECRET_KEY_HINT = (
    "set it to at least 32 random characters, e.g. the output of "
    "python3 -c 'import secrets; print(secrets.token_hex(32))'"
)


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to sign session cookies, or None when it will do.

    Length, variety and an entropy estimate (characters x Shannon bits per
    character of the key itself): a repeated word or a short phrase fails.
    """
    if not key:
        return "is not set"
    if key.strip().lower() in KNOWN_SECRET_KEYS:
        return "is a published example value"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is {len(key)} characters long (at least {SECRET_KEY_MIN_LENGTH})"
    counts = Counter(key)
    if len(counts) < SECRET_KEY_MIN_DISTINCT:
        return f"uses only {len(counts)} different characters"
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < SECRET_KEY_MIN_BITS:
        return f"is too predictable (about {bits:.0f} bits, at least {SECRET_KEY_MIN_BITS})"
    return None


def normalise_database_url(url: str) -> str:
    """Accept the common spellings and pick the psycopg 3 driver for PostgreSQL."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    defaults = Settings()
    database_url = env.get("DATABASE_URL") or defaults.database_url
    database_url = normalise_database_url(database_url)
    if not (
        database_url.startswith("sqlite:")
        or database_url.startswith("postgresql+psycopg:")
    ):
        raise SettingsError(
            f"DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {database_url.split(':', 1)[0]!r}"
        )
    tz = env.get("COMMAND_CENTRE_TIMEZONE") or defaults.timezone
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"COMMAND_CENTRE_TIMEZONE={tz!r} is not a known time zone"
        ) from None
    is_sqlite = database_url.startswith("sqlite")
    clock: Clock = system_clock
    frozen = env.get("COMMAND_CENTRE_FROZEN_NOW")
    if frozen:
        try:
            at = datetime.fromisoformat(frozen)
        except ValueError:
            raise SettingsError(
                f"COMMAND_CENTRE_FROZEN_NOW={frozen!r} is not an ISO 8601 time"
            ) from None
        if at.tzinfo is None:
            raise SettingsError(
                "COMMAND_CENTRE_FROZEN_NOW needs a UTC offset, e.g. +00:00"
            )
        clock = FrozenClock(at)
    auth_disabled = _bool(env, "COMMAND_CENTRE_AUTH_DISABLED", False)
    if auth_disabled and not is_sqlite:
        raise SettingsError(
            "COMMAND_CENTRE_AUTH_DISABLED is only allowed for the embedded SQLite demo"
        )
    demo = _bool(env, "COMMAND_CENTRE_DEMO", is_sqlite)
    secret_key = env.get("SECRET_KEY", "")
    # Only the embedded SQLite demo may run without a key (it makes its own random
    # one, kept beside its database); everything else needs a strong one.
    if not (is_sqlite and demo):
        problem = secret_key_problem(secret_key)
        if problem:
            raise SettingsError(
                f"SECRET_KEY {problem}: outside the embedded SQLite demo "
                f"{SECRET_KEY_HINT}"
            )
        # The HL7 feed's pseudonymisation key (patient references are keyed HMACs):
        # checked here so the web app, the worker and the listener all stop alike.
        if len(env.get("COMMAND_CENTRE_HL7_KEY", "").strip()) < HL7_KEY_MIN_LENGTH:
            raise SettingsError(
                "COMMAND_CENTRE_HL7_KEY is missing or shorter than "
                f"{HL7_KEY_MIN_LENGTH} characters: outside the embedded SQLite demo "
                "set it to random text, kept secret and stable (it keys the "
                "pseudonymous patient references, docs/hl7.md)"
            )
    return Settings(
        auth_required=not auth_disabled,
        database_url=database_url,
        secret_key=secret_key,
        timezone=tz,
        host=env.get("HOST") or defaults.host,
        port=_int(env, "PORT", defaults.port, minimum=1),
        poll_seconds=_int(env, "COMMAND_CENTRE_POLL_SECONDS", defaults.poll_seconds, 2),
        stale_after_seconds=_int(
            env, "COMMAND_CENTRE_STALE_AFTER_SECONDS", defaults.stale_after_seconds, 10
        ),
        demo=demo,
        run_background=_bool(env, "COMMAND_CENTRE_BACKGROUND", is_sqlite),
        sim_speed=_float(env, "COMMAND_CENTRE_SIM_SPEED", defaults.sim_speed, 0.1),
        sim_tick_seconds=_float(
            env, "COMMAND_CENTRE_SIM_TICK_SECONDS", defaults.sim_tick_seconds, 0.5
        ),
        seed=_int(env, "COMMAND_CENTRE_SEED", defaults.seed),
        history_days=_int(env, "COMMAND_CENTRE_HISTORY_DAYS", defaults.history_days, 1),
        demo_hl7=_bool(env, "COMMAND_CENTRE_DEMO_HL7", False),
        debug=_bool(env, "COMMAND_CENTRE_DEBUG", False),
        secure_cookies=_bool(env, "COMMAND_CENTRE_SECURE_COOKIES", not is_sqlite),
        trusted_proxy=_bool(env, "COMMAND_CENTRE_TRUSTED_PROXY", False),
        clock=clock,
    )
