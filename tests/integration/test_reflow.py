"""Reflow, text spacing and target size (WCAG 2.2 AA 1.4.10, 1.4.12, 2.5.8) in a real
browser, on every registered page (docs/accessibility.md).

* **Reflow**: at 320 CSS px wide (1280 px at 400 % zoom) the page itself never
  scrolls sideways; a wide table may scroll inside its own box.
* **Text spacing**: with the 1.4.12 spacing (line height 1.5, letter 0.12 em, word
  0.16 em, paragraph 2 em) no label, button, link, badge or heading cell has text
  running out of its box.
* **Target size**: axe-core's ``target-size`` rule (24 x 24 px, or the spacing and
  inline exceptions) finds nothing, at desktop width and at 320 px.

The wall is left out of the reflow and spacing checks: it is a fixed 1080p/4K display
layout with no one reading it up close (docs/accessibility.md, known limits).
"""

from __future__ import annotations

from typing import Any

from dash.testing import wait

from callbacks.router import PAGES
from components.shell import IDS as SHELL
from tests.integration.test_accessibility import (
    PAGE_QUERY,
    _settle,
    _start,
    audited_template,  # noqa: F401  (the fixture)
)
from tests.support import axe

READ_PAGES = sorted(p for p in PAGES if p != "/wall")
NARROW = {"width": 320, "height": 640, "deviceScaleFactor": 1, "mobile": False}

# Elements that stick out past the right edge of the viewport and are not inside a
# box that scrolls (or clips) sideways: what makes the page scroll horizontally.
# Only the outermost such element of each branch is reported.
OVERFLOW_JS = r"""
var doc = document.documentElement, vw = doc.clientWidth;
function ownScroll(n) {
  return n !== document.body && n !== doc &&
         /(auto|scroll|hidden|clip)/.test(getComputedStyle(n).overflowX);
}
var out = [];
var all = document.body.querySelectorAll('*');
for (var i = 0; i < all.length && out.length < 15; i++) {
  var el = all[i], r = el.getBoundingClientRect();
  if (!r.width || r.right <= vw + 1) continue;
  var contained = false;
  for (var p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    if (ownScroll(p) || p.getBoundingClientRect().right > vw + 1) {
      contained = true; break;
    }
  }
  if (contained) continue;
  out.push({tag: el.tagName.toLowerCase(), id: el.id,
            cls: String(el.className || '').slice(0, 80), right: Math.round(r.right),
            text: (el.innerText || '').replace(/\s+/g, ' ').slice(0, 50)});
}
return {scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
        clientWidth: vw, offenders: out};
"""

# WCAG 1.4.12's text spacing, as its understanding document's bookmarklet sets it.
SPACING_CSS = (
    "* { line-height: 1.5 !important; letter-spacing: 0.12em !important;"
    " word-spacing: 0.16em !important; }"
    " p { margin-bottom: 2em !important; }"
)
# Boxes whose text would be cut (or spill out) when it needs more room.
LABELS = (
    "label, button, .btn, .nav-link, .badge, .dropdown-item, summary, th, legend,"
    " .form-label, .navbar-brand, .kpi-title, .kpi-value, .kpi-detail,"
    " .dash-dropdown-value, .dash-dropdown-placeholder"
)
CLIPPED_JS = r"""
var css = arguments[0], selector = arguments[1];
if (!document.getElementById('cc-text-spacing')) {
  var s = document.createElement('style');
  s.id = 'cc-text-spacing'; s.textContent = css; document.head.appendChild(s);
}
var out = [];
document.querySelectorAll(selector).forEach(function (el) {
  var cs = getComputedStyle(el);
  if (cs.display === 'inline' || cs.display === 'none' || cs.visibility === 'hidden') return;
  if (el.closest('.visually-hidden, .modal:not(.show), [inert], .cc-skip-link, svg')) return;
  var r = el.getBoundingClientRect();
  if (!r.width || !r.height) return;
  if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) {
    out.push({tag: el.tagName.toLowerCase(), id: el.id,
              cls: String(el.className || '').slice(0, 60),
              text: (el.innerText || '').replace(/\s+/g, ' ').slice(0, 40),
              scroll: [el.scrollWidth, el.scrollHeight],
              client: [el.clientWidth, el.clientHeight]});
  }
});
return out;
"""


def _narrow(dash_duo, on: bool) -> None:  # noqa: ANN001
    driver = dash_duo.driver
    if on:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", NARROW)
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _visit(dash_duo, path: str) -> None:  # noqa: ANN001
    dash_duo.driver.get(dash_duo.server.url + path + PAGE_QUERY.get(path, ""))
    _settle(dash_duo)


