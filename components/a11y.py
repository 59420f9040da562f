"""Labelling helpers: every visible control label is tied to its control (WCAG 1.3.1,
4.1.2), so a screen reader says "Site, All sites" rather than "All sites"."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def labelled(
    label: str, control: Any, class_name: str = "small text-muted mb-1"
) -> list:
    """A visible label and its control, associated for assistive technology.

    Inputs and dropdowns get ``<label for>`` (a dropdown's id is on its button;
    assets/a11y.js puts the label first in the button's name). Radio items are a
    named ``radiogroup`` (check lists a ``group``): a label cannot point at a group.
    """
    control_id = getattr(control, "id", None)
    if not isinstance(control_id, str):
        raise ValueError("a labelled control needs a string id")
    if isinstance(control, dbc.RadioItems | dbc.Checklist):
        label_id = f"{control_id}-label"
        return [
            dbc.Label(label, id=label_id, className=f"{class_name} d-block"),
            html.Div(
                control,
                role="radiogroup" if isinstance(control, dbc.RadioItems) else "group",
                **{"aria-labelledby": label_id},
            ),
        ]
    return [dbc.Label(label, html_for=control_id, className=class_name), control]
