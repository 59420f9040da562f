"""Theatre touch time runs from anaesthetic start to leaving theatre: the rule
(ops.theatres), the model's comments and docs/decisions.md say the same."""

from __future__ import annotations

import re
from pathlib import Path

from ops import theatres

ROOT = Path(__file__).resolve().parents[2]


def _field_comment(source: str, name: str) -> str:
    pattern = rf"^\s+{name}: Mapped\[.*?\](?:\s*=.*?)?(?:\s*#(.*))?$"
    match = re.search(pattern, source, re.M)
    assert match, name
    return (match.group(1) or "").strip()


def test_thd001_touch_time_starts_at_anaesthetic_start_everywhere():
    source = (ROOT / "data/models/capacity.py").read_text()
    block = source[source.index("class TheatreCase") :]
    block = block[: block.index("\nclass ")]
    assert "touch time starts" in _field_comment(block, "anaesthetic_at")
    assert "touch time starts" not in _field_comment(block, "in_theatre_at")
    assert "touch time ends" in _field_comment(block, "out_of_theatre_at")
    decisions = (ROOT / "docs/decisions.md").read_text()
    assert "**Touch time** runs from anaesthetic start to leaving theatre" in decisions
    assert "anaesthetic start -> out of theatre" in theatres.__doc__
