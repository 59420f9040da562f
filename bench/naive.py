"""The naive peer: what many first versions do — read whole tables with
``pandas.read_sql`` and compute the screen's figures in pandas.

Each function computes the same figures as the screen's refresh (the headline ones;
the definitions follow ``ops.metrics`` and docs/decisions.md) so the timing compares
like with like. :func:`check_against_snapshot` shows that the naive overview figures
agree with ``data.queries.metrics.snapshot_metrics``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from ops.timeutil import local_day_bounds_utc, local_midnight_utc, to_local

GA = ("general_acute", "assessment", "escalation")
OPEN = ("occupied", "available", "awaiting_clean")


def _read(conn: Any, table: str, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    df = pd.read_sql(f"SELECT * FROM {table}", conn)
    for col in dates:
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df


ATT_DATES = ("arrival_at", "handover_at", "seen_at", "decision_to_admit_at",
             "departure_at")  # fmt: skip
CASE_DATES = ("planned_start", "sent_for_at", "anaesthetic_at", "in_theatre_at",
              "out_of_theatre_at", "recovery_done_at", "cancelled_at")  # fmt: skip


def _beds(conn: Any) -> dict[str, Any]:
    site = _read(conn, "site")
    ward = _read(conn, "ward")
    bed = _read(conn, "bed")
    beds = bed.merge(ward, left_on="ward_id", right_on="id", suffixes=("", "_w"))
    beds = beds.merge(site, left_on="site_id", right_on="id", suffixes=("", "_s"))
    beds["code_site"] = beds["code_s"]
    counts = beds.groupby(["code_site", "state"]).size().unstack(fill_value=0)
    ga = beds[beds.ward_type.isin(GA)]
    ga_occ = ga[ga.state == "occupied"].groupby("code_site").size()
    ga_open = ga[ga.state.isin(OPEN)].groupby("code_site").size()
    return {"site": site, "ward": ward, "beds": beds, "counts": counts,
            "ga_occupied": ga_occ, "ga_open": ga_open}  # fmt: skip


def _ed(conn: Any, now: datetime, tz: str) -> dict[str, Any]:
    att = _read(conn, "ed_attendance", ATT_DATES)
    area = _read(conn, "ed_area")
    midnight = local_midnight_utc(now, tz)
    ts_now = pd.Timestamp(now)
    inside = att[(att.arrival_at <= ts_now) & att.departure_at.isna()]
    dep_today = att[(att.departure_at > pd.Timestamp(midnight))
                    & (att.departure_at <= ts_now)]  # fmt: skip
    within = (dep_today.departure_at - dep_today.arrival_at) <= pd.Timedelta(hours=4)
    amb = att[att["mode"] == "ambulance"]
    handed = amb[
        (amb.handover_at > pd.Timestamp(midnight)) & (amb.handover_at <= ts_now)
    ]
    wait = handed.handover_at - handed.arrival_at
    seen = att[(att.seen_at > pd.Timestamp(midnight)) & (att.seen_at <= ts_now)]
    return {
        "att": att,
        "area": area,
        "in_department": len(inside),
        "waiting": int(inside.seen_at.isna().sum()),
        "over_12h": int((inside.arrival_at < ts_now - pd.Timedelta(hours=12)).sum()),
        "four_hour_pct": 100.0 * within.sum() / len(dep_today)
        if len(dep_today)
        else None,
        "arrivals_today": int(
            (
                (att.arrival_at > pd.Timestamp(midnight)) & (att.arrival_at <= ts_now)
            ).sum()
        ),  # fmt: skip
        "handovers_over_30": int((wait > pd.Timedelta(minutes=30)).sum()),
        "handovers_over_60": int((wait > pd.Timedelta(minutes=60)).sum()),
        "median_to_treatment": float(
            ((seen.seen_at - seen.arrival_at).dt.total_seconds() / 60).median()
        ),  # fmt: skip
        "by_area": inside.groupby("area_id").size(),
    }


def _theatres(conn: Any, now: datetime, tz: str, days: int) -> dict[str, Any]:
    theatre = _read(conn, "theatre")
    sess = _read(conn, "theatre_session", ("planned_start", "planned_end"))
    case = _read(conn, "theatre_case", CASE_DATES)
    today = to_local(now, tz).date()
    start = local_day_bounds_utc(today - timedelta(days=days - 1), tz)[0]
    end = local_day_bounds_utc(today, tz)[1]
    ts_now = pd.Timestamp(now)
    window = sess[(sess.planned_start >= pd.Timestamp(start))
                  & (sess.planned_start < pd.Timestamp(end))]  # fmt: skip
    cases = case.merge(window, left_on="session_id", right_on="id",
                       suffixes=("", "_s"))  # fmt: skip
    # touch time inside the session (capped), up to now
    t0 = cases[["anaesthetic_at", "planned_start_s"]].max(axis=1)
    t1 = cases["out_of_theatre_at"].fillna(ts_now).clip(upper=ts_now)
    t1 = pd.concat([t1, cases["planned_end"]], axis=1).min(axis=1)
    cases["touch"] = (t1 - t0).dt.total_seconds().clip(lower=0).fillna(0)
    window = window.assign(
        day=window.planned_start.dt.tz_convert(tz).dt.date,
        planned=(window.planned_end.clip(upper=ts_now) - window.planned_start)
        .dt.total_seconds()
        .clip(lower=0),
    )
    touch = cases.groupby("session_id")["touch"].sum()
    window = window.assign(touch=window["id"].map(touch).fillna(0))
    grid = window.groupby(["theatre_id", "day"])[["touch", "planned"]].sum()
    grid["pct"] = np.where(grid.planned > 0, 100 * grid.touch / grid.planned, np.nan)
    midnight = pd.Timestamp(local_midnight_utc(now, tz))
    running = window[(window.cancelled_reason.isna()) & (window.planned_start <= ts_now)
                     & (window.planned_end > ts_now)]  # fmt: skip
    done_today = cases[(cases.out_of_theatre_at > midnight)
                       & (cases.out_of_theatre_at <= ts_now)]  # fmt: skip
    active = cases[cases.status.isin(("anaesthetic_room", "in_theatre", "recovery"))]
    return {"theatre": theatre, "grid": grid, "running": len(running),
            "done_today": len(done_today), "in_progress": active.session_id.nunique()}  # fmt: skip


def _stays(conn: Any, now: datetime) -> pd.Series:
    stay = _read(conn, "inpatient_stay", ("medically_ready_at", "discharged_at"))
    nctr = stay[
        stay.discharged_at.isna() & (stay.medically_ready_at <= pd.Timestamp(now))
    ]
    return nctr.groupby("site_id").size()


def overview(engine: Engine, now: datetime, tz: str) -> dict[str, Any]:
    with engine.connect() as conn:
        beds = _beds(conn)
        ed = _ed(conn, now, tz)
        th = _theatres(conn, now, tz, 1)
        nctr = _stays(conn, now)
    ga_occ, ga_open = beds["ga_occupied"].sum(), beds["ga_open"].sum()
    return {
        "beds_available_by_site": beds["counts"]
        .get("available", pd.Series())
        .to_dict(),
        "ga_occupancy_pct": 100.0 * ga_occ / ga_open if ga_open else None,
        "ed_in_department": ed["in_department"],
        "ed_4h_pct_today": ed["four_hour_pct"],
        "ed_arrivals_today": ed["arrivals_today"],
        "nctr_count": int(nctr.sum()),
        "lists_running": th["running"],
        "cases_done_today": th["done_today"],
    }


def beds_page(engine: Engine, now: datetime, hours: int, site: str | None) -> Any:
    with engine.connect() as conn:
        beds = _beds(conn)
        occ = _read(conn, "ward_occupancy_hour", ("hour_start",))
    wards = beds["ward"].merge(beds["site"], left_on="site_id", right_on="id",
                               suffixes=("", "_s"))  # fmt: skip
    if site:
        wards = wards[wards.code_s == site]
    last = pd.Timestamp(now).floor("h")
    occ = occ[(occ.hour_start > last - pd.Timedelta(hours=hours))
              & (occ.hour_start <= last) & occ.ward_id.isin(wards["id"])]  # fmt: skip
    occ = occ.assign(open_beds=occ.occupied + occ.available + occ.awaiting_clean)
    grid = occ.pivot_table(index="ward_id", columns="hour_start", values="occupied",
                           aggfunc="sum")  # fmt: skip
    table = beds["beds"].groupby(["ward_id", "state"]).size().unstack(fill_value=0)
    return grid, table


def ed_page(engine: Engine, now: datetime, tz: str, weeks: int = 8) -> dict[str, Any]:
    with engine.connect() as conn:
        ed = _ed(conn, now, tz)
    att = ed["att"]
    ts_now = pd.Timestamp(now)
    inside = att[(att.arrival_at <= ts_now) & att.departure_at.isna()]
    hours_in = ((ts_now - inside.arrival_at).dt.total_seconds() // 3600).clip(upper=24)
    tid = hours_in.value_counts().sort_index()
    today = to_local(now, tz).date()
    since = pd.Timestamp(local_day_bounds_utc(today - timedelta(weeks=12), tz)[0])
    recent = att[(att.arrival_at >= since) & (att.arrival_at <= ts_now)]
    local = recent.arrival_at.dt.tz_convert(tz)
    per_hour = recent.groupby(recent.arrival_at.dt.floor("h")).size()
    heat = local.groupby([local.dt.weekday, local.dt.hour]).size().unstack(fill_value=0)
    queue = att[(att["mode"] == "ambulance") & att.handover_at.isna()
                & att.departure_at.isna() & (att.arrival_at <= ts_now)]  # fmt: skip
    return {**{k: v for k, v in ed.items() if k != "att"}, "tid": tid,
            "per_hour": per_hour, "heatmap": heat / weeks,
            "queue": queue.sort_values("arrival_at")}  # fmt: skip


def theatres_page(engine: Engine, now: datetime, tz: str, days: int = 14) -> Any:
    with engine.connect() as conn:
        return _theatres(conn, now, tz, days)


def wall(engine: Engine, now: datetime, tz: str) -> Any:
    return (overview(engine, now, tz), beds_page(engine, now, 24, None),
            theatres_page(engine, now, tz, 1))  # fmt: skip


def flow_page(engine: Engine, now: datetime, tz: str) -> dict[str, Any]:
    """The Flow page's bed gap and board the pandas way: whole tables, then filters."""
    with engine.connect() as conn:
        beds = _beds(conn)
        stay = _read(conn, "inpatient_stay",
                     ("admitted_at", "expected_discharge_at", "medically_ready_at",
                      "discharged_at"))  # fmt: skip
        att = _read(conn, "ed_attendance", ("decision_to_admit_at", "departure_at"))
    ts_now = pd.Timestamp(now)
    start = pd.Timestamp(local_day_bounds_utc(to_local(now, tz).date(), tz)[0])
    waiting = att[(att.decision_to_admit_at <= ts_now)
                  & (att.departure_at.isna() | (att.departure_at > ts_now))]  # fmt: skip
    board = stay[stay.discharged_at.isna() & (stay.admitted_at <= ts_now)]
    board = board.assign(los=(ts_now - board.admitted_at).dt.total_seconds() / 86400)
    expected = stay[(stay.expected_discharge_at >= start)
                    & (stay.expected_discharge_at < start + pd.Timedelta(days=1))]  # fmt: skip
    return {"counts": beds["counts"], "waiting": len(waiting),
            "board": board.sort_values("admitted_at"), "expected": len(expected)}  # fmt: skip