# axe-core's own target-size rule (it is not in axe's default run): the target's
# size, else the 24 px spacing circle against its neighbours; inline links in text
# are exempt as WCAG says.
TARGET_SIZE_JS = """
var done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'rule', values: ['target-size']},
                   resultTypes: ['violations']})
  .then(function (r) {
    done(r.violations.map(function (v) {
      return {id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(function (n) {
                return {target: n.target.join(' '), html: n.html.slice(0, 200),
                        summary: (n.failureSummary || '').slice(0, 300)};
              })};
    }));
  })
  .catch(function (e) { done({error: String(e)}); });
"""


def _targets(dash_duo) -> list[dict[str, Any]]:  # noqa: ANN001
    driver = dash_duo.driver
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe.axe_source())
    driver.set_script_timeout(60)
    result = driver.execute_async_script(TARGET_SIZE_JS)
    assert not (isinstance(result, dict) and "error" in result), result
    return result


def test_reflow001_no_page_scrolls_sideways_at_320_css_px(
    dash_duo,
    audited_template,  # noqa: F811
    tmp_path,
):
    _start(dash_duo, audited_template, tmp_path, "/")
    _settle(dash_duo)
    _narrow(dash_duo, True)
    failures = {}
    for path in READ_PAGES:
        _visit(dash_duo, path)
        found = dash_duo.driver.execute_script(OVERFLOW_JS)
        assert found["clientWidth"] <= 320, found
        if found["scrollWidth"] > found["clientWidth"] + 1 or found["offenders"]:
            failures[path] = found
        # The page still reads narrow: its heading is on screen and the navigation
        # folds behind a menu button (a bar, not the first screen).
        assert dash_duo.find_element("main h1").is_displayed(), path
        assert not dash_duo.find_element("#nav-beds").is_displayed(), path
        bar = dash_duo.find_element(f"#{SHELL.nav} nav").size["height"]
        assert bar <= 0.15 * NARROW["height"], (path, bar)
    # the menu button opens the navigation, inside the viewport, and a link works
    toggle = dash_duo.find_element(f"#{SHELL.nav_toggle}")
    assert toggle.is_displayed() and toggle.get_attribute("aria-label") == "Menu"
    toggle.click()
    wait.until(lambda: dash_duo.find_element("#nav-beds").is_displayed(), 5)
    assert dash_duo.driver.execute_script(
        "var r = document.getElementById('nav-beds').getBoundingClientRect();"
        "return r.width > 0 && r.left >= 0 && r.right <= innerWidth;"
    )
    dash_duo.find_element("#nav-beds").click()
    dash_duo.wait_for_contains_text("main h1", "Beds")
    assert failures == {}
    assert dash_duo.get_logs() == []


def test_reflow002_text_spacing_clips_no_label(
    dash_duo,
    audited_template,  # noqa: F811
    tmp_path,
):
    """1.4.12 at desktop width and at 320 px: nothing's text outgrows its box."""
    _start(dash_duo, audited_template, tmp_path, "/")
    _settle(dash_duo)
    failures = {}
    for narrow in (False, True):
        _narrow(dash_duo, narrow)
        for path in READ_PAGES:
            _visit(dash_duo, path)
            clipped = dash_duo.driver.execute_script(CLIPPED_JS, SPACING_CSS, LABELS)
            if clipped:
                failures[(path, "320 px" if narrow else "1280 px")] = clipped
            # the spacing really applied
            assert dash_duo.driver.execute_script(
                "return getComputedStyle(document.querySelector('main h1'))"
                ".letterSpacing"
            ) not in ("normal", "0px"), path
    assert failures == {}
    assert dash_duo.get_logs() == []


def test_reflow003_every_target_is_at_least_24_px(
    dash_duo,
    audited_template,  # noqa: F811
    tmp_path,
):
    """2.5.8: axe's target-size rule on every page (the wall too) at desktop width
    and at 320 px, with the Acknowledge dialog open on Alerts."""
    _start(dash_duo, audited_template, tmp_path, "/")
    _settle(dash_duo)
    failures = {}
    for narrow in (False, True):
        _narrow(dash_duo, narrow)
        for path in sorted(PAGES):
            _visit(dash_duo, path)
            found = _targets(dash_duo)
            if found:
                failures[(path, "320 px" if narrow else "1280 px")] = axe.describe(
                    found
                )
    _narrow(dash_duo, False)
    _visit(dash_duo, "/alerts")
    dash_duo.find_element("[id*='alerts-ack'][id*='version']").click()
    dash_duo.wait_for_text_to_equal("#alerts-action-title", "Acknowledge alert")
    found = _targets(dash_duo)
    if found:
        failures[("/alerts", "acknowledge dialog")] = axe.describe(found)
    assert failures == {}
    assert dash_duo.get_logs() == []
