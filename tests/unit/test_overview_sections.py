"""An Overview section says once when its figures are from, in its header."""

from __future__ import annotations

from components import overview
from components.common import Status


def _walk(node):  # noqa: ANN001, ANN202
    yield node
    children = getattr(node, "children", None)
    if children is None or isinstance(children, str | int | float):
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        yield from _walk(child)


def test_ovr_u101_one_as_of_per_section_none_per_tile():
    values = overview.ScopeValues({"ga_occupancy_pct": 93.0}, {}, None, None, None)
    card = overview.scope_section(
        "Downs District Hospital (DDH)", "DDH", "DDH", values,
        "10:30 Mon 23 Nov", Status.OK,
    )  # fmt: skip
    nodes = list(_walk(card))
    as_of = [n for n in nodes if str(getattr(n, "id", "")).endswith("-as-of")]
    assert [n.children for n in as_of] == ["as of 10:30 Mon 23 Nov"]
    assert not any("kpi-as-of" in (getattr(n, "className", "") or "") for n in nodes)
    tiles = [n for n in nodes if "kpi-tile " in (getattr(n, "className", "") or "")]
    assert len(tiles) > 10
