"""FHIR R4 Encounters over HTTP (the real app, sign-in required, feed bearer token),
on SQLite and PostgreSQL, checked against what screens read (``/api/v1/beds``,
``/api/v1/ed``), the stays, the ED attendances and the event log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.models.capacity import Bed, EdArea, EdAttendance, InpatientStay
from data.models.events import FlowEvent
from data.models.system import FeedStatus
from tests.feeds.fhir_support import (
    AT,
    Feed,
    at_location,
    encounter,
    issues,
    location,
    ts,
)

M = timedelta(minutes=1)
NOW = AT + timedelta(hours=6)


@pytest.fixture
def feed(empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    from tests.feeds.fhir_support import HL7_KEY

    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", HL7_KEY)
    f = Feed(empty_url, tmp_path, NOW)
    yield f
    f.close()


def ward(api: dict, code: str) -> dict:
    return next(w for s in api["sites"] for w in s["wards"] if w["code"] == code)


def ed_site(api: dict) -> dict:
    return api["sites"][0]


def area(api: dict, code: str) -> dict:
    return next(a for a in ed_site(api)["by_area"] if a["code"] == code)


def attendances(factory) -> list[tuple]:  # noqa: ANN001
    with factory() as s:
        return s.execute(
            select(EdAttendance.ref, EdArea.code, EdAttendance.arrival_at,
                   EdAttendance.seen_at, EdAttendance.departure_at,
                   EdAttendance.disposition)
            .join(EdArea, EdArea.id == EdAttendance.area_id)
        ).all()  # fmt: skip


def stays(factory) -> list[tuple]:  # noqa: ANN001
    with factory() as s:
        return s.execute(
            select(InpatientStay.stay_ref, Bed.label, InpatientStay.admission_source,
                   InpatientStay.admitted_at, InpatientStay.discharged_at)
            .outerjoin(Bed, Bed.id == InpatientStay.bed_id)
        ).all()  # fmt: skip


def occupied(factory) -> dict[str, str]:  # noqa: ANN001
    with factory() as s:
        return dict(
            s.execute(
                select(Bed.label, Bed.patient_ref).where(Bed.state == "occupied")
            ).all()
        )


def test_fhire001_ed_encounter_moves_through_two_areas_and_is_admitted_to_a_bed(
    feed: Feed,
) -> None:
    # The ED area as a Location resource; the resus area and the bed by identifier.
    r = feed.put("Location/ed-majors", location("ed-majors", "RGH-ED-MAJORS", "area"))
    assert r.status_code == 201, r.get_json()
    assert "matched to ED area majors" in issues(r)[0]["diagnostics"]

    arrived = encounter(
        "att-1", "arrived", "EMER", start=AT,
        locations=[at_location("Location/ed-majors", "active", AT)],
        history=[("arrived", AT, None)],
    )  # fmt: skip
    r = feed.put("Encounter/att-1", arrived)
    assert r.status_code == 201, r.get_json()
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"] == "Encounter/att-1/_history/1"
    assert area(feed.api("ed"), "majors")["patients"] == 1
    assert ed_site(feed.api("ed"))["in_department"] == 1

    # Seen at +12 min (statusHistory), moved to resus at +40 min.
    seen = encounter(
        "att-1", "in-progress", "EMER", start=AT,
        locations=[
            at_location("Location/ed-majors", "completed", AT, AT + 40 * M),
            at_location("RGH-ED-RESUS", "active", AT + 40 * M),
        ],
        history=[("arrived", AT, AT + 12 * M), ("in-progress", AT + 12 * M, None)],
    )  # fmt: skip
    r = feed.put("Encounter/att-1", seen)
    assert r.status_code == 200, r.get_json()
    assert r.headers["ETag"] == 'W/"2"'
    ed = feed.api("ed")
    assert area(ed, "majors")["patients"] == 0
    assert area(ed, "resus")["patients"] == 1
    assert ed_site(ed)["median_time_to_treatment_min"] == 12.0

    # Admitted: the same Encounter goes on to a ward bed (class now IMP).
    admitted = encounter(
        "att-1", "in-progress", "IMP", start=AT,
        locations=[
            at_location("Location/ed-majors", "completed", AT, AT + 40 * M),
            at_location("RGH-ED-RESUS", "completed", AT + 40 * M, AT + 170 * M),
            at_location("RGH-CAR-01", "active", AT + 170 * M),
        ],
        history=[("arrived", AT, AT + 12 * M), ("in-progress", AT + 12 * M, None)],
        hospitalization={"admitSource": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/admit-source",
            "code": "emd"}]}},
    )  # fmt: skip
    r = feed.put("Encounter/att-1", admitted)
    assert r.status_code == 200, r.get_json()
    ed = feed.api("ed")
    assert ed_site(ed)["in_department"] == 0
    assert area(ed, "resus")["patients"] == 0
    assert ed_site(ed)["four_hour_pct_today"] == 100.0  # left ED at 2 h 50
    car = ward(feed.api("beds"), "CAR")
    assert (car["occupied"], car["available"]) == (1, 3)
    [(ref, label, source, admitted_at, discharged)] = stays(feed.factory)
    assert (label, source, discharged) == ("CAR-01", "ed", None)
    assert admitted_at == AT + 170 * M
    [(_, code, arrival, seen_at, departure, disposition)] = attendances(feed.factory)
    assert (code, arrival, seen_at) == ("resus", AT, AT + 12 * M)
    assert (departure, disposition) == (AT + 170 * M, "admitted")
    assert list(occupied(feed.factory)) == ["CAR-01"]

    # The same version again changes nothing (every event is already known).
    with feed.factory() as s:
        before = s.scalar(select(FlowEvent.id).order_by(FlowEvent.id.desc()).limit(1))
    r = feed.put("Encounter/att-1", admitted)
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"3"'
    assert "0 event(s) applied" in issues(r)[-1]["diagnostics"]
    with feed.factory() as s:
        after = s.scalar(select(FlowEvent.id).order_by(FlowEvent.id.desc()).limit(1))
        kinds = s.scalars(
            select(FlowEvent.kind).where(FlowEvent.source == "fhir:pas")
            .order_by(FlowEvent.at, FlowEvent.id)
        ).all()  # fmt: skip
        touched = s.get(FeedStatus, "fhir:pas")
    assert after == before
    assert kinds == ["ed_arrival", "ed_seen", "ed_area_move", "ed_departure", "admit"]
    assert touched is not None and "Encounter/att-1 200" in touched.detail

    # Discharged home at +30 h: the bed awaits cleaning, the stay is closed.
    done = dict(admitted, status="finished",
                period={"start": ts(AT), "end": ts(AT + 30 * 60 * M)})  # fmt: skip
    done["location"] = [*admitted["location"][:2], at_location(
        "RGH-CAR-01", "completed", AT + 170 * M, AT + 30 * 60 * M)]  # fmt: skip
    r = feed.put("Encounter/att-1", done)
    assert r.status_code == 200, r.get_json()
    [(_, _, _, _, discharged)] = stays(feed.factory)
    assert discharged == AT + 30 * 60 * M
    assert occupied(feed.factory) == {}


def test_fhire002_cancelled_and_entered_in_error_undo_from_our_history(
    feed: Feed,
) -> None:
    # An ED attendance entered in error: the attendance disappears.
    ed = encounter("att-2", "arrived", "EMER", start=AT, nhs="9000000017",
                   locations=[at_location("RGH-ED-MAJORS", "active", AT)])  # fmt: skip
    assert feed.put("Encounter/att-2", ed).status_code == 201
    assert ed_site(feed.api("ed"))["in_department"] == 1
    r = feed.put("Encounter/att-2", dict(ed, status="entered-in-error"))
    assert r.status_code == 200, r.get_json()
    assert "undone" in " ".join(i["diagnostics"] for i in issues(r))
    assert attendances(feed.factory) == []
    assert ed_site(feed.api("ed"))["in_department"] == 0

    # An inpatient admission cancelled: the stay disappears, the bed is free again.
    stay = encounter("adm-3", "in-progress", "IMP", start=AT + 60 * M,
                     nhs="9000000025",
                     locations=[at_location("RGH-CAR-02", "active", AT + 60 * M)])  # fmt: skip
    assert feed.put("Encounter/adm-3", stay).status_code == 201
    assert list(occupied(feed.factory)) == ["CAR-02"]
    assert stays(feed.factory)[0][2] == "elective"
    r = feed.put("Encounter/adm-3", dict(stay, status="cancelled"))
    assert r.status_code == 200, r.get_json()
    assert stays(feed.factory) == [] and occupied(feed.factory) == {}
    assert ward(feed.api("beds"), "CAR")["occupied"] == 0
    # The cancel again: nothing left to cancel, nothing changes, still accepted.
    r = feed.put("Encounter/adm-3", dict(stay, status="cancelled"))
    assert r.status_code == 200
    with feed.factory() as s:
        statuses = dict(s.execute(
            select(FlowEvent.kind, FlowEvent.status)
            .where(FlowEvent.subject.like("S%"))
        ).all())  # fmt: skip
    assert statuses == {"admit": "void", "cancel_admit": "applied"}

    # A cancelled encounter that never took a place is recorded, nothing applied.
    planned = encounter("adm-4", "cancelled", "IMP", start=AT, nhs="9000000033")
    r = feed.put("Encounter/adm-4", planned)
    assert r.status_code == 201
    assert "nothing had been applied" in issues(r)[0]["diagnostics"]

    # The same id sent again after the cancel is a new admission (a new story).
    r = feed.put("Encounter/adm-3", dict(stay, status="in-progress"))
    assert r.status_code == 200, r.get_json()
    assert list(occupied(feed.factory)) == ["CAR-02"]


def test_fhire003_separate_inpatient_encounter_part_of_the_ed_encounter(
    feed: Feed,
) -> None:
    ed = encounter("ed-5", "in-progress", "EMER", start=AT, nhs="9000000041",
                   locations=[at_location("RGH-ED-MAJORS", "active", AT)])  # fmt: skip
    assert feed.put("Encounter/ed-5", ed).status_code == 201
    ip = encounter(
        "ip-5", "in-progress", "IMP", start=AT + 200 * M, nhs="9000000041",
        locations=[at_location("RGH-CAR", "active", AT + 200 * M)],
        partOf={"reference": "Encounter/ed-5"},
    )  # fmt: skip
    r = feed.put("Encounter/ip-5", ip)
    assert r.status_code == 201, r.get_json()
    [(_, _, _, _, departure, disposition)] = attendances(feed.factory)
    assert (departure, disposition) == (AT + 200 * M, "admitted")
    [(_, label, source, _, _)] = stays(feed.factory)
    assert (label, source) == (None, "ed")  # on the ward, no bed yet
    car = ward(feed.api("beds"), "CAR")
    assert car["occupied"] == 0  # a ward placement takes no bed
    # The ED system then finishes its own Encounter: the departure is the same one.
    r = feed.put("Encounter/ed-5", dict(ed, status="finished", period={
        "start": ts(AT), "end": ts(AT + 210 * M)}))  # fmt: skip
    assert r.status_code == 200, r.get_json()
    [(_, _, _, _, departure, disposition)] = attendances(feed.factory)
    assert (departure, disposition) == (AT + 200 * M, "admitted")


def test_fhire004_unknown_locations_are_refused_and_ward_locations_proposed(
    feed: Feed,
) -> None:
    enc = encounter("adm-6", "in-progress", "IMP", start=AT,
                    locations=[at_location("Location/ward-9", "active", AT)])  # fmt: skip
    r = feed.put("Encounter/adm-6", enc)
    assert r.status_code == 422
    [issue] = issues(r)
    assert issue["code"] == "not-found"
    assert issue["expression"] == ["Encounter.location[0].location"]
    # A ward Location the organisation has no code for: proposed, not applied.
    r = feed.put("Location/ward-9", location("ward-9", "RGH-W9", "wa", "Ward 9"))
    assert r.status_code == 201, r.get_json()
    assert "proposed" in issues(r)[0]["diagnostics"]
    r = feed.put("Encounter/adm-6", enc)
    assert r.status_code == 422
    assert "waiting for an administrator" in issues(r)[0]["diagnostics"]
    # A room of unknown identifier is not a proposal: refused.
    r = feed.put("Location/room-1", location("room-1", "RGH-R1", "ro"))
    assert r.status_code == 422 and issues(r)[0]["code"] == "not-found"
    # An administrator links the proposal to ward RES: the Encounter now applies.
    from data.db import write_session
    from data.queries.fhir import find_ward_or_bed, list_proposals
    from data.writes.fhir import decide_proposal

    with write_session(feed.factory) as s:
        [proposal] = list_proposals(s, "pending")
        target = find_ward_or_bed(s, "RGH", "RES", None)
        decide_proposal(s, proposal.id, confirm=True, ward_id=target.ward_id,
                        bed_id=None, actor="admin", actor_role="admin", now=NOW)  # fmt: skip
    r = feed.put("Encounter/adm-6", enc)
    assert r.status_code == 201, r.get_json()
    with feed.factory() as s:
        ward_id = s.scalar(select(InpatientStay.ward_id))
    assert ward_id == target.ward_id


def test_fhire005_refused_by_the_event_layer_answers_422_and_applies_nothing(
    feed: Feed,
) -> None:
    first = encounter("adm-7", "in-progress", "IMP", start=AT, nhs="9000000068",
                      locations=[at_location("RGH-CAR-01", "active", AT)])  # fmt: skip
    assert feed.put("Encounter/adm-7", first).status_code == 201
    other = encounter("adm-8", "in-progress", "IMP", start=AT + M, nhs="9000000076",
                      locations=[at_location("RGH-CAR-01", "active", AT + M)])  # fmt: skip
    r = feed.put("Encounter/adm-8", other)
    assert r.status_code == 422
    [issue] = issues(r)
    assert issue["code"] == "business-rule"
    assert "held by another patient" in issue["diagnostics"]
    assert issue["expression"] == ["Encounter.location[0]"]
    assert len(stays(feed.factory)) == 1
    with feed.factory() as s:
        assert (
            s.scalar(select(FlowEvent.id).where(FlowEvent.key.like("%adm-8%"))) is None
        )
        status = s.get(FeedStatus, "fhir:pas")
    assert status.detail == "refused 422"
    # An unknown status code and a date without a time are the client's errors.
    r = feed.put("Encounter/adm-8", dict(other, status="admitted"))
    assert r.status_code == 422 and issues(r)[0]["expression"] == ["Encounter.status"]
    bad = dict(other, period={"start": "2026-03-02"})
    bad["location"] = [{"location": {"identifier": {"system": "x", "value": "y"}},
                        "status": "active", "period": {"start": "2026-03-02"}}]  # fmt: skip
    r = feed.put("Encounter/adm-8", bad)
    assert r.status_code == 422
    assert {i["code"] for i in issues(r)} <= {"not-found", "value", "required"}
