"""Polling replies: shared renders and differences (callbacks.delta)."""

from __future__ import annotations

import copy
import threading
import time

import plotly.graph_objects as go
import pytest
from dash import Patch, dcc, html, no_update
from hypothesis import given
from hypothesis import strategies as st

from callbacks.delta import (
    PollMemo,
    Rendered,
    Sender,
    as_patch,
    difference,
    plain,
)


def apply(value, patch: Patch):  # noqa: ANN001, ANN201
    """What the browser does with a Patch of assignments (dash-renderer handlePatch)."""
    value = copy.deepcopy(value)
    for op in patch._operations:
        assert op["operation"] == "Assign"
        *head, last = op["location"]
        target = value
        for key in head:
            target = target[key]
        target[last] = op["params"]["value"]
    return value


def tiles(values: list[str]) -> html.Div:
    return html.Div(
        [
            html.Div([html.Span("Beds available"), html.Strong(v, id=f"t{i}")])
            for i, v in enumerate(values)
        ],
        className="row",
    )


def test_dlt001_a_changed_figure_is_a_patch_of_the_changed_leaves():
    old = plain(tiles(["12", "7", "—"]))
    new = plain(tiles(["12", "8", "—"]))
    ops = difference(old, new)
    assert ops == [(("props", "children", 1, "props", "children", 1, "props",
                     "children"), "8")]  # fmt: skip
    assert apply(old, as_patch(ops)) == new


def test_dlt002_shape_changes_replace_the_smallest_enclosing_value():
    old = plain(tiles(["12", "7"]))
    new = plain(tiles(["12", "7", "3"]))  # a new tile: the list is replaced
    ops = difference(old, new)
    assert [path for path, _ in ops] == [("props", "children")]
    assert apply(old, as_patch(ops)) == new
    # Completely different values at the top: no patch, send the whole value.
    assert difference(plain(html.P("a")), plain(dcc.Store(id="x"))) is not None
    assert difference([1, 2], {"a": 1}) is None
    assert difference("a", "b") is None


def test_dlt003_too_many_changes_send_the_whole_value():
    old = list(range(50))
    new = [v + 1 for v in old]
    assert difference(old, new, limit=10) is None
    assert len(difference(old, new, limit=100)) == 50


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from("abcd"), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values, json_values)
def test_dlt004_applying_the_difference_always_gives_the_new_value(old, new):
    ops = difference(old, new, limit=10_000)
    if ops is None:  # differs at the top: the whole value is sent
        return
    assert apply({"v": old}, as_patch([(("v", *p), v) for p, v in ops])) == {"v": new}


def test_dlt005_reply_sends_nothing_a_patch_or_the_whole_value():
    sender = Sender()
    first = Rendered.of(["as of 10:30", tiles(["12", "7"]), no_update])
    sender.remember(first)
    # A new browser gets everything (no_update stays no_update).
    out = sender.reply(first, None)
    assert out[0] == "as of 10:30" and out[1] == first.values[1]
    assert out[2] is no_update and out[3] == [*first.hashes[:2], None]
    held = out[3]
    # Nothing changed: nothing is sent, not even the hashes.
    assert all(o is no_update for o in sender.reply(first, held))
    # One tile changed: a small Patch; the unchanged line is not sent.
    second = Rendered.of(["as of 10:30", tiles(["12", "9"]), no_update])
    sender.remember(second)
    out = sender.reply(second, held)
    assert out[0] is no_update and isinstance(out[1], Patch)
    assert apply(first.values[1], out[1]) == second.values[1]
    assert out[3][1] == second.hashes[1]
    # A browser holding a value this process never sent gets the whole value.
    out = sender.reply(second, ["x", "y", None])
    assert out[0] == "as of 10:30" and out[1] == second.values[1]
    # An override is sent as it is and is never hashed.
    out = sender.reply(second, held, {0: {"n": 4}})
    assert out[0] == {"n": 4} and out[3][0] is None


def test_dlt006_figures_patch_only_the_changed_cells():
    def fig(z):  # noqa: ANN001, ANN202
        return go.Figure(go.Heatmap(z=z, x=["10:00", "11:00"], y=["A", "B"]))

    sender = Sender()
    a = Rendered.of([fig([[90, 91], [80, 81]])])
    b = Rendered.of([fig([[90, 91], [80, 85]])])
    sender.remember(a)
    sender.remember(b)
    out = sender.reply(b, list(a.hashes))
    assert isinstance(out[0], Patch)
    assert [op["location"] for op in out[0]._operations] == [["data", 0, "z", 1, 1]]
    assert apply(a.values[0], out[0]) == b.values[0]


