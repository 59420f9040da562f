"""Unit tests for the shared theme, layout builders and vendored assets (no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from dash import dcc, html
from dash.development.base_component import Component

from components.common import (
    Status,
    empty_figure,
    format_age,
    format_value,
    freshness_line,
    kpi_tile,
    page_header,
    status_badge,
    worst_status,
)
from components.theme import (
    HEATMAP_SCALE,
    OKABE_ITO,
    STYLESHEETS,
    TEMPLATE_NAME,
    register_plotly_template,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSETS = REPO_ROOT / "assets"


# ---------------------------------------------------------------- helpers


def walk(node: Any) -> Iterator[Any]:
    """Every component and string in a Dash component tree, depth first."""
    yield node
    if isinstance(node, Component):
        yield from walk(getattr(node, "children", None))
    elif isinstance(node, (list, tuple)):
        for child in node:
            yield from walk(child)


def texts(node: Any) -> list[str]:
    return [str(n) for n in walk(node) if isinstance(n, (str, int, float))]


def text_of(node: Any) -> str:
    return "".join(texts(node))


def classes(node: Any) -> list[str]:
    return [
        cls
        for n in walk(node)
        if isinstance(n, Component)
        for cls in (getattr(n, "className", None) or "").split()
    ]


def find_by_id(node: Any, component_id: Any) -> Component:
    for n in walk(node):
        if isinstance(n, Component) and getattr(n, "id", None) == component_id:
            return n
    raise AssertionError(f"no component with id {component_id!r}")


def icons(node: Any) -> list[html.I]:
    return [n for n in walk(node) if isinstance(n, html.I)]


# ---------------------------------------------------------------- theme


@pytest.fixture
def restore_plotly_default() -> Iterator[None]:
    previous = pio.templates.default
    yield
    pio.templates.default = previous


def test_theme001_template_registers_as_default(restore_plotly_default: None) -> None:
    register_plotly_template()

    assert TEMPLATE_NAME == "command_centre"
    assert "command_centre" in pio.templates
    assert pio.templates.default == "command_centre"
    layout = go.Figure().layout.template.layout
    assert layout.paper_bgcolor.lower() in {"#222", "#222222"}
    assert layout.font.family.startswith("Lato")
    assert "sans-serif" in layout.font.family
    assert list(layout.colorway) == OKABE_ITO


def test_theme002_register_is_idempotent(restore_plotly_default: None) -> None:
    register_plotly_template()
    register_plotly_template()
    assert pio.templates.default == "command_centre"


def test_theme003_heatmaps_default_to_cividis(restore_plotly_default: None) -> None:
    register_plotly_template()
    assert HEATMAP_SCALE == "Cividis"
    template = pio.templates["command_centre"]
    cividis = go.Heatmap(colorscale="Cividis").colorscale
    assert template.data.heatmap[0].colorscale == cividis
    assert template.layout.colorscale.sequential == cividis


def test_theme004_constants() -> None:
    assert STYLESHEETS == []
    assert len(OKABE_ITO) == 8
    assert len(set(OKABE_ITO)) == 8
    # The palette's black would vanish on the dark background.
    assert "#000000" not in [c.lower() for c in OKABE_ITO]


# ---------------------------------------------------------------- status


@pytest.mark.parametrize("status", list(Status))
def test_status001_badge_has_icon_and_text(status: Status) -> None:
    badge = status_badge(status)

    found = icons(badge)
    assert len(found) == 1
    assert "bi" in found[0].className.split()
    assert status.icon in found[0].className.split()
    assert status.icon.startswith("bi-")
    assert text_of(badge).strip() == status.label
    assert status.label
    assert status.css_class in badge.className.split()


@pytest.mark.parametrize("status", list(Status))
def test_status002_custom_text_keeps_icon(status: Status) -> None:
    badge = status_badge(status, "12 beds")
    assert [status.icon in i.className for i in icons(badge)] == [True]
    assert text_of(badge) == "12 beds"


def test_status003_empty_text_falls_back_to_label() -> None:
    assert text_of(status_badge(Status.CRITICAL, "")) == "Critical"


def test_status004_accepts_plain_strings() -> None:
    assert Status("stale") is Status.STALE
    assert Status.CRITICAL.css_class in status_badge("critical").className


def test_status005_icons_and_labels_distinct() -> None:
    assert len({s.icon for s in Status}) == len(Status)
    assert len({s.label for s in Status}) == len(Status)


def test_status006_worst_status() -> None:
    assert worst_status([]) is Status.OK
    assert worst_status([Status.OK, Status.WARNING]) is Status.WARNING
    assert worst_status(["warning", "critical", "ok"]) is Status.CRITICAL
    assert worst_status([Status.CRITICAL, Status.STALE]) is Status.STALE
    assert worst_status([Status.STALE, Status.ERROR]) is Status.ERROR


# ---------------------------------------------------------------- kpi tiles


@pytest.mark.parametrize("value", [None, float("nan")])
def test_kpi001_missing_value_shows_dash_and_no_data(value: Any) -> None:
    tile = kpi_tile("Free beds", value, unit="beds", tile_id="beds-free")

    all_text = texts(tile)
    assert "—" in all_text
    assert "no data yet" in all_text
    assert "0" not in all_text
    assert not any(re.fullmatch(r"0+(\.0+)?", t.strip()) for t in all_text)
    assert find_by_id(tile, "beds-free-value").children == "—"
    # A missing number is never reported as OK.
    assert Status.MISSING.css_class in tile.className.split()
    assert Status.MISSING.icon in " ".join(i.className for i in icons(tile))


def test_kpi002_missing_value_keeps_a_feed_problem_status() -> None:
    tile = kpi_tile("Free beds", None, status=Status.ERROR)
    assert Status.ERROR.css_class in tile.className.split()
    assert "no data yet" in texts(tile)


def test_kpi003_zero_is_a_real_value() -> None:
    tile = kpi_tile("Ambulances waiting", 0, tile_id="amb")
    assert find_by_id(tile, "amb-value").children == "0"
    assert "no data yet" not in texts(tile)
    assert Status.OK.css_class in tile.className.split()


def test_kpi004_content_and_ids() -> None:
    tile = kpi_tile(
        "4-hour performance",
        "71.3",
        unit="%",
        as_of_text="as of 14:02",
        status=Status.WARNING,
        tile_id="ed-4h",
        detail="target 78 %",
    )
    assert tile.id == "ed-4h"
    assert find_by_id(tile, "ed-4h-value").children == "71.3"
    assert text_of(find_by_id(tile, "ed-4h-as-of")) == "as of 14:02"
    badge = find_by_id(tile, "ed-4h-status")
    assert text_of(badge) == "Warning"
    assert Status.WARNING.icon in icons(badge)[0].className
    for expected in ("4-hour performance", "%", "target 78 %"):
        assert expected in texts(tile)
    assert "kpi-tile" in tile.className.split()
    assert "status-warning" in tile.className.split()


def test_kpi005_dict_ids_for_pattern_matching() -> None:
    tile = kpi_tile("Beds", 4, tile_id={"type": "ward-tile", "ward": "A1"})
    value = find_by_id(tile, {"type": "ward-tile", "ward": "A1", "part": "value"})
    assert value.children == "4"


def test_kpi006_href_makes_the_tile_a_link() -> None:
    link = kpi_tile("Free beds", 12, href="/beds", tile_id="beds-free")

    assert isinstance(link, dcc.Link)
    assert link.href == "/beds"
    inner = link.children
    assert isinstance(inner, html.Div)
    assert "kpi-tile" in inner.className.split()
    assert find_by_id(link, "beds-free-value").children == "12"


def test_kpi007_no_href_no_link() -> None:
    tile = kpi_tile("Free beds", 12)
    assert not any(isinstance(n, dcc.Link) for n in walk(tile))


def test_kpi008_accepts_freshness_component_as_of() -> None:
    _, line = freshness_line("14:02", 45, 300)
    tile = kpi_tile("Free beds", 12, as_of_text=line, tile_id="t")
    assert text_of(find_by_id(tile, "t-as-of")) == "as of 14:02 (45 s ago)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "—"),
        (0, "0"),
        (1234, "1,234"),
        (7.0, "7"),
        (2.345, "2.3"),
        ("95%", "95%"),
    ],
)
def test_kpi009_format_value(value: Any, expected: str) -> None:
    assert format_value(value) == expected


# ---------------------------------------------------------------- freshness


def test_fresh001_ok_within_threshold() -> None:
    status, line = freshness_line("14:02", 45, stale_after_seconds=300)
    assert status is Status.OK
    assert text_of(line) == "as of 14:02 (45 s ago)"


def test_fresh002_threshold_itself_is_still_fresh() -> None:
    status, _ = freshness_line("14:02", 300, stale_after_seconds=300)
    assert status is Status.OK


def test_fresh003_stale_past_threshold() -> None:
    status, line = freshness_line("14:02", 301, stale_after_seconds=300)
    assert status is Status.STALE
    assert Status.STALE.icon in " ".join(i.className for i in icons(line))
    assert "5 min" in text_of(line)
    assert "Stale" in text_of(line)
    assert "14:02" in text_of(line)


def test_fresh004_error_wins_even_when_fresh() -> None:
    status, line = freshness_line("14:02", 10, 300, error="ED feed unreachable")
    assert status is Status.ERROR
    assert Status.ERROR.icon in " ".join(i.className for i in icons(line))
    assert "ED feed unreachable" in text_of(line)


def test_fresh005_no_data_yet() -> None:
    status, line = freshness_line(None, None, 300)
    assert status is Status.MISSING
    assert Status.MISSING.icon in " ".join(i.className for i in icons(line))


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, "0 s"),
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (3600, "1 h"),
        (3900, "1 h 5 min"),
        (86400 * 2 + 3600 * 4, "2 d 4 h"),
    ],
)
def test_fresh006_format_age(seconds: float, expected: str) -> None:
    assert format_age(seconds) == expected


# ---------------------------------------------------------------- header, figure


def test_layout001_page_header() -> None:
    header = page_header("Beds", "All sites", right=html.Span("as of 14:02"))
    assert "page-header" in header.className.split()
    assert isinstance(next(n for n in walk(header) if isinstance(n, html.H1)), html.H1)
    for expected in ("Beds", "All sites", "as of 14:02"):
        assert expected in texts(header)
    assert texts(page_header("Beds")) == ["Beds"]


def test_layout002_empty_figure() -> None:
    fig = empty_figure("No theatre sessions today")
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == ["No theatre sessions today"]
    assert fig.layout.annotations[0].showarrow is False
    assert fig.layout.xaxis.visible is False
    assert fig.layout.yaxis.visible is False


# ---------------------------------------------------------------- vendored assets

# url(...) targets (this covers @import url(...)), @import "string" targets, and
# src= / src: assignments in JS.
_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)""", re.IGNORECASE)
_IMPORT_RE = re.compile(r"""@import\s+['"]([^'"]+)['"]""", re.IGNORECASE)
_SRC_RE = re.compile(
    r"""\bsrc\s*[:=]\s*['"]?((?:https?:)?//[^'"\s)]+)""", re.IGNORECASE
)
_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
_EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)


