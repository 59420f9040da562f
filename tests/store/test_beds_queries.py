"""Beds queries and the beds API against an independent recount from the raw tables.

Runs on SQLite and a real PostgreSQL server. The test adds an empty ward (no beds)
and a closed ward (every bed closed) to the seeded trust.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, event, select, text

from app import create_app
from data.db import write_session
from data.models.base import UTCDateTime
from data.models.capacity import Bed, Site, Ward, WardOccupancyHour
from data.queries import beds as q
from tests.support.apps import FROZEN_NOW, settings_for

OPEN = ("occupied", "available", "awaiting_clean")


@pytest.fixture
def extra_wards(seeded_runtime) -> dict[str, int]:  # noqa: ANN001
    """An empty ward and a closed ward at RGH, written with the ORM."""
    with write_session(seeded_runtime.factory) as s:
        rgh = s.scalar(select(Site).where(Site.code == "RGH"))
        empty = Ward(
            site_id=rgh.id,
            code="ZEMPTY",
            name="Empty Ward",
            specialty="Dermatology",
            ward_type="general_acute",
            core_beds=0,
        )
        closed = Ward(
            site_id=rgh.id,
            code="ZCLOSED",
            name="Closed Ward",
            specialty="Dermatology",
            ward_type="general_acute",
            core_beds=3,
        )
        s.add_all([empty, closed])
        s.flush()
        since = FROZEN_NOW - timedelta(hours=5)
        s.add_all(
            Bed(
                ward_id=closed.id,
                label=f"ZC-{i}",
                is_escalation=False,
                state="closed",
                state_since=since,
            )
            for i in range(3)
        )
        for h in range(3):
            s.add(
                WardOccupancyHour(
                    ward_id=closed.id,
                    hour_start=FROZEN_NOW.replace(minute=0) - timedelta(hours=h),
                    occupied=0,
                    available=0,
                    awaiting_clean=0,
                    blocked=0,
                    closed=3,
                )
            )
        return {"empty": empty.id, "closed": closed.id}


def recount(runtime, site: str | None = None) -> dict[int, dict]:  # noqa: ANN001
    """Per-ward counts straight from ward/bed rows, in Python."""
    with runtime.engine.connect() as conn:
        wards = conn.execute(
            text(
                "SELECT w.id, s.code, w.core_beds, w.ward_type, w.specialty FROM ward w "
                "JOIN site s ON s.id = w.site_id"
            )
        ).all()
        beds = conn.execute(text("SELECT ward_id, state, is_escalation FROM bed")).all()
    out: dict[int, dict] = {}
    for ward_id, code, core, wtype, specialty in wards:
        if site and code != site:
            continue
        out[ward_id] = {
            "site": code,
            "core_beds": core,
            "ward_type": wtype,
            "specialty": specialty,
            "total_beds": 0,
            "open_beds": 0,
            "escalation_open": 0,
            **dict.fromkeys(
                ("occupied", "available", "awaiting_clean", "blocked", "closed"), 0
            ),
        }
    for ward_id, state, esc in beds:
        if ward_id not in out:
            continue
        row = out[ward_id]
        row["total_beds"] += 1
        row[state] += 1
        if state in OPEN:
            row["open_beds"] += 1
            if esc:
                row["escalation_open"] += 1
    for row in out.values():
        row["occupancy_pct"] = (
            100.0 * row["occupied"] / row["open_beds"] if row["open_beds"] else None
        )
    return out


def _as_dict(w: q.WardCounts) -> dict:
    return {name: getattr(w, name) for name in q.COUNT_FIELDS} | {
        "site": w.site_code,
        "ward_type": w.ward_type,
        "specialty": w.specialty,
        "occupancy_pct": w.occupancy_pct,
    }


def test_bed_s001_ward_counts_equal_a_recount_in_one_query(seeded_runtime, extra_wards):
    statements: list[str] = []

    def count(*args) -> None:  # noqa: ANN002
        statements.append(args[2])

    event.listen(seeded_runtime.engine, "before_cursor_execute", count)
    try:
        with seeded_runtime.factory() as s:
            wards = q.ward_counts(s)
    finally:
        event.remove(seeded_runtime.engine, "before_cursor_execute", count)
    assert (
        len([st for st in statements if st.lstrip().upper().startswith("SELECT")]) == 1
    )
    expected = recount(seeded_runtime)
    assert {w.ward_id: _as_dict(w) for w in wards} == expected
    by_id = {w.ward_id: w for w in wards}
    empty, closed = by_id[extra_wards["empty"]], by_id[extra_wards["closed"]]
    assert (empty.total_beds, empty.open_beds, empty.occupancy_pct) == (0, 0, None)
    assert (closed.closed, closed.open_beds, closed.occupancy_pct) == (3, 0, None)
    # The seeded trust is busy: some beds are occupied, some open escalation beds exist
    # somewhere over the history, and totals are consistent.
    assert sum(w.occupied for w in wards) > 0
    for w in wards:
        assert w.total_beds == w.open_beds + w.blocked + w.closed


def test_bed_s002_filters_restrict_wards(seeded_runtime, extra_wards):
    expected = recount(seeded_runtime, site="DDH")
    with seeded_runtime.factory() as s:
        ddh = q.ward_counts(s, q.BedFilters(site="DDH"))
        derm = q.ward_counts(s, q.BedFilters(specialty="Dermatology"))
        cc = q.ward_counts(s, q.BedFilters(ward_type="critical_care"))
        options = q.filter_options(s)
    assert {w.ward_id: _as_dict(w) for w in ddh} == expected
    assert {w.ward_id for w in derm} == set(extra_wards.values())
    assert cc and all(w.ward_type == "critical_care" for w in cc)
    assert [c for c, _ in options.sites] == ["DDH", "RGH"]
    assert "Dermatology" in options.specialties
    assert "critical_care" in options.ward_types
    sites = q.by_site(ddh)
    assert len(sites) == 1
    assert sites[0].counts["occupied"] == sum(r["occupied"] for r in expected.values())


def test_bed_s003_hourly_occupancy_equals_the_stored_hours(seeded_runtime, extra_wards):
    hours = q.hour_window(FROZEN_NOW, "24h")
    assert len(hours) == 24 and hours[-1] == FROZEN_NOW.replace(minute=0)
    with seeded_runtime.factory() as s:
        frame = q.ward_occupancy_hours(s, q.BedFilters(site="RGH"), hours[0], hours[-1])
    with seeded_runtime.engine.connect() as conn:
        raw = conn.execute(
            text(
                "SELECT h.ward_id, h.occupied, h.occupied + h.available + h.awaiting_clean "
                "FROM ward_occupancy_hour h JOIN ward w ON w.id = h.ward_id "
                "JOIN site s ON s.id = w.site_id WHERE s.code = 'RGH' "
                "AND h.hour_start >= :a AND h.hour_start <= :b"
            ).bindparams(
                bindparam("a", type_=UTCDateTime()), bindparam("b", type_=UTCDateTime())
            ),
            {"a": hours[0], "b": hours[-1]},
        ).all()
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for ward_id, occ, open_beds in raw:
        totals[ward_id][0] += occ
        totals[ward_id][1] += open_beds
        totals[ward_id][2] += 1
    got = frame.groupby("ward_id")[["occupied", "open_beds"]].agg(["sum", "count"])
    assert len(frame) == len(raw) > 0
    for ward_id, (occ, open_beds, n) in totals.items():
        assert got.loc[ward_id, ("occupied", "sum")] == occ
        assert got.loc[ward_id, ("open_beds", "sum")] == open_beds
        assert got.loc[ward_id, ("occupied", "count")] == n
    closed = frame[frame.ward_id == extra_wards["closed"]]
    assert len(closed) == 3 and (closed.open_beds == 0).all()
    assert frame.hour_start.min() >= hours[0]


def test_bed_s004_ward_beds_lists_the_wards_beds(seeded_runtime, extra_wards):
    with seeded_runtime.factory() as s:
        ward_id = s.scalar(select(Ward.id).where(Ward.code == "CAR"))
        detail = q.ward_beds(s, ward_id)
        empty = q.ward_beds(s, extra_wards["empty"])
        missing = q.ward_beds(s, 999_999)
        raw = s.execute(
            select(Bed.label, Bed.state, Bed.state_since, Bed.is_escalation).where(
                Bed.ward_id == ward_id
            )
        ).all()
    assert missing is None
    assert empty is not None and empty.beds == []
    assert detail.code == "CAR" and detail.site_code == "RGH"
    assert sorted(
        (b.label, b.state, b.state_since, b.is_escalation) for b in detail.beds
    ) == sorted(tuple(r) for r in raw)
    assert all(b.state_since <= FROZEN_NOW for b in detail.beds)
    assert detail.beds[-1].is_escalation  # core beds first, escalation beds last


def test_bed_s005_api_numbers_equal_the_recount(
    seeded_url, seeded_runtime, extra_wards
):
    app = create_app(settings_for(seeded_url), prepare=False)
    client = app.server.test_client()
    expected = recount(seeded_runtime)
    body = client.get("/api/v1/beds").get_json()
    assert body["as_of"].startswith("2026-11-23T10:30:00")
    assert [s["code"] for s in body["sites"]] == ["DDH", "RGH"]
    seen = {}
    for site in body["sites"]:
        wards = {w["id"]: w for w in site["wards"]}
        for ward_id, w in wards.items():
            e = expected[ward_id]
            assert e["site"] == site["code"]
            for name in q.COUNT_FIELDS:
                assert w[name] == e[name], (ward_id, name)
            if e["occupancy_pct"] is None:
                assert w["occupancy_pct"] is None
            else:
                assert w["occupancy_pct"] == pytest.approx(e["occupancy_pct"], abs=0.01)
        seen.update(wards)
        occupied = sum(expected[i]["occupied"] for i in wards)
        open_beds = sum(expected[i]["open_beds"] for i in wards)
        assert site["occupied"] == occupied and site["open_beds"] == open_beds
        assert site["occupancy_pct"] == pytest.approx(
            100.0 * occupied / open_beds, abs=0.01
        )
    assert set(seen) == set(expected)
    assert seen[extra_wards["empty"]]["occupancy_pct"] is None
    assert seen[extra_wards["closed"]]["closed"] == 3

    rgh = client.get("/api/v1/beds?site=RGH").get_json()
    assert [s["code"] for s in rgh["sites"]] == ["RGH"]
    assert client.get("/api/v1/beds?site=NOPE").status_code == 404
    assert client.post("/api/v1/beds").status_code == 405
    app.server.extensions["command_centre"].engine.dispose()


def test_bed_s006_overview_extras_equal_a_recount(seeded_runtime):
    from data.models.capacity import Theatre, TheatreCase, TheatreSession
    from data.queries.overview import TRUST, overview_extras
    from ops.timeutil import local_day_bounds_utc, to_local

    tz = "Europe/London"
    start, end = local_day_bounds_utc(to_local(FROZEN_NOW, tz).date(), tz)
    with seeded_runtime.factory() as s:
        extras = overview_extras(s, FROZEN_NOW, tz)
        codes = {site.id: site.code for site in s.scalars(select(Site))}
        theatre_site = {t.id: codes[t.site_id] for t in s.scalars(select(Theatre))}
        sessions = s.scalars(select(TheatreSession)).all()
        cases = s.scalars(select(TheatreCase)).all()
        beds = s.execute(
            select(Site.code, Ward.ward_type, Bed.state)
            .join(Ward, Ward.site_id == Site.id)
            .join(Bed, Bed.ward_id == Ward.id)
        ).all()
    site_of_session = {ts.id: theatre_site[ts.theatre_id] for ts in sessions}
    running: dict[str, int] = defaultdict(int)
    planned: dict[str, int] = defaultdict(int)
    for ts in sessions:
        if (
            ts.cancelled_reason is None
            and ts.planned_start <= FROZEN_NOW < ts.planned_end
        ):
            running[theatre_site[ts.theatre_id]] += 1
        if ts.cancelled_reason is None and start <= ts.planned_start < end:
            planned[theatre_site[ts.theatre_id]] += 1
    done: dict[str, int] = defaultdict(int)
    for c in cases:
        if c.out_of_theatre_at and start < c.out_of_theatre_at <= FROZEN_NOW:
            done[site_of_session[c.session_id]] += 1
    available: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, wtype, state in beds:
        if state == "available":
            available[code][wtype] += 1
    for code in codes.values():
        assert extras.lists_running.get(code, 0) == running[code]
        assert extras.lists_planned_today.get(code, 0) == planned[code]
        assert extras.cases_done_today.get(code, 0) == done[code]
        assert dict(extras.available_by_type.get(code, {})) == dict(available[code])
    assert extras.lists_running[TRUST] == sum(running.values()) > 0
    assert extras.cases_done_today[TRUST] == sum(done.values()) > 0


def _texts(component) -> str:  # noqa: ANN001
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_texts(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else _texts(children)


def test_bed_s007_empty_and_broken_stores_show_no_data_and_error(empty_url):
    from callbacks import beds as beds_callbacks
    from callbacks import overview as overview_callbacks
    from data.db import upgrade

    # No schema at all: every query fails -> ERROR state, 503 from the API, no traceback.
    app = create_app(settings_for(empty_url), prepare=False)
    with app.server.test_request_context("/beds"):
        out = beds_callbacks.refresh("?site=RGH", 0, "beds-body")
        assert "Feed error" in _texts(out[0]) and "could not be read" in _texts(out[0])
        assert "Traceback" not in _texts(out[4])
        line, body = overview_callbacks.refresh(0, "overview-body")
        assert "Feed error" in _texts(line)
    response = app.server.test_client().get("/api/v1/beds")
    assert response.status_code == 503
    assert response.get_json() == {"error": "bed figures could not be read"}

    # Schema but no trust: no data, not zeros.
    upgrade(app.server.extensions["command_centre"].engine)
    with app.server.test_request_context("/beds"):
        out = beds_callbacks.refresh("", 0, "beds-body")
        assert "no data has been received yet" in _texts(out[0])
        assert "No wards" in _texts(out[4])
        line, body = overview_callbacks.refresh(0, "overview-body")
        assert "No sites" in _texts(body)
    body = app.server.test_client().get("/api/v1/beds").get_json()
    assert body["as_of"] is None and body["sites"] == []
    app.server.extensions["command_centre"].engine.dispose()
