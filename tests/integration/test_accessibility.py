"""Accessibility (WCAG 2.2 AA) in a real browser: axe-core on every page and the wall,
a distinct title per page, a visible focus ring on every Tab stop, and keyboard
walk-throughs of Beds, Alerts and Surge (docs/accessibility.md).

Every registered page (callbacks.router.PAGES) is audited, so a new page is covered
by being registered. Pages are seen as an admin (every section shown) after a surge
has fired alerts, so the banner, the alert table and the OPEL cards are on screen.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from dash.testing import wait
from selenium.webdriver.common.keys import Keys

from app import PAGE_LANGUAGE, create_app
from callbacks.router import PAGES, TITLES, document_title
from tests.integration.test_alerts import _surge_and_evaluate
from tests.support import axe
from tests.support.apps import copy_sqlite, settings_for, start_app
from tests.support.auth import create_user, login

# Query a page needs to show its usual content.
PAGE_QUERY = {"/wall": "?display=trust-overview"}
ADMIN = "ada.admin"
# Tab presses in the focus-ring walk: past the navigation, filters and tables.
TAB_STOPS = 90

# The page has rendered: its layout is in <main>, no component is loading, nothing
# says "Loading…", and the router has titled it.
SETTLED_JS = """
var main = document.querySelector('main');
if (!main || !main.children.length) return false;
if (document.querySelector('[data-dash-is-loading="true"]')) return false;
if ((main.innerText || '').indexOf('Loading…') >= 0) return false;
return document.title !== 'Command Centre';
"""

# The focused element, the element its ring is drawn on (a btn-check radio's ring
# is on its label), that element's outline and the backgrounds behind it.
FOCUS_JS = """
var el = document.activeElement;
if (!el || el === document.body) return null;
var ring = el;
if (el.classList.contains('btn-check') && el.labels && el.labels.length) ring = el.labels[0];
var cs = getComputedStyle(ring);
var behind = [];
var offset = parseFloat(cs.outlineOffset) || 0;
var start = offset < 0 ? ring : ring.parentElement;
for (var n = start; n; n = n.parentElement) behind.push(getComputedStyle(n).backgroundColor);
var r = ring.getBoundingClientRect();
return {tag: el.tagName.toLowerCase(), id: el.id, cls: el.className || '',
        text: (el.innerText || el.getAttribute('aria-label') || el.value || '').slice(0, 40),
        ringTag: ring.tagName.toLowerCase(), style: cs.outlineStyle,
        width: parseFloat(cs.outlineWidth) || 0, colour: cs.outlineColor,
        behind: behind, visible: r.width > 0 && r.height > 0 &&
        r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth};
