"""Polling screens: one render per process and time bucket, sent as a difference.

Hundreds of screens poll the same pages. Two mechanisms keep that cheap (figures in
``docs/performance.md``):

* :class:`PollMemo` computes the outputs of a refresh for one set of inputs once per
  process, time bucket (5 s of real time) and view version (every feed's last write,
  the newest audit event, alert transition and OPEL assessment:
  :func:`data.queries.metrics.view_version`). A write is therefore seen by the next
  poll; between writes every poller of the same view shares one render, and pollers
  that arrive together wait for the first one's render instead of all computing. It
  saves work only: a miss computes as before, so several gunicorn workers each keep
  their own and nothing in it is state.
* :func:`reply` sends each output as what changed since the value the browser already
  has. The browser keeps the hashes of the values it was sent in a ``dcc.Store``
  (``sent``); an output whose hash is unchanged is not sent, a changed one is sent as
  a ``dash.Patch`` of the changed leaves when this process still knows the old value
  and the difference is small, otherwise whole.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from copy import deepcopy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from _plotly_utils.utils import convert_to_base64
from dash import Patch, no_update
from plotly.basedatatypes import BaseFigure
from plotly.io.json import to_json_plotly

from data.queries.metrics import view_version
from data.runtime import Runtime, current

log = logging.getLogger(__name__)

BUCKET_SECONDS = 5
# A Patch is sent when its operations are at most this share of the whole value.
PATCH_SHARE = 0.5
MAX_PATCH_OPERATIONS = 400

Path = tuple[str | int, ...]
Operations = list[tuple[Path, Any]]


# ---------------------------------------------------------------------------
# Pure parts: the browser's form of a value, its hash, the difference of two forms.


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _figure(fig: BaseFigure) -> dict[str, Any]:
    """``fig.to_plotly_json()`` without deep-copying the layout's template (the same
    large object in every figure; it holds no arrays to convert), which was most of
    the cost of encoding a figure."""
    if fig._frame_objs:
        return fig.to_plotly_json()
    layout = fig._layout
    out = {
        "data": deepcopy(fig._data),
        "layout": {k: deepcopy(v) for k, v in layout.items() if k != "template"},
    }
    convert_to_base64(out)
    if "template" in layout:
        out["layout"]["template"] = layout["template"]
    return out


def _default(obj: Any) -> Any:
    """What orjson cannot encode by itself: components and figures (their own JSON
    form, as Dash sends them) and anything else the way plotly encodes it."""
    if isinstance(obj, BaseFigure):
        return _figure(obj)
    to_json = getattr(obj, "to_plotly_json", None)
    if to_json is not None:
        return to_json()
    return orjson.loads(to_json_plotly(obj))


def encode(value: Any) -> bytes:
    """The JSON the browser receives for an output value (components included)."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def plain(value: Any) -> Any:
    """:func:`encode`'s JSON as Python values (what the difference is taken on)."""
    return orjson.loads(encode(value))


def difference(
    old: Any, new: Any, limit: int = MAX_PATCH_OPERATIONS
) -> Operations | None:
    """Assignments (path, value) that turn ``old`` into ``new``; ``None`` when the two
    differ at the top or in more than ``limit`` places (send the whole value).

    Dicts with the same keys and lists of the same length are compared member by
    member; anything else that differs is replaced whole at its path.
    """
    operations: Operations = []

    def walk(a: Any, b: Any, path: Path) -> bool:
        if a == b:
            return True
        if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
            return all(walk(a[k], b[k], (*path, k)) for k in b)
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a:
            return all(
                walk(x, y, (*path, i))
                for i, (x, y) in enumerate(zip(a, b, strict=True))
            )
        if not path:
            return False
        operations.append((path, b))
        return len(operations) <= limit

    if not walk(old, new, ()):
        return None
    return operations


def as_patch(operations: Operations) -> Patch:
    patch = Patch()
    for path, value in operations:
        target = patch
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return patch


# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A refresh's outputs in the browser's form with their hashes (``None`` hash:
    the output was ``no_update``)."""

    values: tuple[Any, ...]
    hashes: tuple[str | None, ...]
    sizes: tuple[int, ...]
    encoded: tuple[bytes | None, ...] = ()

    @classmethod
    def of(cls, outputs: Sequence[Any]) -> Rendered:
        values, hashes, sizes, encodings = [], [], [], []
        for value in outputs:
            if value is no_update:
                values.append(no_update)
                hashes.append(None)
                sizes.append(0)
                encodings.append(None)
                continue
            encoded = encode(value)
            values.append(orjson.loads(encoded))
            hashes.append(hashlib.blake2b(encoded, digest_size=10).hexdigest())
            sizes.append(len(encoded))
            encodings.append(encoded)
        return cls(tuple(values), tuple(hashes), tuple(sizes), tuple(encodings))


class _Lru:
    """Least recently used first out, bounded by count and by a total weight."""

    def __init__(self, size: int, max_weight: int | None = None) -> None:
        self.size = size
        self.max_weight = max_weight
        self.weight = 0
        self.items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        found = self.items.get(key)
        if found is None:
            return None
        self.items.move_to_end(key)
        return found[0]

    def put(self, key: Hashable, value: Any, weight: int = 0) -> None:
        old = self.items.pop(key, None)
        if old is not None:
            self.weight -= old[1]
        self.items[key] = (value, weight)
        self.weight += weight
        while len(self.items) > self.size or (
            self.max_weight is not None
            and self.weight > self.max_weight
            and len(self.items) > 1
        ):
            _, (_, dropped) = self.items.popitem(last=False)
            self.weight -= dropped


class Sender:
    """The values this process has sent lately (by hash, kept encoded: compact and
    outside the garbage collector's walk) and the differences between them, so that
    a browser holding one of them gets only what changed."""

    def __init__(
        self,
        values: int = 512,
        differences: int = 1024,
        max_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self._lock = threading.Lock()
        # Bounded by the JSON size of what is kept (memory stays flat over weeks).
        self._values = _Lru(values, max_bytes)
        self._differences = _Lru(differences)
        self.patches = self.wholes = self.unchanged = 0

    def remember(self, rendered: Rendered) -> None:
        with self._lock:
            for key, encoded in zip(rendered.hashes, rendered.encoded, strict=True):
                if key is not None and encoded is not None:
                    self._values.put(key, encoded, len(encoded))

    def _patch_or_none(self, old_key: str, new_key: str, new: Any, size: int) -> Any:
        pair = (old_key, new_key)
        with self._lock:
            cached = self._differences.get(pair)
            old = self._values.get(old_key)
        if cached is None:
            if old is None:
                return None
            operations = difference(orjson.loads(old), new)
            if operations is not None:
                weight = len(orjson.dumps([[list(p), v] for p, v in operations]))
                if weight > PATCH_SHARE * size:
                    operations = None
            cached = (operations,)
            with self._lock:
                self._differences.put(pair, cached)
        operations = cached[0]
        return as_patch(operations) if operations is not None else None

    def reply(
        self,
        rendered: Rendered,
        sent: Sequence[str | None] | None,
        overrides: Mapping[int, Any] | None = None,
    ) -> tuple[Any, ...]:
        """The outputs for a browser that holds the values hashed in ``sent``,
        followed by the new value of its ``sent`` store."""
        sent = list(sent) if isinstance(sent, list) else []
        overrides = overrides or {}
        outputs: list[Any] = []
        hashes: list[str | None] = []
        for i, (value, key, size) in enumerate(
            zip(rendered.values, rendered.hashes, rendered.sizes, strict=True)
        ):
            before = sent[i] if i < len(sent) else None
            if i in overrides:
                outputs.append(overrides[i])
                hashes.append(None)
            elif key is None:
                outputs.append(no_update)
                hashes.append(before)
            elif key == before:
                outputs.append(no_update)
                hashes.append(key)
                self.unchanged += 1
            else:
                patch = (
                    self._patch_or_none(before, key, value, size)
                    if isinstance(before, str)
                    else None
                )
                if patch is not None:
                    self.patches += 1
                else:
                    self.wholes += 1
                outputs.append(patch if patch is not None else value)
                hashes.append(key)
        return (*outputs, hashes if hashes != sent else no_update)


class PollMemo:
    """One :class:`Rendered` per (view key, time bucket, data version) per process."""

    def __init__(
        self,
        bucket_seconds: int = BUCKET_SECONDS,
        size: int = 64,
        timer: Callable[[], float] = time.time,
    ) -> None:
        self.bucket = timedelta(seconds=bucket_seconds)
        self.timer = timer
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Future[Rendered]] = OrderedDict()
        self.hits = self.misses = 0

    def _bucket(self) -> int:
        # Real time, not the trust clock: the bucket says how often to recompute.
        return int(self.timer() // self.bucket.total_seconds())

    def get(
        self,
        version: Callable[[], Hashable] | None,
        key: Hashable,
        compute: Callable[[], Sequence[Any]],
    ) -> Rendered:
        """The render for ``key`` now; ``version`` reads the data version (if it
        fails — the database is away — the render is computed and not kept, so the
        page shows its own error state)."""
        try:
            data_version = version() if version is not None else None
        except Exception as exc:  # the refresh itself reports the failure
            log.debug("poll memo: no data version (%s)", exc)
            return Rendered.of(compute())
        full_key = (key, self._bucket(), data_version)
        with self._lock:
            future = self._entries.get(full_key)
            owner = future is None
            if owner:
                future = Future()
                self._entries[full_key] = future
                # Only this bucket's renders are of use: drop older ones.
                while len(self._entries) > self.size or (
                    len(self._entries) > 1
                    and next(iter(self._entries))[1] < full_key[1]
                ):
                    self._entries.popitem(last=False)
                self.misses += 1
            else:
                self.hits += 1
        if owner:
            try:
                future.set_result(Rendered.of(compute()))
            except BaseException as exc:
                with self._lock:
                    self._entries.pop(full_key, None)
                future.set_exception(exc)
                raise
        return future.result()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Parts:
    """Pieces of a render (a site's section of tiles, say) kept in their JSON form by
    the values they were built from, so a recomputation rebuilds only the pieces whose
    values changed. The key must hold everything the piece shows. Bounded by count
    and by the pieces' JSON size."""

    def __init__(self, size: int = 4096, max_bytes: int = 4 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._items = _Lru(size, max_bytes)
        self.hits = self.misses = 0

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The JSON form of ``build()`` (a component), built once per ``key`` (kept
        encoded: compact and outside the garbage collector's walk)."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self.hits += 1
                return orjson.loads(found)
            self.misses += 1
        encoded = encode(build())
        with self._lock:
            self._items.put(key, encoded, len(encoded))
        return orjson.loads(encoded)


MEMO = PollMemo()
SENDER = Sender()
PARTS = Parts()


def version_of(runtime: Runtime) -> Callable[[], Hashable]:
    """Reads what the memo is keyed by: the database and its view version."""

    def read() -> Hashable:
        with runtime.factory() as session:
            bind = session.get_bind()
            return (id(bind), str(bind.url), view_version(session))

    return read


def poll(
    key: Hashable,
    compute: Callable[[], Sequence[Any]],
    sent: Sequence[str | None] | None,
    *,
    version: Callable[[], Hashable] | None,
    overrides: Mapping[int, Any] | None = None,
) -> tuple[Any, ...]:
    """A polling refresh's reply: the shared render for ``key`` as a difference from
    what this browser holds, then the browser's new ``sent`` hashes."""
    rendered = MEMO.get(version, key, compute)
    SENDER.remember(rendered)
    return SENDER.reply(rendered, sent, overrides)


def filtered_page_poll(
    page: str, refresh: Callable[[str | None, int | None, str | None], Sequence[Any]]
) -> Callable[..., tuple[Any, ...]]:
    """The registered refresh of a page whose view is its query string:
    ``refresh(search, n, body_id)`` shared per view and sent as differences."""

    def page_poll(
        search: str | None,
        n: int | None,
        body_id: str | None = None,
        sent: list | None = None,
    ) -> tuple[Any, ...]:
        return poll(
            (page, search or ""),
            lambda: refresh(search, n, body_id),
            sent,
            version=version_of(current()),
        )

    return page_poll
