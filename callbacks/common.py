"""Glue shared by every page's callbacks: freshness of figures and failed queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from dash import html

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
    """'as of' text and STALE/ERROR state for figures last written at ``as_of``."""
    now = runtime.now()
    tz = runtime.settings.timezone
    if as_of is None and error is None:
        error = "no data has been received yet"
    as_of_text = format_local(as_of, tz, "%H:%M %a %d %b") if as_of else None
    age = (now - as_of).total_seconds() if as_of else None
    status, line = freshness_line(
        as_of_text,
        age if age is not None else 0.0,
        runtime.settings.stale_after_seconds,
        error,
    )
    return Freshness(status, as_of_text, line)


def query_failed(page: str, exc: Exception) -> Freshness:
    """Log a failed query (detail to the log only) and give the page an ERROR state."""
    log.error("%s refresh failed: %s: %s", page, exc.__class__.__name__, exc)
    status, line = freshness_line(None, 0.0, 1, "data could not be read")
    return Freshness(status, None, line)
