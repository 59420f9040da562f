"""The alert and OPEL evaluation job (``jobs.worker.JOBS``): one pass a minute.

Reads the configuration and the catalogue metrics, then writes one evaluation pass
(:func:`data.writes.alerts.evaluate`) in a single write transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from data.db import read_session, write_session
from data.queries.alerts import evaluation_due
from data.queries.metrics import MetricSnapshot, snapshot_metrics
from data.writes.alerts import EvaluationResult, evaluate
from ops.alerting import load_and_validate_config

log = logging.getLogger(__name__)


def evaluation_job(runtime: Any) -> EvaluationResult | None:
    """The background job (``jobs.worker.JOBS``): config, snapshot, one write pass."""
    now = runtime.now()
    tz = runtime.settings.timezone
    with read_session(runtime.factory) as session:
        if not evaluation_due(session, now):
            return None
    config = load_and_validate_config()
    with read_session(runtime.factory) as session:
        snapshot: MetricSnapshot | None
        error = None
        try:
            snapshot = snapshot_metrics(session, now, tz)
        except Exception as exc:  # the alerts go to the error state; log the detail
            log.error("metrics snapshot failed: %s: %s", exc.__class__.__name__, exc)
            snapshot, error = None, "metrics could not be read"
    with write_session(runtime.factory) as session:
        result = evaluate(
            session, snapshot, config.rules, config.opel, now, error=error
        )
    if result.ran:
        log.info(
            "alert evaluation at %s: %d transitions (%d firing), %d OPEL stored, "
            "levels %s",
            now.isoformat(),
            len(result.transitions),
            len(result.fired),
            result.opel_stored,
            {f"{k}:{i}": v for (k, i), v in result.opel_levels.items()},
        )
    return result
