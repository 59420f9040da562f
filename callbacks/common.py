"""Glue shared by every page's callbacks: freshness of figures and failed queries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dash import ctx, html, no_update

from components.common import Status, freshness_line
from data.runtime import Runtime
from ops.timeutil import format_local

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Freshness:
    status: Status
    as_of_text: str | None
    line: html.Span


def freshness(
    runtime: Runtime, as_of: datetime | None, error: str | None = None
) -> Freshness:
    """'as of' text and STALE/ERROR state for figures last written at ``as_of``;
    MISSING ("no data yet", not an error) while no feed has ever written."""
    now = runtime.now()
    tz = runtime.settings.timezone
    as_of_text = format_local(as_of, tz, "%H:%M %a %d %b") if as_of else None
    age = (now - as_of).total_seconds() if as_of else None
    status, line = freshness_line(
        as_of_text,
        age,
        runtime.settings.stale_after_seconds,
        error,
        as_of_ms=int(as_of.timestamp() * 1000) if as_of else None,
        now_ms=int(now.timestamp() * 1000),
        tz=tz,
    )
    return Freshness(status, as_of_text, line)


def no_data_yet_json(runtime: Runtime, domain: str) -> Any:
    """A read API's answer while no feed has reported its domain: no figures (not
    counts from the organisation's description), and why."""
    from flask import jsonify

    from data.queries.feeds import DOMAIN_LABELS

    response = jsonify(
        {
            "as_of": None,
            "generated_at": runtime.now().isoformat(),
            "no_data_yet": f"no {DOMAIN_LABELS[domain]} feed has reported yet",
            "sites": [],
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def query_failed(page: str, exc: Exception) -> Freshness:
    """Log a failed query (detail to the log only) and give the page an ERROR state."""
    log.error("%s refresh failed: %s: %s", page, exc.__class__.__name__, exc)
    status, line = freshness_line(None, 0.0, 1, "data could not be read")
    return Freshness(status, None, line)


def keep_in_step(
    url_id: str,
    current: Sequence[Any],
    shown_for: Callable[[dict[str, str]], Sequence[Any]],
    to_address: Callable[[], Any],
    search: str | None,
) -> tuple[Any, ...]:
    """A page's filter controls and the address kept in step both ways, in one
    callback (Dash allows such a cycle only inside one callback). The address is
    the page's own ``dcc.Location`` (``url_id``), so the callback exists only where
    its controls do; every Location follows the same window address.

    A control changed: the new address (``to_address()``), controls unchanged. The
    address changed (Back, Forward, a link to the same page): the controls show what
    it names (``shown_for(query)``), each only where it differs, address unchanged.
    Returns (address, *control values).
    """
    if ctx.triggered_id == url_id:
        from callbacks.router import parse_query

        wanted = shown_for(parse_query(search))
        return (
            no_update,
            *[
                no_update if w == c or (not w and not c) else w
                for w, c in zip(wanted, current, strict=True)
            ],
        )
    return (to_address(), *[no_update] * len(current))


def filter_sync(
    url_id: str,
    shown_for: Callable[[dict[str, str]], Sequence[Any]],
    to_address: Callable[..., Any],
) -> Callable[..., tuple[Any, ...]]:
    """The registered callback of :func:`keep_in_step` for a page: its inputs are the
    filter controls then the page Location's search; ``to_address(*controls,
    search)`` is the page's pure filters → address function."""

    def sync_filters(*values: Any) -> tuple[Any, ...]:
        *controls, search = values
        return keep_in_step(
            url_id, controls, shown_for, lambda: to_address(*controls, search), search
        )

    return sync_filters
