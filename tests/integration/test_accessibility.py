"""Accessibility (WCAG 2.2 AA) in a real browser: axe-core on every page and the wall,
a distinct title per page, a visible focus ring on every Tab stop, and keyboard
walk-throughs of Beds, Alerts and Surge (docs/accessibility.md).

Every registered page (callbacks.router.PAGES) is audited, so a new page is covered
by being registered. Pages are seen as an admin (every section shown) after a surge
has fired alerts, so the banner, the alert table and the OPEL cards are on screen.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dash.testing import wait
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys
from sqlalchemy import func, select

from app import PAGE_LANGUAGE, create_app
from callbacks.router import PAGES, TITLES, document_title
from data.db import write_session
from data.models.alerts import Alert
from data.writes import set_scenario
from feeds.seed import run_tick, scenario_by_name
from jobs import alerts as evaluation
from tests.support import axe
from tests.support.apps import (
    FROZEN_NOW,
    copy_sqlite,
    runtime_for,
    settings_for,
    start_app,
)
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
    now = _surge(url)
    create_user(url, ADMIN, "admin", display_name="Ada Admin")
    return Path(url.removeprefix("sqlite:///")), now


def _surge(url: str) -> datetime:
    """The surge scenario run for 20 simulated minutes with the alert evaluation
    after each tick; at least two alerts firing (whichever rules they are: these
    tests are about the page, not the rules). Returns the simulated time."""
    start = FROZEN_NOW
    runtime = runtime_for(settings_for(url, now=start))
    with write_session(runtime.factory) as s:
        set_scenario(s, scenario_by_name("surge"))
    assert evaluation.evaluation_job(runtime).ran
    runtime.engine.dispose()
    for minute in (10, 20):
        at = start + timedelta(minutes=minute)
        later = runtime_for(settings_for(url, now=at))
        run_tick(later.factory, now=at, tz="Europe/London")
        assert evaluation.evaluation_job(later).ran
        with later.factory() as s:
            firing = s.scalar(
                select(func.count()).select_from(Alert).where(Alert.state == "firing")
            )
        later.engine.dispose()
    assert firing >= 2, firing
    return at


def _start(dash_duo, audited_template, tmp_path: Path, path: str) -> None:  # noqa: ANN001
    template, now = audited_template
    url = copy_sqlite(template, tmp_path)
    # No polling during the audit: a re-render mid-run would move nodes under axe.
    settings = settings_for(url, now=now, auth_required=True, poll_seconds=3600)
    start_app(dash_duo, create_app(settings, prepare=False), navigate=False)
    login(dash_duo, ADMIN, next_path=path)


def _settle(dash_duo, timeout: float = 30) -> None:  # noqa: ANN001
    # a page drawing its charts on a loaded machine can hold the script thread
    dash_duo.driver.set_script_timeout(120)
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


def _send(dash_duo, *keys: str) -> None:  # noqa: ANN001
    """Keys to the focused element; if a render replaced it between finding and
    typing, to the element focused now (a person's key goes wherever focus is)."""
    for _ in range(3):
        try:
            dash_duo.driver.switch_to.active_element.send_keys(*keys)
            return
        except StaleElementReferenceException:
            time.sleep(0.2)
    dash_duo.driver.switch_to.active_element.send_keys(*keys)


def _tab(dash_duo, shift: bool = False) -> dict | None:  # noqa: ANN001
    keys = (Keys.SHIFT, Keys.TAB) if shift else (Keys.TAB,)
    _send(dash_duo, *keys)
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


# ---------------------------------------------------------------------------
# Keyboard walk-throughs (docs/accessibility.md records what they show)
# ---------------------------------------------------------------------------

ACTIVE_JS = """
var e = document.activeElement;
return {id: e.id, tag: e.tagName.toLowerCase(), text: (e.innerText || '').trim().slice(0, 60),
        cls: String(e.className || ''), inModal: !!e.closest('.modal'),
        expanded: e.getAttribute('aria-expanded')};
"""
# A dropdown button's accessible name: its aria-labelledby elements' text in order.
NAME_JS = """
var e = document.getElementById(arguments[0]);
return (e.getAttribute('aria-labelledby') || '').split(/\\s+/).map(function (id) {
  var n = document.getElementById(id); return n ? n.textContent.trim() : '';
}).filter(Boolean).join(', ');
"""


def _press(dash_duo, *keys: str) -> dict:  # noqa: ANN001
    _send(dash_duo, *keys)
    time.sleep(0.3)
    return dash_duo.driver.execute_script(ACTIVE_JS)


def _skip_link_then_main(dash_duo) -> None:  # noqa: ANN001
    """The first Tab lands on the skip link, shown on screen; Enter moves focus to
    <main> (past 14 navigation stops) without changing the address."""
    url = dash_duo.driver.current_url
    focus = _tab(dash_duo)
    assert focus["id"] == "shell-skip" and focus["visible"], focus
    assert focus["text"] == "Skip to main content"
    assert _press(dash_duo, Keys.ENTER)["tag"] == "main"
    assert dash_duo.driver.current_url == url


def _no_trap(dash_duo, limit: int = 400) -> int:  # noqa: ANN001
    """Tab on from wherever focus is, round the whole page: past its end focus comes
    back to the skip link, and once more after every other stop, so nothing holds
    the keyboard. Returns the number of stops in one round."""
    rounds = []
    for n in range(1, limit + 1):
        if _press(dash_duo, Keys.TAB)["id"] == "shell-skip":
            rounds.append(n)
            if len(rounds) == 2:
                return rounds[1] - rounds[0]
    raise AssertionError(f"Tab did not go round the page in {limit} presses: {rounds}")


def _blocking_now(dash_duo, where: str) -> None:  # noqa: ANN001
    found = axe.blocking(axe.run_axe(dash_duo.driver))
    assert found == [], f"{where}:\n{axe.describe(found)}"


def test_a11y004_beds_by_keyboard(dash_duo, audited_template, tmp_path):
    _start(dash_duo, audited_template, tmp_path, "/beds")
    _settle(dash_duo)
    _skip_link_then_main(dash_duo)

    # The first control after the skip is the site filter, named by its label.
    site = _press(dash_duo, Keys.TAB)
    assert site["id"] == "beds-site", site
    assert dash_duo.driver.execute_script(NAME_JS, "beds-site") == "Site, All sites"

    # Enter opens the list (axe-clean while open), Escape closes it where it was.
    assert _press(dash_duo, Keys.ENTER)["cls"] == "dash-dropdown-search"
    assert dash_duo.find_element("#beds-site").get_attribute("aria-expanded") == "true"
    _blocking_now(dash_duo, "/beds with the site list open")
    assert _press(dash_duo, Keys.ESCAPE)["id"] == "beds-site"
    assert dash_duo.find_element("#beds-site").get_attribute("aria-expanded") == "false"

    # Arrow to the first site and choose it: the filter applies, focus comes back.
    _press(dash_duo, Keys.ENTER)
    _press(dash_duo, Keys.ARROW_DOWN)
    back = _press(dash_duo, Keys.ENTER)
    assert back["id"] == "beds-site" and back["expanded"] == "false", back
    wait.until(lambda: "site=" in dash_duo.driver.current_url, timeout=10)
    assert "Site, " in dash_duo.driver.execute_script(NAME_JS, "beds-site")

    # Tab on through the other filters to the range, whose arrows change it.
    assert _press(dash_duo, Keys.TAB)["id"] == "beds-specialty"
    assert _press(dash_duo, Keys.TAB)["id"] == "beds-type"
    radio = _press(dash_duo, Keys.TAB)
    assert "btn-check" in radio["cls"] and radio["id"].endswith("_24h"), radio
    _press(dash_duo, Keys.ARROW_RIGHT)
    wait.until(lambda: "range=7d" in dash_duo.driver.current_url, timeout=10)
    _settle(dash_duo)

    # A ward's link opens its bed grid from the keyboard.
    ward = _tab_until(dash_duo, lambda f: f["id"].startswith("beds-ward-"))
    _press(dash_duo, Keys.ENTER)
    wait.until(lambda: "ward=" in dash_duo.driver.current_url, timeout=10)
    ward_id = ward["id"].split("-")[2]
    dash_duo.wait_for_element(f"#beds-grid-{ward_id}, [id^='beds-bed-']", timeout=10)

    assert _no_trap(dash_duo) > 10
    assert dash_duo.get_logs() == []


def test_a11y005_alerts_by_keyboard(dash_duo, audited_template, tmp_path):
    _start(dash_duo, audited_template, tmp_path, "/alerts")
    _settle(dash_duo)
    _skip_link_then_main(dash_duo)

    # Tab to the first Acknowledge button and open its dialog with Enter.
    opener = _tab_until(dash_duo, lambda f: f["text"].startswith("Acknowledge"))
    order = _ack_alerts(dash_duo)
    first = _focused_ack(dash_duo)
    assert first == order[0] and len(order) > 1, order
    following = order[1]
    opened = _press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_text_to_equal("#alerts-action-title", "Acknowledge alert", 30)
    wait.until(lambda: dash_duo.driver.execute_script(ACTIVE_JS)["inModal"], timeout=30)
    _blocking_now(dash_duo, "/alerts with the acknowledge dialog open")

    # While open, Tab never reaches the page behind the dialog: past its last control
    # focus leaves the document (the browser's own controls; <body> headless) and
    # comes back into the dialog. Escape closes it and focus goes back to the button
    # that opened it.
    stops = [_press(dash_duo, Keys.TAB) for _ in range(8)]
    assert all(f["inModal"] or f["tag"] == "body" for f in stops), stops
    assert [f["id"] for f in stops].count("alerts-ack-note") == 2, stops
    _press(dash_duo, Keys.ESCAPE)
    dash_duo.wait_for_no_elements(".modal.show", timeout=5)
    wait.until(
        lambda: (
            dash_duo.driver.execute_script(ACTIVE_JS)["id"] == opener["id"]
            or dash_duo.driver.execute_script(ACTIVE_JS)["text"] == opener["text"]
        ),
        timeout=5,
    )
    assert opened is not None

    # Again, this time typing a note and submitting by keyboard.
    _press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_text_to_equal("#alerts-action-title", "Acknowledge alert", 30)
    wait.until(lambda: dash_duo.driver.execute_script(ACTIVE_JS)["inModal"], timeout=30)
    _tab_until(dash_duo, lambda f: f["id"] == "alerts-ack-note", limit=10)
    _active(dash_duo).send_keys("Opening escalation beds")
    _tab_until(dash_duo, lambda f: f["id"] == "alerts-action-submit", limit=10)
    _press(dash_duo, Keys.ENTER)
    # The outcome is said in a polite live region.
    dash_duo.wait_for_contains_text("#alerts-message", "Acknowledged", timeout=20)
    assert dash_duo.find_element("#alerts-message").get_attribute("role") == "status"
    dash_duo.wait_for_no_elements(".modal.show", timeout=5)
    # The table is redrawn with the acknowledgement and the used button is gone:
    # focus goes to the next alert's Acknowledge (not <body>, not <main>), so the
    # next one is a keypress away.
    nxt = wait.until(lambda: _focused_ack(dash_duo, other_than=first), timeout=10)
    assert nxt == following, (nxt, following)

    assert _no_trap(dash_duo) > 10
    assert dash_duo.get_logs() == []


# The alert ids of the Acknowledge buttons in page order, and of the focused one.
ACK_IDS_JS = """
var out = [];
document.querySelectorAll('[id^="{"]').forEach(function (e) {
  var p = JSON.parse(e.id);
  if (p.type === 'alerts-ack') out.push(p.id);
});
return out;
"""
FOCUSED_ACK_JS = """
var e = document.activeElement;
if (!e || !e.id || e.id.charAt(0) !== '{') return null;
var p = JSON.parse(e.id);
return p.type === 'alerts-ack' ? p.id : null;
"""


def _ack_alerts(dash_duo) -> list[int]:  # noqa: ANN001
    return dash_duo.driver.execute_script(ACK_IDS_JS)


def _focused_ack(dash_duo, other_than: int | None = None) -> int | None:  # noqa: ANN001
    found = dash_duo.driver.execute_script(FOCUSED_ACK_JS)
    return found if found is not None and found != other_than else None


def _acknowledge_focused(dash_duo) -> None:  # noqa: ANN001
    """Enter on the focused Acknowledge, Tab to Confirm, Enter; wait for the dialog
    to close."""
    _press(dash_duo, Keys.ENTER)
    # Generous waits: the suite runs on two loaded cores, and each step waits for a
    # condition, so a slow machine costs time, never a wrong result.
    dash_duo.wait_for_text_to_equal("#alerts-action-title", "Acknowledge alert", 30)
    wait.until(lambda: dash_duo.driver.execute_script(ACTIVE_JS)["inModal"], timeout=30)
    _tab_until(dash_duo, lambda f: f["id"] == "alerts-action-submit", limit=10)
    _press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_no_elements(".modal.show", timeout=30)


def test_a11y007_acknowledging_every_alert_by_keyboard_keeps_focus(
    dash_duo, audited_template, tmp_path
):
    """Each acknowledgement hands focus to the next alert's Acknowledge; after the
    last, focus is on the list's heading and the page says nothing is left."""
    _start(dash_duo, audited_template, tmp_path, "/alerts")
    _settle(dash_duo)
    _skip_link_then_main(dash_duo)
    _tab_until(dash_duo, lambda f: f["text"].startswith("Acknowledge"))
    left = _ack_alerts(dash_duo)
    assert len(left) >= 2, left
    for _ in range(len(left)):
        used = _focused_ack(dash_duo)
        assert used is not None
        _acknowledge_focused(dash_duo)
        wait.until(lambda used=used: used not in _ack_alerts(dash_duo), timeout=30)
        if not _ack_alerts(dash_duo):
            break
        wait.until(lambda used=used: _focused_ack(dash_duo, other_than=used), 30)
    heading = wait.until(
        lambda: (
            dash_duo.driver.execute_script(ACTIVE_JS)["tag"] == "h2"
            and dash_duo.driver.execute_script(ACTIVE_JS)
        ),
        timeout=30,
    )
    assert heading["text"] == "Current alerts", heading
    dash_duo.wait_for_text_to_equal(
        "#cc-announce", "Current alerts: nothing left to acknowledge.", timeout=30
    )
    # Tab carries on from the heading into the list (its Silence buttons).
    assert "Silence" in _press(dash_duo, Keys.TAB)["text"]
    assert dash_duo.get_logs() == []


def _choose(dash_duo, element_id: str, value: str, limit: int = 12) -> None:  # noqa: ANN001
    """Step a focused native <select> with the arrow key until it shows ``value``."""
    element = dash_duo.find_element(f"#{element_id}")
    for _ in range(limit):
        if element.get_attribute("value") == value:
            return
        _press(dash_duo, Keys.ARROW_DOWN)
    raise AssertionError(f"{element_id} never reached {value!r}")


def test_a11y006_surge_by_keyboard(dash_duo, audited_template, tmp_path):
    _start(dash_duo, audited_template, tmp_path, "/surge")
    _settle(dash_duo)
    dash_duo.wait_for_contains_text("#surge-active", "No protocol is active")
    _skip_link_then_main(dash_duo)

    # Declare OPEL 3 escalation with the keyboard alone.
    _tab_until(dash_duo, lambda f: f["id"] == "surge-template", limit=20)
    _choose(dash_duo, "surge-template", "opel3-escalation")
    dash_duo.wait_for_contains_text("#surge-template-info", "OPEL 3")
    _tab_until(dash_duo, lambda f: f["id"] == "surge-trigger-kind", limit=10)
    _choose(dash_duo, "surge-trigger-kind", "opel")
    _tab_until(dash_duo, lambda f: f["id"] == "surge-trigger-detail", limit=5)
    _active(dash_duo).send_keys("OPEL 3 at 10:15")
    _tab_until(dash_duo, lambda f: f["id"] == "surge-reason", limit=5)
    _active(dash_duo).send_keys("G&A occupancy 96%")
    _tab_until(dash_duo, lambda f: f["id"] == "surge-declare", limit=10)
    _press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_text_to_equal("#surge-run-title", "OPEL 3 acute escalation", 20)
    _settle(dash_duo)
    _blocking_now(dash_duo, "/surge with a protocol running")

    # Tick an action with Enter on its Done button.
    _tab_until(
        dash_duo,
        lambda f: (
            "btn-success" in f["cls"]
            and dash_duo.driver.execute_script(
                "return !!document.activeElement.closest('#surge-action-hourly-pull')"
            )
        ),
    )
    _press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_contains_text(
        "#surge-action-hourly-pull", "Done by Ada Admin", timeout=20
    )

    # A note-required action opens a dialog; Escape closes it back to its button.
    _tab_until(
        dash_duo,
        lambda f: (
            "btn-outline-success" in f["cls"]
            and dash_duo.driver.execute_script(
                "return !!document.activeElement.closest('#surge-action-confirm-opel3')"
            )
        ),
    )
    _press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_element("#surge-note-text", timeout=10)
    wait.until(lambda: dash_duo.driver.execute_script(ACTIVE_JS)["inModal"], timeout=5)
    _blocking_now(dash_duo, "/surge with the note dialog open")
    _press(dash_duo, Keys.ESCAPE)
    dash_duo.wait_for_no_elements(".modal.show", timeout=5)
    wait.until(
        lambda: dash_duo.driver.execute_script(
            "return !!document.activeElement.closest('#surge-action-confirm-opel3')"
        ),
        timeout=5,
    )

    assert _no_trap(dash_duo) > 10
    assert dash_duo.get_logs() == []
