"""Alerts page (layout builders only)."""

from __future__ import annotations

from dash import html

from components.common import page_header


class IDS:
    body = "alerts-body"


def layout(query: dict[str, str]) -> html.Div:
    return html.Div([page_header("Alerts"), html.Div(id=IDS.body)])