def _asset_files(*suffixes: str) -> list[Path]:
    return sorted(p for p in ASSETS.rglob("*") if p.suffix.lower() in suffixes)


def _external_references(text: str) -> list[str]:
    text = _COMMENT_RE.sub("", text)  # licence banners may mention URLs
    found = [target for _, target in _URL_RE.findall(text)]
    found += _IMPORT_RE.findall(text)
    found += _SRC_RE.findall(text)
    return [ref for ref in found if _EXTERNAL.match(ref)]


def test_assets001_reference_checker_catches_external_urls() -> None:
    css = (
        "/* see https://example.org */"
        "@import url(https://fonts.googleapis.com/css2?family=Lato:wght@0,400;0,700);"
        "a{background:url(\"data:image/svg+xml,%3csvg xmlns='http://www.w3.org/2000/svg'\")}"
        "b{background:url( 'http://cdn.example/x.png' )}"
        '@import "//cdn.example/y.css";'
    )
    refs = _external_references(css)
    assert len(refs) == 3
    assert _external_references('s.src = "https://cdn.example/z.js";')
    assert not _external_references("/* https://example.org */ a{color:red}")


def test_assets002_nothing_loads_from_the_internet() -> None:
    files = _asset_files(".css", ".js")
    assert files, "no css/js found under assets/"
    offenders = {
        str(p.relative_to(REPO_ROOT)): refs
        for p in files
        if (refs := _external_references(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_assets003_relative_urls_resolve_to_vendored_files() -> None:
    missing = []
    for css in _asset_files(".css"):
        text = _COMMENT_RE.sub("", css.read_text(encoding="utf-8"))
        for _, target in _URL_RE.findall(text):
            if target.startswith(("data:", "#")) or not target:
                continue
            path = target.split("?", 1)[0].split("#", 1)[0]
            if not (css.parent / path).is_file():
                missing.append(f"{css.relative_to(REPO_ROOT)} -> {target}")
    assert missing == []


def test_assets004_darkly_import_stripped_cleanly() -> None:
    css = (ASSETS / "00-bootstrap-darkly.min.css").read_text(encoding="utf-8")
    assert "@import" not in css
    assert "googleapis" not in css
    assert css.startswith('@charset "UTF-8";')
    # The rule after the removed statement is intact (no half-stripped URL).
    assert "*/:root,[data-bs-theme=light]{--bs-blue:" in css
    assert "display=swap" not in css
    assert "--bs-body-bg:#222" in css
    assert "--bs-font-sans-serif:Lato," in css


def test_assets005_fonts_and_icons_present() -> None:
    fonts_css = (ASSETS / "01-fonts.css").read_text(encoding="utf-8")
    for weight in ("400", "700"):
        assert (ASSETS / "fonts" / f"lato-latin-{weight}-normal.woff2").is_file()
        assert f"font-weight: {weight};" in fonts_css
    assert 'font-family: "Lato"' in fonts_css
    icons_css = (ASSETS / "icons" / "bootstrap-icons.min.css").read_text("utf-8")
    assert (ASSETS / "icons" / "fonts" / "bootstrap-icons.woff2").is_file()
    assert '.woff"' not in icons_css and ".woff?" not in icons_css
    for status in Status:
        assert f".{status.icon}::before" in icons_css


def test_assets006_status_classes_styled() -> None:
    app_css = (ASSETS / "10-app.css").read_text(encoding="utf-8")
    for status in Status:
        assert f".{status.css_class} {{" in app_css
    assert ".kpi-tile {" in app_css
    assert ".status-badge {" in app_css


def test_assets007_load_order() -> None:
    top_level_css = sorted(p.name for p in ASSETS.glob("*.css"))
    assert top_level_css[:3] == [
        "00-bootstrap-darkly.min.css",
        "01-fonts.css",
        "10-app.css",
    ]
