"""Metric definitions: the one place each operational figure is defined.

The catalogue names every metric the product computes, so alert rules and the OPEL
configuration can be validated against it. The functions below are the single
definitions of the figures; queries feed them counts aggregated in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median


@dataclass(frozen=True)
class MetricDef:
    key: str
    label: str
    unit: str  # "%", "count", "minutes", "seconds"
    scopes: tuple[str, ...]
    description: str


CATALOGUE: dict[str, MetricDef] = {
    m.key: m
    for m in (
        MetricDef(
            "ga_occupancy_pct",
            "G&A bed occupancy",
            "%",
            ("trust", "site", "ward"),
            "Occupied adult G&A beds / open G&A beds (core + escalation open).",
        ),
        MetricDef(
            "beds_available",
            "Beds available now",
            "count",
            ("trust", "site", "ward"),
            "Beds clean and ready now.",
        ),
        MetricDef(
            "escalation_beds_open",
            "Escalation beds open",
            "count",
            ("trust", "site"),
            "Escalation beds open (occupied, available or awaiting clean).",
        ),
        MetricDef(
            "escalation_beds_pct",
            "Escalation beds as % of open beds",
            "%",
            ("trust", "site"),
            "Open escalation beds / all open beds (every ward type; occupied,"
            " available or awaiting clean). OPEL parameter 8.",
        ),
        MetricDef(
            "nctr_pct",
            "Beds occupied by NCTR patients",
            "%",
            ("trust", "site"),
            "Occupied beds whose patient has no criteria to reside / occupied beds.",
        ),
        MetricDef(
            "ed_4h_pct_today",
            "ED 4-hour performance today",
            "%",
            ("trust", "site"),
            "Departures since local midnight with arrival->departure <= 4 h / departures.",
        ),
        MetricDef(
            "ed_4h_pct_24h",
            "ED 4-hour performance, rolling 24 h",
            "%",
            ("trust", "site"),
            "Departures in the last 24 h within 4 h / departures in the last 24 h.",
        ),
        MetricDef(
            "ed_in_department",
            "Patients in ED",
            "count",
            ("trust", "site", "ed_area"),
            "Attendances arrived and not departed.",
        ),
        MetricDef(
            "ed_over_12h_count",
            "Patients > 12 h in ED",
            "count",
            ("trust", "site"),
            "Patients now in the department more than 12 h after arrival.",
        ),
        MetricDef(
            "ed_over_12h_pct",
            "% of ED patients > 12 h",
            "%",
            ("trust", "site"),
            "Patients now in department > 12 h from arrival / patients now in department.",
        ),
        MetricDef(
            "ed_attendances_vs_expected_pct",
            "ED attendances against expected",
            "%",
            ("trust", "site"),
            "Arrivals since local midnight / usual arrivals by this time for this weekday.",
        ),
        MetricDef(
            "majors_resus_occupancy_pct",
            "Adult majors + resus occupancy",
            "%",
            ("trust", "site"),
            "Patients in majors and resus / majors and resus spaces.",
        ),
        MetricDef(
            "ed_area_occupancy_pct",
            "ED area occupancy",
            "%",
            ("ed_area",),
            "Patients in the area / spaces in the area.",
        ),
        MetricDef(
            "median_time_to_treatment_min",
            "Median time to treatment",
            "minutes",
            ("trust", "site"),
            "Median arrival->seen of patients seen since local midnight.",
        ),
        MetricDef(
            "handover_mean_min_4h",
            "Mean ambulance handover time, last 4 h",
            "minutes",
            ("trust", "site"),
            "Mean arrival->handover of ambulance arrivals handed over in the last 4 h.",
        ),
        MetricDef(
            "handovers_over_30_today",
            "Handovers > 30 min today",
            "count",
            ("trust", "site"),
            "Ambulance handovers since local midnight that took more than 30 min.",
        ),
        MetricDef(
            "handovers_over_60_today",
            "Handovers > 60 min today",
            "count",
            ("trust", "site"),
            "Ambulance handovers since local midnight that took more than 60 min.",
        ),
        MetricDef(
            "ambulances_waiting_over_30",
            "Ambulances waiting > 30 min now",
            "count",
            ("trust", "site"),
            "Ambulance arrivals not yet handed over, waiting more than 30 min.",
        ),
        MetricDef(
            "theatre_cancellations_today",
            "On-the-day theatre cancellations",
            "count",
            ("trust", "site", "theatre_suite"),
            "Cases cancelled on the day of surgery since local midnight.",
        ),
        MetricDef(
            "ed_waiting_to_be_seen",
            "Waiting to be seen",
            "count",
            ("trust", "site"),
            "Patients in the department not yet seen by a clinician.",
        ),
        MetricDef(
            "ambulances_waiting",
            "Ambulances waiting",
            "count",
            ("trust", "site"),
            "Ambulance arrivals not yet handed over.",
        ),
        MetricDef(
            "ed_arrivals_today",
            "ED arrivals today",
            "count",
            ("trust", "site"),
            "Arrivals since local midnight.",
        ),
        MetricDef(
            "nctr_count",
            "Patients with no criteria to reside",
            "count",
            ("trust", "site"),
            "Inpatients medically ready to leave and still in a bed.",
        ),
        MetricDef(
            "beds_occupied",
            "Beds occupied",
            "count",
            ("trust", "site"),
            "Occupied beds.",
        ),
        MetricDef(
            "beds_awaiting_clean",
            "Beds awaiting clean",
            "count",
            ("trust", "site"),
            "Empty beds waiting to be cleaned.",
        ),
        MetricDef(
            "beds_blocked",
            "Beds blocked",
            "count",
            ("trust", "site"),
            "Beds out of use (infection control, maintenance, staffing).",
        ),
        MetricDef(
            "beds_closed",
            "Beds closed",
            "count",
            ("trust", "site"),
            "Closed beds, including escalation beds not open.",
        ),
        MetricDef(
            "ga_beds_free",
            "G&A beds free now",
            "count",
            ("trust", "site"),
            "Adult G&A beds clean and ready now (data.queries.flow.bed_gap).",
        ),
        MetricDef(
            "waiting_for_bed",
            "Patients waiting for a bed",
            "count",
            ("trust", "site"),
            "ED patients with a decision to admit who have not left the department.",
        ),
        MetricDef(
            "expected_discharges_today",
            "Expected discharges today",
            "count",
            ("trust", "site"),
            "G&A stays whose expected discharge date is today (local day), still in"
            " or discharged since local midnight.",
        ),
        MetricDef(
            "discharges_today",
            "Discharges today",
            "count",
            ("trust", "site"),
            "G&A stays discharged since local midnight.",
        ),
        MetricDef(
            "data_age_seconds",
            "Age of newest feed data",
            "seconds",
            ("trust", "feed"),
            "Seconds since the feed last wrote anything.",
        ),
    )
}


def ratio_pct(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` as a percentage; ``None`` when undefined.

    Missing data stays missing: a zero denominator gives ``None``, never 0 %.
    """
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return 100.0 * numerator / denominator


