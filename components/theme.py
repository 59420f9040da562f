"""Visual theme shared by every page: stylesheets and the Plotly figure template.

All CSS, fonts and icons are vendored in ``assets/`` (Dash serves that folder), so the
app loads nothing from the internet. ``register_plotly_template()`` is called once at
app start-up; afterwards every ``go.Figure`` picks up the dark "command_centre"
template that matches Bootswatch Darkly.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE_NAME = "command_centre"

# No external stylesheets: Darkly, Lato and bootstrap-icons are served from assets/.
STYLESHEETS: list[str] = []

# Okabe & Ito (2008) colour-blind-safe palette for categories, adapted to a dark
# background: the palette's black (#000000) is replaced by light grey so the eighth
# category stays visible on #222. Order: orange, sky blue, bluish green, yellow, blue,
# vermillion, reddish purple, grey.
OKABE_ITO: list[str] = [
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#BBBBBB",
]

# Perceptually uniform and colour-blind safe; heatmaps also fix zmin/zmax per chart.
HEATMAP_SCALE = "Cividis"

# Darkly colours (Bootswatch 5.3.8, dark mode).
PAGE_BG = "#222222"
SURFACE_BG = "#303030"
TEXT_COLOUR = "#dee2e6"
MUTED_TEXT_COLOUR = "#b5babe"
GRID_COLOUR = "#3a3a3a"
LINE_COLOUR = "#5a5a5a"

FONT_FAMILY = (
    'Lato, -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, '
    '"Helvetica Neue", Arial, sans-serif'
)


# plotly_dark's blue-grey greys, swapped for Darkly's neutral greys.
_RECOLOUR = {
    '"rgb(17,17,17)"': f'"{PAGE_BG}"',
    '"#283442"': f'"{GRID_COLOUR}"',
    '"#506784"': f'"{LINE_COLOUR}"',
    '"#2a3f5f"': f'"{SURFACE_BG}"',
    '"#A2B1C6"': f'"{MUTED_TEXT_COLOUR}"',
    '"#C8D4E3"': f'"{MUTED_TEXT_COLOUR}"',
    '"#f2f5fa"': f'"{TEXT_COLOUR}"',
}


def _dark_base() -> go.layout.Template:
    text = json.dumps(pio.templates["plotly_dark"].to_plotly_json())
    for old, new in _RECOLOUR.items():
        text = text.replace(old, new)
    return go.layout.Template(json.loads(text))


def _axis() -> dict:
    return {
        "gridcolor": GRID_COLOUR,
        "linecolor": LINE_COLOUR,
        "zerolinecolor": LINE_COLOUR,
        "tickcolor": LINE_COLOUR,
        "title": {"standoff": 8},
        "automargin": True,
    }


def build_plotly_template() -> go.layout.Template:
    """The "command_centre" template: plotly_dark re-coloured to match Darkly."""
    template = _dark_base()
    template.layout.update(
        paper_bgcolor=PAGE_BG,
        plot_bgcolor=PAGE_BG,
        font={"family": FONT_FAMILY, "color": TEXT_COLOUR, "size": 14},
        title={"font": {"size": 17, "color": TEXT_COLOUR}, "x": 0.0, "xanchor": "left"},
        colorway=OKABE_ITO,
        colorscale={"sequential": HEATMAP_SCALE, "sequentialminus": HEATMAP_SCALE},
        coloraxis={"colorscale": HEATMAP_SCALE},
        xaxis=_axis(),
        yaxis=_axis(),
        legend={"bgcolor": "rgba(0,0,0,0)", "font": {"color": TEXT_COLOUR}},
        hoverlabel={
            "bgcolor": SURFACE_BG,
            "bordercolor": LINE_COLOUR,
            "font": {"family": FONT_FAMILY, "color": "#ffffff", "size": 14},
        },
        annotationdefaults={"font": {"color": TEXT_COLOUR}},
        modebar={
            "bgcolor": "rgba(0,0,0,0)",
            "color": MUTED_TEXT_COLOUR,
            "activecolor": "#ffffff",
        },
        margin={"l": 56, "r": 16, "t": 48, "b": 48},
    )
    # Continuous traces default to cividis too (plotly_dark's default is plasma).
    for trace_type, traces in template.data.to_plotly_json().items():
        for index, trace in enumerate(traces):
            if "colorscale" in trace:
                template.data[trace_type][index].colorscale = HEATMAP_SCALE
    return template


def register_plotly_template() -> go.layout.Template:
    """Register "command_centre" and make it ``plotly.io.templates.default``.

    Idempotent: calling it again re-registers the same template.
    """
    template = build_plotly_template()
    pio.templates[TEMPLATE_NAME] = template
    pio.templates.default = TEMPLATE_NAME
    return template
