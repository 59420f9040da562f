"""The wall when it matters: at 1920x1080 and 3840x2160, with 0, 3 and 10 firing
alerts, every label is whole (no text clipped in its box), the alert band stays a
band (a count and the worst few), no text is smaller than ~18 px at 1080p, every ward
on the heatmap is labelled, and the "since" times are the Alerts page's.

Alerts are made to fire through the alert store (``data.writes.alerts.evaluate_rules``)
with trust-wide rules whose condition always holds, so the count is exact."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from dash.testing import wait
from sqlalchemy import func, select

from app import create_app
from components import wall
from data.db import create_db_engine, write_session
from data.models.capacity import Ward
from data.queries.metrics import snapshot_metrics
from data.writes.alerts import evaluate_rules
from ops.alerting import AlertRuleSet, Severity, current_alert_rules
from tests.support.apps import runtime_for, settings_for, start_app

# Long, realistic titles: the longest words of the rules file and then some.
TITLES = (
    "Trust G&A occupancy red: no general and acute bed free",
    "Ambulance handovers over 60 minutes",
    "Patients in ED over 12 hours from arrival",
    "Escalation beds open above plan",
    "No criteria to reside above the agreed level",
    "ED 4-hour performance below the operational target",
    "Ambulances waiting over 30 minutes to hand over",
    "Patients waiting to be seen in ED",
    "Theatre cancellations on the day",
    "Trust G&A occupancy amber",
)
METRICS = (
    "ga_occupancy_pct",
    "ambulances_waiting",
    "ed_in_department",
    "beds_available",
    "nctr_count",
    "ed_in_department",
    "ambulances_waiting",
    "ed_in_department",
    "beds_available",
    "ga_occupancy_pct",
)

# Every element that holds text on the wall: none may be clipped in its own box.
CLIPPED_JS = """
var out = [], d = document.documentElement;
if (d.scrollHeight > innerHeight) out.push('page scrolls vertically');
if (d.scrollWidth > innerWidth) out.push('page scrolls horizontally');
document.querySelectorAll('.wall-root *').forEach(function (e) {
  if (e.closest('.visually-hidden') || e.closest('svg') || e.closest('.js-plotly-plot'))
    return;
  var own = Array.from(e.childNodes).some(function (n) {
    return n.nodeType === 3 && n.textContent.trim();
  });
  if (!own || !e.offsetParent) return;
  var s = getComputedStyle(e);
  if (e.scrollWidth > e.clientWidth + 1 && s.display !== 'inline')
    out.push('cut across: ' + (e.id || e.className) + ' "' + e.textContent.trim().slice(0, 40) +
             '" ' + e.scrollWidth + '>' + e.clientWidth);
  if (s.overflow !== 'visible' && e.scrollHeight > e.clientHeight + 1 && s.display !== 'inline')
    out.push('cut below: ' + (e.id || e.className) + ' "' + e.textContent.trim().slice(0, 40) +
             '" ' + e.scrollHeight + '>' + e.clientHeight);
  // a box whose ancestor hides its overflow must lie inside that ancestor,
  // and a figure's text inside its tile
  var r = e.getBoundingClientRect(), p = e.parentElement, tile = e.closest('.kpi-tile');
  if (tile) {
    var t = tile.getBoundingClientRect();
    if (r.right > t.right + 1 || r.left < t.left - 1 || r.bottom > t.bottom + 1)
      out.push('outside its tile: ' + (e.id || e.className) + ' "' +
               e.textContent.trim().slice(0, 40) + '" in ' + tile.id);
  }
  while (p && !p.classList.contains('wall-root')) {
    var ps = getComputedStyle(p);
    if (ps.overflow !== 'visible') {
      var q = p.getBoundingClientRect();
      if (r.right > q.right + 1 || r.bottom > q.bottom + 1 || r.left < q.left - 1)
        out.push('outside its box: ' + (e.id || e.className) + ' "' +
                 e.textContent.trim().slice(0, 40) + '" in ' + (p.id || p.className));
      break;
    }
    p = p.parentElement;
  }
});
return out;
"""

SMALL_TEXT_JS = """
var out = [], min = arguments[0];
document.querySelectorAll('.wall-root *').forEach(function (e) {
  if (e.closest('.visually-hidden') || !e.offsetParent) return;
  var own = Array.from(e.childNodes).some(function (n) {
    return n.nodeType === 3 && n.textContent.trim();
  });
  if (!own) return;
  var size = parseFloat(getComputedStyle(e).fontSize);
  if (size < min) out.push((e.id || e.className || e.tagName) + ' "' +
                           e.textContent.trim().slice(0, 30) + '" ' + size.toFixed(1) + 'px');
});
document.querySelectorAll('#wall-heatmap .ytick text, #wall-heatmap .xtick text')
  .forEach(function (t) {
    var size = parseFloat(t.style.fontSize || getComputedStyle(t).fontSize);
    if (size < min) out.push('heatmap tick "' + t.textContent + '" ' + size + 'px');
  });