"""


@pytest.fixture(scope="module")
def audited_template(
    tmp_path_factory: pytest.TempPathFactory, seeded_sqlite_template: Path
) -> tuple[Path, datetime]:
    """The seeded trust after a surge has fired alerts, with an admin account."""
    url = copy_sqlite(seeded_sqlite_template, tmp_path_factory.mktemp("a11y"))
    _alert_id, now = _surge_and_evaluate(url)
    create_user(url, ADMIN, "admin", display_name="Ada Admin")
    return Path(url.removeprefix("sqlite:///")), now


def _start(dash_duo, audited_template, tmp_path: Path, path: str) -> None:  # noqa: ANN001
    template, now = audited_template
    url = copy_sqlite(template, tmp_path)
    # No polling during the audit: a re-render mid-run would move nodes under axe.
    settings = settings_for(url, now=now, auth_required=True, poll_seconds=3600)
    start_app(dash_duo, create_app(settings, prepare=False), navigate=False)
    login(dash_duo, ADMIN, next_path=path)


def _settle(dash_duo, timeout: float = 30) -> None:  # noqa: ANN001
    wait.until(lambda: dash_duo.driver.execute_script(SETTLED_JS), timeout=timeout)
    time.sleep(1.0)  # figures draw and fonts settle after the last callback


def _background(behind: list[str]) -> tuple[float, float, float]:
    """The opaque colour behind an element: its ancestors' backgrounds composited from
    the page (white where none is opaque, as a browser does)."""
    colour: tuple[float, float, float] = (255.0, 255.0, 255.0)
    for css in reversed(behind):
        colour = axe.over(axe.parse_colour(css), colour)
    return colour


def _ring_contrast(focus: dict) -> float:
    background = _background(focus["behind"])
    ring = axe.over(axe.parse_colour(focus["colour"]), background)
    return axe.contrast(ring, background)


def _tab(dash_duo, shift: bool = False) -> dict | None:  # noqa: ANN001
    keys = (Keys.SHIFT, Keys.TAB) if shift else (Keys.TAB,)
    dash_duo.driver.switch_to.active_element.send_keys(*keys)
    return dash_duo.driver.execute_script(FOCUS_JS)


def _active(dash_duo):  # noqa: ANN001, ANN202
    return dash_duo.driver.switch_to.active_element


def _tab_until(dash_duo, matches, limit: int = 120) -> dict:  # noqa: ANN001
    for _ in range(limit):
        focus = _tab(dash_duo)
        if focus and matches(focus):
            return focus
    raise AssertionError(f"no Tab stop matched within {limit} presses")


def test_axe_is_the_vendored_release():
    assert axe.sha256_of_vendored() == axe.AXE_SHA256
    assert axe.axe_source().startswith(f"/*! axe v{axe.AXE_VERSION}")


def test_colour_arithmetic_matches_wcag_examples():
    white, black = (255, 255, 255), (0, 0, 0)
    assert round(axe.contrast(white, black), 1) == 21.0
    # The figures in the accessibility findings: Darkly's danger button and the
    # dropdown placeholder on a card.
    assert round(axe.contrast(white, axe.parse_colour("#e74c3c")[:3]), 2) == 3.82
    placeholder = axe.over(axe.parse_colour("rgba(222, 226, 230, 0.5)"), (48, 48, 48))
    assert tuple(int(c) for c in placeholder) == axe.parse_colour("#87898b")[:3]
    # axe reports ratios cut (not rounded) to two decimals
    assert int(axe.contrast((135, 137, 139), (48, 48, 48)) * 100) == 375


@pytest.mark.parametrize("path", sorted(PAGES))
def test_a11y001_page_has_no_serious_axe_violations(
    dash_duo, audited_template, tmp_path, path
):
    _start(dash_duo, audited_template, tmp_path, path + PAGE_QUERY.get(path, ""))
    _settle(dash_duo)
    assert dash_duo.driver.execute_script("return document.documentElement.lang") == (
        PAGE_LANGUAGE
    )
    assert dash_duo.driver.title == document_title(path)
    found = axe.blocking(axe.run_axe(dash_duo.driver))
    assert found == [], f"{path}:\n{axe.describe(found)}"
    assert dash_duo.get_logs() == []


def test_a11y002_every_page_has_its_own_title(dash_duo, audited_template, tmp_path):
    _start(dash_duo, audited_template, tmp_path, "/")
    _settle(dash_duo)
    seen = {}
    for path in sorted(PAGES):
        dash_duo.driver.get(dash_duo.server.url + path + PAGE_QUERY.get(path, ""))
        _settle(dash_duo)
        seen[path] = dash_duo.driver.title
        assert TITLES[path] in seen[path]
    assert len(set(seen.values())) == len(PAGES), seen
    assert "Command Centre" not in {t.strip() for t in seen.values()}
    # Moving inside the app (no page load) retitles too, and an unknown address says so.
    dash_duo.driver.get(dash_duo.server.url + "/")
    _settle(dash_duo)
    dash_duo.find_element("#nav-beds").click()
    wait.until(lambda: dash_duo.driver.title == document_title("/beds"), timeout=10)
    dash_duo.driver.get(dash_duo.server.url + "/no-such-page")
    wait.until(lambda: dash_duo.driver.title == document_title("/nope"), timeout=10)
    assert dash_duo.driver.title.startswith("Page not found")
    assert dash_duo.get_logs() == []


@pytest.mark.parametrize("path", ["/beds", "/alerts"])
def test_a11y003_every_tab_stop_shows_a_focus_ring(
    dash_duo, audited_template, tmp_path, path
):
    """Tab through the page from the top: each stop has a solid ring >= 2 px whose
    colour is >= 3:1 against what surrounds it, nav links, buttons and dropdowns
    included (Bootstrap's own focus shadows measured 1.16-1.8:1)."""
    _start(dash_duo, audited_template, tmp_path, path)
    _settle(dash_duo)
    kinds: dict[str, int] = {}
    failures = []
    for _ in range(TAB_STOPS):
        focus = _tab(dash_duo)
        if focus is None:
            continue
        cls = focus["cls"] if isinstance(focus["cls"], str) else ""
        kind = (
            "nav link" if "nav-link" in cls
            else "dropdown" if "dash-dropdown" in cls
            else "radio button" if "btn-check" in cls
            else "button" if focus["tag"] == "button" or "btn" in cls
            else focus["tag"]
        )  # fmt: skip
        kinds[kind] = kinds.get(kind, 0) + 1
        ratio = _ring_contrast(focus)
        if focus["style"] in ("none", "hidden") or focus["width"] < 2 or ratio < 3:
            failures.append((kind, focus["id"], focus["text"], focus["style"],
                             focus["width"], focus["colour"], round(ratio, 2)))  # fmt: skip
        assert focus["visible"], f"focused element off screen: {focus}"
    assert failures == []
    for kind in ("nav link", "button", "dropdown"):
        assert kinds.get(kind), f"no {kind} reached on {path}: {kinds}"
    assert dash_duo.get_logs() == []
