"""Regenerate the results section of docs/performance.md from bench/out/results/*.json.

    .venv/bin/python -m bench.report            # rewrites the generated block
    .venv/bin/python -m bench.report --print    # prints it instead

Only the block between the GENERATED markers is replaced; the prose around it
(what was changed and why) is kept.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench import common as c

DOC = c.ROOT / "docs" / "performance.md"
BEGIN = "<!-- BEGIN GENERATED (bench/report.py) -->"
END = "<!-- END GENERATED -->"


def _results() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(c.RESULTS.glob("*.json")):
        out[path.stem] = json.loads(path.read_text())
    return out


def _load_note(r: dict[str, Any]) -> str:
    load = r.get("load") or {}
    if load.get("quiet") is False:
        return (f"**taken under load** (1-min load average {load.get('load_at_start')} "
                f"after waiting {round((load.get('waited_s') or 0) / 60)} min)")  # fmt: skip
    if load.get("quiet"):
        return (
            f"machine quiet (1-min load average {load.get('load_at_start')} at start)"
        )
    return f"1-min load average {load.get('load_at_start')} at start (did not wait)"


TITLES = {
    "": "now (shared render per view, differences, settled-history memos); each "
        "measured poll follows a feed write",
    "-indexes": "earlier: indexes and the snapshot memo only; polls did not follow "
                "writes, every poll sent everything",
    "-before": "first version, before any optimisation",
}  # fmt: skip


def _title(name: str) -> str:
    if name.startswith("load"):
        if name.endswith("-indexes"):
            return f"{name} — earlier: indexes and the snapshot memo only"
        return f"{name} — now (shared render per view, differences)"
    for suffix in ("-indexes", "-before"):
        if name.endswith(suffix):
            return f"{name} — {TITLES[suffix]}"
    return f"{name} — {TITLES['']}" if name.count("-") == 1 else name


def build() -> str:
    results = _results()
    if not results:
        return "No results yet: run the benchmarks (bench/README.md)."
    any_result = next(iter(results.values()))
    m = any_result["machine"]
    parts = [
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, Python {m['python']}. "
        f"Generated {max(r['machine']['date'] for r in results.values())}.",
    ]
    rows = next((r["rows"] for r in results.values() if r.get("rows")), None)
    if rows:
        parts.append("Dataset (`bench/generate.py`, 10 sites, 365 days): " + ", ".join(
            f"{k} {v:,}" for k, v in rows.items()) + " rows.")  # fmt: skip
    order = ["refresh-sqlite", "refresh-postgresql", "refresh-sqlite-indexes",
             "refresh-postgresql-indexes", "refresh-sqlite-before",
             "refresh-postgresql-before"]  # fmt: skip
    names = [n for n in order if n in results] + sorted(
        n for n in results if n.startswith("refresh") and n not in order
    )
    for name in names:
        r = results[name]
        parts.append(f"### {_title(name)}\n\n{r['machine']['date']}; {r['runs']} polls per "
                     f"screen, naive {r['naive_runs']} runs; {_load_note(r)}.\n\n"
                     f"{r['markdown']}")  # fmt: skip
        slow = []
        for s in r["results"]:
            for st in (s.get("slowest_cold_statements")
                       or s.get("slowest_statements", []))[:1]:  # fmt: skip
                slow.append([s["screen"], st["ms"], f"`{st['sql'][:140]}…`"])
        if slow:
            parts.append("Slowest statement per screen (raw replay, median ms):\n\n"
                         + c.markdown_table(["screen", "ms", "statement"], slow))  # fmt: skip
    for name in sorted(n for n in results if n.startswith("load")):
        r = results[name]
        parts.append(f"### {_title(name)}\n\n{r['machine']['date']}; {r['result']['displays']} "
                     f"displays + {r['result']['users']} users, "
                     f"{r['result']['minutes']} min, {r['result']['workers']} gunicorn "
                     f"workers, background worker "
                     f"{'on' if r['result']['background_worker'] else 'off'}; "
                     f"{_load_note(r['result'])}.\n\n{r['markdown']}")  # fmt: skip
    for name in sorted(n for n in results if n.startswith("freshness")):
        r = results[name]
        parts.append(f"### {name}\n\n{r['machine']['date']}; delays per write "
                     f"{r['delays_s']} s; {_load_note(r)}.\n\n{r['markdown']}")  # fmt: skip
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    block = build()
    if args.print:
        print(block)
        return
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    DOC.write_text(f"{head}{BEGIN}\n\n{block}\n\n{END}{tail}")
    print(f"rewrote the generated block of {Path(DOC).relative_to(c.ROOT)}")


if __name__ == "__main__":
    main()
