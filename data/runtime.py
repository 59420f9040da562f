"""The per-application runtime: settings, engine and session factory.

Held on the Flask app (``app.extensions``), never in module globals, so several apps
(tests) and several gunicorn workers each have their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ops.settings import Settings

EXTENSION_KEY = "command_centre"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]

    def now(self) -> datetime:
        return self.settings.clock()


def install(server: Flask, runtime: Runtime) -> None:
    server.extensions[EXTENSION_KEY] = runtime


def current() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
