"""Wall display callbacks."""

from __future__ import annotations

from dash import Dash


def register(app: Dash) -> None:
    return None