def four_hour_pct(within_4h: int, departures: int) -> float | None:
    """4-hour standard: % of departures whose stay was at most 4 hours."""
    return ratio_pct(within_4h, departures)


def stay_within_4h(arrival: datetime, departure: datetime) -> bool:
    return departure - arrival <= timedelta(hours=4)


def occupancy_pct(occupied: int, open_beds: int) -> float | None:
    return ratio_pct(occupied, open_beds)


def overlap_seconds(
    start: datetime, end: datetime, window_start: datetime, window_end: datetime
) -> float:
    """Seconds of [start, end) that fall inside [window_start, window_end)."""
    lo = max(start, window_start)
    hi = min(end, window_end)
    return max(0.0, (hi - lo).total_seconds())


def capped_utilisation_pct(
    session_start: datetime,
    session_end: datetime,
    touch_intervals: Iterable[tuple[datetime, datetime]],
) -> float | None:
    """Touch time inside the planned session / planned session time (over-runs excluded)."""
    planned = (session_end - session_start).total_seconds()
    if planned <= 0:
        return None
    inside = sum(
        overlap_seconds(s, e, session_start, session_end) for s, e in touch_intervals
    )
    return 100.0 * min(inside, planned) / planned


def uncapped_utilisation_pct(
    session_start: datetime,
    session_end: datetime,
    touch_intervals: Iterable[tuple[datetime, datetime]],
) -> float | None:
    planned = (session_end - session_start).total_seconds()
    if planned <= 0:
        return None
    total = sum(max(0.0, (e - s).total_seconds()) for s, e in touch_intervals)
    return 100.0 * total / planned


def median_minutes(values: Sequence[float]) -> float | None:
    return float(median(values)) if values else None
