"""axe-core in the browser tests, and the colour arithmetic of WCAG 2.x.

``run_axe(driver)`` injects the vendored ``axe.min.js`` (VENDORED.md) into the page
and returns its violations of the WCAG 2.0-2.2 A/AA rules; ``blocking`` keeps the
serious and critical ones, which the suite fails on.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
AXE_JS = HERE / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"

# axe's rule tags for WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa")
# Best-practice rules held to as well: a page's headings go down one level at a time
# and it has one <h1> (a screen reader's heading list is its table of contents).
EXTRA_RULES = ("heading-order", "page-has-heading-one")
BLOCKING_IMPACTS = ("serious", "critical")

_RUN_JS = """
var done = arguments[arguments.length - 1];
var tags = arguments[0], extra = arguments[1];
axe.run(document, {runOnly: {type: 'tag', values: tags.concat(['best-practice'])},
                   resultTypes: ['violations']})
  .then(function (r) {
    done(r.violations
      .filter(function (v) {
        return v.tags.some(function (t) { return tags.indexOf(t) >= 0; }) ||
               extra.indexOf(v.id) >= 0;
      })
      .map(function (v) {
        return {id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(function (n) {
                  return {target: n.target.join(' '), html: n.html.slice(0, 200),
                          summary: (n.failureSummary || '').slice(0, 300)};
                })};
      }));
  })
  .catch(function (e) { done({error: String(e)}); });
"""


@cache
def axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def run_axe(driver: Any) -> list[dict[str, Any]]:
    """The page's violations of the WCAG A/AA rules (and ``EXTRA_RULES``)."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe_source())
    driver.set_script_timeout(60)
    result = driver.execute_async_script(_RUN_JS, list(WCAG_TAGS), list(EXTRA_RULES))
    if isinstance(result, dict) and "error" in result:
        raise RuntimeError(f"axe failed: {result['error']}")
    return result


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Violations the suite fails on: serious or critical, and ``EXTRA_RULES``."""
    return [
        v
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS or v["id"] in EXTRA_RULES
    ]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']} {v['id']}: {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}  {node['summary']}")
    return "\n".join(lines)


def sha256_of_vendored() -> str:
    return hashlib.sha256(AXE_JS.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# Colours (WCAG 2.x relative luminance and contrast ratio)
# ---------------------------------------------------------------------------

_RGB = re.compile(
    r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)"
)


def parse_colour(css: str) -> tuple[float, float, float, float]:
    """``rgb(...)``/``rgba(...)`` as computed by the browser, or ``#rrggbb``:
    (r, g, b, alpha) with channels 0-255 and alpha 0-1."""
    css = css.strip()
    if css.startswith("#"):
        h = css[1:]
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0)
    if css == "transparent":
        return (0, 0, 0, 0.0)
    m = _RGB.match(css)
    if not m:
        raise ValueError(f"not a colour: {css!r}")
    alpha = m.group(4)
    a = 1.0
    if alpha is not None:
        a = float(alpha[:-1]) / 100 if alpha.endswith("%") else float(alpha)
    return (float(m.group(1)), float(m.group(2)), float(m.group(3)), a)


def over(
    top: tuple[float, float, float, float], bottom: tuple[float, float, float]
) -> tuple[float, float, float]:
    """``top`` composited over an opaque ``bottom``."""
    a = top[3]
    return tuple(top[i] * a + bottom[i] * (1 - a) for i in range(3))  # type: ignore[return-value]


def luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
