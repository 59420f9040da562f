"""Patient flow rules: stranded flags, the bed-gap projection, discharge timing.

Pure functions; ``data.queries.flow`` feeds them counts and times read from the store.
Every figure of the Flow page and of the flow metrics in the catalogue comes from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

STRANDED_DAYS = 7
SUPER_STRANDED_DAYS = 21
SAFER_BEFORE_NOON_PCT = 33.0  # SAFER bundle: a third of discharges before midday
PATHWAYS = ("P0", "P1", "P2", "P3")
PATHWAY_LABELS = {
    "P0": "P0 home, no new support",
    "P1": "P1 home with new support",
    "P2": "P2 bedded rehabilitation / short-term care",
    "P3": "P3 new care-home placement",
}
# Local times the bed-gap projection is shown for (None: the coming midnight).
PROJECTION_TIMES: tuple[tuple[str, int | None], ...] = (
    ("12:00", 12),
    ("16:00", 16),
    ("Midnight", None),
)
PROJECTION_RULE = (
    "beds available now + beds awaiting clean now + open G&A stays whose expected "
    "discharge falls between local midnight today and the time − patients in ED "
    "with a decision to admit waiting for a bed now"
)


def length_of_stay_days(admitted_at: datetime, now: datetime) -> float:
    return max((now - admitted_at).total_seconds(), 0.0) / 86400.0


def stranded_flag(los_days: float) -> str | None:
    """'super-stranded' (≥ 21 days), 'stranded' (≥ 7 days) or None."""
    if los_days >= SUPER_STRANDED_DAYS:
        return "super-stranded"
    if los_days >= STRANDED_DAYS:
        return "stranded"
    return None


def edd_overdue(expected: datetime | None, now: datetime) -> bool:
    """An expected discharge time already passed (the patient is still in)."""
    return expected is not None and expected < now


@dataclass(frozen=True)
class Projection:
    label: str
    at: datetime  # UTC
    expected_out: int  # open stays expected to leave between midnight and ``at``
    free: int | None  # None when a count it needs is missing


def project_free(
    available: int | None,
    awaiting_clean: int | None,
    waiting: int | None,
    expected_out: int,
) -> int | None:
    """Beds expected free at a time (:data:`PROJECTION_RULE`); missing stays missing."""
    if available is None or awaiting_clean is None or waiting is None:
        return None
    return available + awaiting_clean + expected_out - waiting


def pct_before_noon(before_noon: int, total: int) -> float | None:
    return None if total == 0 else 100.0 * before_noon / total


def deficit(expected: int, done: int) -> int:
    """Discharge deficit (expected by the time minus done by then); may be negative."""
    return expected - done


def hourly_counts(local_times: Iterable[datetime]) -> list[int]:
    """Counts per local hour 0..23 of local (zone-aware) times. A 25-hour day (the
    October clock change) puts both 01:00 hours together in hour 1."""
    counts = [0] * 24
    for t in local_times:
        counts[t.hour] += 1
    return counts


def usual_by_hour(days: Sequence[Sequence[int]]) -> list[float | None]:
    """Mean count per hour over earlier days (same weekday); None without any day."""
    if not days:
        return [None] * 24
    return [sum(d[h] for d in days) / len(days) for h in range(24)]


def same_weekdays(today: date, weeks: int = 4) -> list[date]:
    return [today - timedelta(days=7 * k) for k in range(1, weeks + 1)]


# -- configuration ----------------------------------------------------------------

DEFAULT_DISCHARGE_CONFIG_PATH = (
    Path(__file__).resolve().parent.parent / "config" / "discharge.yaml"
)
_LOADED: dict = {}


def load_delay_reasons(
    path: str | Path = DEFAULT_DISCHARGE_CONFIG_PATH,
) -> tuple[str, ...]:
    """The configured delay reasons (config/discharge.yaml); ConfigError if bad."""
    from ops.config_errors import once_per_file_version

    return once_per_file_version(_LOADED, path, _load_delay_reasons)


def _load_delay_reasons(path: str | Path) -> tuple[str, ...]:
    from ops.config_errors import ConfigError, read_yaml_mapping

    data = read_yaml_mapping(path)
    reasons = data.get("delay_reasons")
    if not isinstance(reasons, list) or not reasons:
        raise ConfigError(path, "delay_reasons", "a non-empty list of reasons")
    out: list[str] = []
    for i, r in enumerate(reasons):
        if not isinstance(r, str) or not r.strip() or len(r.strip()) > 64:
            raise ConfigError(path, f"delay_reasons[{i}]", "text of 1 to 64 characters")
        if r.strip() in out:
            raise ConfigError(path, f"delay_reasons[{i}]", f"{r!r} is listed twice")
        out.append(r.strip())
    return tuple(out)