return out;
"""


# Every ward's row label, with its column's title (a trust wall past 20 wards has one
# column per site, whose rows drop the site code).
HEATMAP_TICKS_JS = """
var out = [], columns = document.querySelectorAll('#wall-heatmap .wall-heatmap-column');
if (!columns.length) columns = document.querySelectorAll('#wall-heatmap');
columns.forEach(function (c) {
  var title = c.querySelector('.wall-heatmap-title');
  c.querySelectorAll('.ytick text').forEach(function (t) {
    out.push((title ? title.textContent + ' ' : '') + t.textContent);
  });
});
return out;
"""

# No two tick labels of one axis overlap (a label box's font padding, 15% top and
# bottom, is not ink and may touch the next).
OVERLAP_JS = """
var out = [], graphs = document.querySelectorAll('#wall-heatmap .wall-heatmap-graph');
if (!graphs.length) graphs = document.querySelectorAll('#wall-heatmap');
graphs.forEach(function (g, i) {
  ['.ytick text', '.xtick text'].forEach(function (sel) {
    var boxes = Array.from(g.querySelectorAll(sel)).map(function (t) {
      var r = t.getBoundingClientRect(), pad = 0.15 * r.height;
      return {text: t.textContent, left: r.left, right: r.right,
              top: r.top + pad, bottom: r.bottom - pad};
    });
    for (var a = 0; a < boxes.length; a++)
      for (var b = a + 1; b < boxes.length; b++) {
        var p = boxes[a], q = boxes[b];
        if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom)
          out.push('column ' + i + ': "' + p.text + '" overlaps "' + q.text + '"');
      }
  });
});
return out;
"""


def fire(url: str, count: int) -> None:
    """Make exactly ``count`` trust-wide alerts fire (critical first), written by the
    alert store's evaluation from the database's own figures."""
    runtime = runtime_for(settings_for(url))
    base = current_alert_rules().rules[0]
    rules = tuple(
        replace(
            base,
            id=f"test-pressure-{i}",
            title=TITLES[i],
            metric=METRICS[i],
            scope="trust",
            op=">=",
            threshold=-1e9,
            clear=-2e9,
            for_duration=timedelta(0),
            recover_for=timedelta(0),
            severity=Severity.CRITICAL if i % 3 == 0 else Severity.WARNING,
            expect=(),
        )
        for i in range(count)
    )
    now = runtime.now()
    with write_session(runtime.factory) as s:
        snap = snapshot_metrics(
            s, now - timedelta(minutes=30), runtime.settings.timezone
        )
        evaluate_rules(s, snap, AlertRuleSet("test-pressure", "test", rules),
                       now - timedelta(minutes=30))  # fmt: skip
    runtime.engine.dispose()


def ward_count(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as c:
            return c.scalar(select(func.count()).select_from(Ward))
    finally:
        engine.dispose()


def _open(dash_duo, width: int, height: int) -> None:  # noqa: ANN001
    # A wall is a full-screen kiosk: the page gets the whole screen, so the
    # viewport (not the window with its browser frame) is set to the screen size.
    dash_duo.driver.set_window_size(width, height)
    dash_duo.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    dash_duo.driver.get(f"{dash_duo.server.url}/wall?display=trust-overview")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.title}", "Trust overview")
    dash_duo.wait_for_element(f"#{wall.IDS.heatmap} .main-svg")
    dash_duo.wait_for_contains_text(f"#{wall.IDS.opel}", "OPEL")
    wait.until(lambda: dash_duo.find_element(f"#{wall.IDS.clock}").text != "--:--", 5)
    # the first poll draws for a guessed screen; the next (within 2 s) for this one
    sized = (
        "var t = document.querySelector('#wall-heatmap .ytick text');"
        "return t ? parseFloat(t.style.fontSize) : 0"
    )
    wait.until(
        lambda: dash_duo.driver.execute_script(sized) >= 17.5 * height / 1080, 15
    )
    time.sleep(1.5)  # fonts and the heatmap's resize settle


@pytest.mark.parametrize("firing", [0, 3, 10])
def test_wal101_every_label_whole_at_1080p_and_4k(dash_duo, seeded_sqlite_url, firing):
    fire(seeded_sqlite_url, firing)
    wards = ward_count(seeded_sqlite_url)
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app, navigate=False)
    for width, height in ((1920, 1080), (3840, 2160)):
        _open(dash_duo, width, height)
        clipped = dash_duo.driver.execute_script(CLIPPED_JS)
        assert not clipped, f"{width}x{height}:\n" + "\n".join(clipped)
        # nothing under ~18 px at 1080p (twice that at 4K)
        small = dash_duo.driver.execute_script(SMALL_TEXT_JS, 17.5 * height / 1080)
        assert not small, f"{width}x{height}:\n" + "\n".join(small)
        band = dash_duo.find_element(f"#{wall.IDS.alerts}")
        if firing:
            # a count and the worst few; the band never takes a quarter of the screen
            count = dash_duo.find_element(f"#{wall.IDS.alerts}-count").text
            assert count.startswith(f"{firing} alert"), count
            shown = dash_duo.driver.find_elements(
                "css selector", f"#{wall.IDS.alerts} .wall-alert"
            )
            assert 1 <= len(shown) <= 3
            assert "CRITICAL" in shown[0].text.upper()
            assert band.size["height"] <= 0.15 * height, band.size
        else:
            assert band.size["height"] == 0
        # every ward on the heatmap is labelled
        ticks = dash_duo.driver.execute_script(HEATMAP_TICKS_JS)
        assert len(ticks) == wards and len(set(ticks)) == wards, ticks
        overlaps = dash_duo.driver.execute_script(OVERLAP_JS)
        assert not overlaps, f"{width}x{height}:\n" + "\n".join(overlaps)
        # ED areas: majors and minors told apart, whole
        areas = [e.text for e in dash_duo.driver.find_elements(
            "css selector", ".wall-area-name")]  # fmt: skip
        assert any("Majors" in a for a in areas) and any("Minors" in a for a in areas)
        for title in ("Ambulances waiting", "Waiting to be seen", "4-hour today"):
            assert title in dash_duo.find_element(f"#{wall.IDS.panel('ed_board')}").text
    assert dash_duo.get_logs() == []


def test_wal102_since_times_match_the_alerts_page(dash_duo, seeded_sqlite_url):
    fire(seeded_sqlite_url, 3)
    app = create_app(settings_for(seeded_sqlite_url), prepare=False)
    start_app(dash_duo, app, navigate=False)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.driver.get(f"{dash_duo.server.url}/alerts")
    dash_duo.wait_for_contains_text("body", TITLES[0])
    row = next(
        r for r in dash_duo.driver.find_elements("css selector", "tr")
        if TITLES[0] in r.text
    )  # fmt: skip
    since = row.find_elements("css selector", "td")[4].text
    assert since and since[0].isdigit(), since
    _open(dash_duo, 1920, 1080)
    first = dash_duo.find_elements(f"#{wall.IDS.alerts} .wall-alert")[0]
    assert TITLES[0] in first.text
    assert f"since {since}" in first.text, (first.text, since)
    assert dash_duo.get_logs() == []
