"""Loading the organisation file into the store: diff, apply, retire, export, codes.

Runs on SQLite and on the throwaway PostgreSQL server (``empty_url``).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import Bed, BedEvent, EdArea, Site, Theatre, Trust, Ward
from data.models.organisation import EdSpace, LocationCode
from data.models.security import AuditEvent
from data.models.system import FeedStatus
from data.queries.beds import ward_counts
from data.queries.metrics import snapshot_metrics
from data.queries.organisation import (
    resolve_fhir_location,
    resolve_hl7_location,
    resolve_hl7_pl,
)
from data.queries.overview import overview_extras
from data.runtime import Runtime, install
from data.writes.organisation import (
    OrganisationApplyError,
    apply_organisation,
    diff_organisation,
    export_organisation,
)
from feeds.organisation_cli import register
from feeds.seed import create_organisation
from ops.organisation import load_organisation_file, parse_organisation
from tests.support.apps import settings_for

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "organisation" / "demo.yaml"
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(days=3)
FHIR = "https://trust.example/location"


def doc() -> dict:
    """A small trust: one site, two wards (11 beds), two ED areas, two theatres."""
    return {
        "trust": {"code": "TST", "name": "Test Trust"},
        "sites": [
            {
                "code": "AAA",
                "ods_code": "RXX01",
                "name": "Alpha Hospital",
                "wards": [
                    {
                        "code": "CAR",
                        "name": "Cardiology",
                        "specialty": "Cardiology",
                        "ward_type": "general_acute",
                        "core_beds": 4,
                        "bed_range": {"prefix": "CAR-", "count": 4, "escalation": 2},
                        "beds": [
                            {
                                "label": "CAR-01",
                                "side_room": True,
                                "codes": {"fhir": [{"system": FHIR, "value": "C1"}]},
                            }
                        ],
                    },
                    {
                        "code": "MED",
                        "name": "Medicine",
                        "specialty": "General medicine",
                        "ward_type": "general_acute",
                        "bed_range": {"prefix": "MED-", "count": 5},
                        "codes": {
                            "hl7": [{"point_of_care": "W7", "facility": "ALPHA"}]
                        },
                    },
                ],
                "ed_areas": [
                    {"code": "majors", "space_range": {"prefix": "MAJ-", "count": 3}},
                    {
                        "code": "resus",
                        "spaces": [
                            "R1",
                            {
                                "label": "R2",
                                "codes": {
                                    "hl7": [{"point_of_care": "RESUS", "bed": "2"}]
                                },
                            },
                        ],
                    },
                ],
                "theatres": [
                    {"code": "T1", "name": "Theatre 1", "suite": "Main"},
                    {"code": "T2", "name": "CEPOD", "suite": "Main", "emergency": True},
                ],
            }
        ],
    }


def org(data: dict | None = None):  # noqa: ANN201
    return parse_organisation(data or doc(), "test.yaml")


def load(factory: sessionmaker[Session], data: dict | None = None, at=AT):  # noqa: ANN001, ANN201
    with write_session(factory) as s:
        return apply_organisation(
            s, org(data), at=at, actor_username="ada", actor_role="admin"
        )


@pytest.fixture
def factory(empty_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(empty_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _second_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'second.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:10]}")


def count(s: Session, model) -> int:  # noqa: ANN001
    return s.scalar(select(func.count()).select_from(model)) or 0


def test_orgdb001_load_into_an_empty_database(factory) -> None:  # noqa: ANN001
    diff = load(factory)
    assert diff.summary() == {
        "trust": {"added": 1},
        "site": {"added": 1},
        "ward": {"added": 2},
        "bed": {"added": 11},
        "ed_area": {"added": 2},
        "ed_space": {"added": 5},
        "theatre": {"added": 2},
    }
    with factory() as s:
        site = s.scalar(select(Site))
        assert (site.code, site.ods_code, site.retired_at) == ("AAA", "RXX01", None)
        car = s.scalar(select(Ward).where(Ward.code == "CAR"))
        assert (car.core_beds, car.general_and_acute) == (4, True)
        beds = {b.label: b for b in s.scalars(select(Bed))}
        assert len(beds) == 11
        assert beds["CAR-01"].side_room and not beds["CAR-02"].side_room
        assert (beds["CAR-02"].state, beds["CAR-02"].state_since) == ("available", AT)
        assert (beds["CAR-E1"].state, beds["CAR-E1"].is_escalation) == ("closed", True)
        events = s.execute(
            select(BedEvent.bed_id, BedEvent.state, BedEvent.at, BedEvent.source)
        ).all()
        assert len(events) == 11
        assert {(e.at, e.source) for e in events} == {(AT, "organisation")}
        by_bed = {e.bed_id: e.state for e in events}
        assert by_bed[beds["CAR-E2"].id] == "closed"
        assert by_bed[beds["MED-05"].id] == "available"
        areas = {a.code: a for a in s.scalars(select(EdArea))}
        assert (areas["majors"].spaces, areas["resus"].spaces) == (3, 2)
        assert areas["majors"].name == "Majors"
        assert count(s, EdSpace) == 5
        t2 = s.scalar(select(Theatre).where(Theatre.code == "T2"))
        assert t2.is_emergency
        # 2 wards + 11 beds + 2 areas + 5 spaces carry an HL7 code; one FHIR code
        assert count(s, LocationCode) == 21
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "organisation.load")
        ).all()
        assert len(audit) == 1
        assert (audit[0].actor_username, audit[0].entity_id) == ("ada", "TST")
        assert audit[0].after["summary"]["bed"] == {"added": 11}
        assert audit[0].after["counts"]["beds"] == 11


def test_orgdb002_reload_unchanged_is_an_empty_diff(factory) -> None:  # noqa: ANN001
    load(factory)
    with factory() as s:
        assert diff_organisation(s, org()).is_empty
    diff = load(factory, at=LATER)
    assert diff.is_empty and diff.lines() == ["trust TST: no changes"]
    with factory() as s:
        assert count(s, BedEvent) == 11 and count(s, LocationCode) == 21
        assert count(s, AuditEvent) == 2  # every load is audited, empty or not


def test_orgdb003_removed_bed_is_retired_and_stops_counting(factory) -> None:  # noqa: ANN001
    load(factory)
    with write_session(factory) as s:
        s.add(FeedStatus(feed="beds", last_write_at=AT))  # a beds feed has reported
    with factory() as s:
        car_id = s.scalar(select(Ward.id).where(Ward.code == "CAR"))
        before = {w.code: w for w in ward_counts(s)}["CAR"]
        snap = snapshot_metrics(s, LATER, "Europe/London")
        avail_before = snap.get("beds_available", "ward", str(car_id))
        assert snap.get("beds_available", "site", "AAA") == 9
        extras = overview_extras(s, LATER, "Europe/London")
        assert extras.available_by_type["AAA"]["general_acute"] == 9
    assert (before.total_beds, before.available) == (6, 4)
    assert avail_before == 4

    smaller = doc()
    smaller["sites"][0]["wards"][0]["bed_range"]["count"] = 3
    smaller["sites"][0]["wards"][0]["core_beds"] = 3
    with factory() as s:
        diff = diff_organisation(s, org(smaller))
    assert diff.keys("bed", "retired") == ["AAA/CAR/CAR-04"]
    assert [c.line() for c in diff.changes] == [
        "ward AAA/CAR: core_beds 4 -> 3",
        "bed AAA/CAR/CAR-04: retired",
    ]
    load(factory, smaller, at=LATER)

    with factory() as s:
        bed = s.scalar(select(Bed).where(Bed.label == "CAR-04"))
        assert bed is not None and bed.retired_at == LATER  # kept, not deleted
        history = s.execute(
            select(BedEvent.state, BedEvent.at, BedEvent.reason)
            .where(BedEvent.bed_id == bed.id)
            .order_by(BedEvent.at)
        ).all()
        assert [tuple(h) for h in history] == [
            ("available", AT, None),
            ("closed", LATER, "retired"),
        ]
        after = {w.code: w for w in ward_counts(s)}["CAR"]
        assert (after.total_beds, after.available, after.closed) == (5, 3, 2)
        snap = snapshot_metrics(s, LATER, "Europe/London")
        assert snap.get("beds_available", "ward", str(car_id)) == 3
        assert snap.get("beds_available", "site", "AAA") == 8
        assert snap.get("beds_closed", "site", "AAA") == 2  # escalation beds only
        extras = overview_extras(s, LATER, "Europe/London")
        assert extras.available_by_type["AAA"]["general_acute"] == 8
        # its code no longer names a location
        assert resolve_hl7_location(s, "CAR", None, "CAR-04", "AAA") is None

    # back in the file: reactivated, available again, history continues
    diff = load(factory, at=LATER + timedelta(hours=1))
    assert diff.keys("bed", "reactivated") == ["AAA/CAR/CAR-04"]
    with factory() as s:
        bed = s.scalar(select(Bed).where(Bed.label == "CAR-04"))
        assert (bed.retired_at, bed.state) == (None, "available")
        assert count(s, Bed) == 11
        assert resolve_hl7_location(s, "CAR", None, "CAR-04", "AAA").bed_id == bed.id


def test_orgdb004_retired_ward_and_renames(factory) -> None:  # noqa: ANN001
    load(factory)
    changed = doc()
    site = changed["sites"][0]
    del site["wards"][1]  # MED goes
    site["wards"][0]["name"] = "Cardiology (Ward 4)"
    site["theatres"][0]["suite"] = "Day unit"
    site["ed_areas"][1]["spaces"] = ["R1"]
    diff = load(factory, changed, at=LATER)
    s_ = diff.summary()
    assert s_["ward"] == {"renamed": 1, "retired": 1}
    assert s_["bed"] == {"retired": 5}
    assert s_["ed_space"] == {"retired": 1}
    assert s_["theatre"] == {"changed": 1}
    with factory() as s:
        med = s.scalar(select(Ward).where(Ward.code == "MED"))
        assert med.retired_at == LATER
        assert "MED" not in {w.code for w in ward_counts(s)}
        assert s.scalar(select(EdArea.spaces).where(EdArea.code == "resus")) == 1
        assert resolve_hl7_location(s, "W7", facility="ALPHA") is None
        assert resolve_hl7_location(s, "RESUS", bed="2") is None
        exported = export_organisation(s)
    assert [w["code"] for w in exported["sites"][0]["wards"]] == ["CAR"]


def test_orgdb005_retiring_an_occupied_bed_is_refused(factory) -> None:  # noqa: ANN001
    load(factory)
    with write_session(factory) as s:
        bed = s.scalar(select(Bed).where(Bed.label == "CAR-04"))
        bed.state, bed.patient_ref = "occupied", "P-0001"
    smaller = doc()
    smaller["sites"][0]["wards"][0]["bed_range"]["count"] = 3
    smaller["sites"][0]["wards"][0]["core_beds"] = 3
    smaller["sites"][0]["theatres"].pop()  # would be retired too
    with factory() as s:
        assert diff_organisation(s, org(smaller)).problems == [
            "bed AAA/CAR/CAR-04 cannot be retired: it holds a patient"
        ]
    with pytest.raises(OrganisationApplyError) as info:
        load(factory, smaller, at=LATER)
    assert "CAR-04" in info.value.errors[0]
    with factory() as s:  # nothing applied
        assert s.scalar(select(func.count()).where(Bed.retired_at.is_not(None))) == 0
        assert (
            s.scalar(select(func.count()).where(Theatre.retired_at.is_not(None))) == 0
        )
        assert s.scalar(select(Ward.core_beds).where(Ward.code == "CAR")) == 4
        assert count(s, AuditEvent) == 1


def test_orgdb006_codes_move_and_change(factory) -> None:  # noqa: ANN001
    load(factory)
    moved = doc()
    wards = moved["sites"][0]["wards"]
    # the FHIR code moves from CAR-01 to CAR-02; MED's ward code changes
    wards[0]["beds"] = [
        {"label": "CAR-01", "side_room": True},
        {"label": "CAR-02", "codes": {"fhir": [{"system": FHIR, "value": "C1"}]}},
    ]
    wards[1]["codes"] = {"hl7": [{"point_of_care": "W8", "facility": "ALPHA"}]}
    diff = load(factory, moved, at=LATER)
    assert diff.summary() == {"bed": {"codes_changed": 2}, "ward": {"codes_changed": 1}}
    med = [c for c in diff.changes if c.key == "AAA/MED"][0]
    assert med.line() == "ward AAA/MED: codes hl7 W7^^^ALPHA -> hl7 W8^^^ALPHA"
    with factory() as s:
        hit = resolve_fhir_location(s, FHIR, "C1")
        assert (hit.kind, hit.bed_label, hit.ward_code) == ("bed", "CAR-02", "CAR")
        assert resolve_hl7_location(s, "W8", facility="ALPHA").ward_code == "MED"
        assert resolve_hl7_location(s, "W7", facility="ALPHA") is None
        # a changed location's old rows are kept, retired; new rows replace them
        assert count(s, LocationCode) == 25
        active = select(func.count()).where(LocationCode.retired_at.is_(None))
        assert s.scalar(active) == 21


def test_orgdb007_resolve_hl7_and_fhir_locations(factory) -> None:  # noqa: ANN001
    load(factory)
    with factory() as s:
        hit = resolve_hl7_location(s, "CAR", None, "CAR-03", "AAA")
        assert (hit.kind, hit.site_code, hit.ward_code, hit.bed_label) == (
            "bed",
            "AAA",
            "CAR",
            "CAR-03",
        )
        ward = resolve_hl7_location(s, "CAR", facility="AAA")
        assert (ward.kind, ward.ward_code, ward.bed_id) == ("ward", "CAR", None)
        # one site: a PL without facility still names the only match
        assert resolve_hl7_location(s, "CAR", None, "CAR-03").bed_label == "CAR-03"
        # another facility does not match a code that names one
        assert resolve_hl7_location(s, "CAR", None, "CAR-03", "ZZZ") is None
        # a code without facility matches a PL with any facility
        r2 = resolve_hl7_location(s, "RESUS", None, "2", "AAA")
        assert (r2.kind, r2.ed_area_code, r2.ed_space_label) == (
            "ed_space",
            "resus",
            "R2",
        )
        area = resolve_hl7_location(s, "ED", "majors", None, "AAA")
        assert (area.kind, area.ed_area_code) == ("ed_area", "majors")
        space = resolve_hl7_pl(s, "ED^majors^MAJ-02^AAA^^^Block B^2")
        assert (space.kind, space.ed_space_label) == ("ed_space", "MAJ-02")
        assert resolve_hl7_pl(s, "CAR^^CAR-01^AAA").bed_label == "CAR-01"
        assert resolve_hl7_pl(s, "CAR").kind == "ward"
        assert resolve_hl7_location(s, "CAR", None, "CAR-99", "AAA") is None
        assert resolve_hl7_location(s, "", None, None, None) is None
        assert resolve_fhir_location(s, FHIR, "C1").bed_label == "CAR-01"
        assert resolve_fhir_location(s, FHIR, "nope") is None
        assert resolve_fhir_location(s, "", "C1") is None


def test_orgdb008_two_sites_same_ward_code(factory) -> None:  # noqa: ANN001
    two = doc()
    second = copy.deepcopy(two["sites"][0]) | {
        "code": "BBB",
        "name": "Beta",
        "ods_code": None,
    }
    second["wards"][0]["beds"] = []
    second["wards"] = second["wards"][:1]
    second["ed_areas"][1]["spaces"] = ["R1"]
    two["sites"].append(second)
    load(factory, two)
    with factory() as s:
        assert resolve_hl7_location(s, "CAR", None, "CAR-01", "BBB").site_code == "BBB"
        assert resolve_hl7_location(s, "CAR", None, "CAR-01", "AAA").site_code == "AAA"
        # without a facility the PL is ambiguous between the two sites
        assert resolve_hl7_location(s, "CAR", None, "CAR-01") is None


def test_orgdb009_export_then_load_is_an_empty_diff(factory) -> None:  # noqa: ANN001
    load(factory)
    with factory() as s:
        exported = export_organisation(s)
    text = yaml.safe_dump(exported, sort_keys=False)
    again = parse_organisation(yaml.safe_load(text), "exported.yaml")
    with factory() as s:
        assert diff_organisation(s, again).is_empty
    car = exported["sites"][0]["wards"][0]
    assert car["bed_range"] == {"prefix": "CAR-", "count": 4, "escalation": 2}
    assert car["beds"] == [
        {
            "label": "CAR-01",
            "side_room": True,
            "codes": {"fhir": [{"system": FHIR, "value": "C1"}]},
        }
    ]


def test_orgdb010_demo_file_matches_create_organisation(
    factory,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,  # noqa: ANN001
) -> None:
    with write_session(factory) as s:
        apply_organisation(
            s,
            load_organisation_file(DEMO),
            at=AT,
            actor_username="t",
            actor_role="admin",
        )
    other = create_db_engine(_second_url(backend, tmp_path, request))
    upgrade(other)
    other_factory = make_session_factory(other)
    with write_session(other_factory) as s:
        create_organisation(s, AT)
    try:
        with factory() as a, other_factory() as b:
            assert _structure(a) == _structure(b)
            assert a.scalar(select(Trust.code)) == b.scalar(select(Trust.code))
            # the file also names every ED space: as many as each area's count
            spaces = dict(
                a.execute(
                    select(EdArea.id, func.count(EdSpace.id))
                    .join(EdSpace, EdSpace.ed_area_id == EdArea.id)
                    .group_by(EdArea.id)
                ).all()
            )
            assert spaces == dict(a.execute(select(EdArea.id, EdArea.spaces)).all())
            # the store the demo seed built loads the file as codes and spaces only
            diff = diff_organisation(b, load_organisation_file(DEMO))
            assert set(diff.summary()) == {
                "ward",
                "bed",
                "ed_area",
                "ed_space",
                "theatre",
            }
            assert {c.change for c in diff.changes} <= {
                "added",
                "codes_changed",
                "changed",
            }
            assert diff.keys("theatre", "changed") == [
                "RGH/T6"
            ]  # the emergency theatre
            assert {c.kind for c in diff.changes if c.change == "added"} == {"ed_space"}
    finally:
        other.dispose()


def _structure(s: Session) -> dict:
    sites = {r.id: r.code for r in s.execute(select(Site.id, Site.code))}
    wards = {w.id: (sites[w.site_id], w.code) for w in s.scalars(select(Ward))}
    return {
        "sites": sorted(s.execute(select(Site.code, Site.name)).all()),
        "wards": sorted(
            (
                sites[w.site_id],
                w.code,
                w.name,
                w.specialty,
                w.ward_type,
                w.core_beds,
                w.general_and_acute,
            )
            for w in s.scalars(select(Ward))
        ),
        "beds": sorted(
            (*wards[b.ward_id], b.label, b.is_escalation, b.state)
            for b in s.scalars(select(Bed))
        ),
        "ed_areas": sorted(
            (sites[a.site_id], a.code, a.name, a.spaces)
            for a in s.scalars(select(EdArea))
        ),
        "theatres": sorted(
            (sites[t.site_id], t.code, t.name, t.suite)
            for t in s.scalars(select(Theatre))
        ),
    }


# -- the command line ------------------------------------------------------------


@pytest.fixture
def cli(empty_url: str):  # noqa: ANN201
    settings = settings_for(empty_url, now=AT)
    engine = create_db_engine(empty_url)
    upgrade(engine)
    runtime = Runtime(settings, engine, make_session_factory(engine))
    server = Flask(__name__)
    install(server, runtime)
    register(server)
    yield server.test_cli_runner(), runtime
    engine.dispose()


def test_orgdb011_cli_dry_run_load_bad_file_export(cli, tmp_path: Path) -> None:  # noqa: ANN001
    runner, runtime = cli
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(doc(), sort_keys=False), encoding="utf-8")

    result = runner.invoke(args=["organisation", "load", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "  beds: 11 added" in result.output
    assert "bed AAA/CAR/CAR-E2: added" in result.output
    assert "dry run: nothing was changed" in result.output
    with runtime.factory() as s:
        assert count(s, Trust) == 0 and count(s, Bed) == 0 and count(s, AuditEvent) == 0

    result = runner.invoke(args=["organisation", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("loaded")
    with runtime.factory() as s:
        assert count(s, Bed) == 11
        assert s.scalar(select(AuditEvent.actor_username)).startswith("cli")

    bad = copy.deepcopy(doc())
    bad["sites"][0]["wards"][0]["ward_type"] = "surgical"
    bad["sites"][0]["wards"][1]["core_beds"] = 9
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    result = runner.invoke(args=["organisation", "load", str(bad_path)])
    assert result.exit_code == 2
    assert "2 problem(s)" in result.output
    assert (
        f"{bad_path}: sites[0].wards[0].ward_type: unknown ward_type" in result.output
    )
    assert f"{bad_path}: sites[0].wards[1].core_beds: core_beds is 9" in result.output

    out = tmp_path / "export.yaml"
    result = runner.invoke(args=["organisation", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["organisation", "load", str(out), "--dry-run"])
    assert result.exit_code == 0 and "trust TST: no changes" in result.output

    result = runner.invoke(args=["organisation", "export"])
    assert yaml.safe_load(result.output)["trust"] == {
        "code": "TST",
        "name": "Test Trust",
    }
