"""HL7 feed configuration, from the environment (one place).

``COMMAND_CENTRE_HL7_HOST`` / ``COMMAND_CENTRE_HL7_PORT`` (127.0.0.1:2575), the
largest message accepted (``COMMAND_CENTRE_HL7_MAX_BYTES``, 1 MB), how long a
connection may stay silent or take to finish a message
(``COMMAND_CENTRE_HL7_IDLE_SECONDS``, 300; ``COMMAND_CENTRE_HL7_MESSAGE_SECONDS``,
30), how many days a quarantined message's raw original is kept
(``COMMAND_CENTRE_HL7_QUARANTINE_DAYS``, 30), and the pseudonymisation key
``COMMAND_CENTRE_HL7_KEY``. Only the embedded
SQLite demo may run without a key: it makes a random one, kept owner-only beside its
database (``<file>.hl7-key``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class Hl7ConfigError(ValueError):
    """The feed cannot start (one line for the operator)."""


@dataclass(frozen=True)
class Hl7Config:
    key: bytes
    host: str = "127.0.0.1"
    port: int = 2575
    max_bytes: int = 1_000_000
    idle_seconds: float = 300.0
    message_seconds: float = 30.0
    quarantine_days: int = 30


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Hl7ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise Hl7ConfigError(f"{name} must be positive")
    return value


def load_hl7_config(
    database_url: str, demo: bool, env: Mapping[str, str] | None = None
) -> Hl7Config:
    env = os.environ if env is None else env
    raw_key = env.get("COMMAND_CENTRE_HL7_KEY", "").strip()
    if raw_key:
        if len(raw_key) < 32:
            raise Hl7ConfigError(
                "COMMAND_CENTRE_HL7_KEY must be at least 32 characters of random text"
            )
        key = raw_key.encode("utf-8")
    elif demo and database_url.startswith("sqlite"):
        key = demo_key(database_url).encode("ascii")
    else:
        raise Hl7ConfigError(
            "COMMAND_CENTRE_HL7_KEY is not set: the HL7 feed needs a key to "
            "pseudonymise patient and visit identifiers (docs/hl7.md)"
        )
    port = _int(env, "COMMAND_CENTRE_HL7_PORT", 2575)
    if port > 65535:
        raise Hl7ConfigError("COMMAND_CENTRE_HL7_PORT must be at most 65535")
    return Hl7Config(
        key=key,
        host=env.get("COMMAND_CENTRE_HL7_HOST", "").strip() or "127.0.0.1",
        port=port,
        max_bytes=_int(env, "COMMAND_CENTRE_HL7_MAX_BYTES", 1_000_000),
        idle_seconds=float(_int(env, "COMMAND_CENTRE_HL7_IDLE_SECONDS", 300)),
        message_seconds=float(_int(env, "COMMAND_CENTRE_HL7_MESSAGE_SECONDS", 30)),
        quarantine_days=_int(env, "COMMAND_CENTRE_HL7_QUARANTINE_DAYS", 30),
    )


def demo_key(database_url: str) -> str:
    """The embedded demo's random key, beside its SQLite file (random per process
    for an in-memory database)."""
    from sqlalchemy import make_url

    database = make_url(database_url).database
    if not database or database == ":memory:":
        return secrets.token_hex(32)
    target = Path(database).resolve()
    target = target.with_name(target.name + ".hl7-key")
    try:
        existing = target.read_text().strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return target.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