def test_dlt007_memo_computes_once_per_version_and_bucket_for_all_pollers():
    memo = PollMemo(bucket_seconds=60, timer=lambda: 1000.0)
    calls = []
    gate = threading.Event()

    def compute():  # noqa: ANN202
        calls.append(1)
        gate.wait(5)
        return ["figures", len(calls)]

    version = ["v1"]
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(memo.get(lambda: version[0], "k", compute))
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    assert (memo.misses, memo.hits) == (1, 7)
    # A write (new version) is computed afresh; another view key is its own entry.
    version[0] = "v2"
    assert memo.get(lambda: version[0], "k", compute).values[1] == 2
    assert memo.get(lambda: version[0], "other", compute).values[1] == 3


def test_dlt008_no_version_computes_and_keeps_nothing_and_errors_are_not_kept():
    memo = PollMemo(timer=lambda: 1000.0)
    calls = []

    def broken_version():  # noqa: ANN202
        raise OSError("database unavailable")

    def compute():  # noqa: ANN202
        calls.append(1)
        return ["ERROR"]

    memo.get(broken_version, "k", compute)
    memo.get(broken_version, "k", compute)
    assert len(calls) == 2 and memo.misses == 0

    def failing():  # noqa: ANN202
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        memo.get(lambda: "v", "k", failing)
    assert memo.get(lambda: "v", "k", compute).values == ("ERROR",)


def test_dlt009_the_fast_encoding_is_what_dash_sends():
    from datetime import datetime

    import numpy as np
    import orjson
    import pandas as pd
    from dash._utils import to_json

    from callbacks.delta import encode

    hours = pd.date_range("2026-03-29 00:00", periods=4, freq="h", tz="UTC")
    figure = go.Figure(
        go.Heatmap(z=np.array([[1.5, np.nan, 3, 4]]), x=hours, y=["AMU"]),
        layout={"title": {"text": "Occupancy"}, "uirevision": "RGH"},
    )
    value = html.Div(
        [
            dcc.Graph(id="g", figure=figure),
            html.Span(np.int64(7)),
            html.Time(datetime(2026, 10, 25, 1, 30).isoformat()),
            None,
        ],
        className="row",
    )
    assert orjson.loads(encode(value)) == orjson.loads(to_json(value))
    assert orjson.loads(encode(figure)) == orjson.loads(to_json(figure))


def test_dlt010_memory_is_bounded_by_bytes_and_buckets():
    sender = Sender(max_bytes=25_000)
    big = [Rendered.of([tiles([str(i)] * 40)]) for i in range(3)]
    assert all(10_000 < r.sizes[0] < 12_500 for r in big)
    for r in big:
        sender.remember(r)
    assert sender._values.weight <= 25_000 and len(sender._values.items) == 2
    # The oldest was dropped: a browser holding it gets the whole value.
    out = sender.reply(big[2], [big[0].hashes[0]])
    assert not isinstance(out[0], Patch) and out[0] == big[2].values[0]
    # The memo keeps only the renders of the current time bucket.
    now = [1000.0]
    memo = PollMemo(bucket_seconds=5, timer=lambda: now[0])
    for key in ("a", "b"):
        memo.get(lambda: "v", key, lambda: ["x"])
    now[0] += 5
    memo.get(lambda: "v", "c", lambda: ["y"])
    assert len(memo._entries) == 1


def test_dlt011_parts_are_built_once_per_key_and_bounded_by_bytes():
    from callbacks.delta import Parts

    parts = Parts(max_bytes=25_000)
    built = []

    def build(i):  # noqa: ANN001, ANN202
        built.append(i)
        return tiles([str(i)] * 40)

    first = parts.get(("row", 1), lambda: build(1))
    assert first == plain(tiles(["1"] * 40))  # kept in the form Dash sends
    assert parts.get(("row", 1), lambda: build(1)) == first and built == [1]
    for i in range(2, 6):
        parts.get(("row", i), lambda i=i: build(i))
    assert parts._items.weight <= 25_000 and len(parts._items.items) == 2
    parts.get(("row", 1), lambda: build(1))  # dropped long ago: built again
    assert built == [1, 2, 3, 4, 5, 1]
