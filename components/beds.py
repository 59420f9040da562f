"""Beds page (layout builders only)."""

from __future__ import annotations

from dash import html

from components.common import page_header


class IDS:
    body = "beds-body"


def layout(query: dict[str, str]) -> html.Div:
    return html.Div([page_header("Beds"), html.Div(id=IDS.body)])
