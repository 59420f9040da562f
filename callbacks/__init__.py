"""Callbacks, one module per feature; ``register_all`` wires them onto an app."""

from __future__ import annotations

import importlib

from dash import Dash

# Feature modules, each with ``register(app)``.
FEATURES: tuple[str, ...] = (
    "router",
    "overview",
    "beds",
    "flow",
    "ed",
    "theatres",
    "alerts",
    "surge",
    "wall",
    "admin",
    "feeds",
    "imports",
)


def register_all(app: Dash) -> None:
    for name in FEATURES:
        importlib.import_module(f"callbacks.{name}").register(app)