NAIVE = {
    "Overview": lambda e, now, tz: overview(e, now, tz),
    "Beds": lambda e, now, tz: beds_page(e, now, 24, None),
    "Beds S01 7d": lambda e, now, tz: beds_page(e, now, 24 * 7, "S01"),
    "ED": lambda e, now, tz: ed_page(e, now, tz),
    "Theatres": lambda e, now, tz: theatres_page(e, now, tz),
    "Wall": lambda e, now, tz: wall(e, now, tz),
    "Flow": lambda e, now, tz: flow_page(e, now, tz),
}


def check_against_snapshot(engine: Engine, now: datetime, tz: str) -> dict[str, Any]:
    """Naive overview figures next to ``snapshot_metrics`` ones (they should agree)."""
    from sqlalchemy.orm import Session

    from data.queries.metrics import snapshot_metrics

    naive = overview(engine, now, tz)
    with Session(engine) as session:
        snap = snapshot_metrics(session, now, tz)
    trust = snap.scopes("trust")[0]
    pairs = {
        "ga_occupancy_pct": (naive["ga_occupancy_pct"],
                             snap.get("ga_occupancy_pct", "trust", trust)),
        "ed_in_department": (naive["ed_in_department"],
                             snap.get("ed_in_department", "trust", trust)),
        "ed_4h_pct_today": (naive["ed_4h_pct_today"],
                            snap.get("ed_4h_pct_today", "trust", trust)),
        "ed_arrivals_today": (naive["ed_arrivals_today"],
                              snap.get("ed_arrivals_today", "trust", trust)),
        "nctr_count": (naive["nctr_count"], snap.get("nctr_count", "trust", trust)),
    }  # fmt: skip
    for code, n in naive["beds_available_by_site"].items():
        pairs[f"beds_available {code}"] = (n, snap.get("beds_available", "site", code))

    def same(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return a is None and b is None
        return abs(float(a) - float(b)) < 1e-6

    return {"agree": all(same(a, b) for a, b in pairs.values()),
            "pairs": {k: [a, b] for k, (a, b) in pairs.items()}}  # fmt: skip
