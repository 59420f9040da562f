"""FHIR R4 Location.operationalStatus (HL7 v2 table 0116) -> bed events, over HTTP
with UK Core Location resources (https://hl7.org/fhir/R4/location.html,
https://simplifier.net/hl7fhirukcorer4 UKCore-Location), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.models.capacity import Bed
from data.models.events import FlowEvent
from tests.feeds.fhir_support import (
    AT,
    PHYSICAL,
    SYS,
    Feed,
    at_location,
    bundle,
    encounter,
    issues,
    ts,
)

M = timedelta(minutes=1)
NOW = AT + timedelta(hours=6)
UK_CORE_LOCATION = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Location"
V2_0116 = "http://terminology.hl7.org/CodeSystem/v2-0116"
DISPLAY = {"C": "Closed", "H": "Housekeeping", "O": "Occupied", "U": "Unoccupied",
           "K": "Contaminated", "I": "Isolated"}  # fmt: skip


@pytest.fixture
def feed(empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    from tests.feeds.fhir_support import HL7_KEY

    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", HL7_KEY)
    f = Feed(empty_url, tmp_path, NOW)
    yield f
    f.close()


def bed_location(rid: str, value: str, code: str | None, updated=None,  # noqa: ANN001
                 system: str = V2_0116, display: str | None = None) -> dict:  # fmt: skip
    """A UK Core Location for a bed, as a bed management system sends it."""
    body: dict = {
        "resourceType": "Location",
        "id": rid,
        "meta": {"profile": [UK_CORE_LOCATION]},
        "identifier": [{"system": SYS, "value": value}],
        "status": "active",
        "name": f"Cardiology bed {value[-2:]}",
        "mode": "instance",
        "physicalType": {"coding": [{"system": PHYSICAL, "code": "bd",
                                     "display": "Bed"}]},
        "partOf": {"identifier": {"system": SYS, "value": "RGH-CAR"}},
    }  # fmt: skip
    if updated is not None:
        body["meta"]["lastUpdated"] = ts(updated)
    if code is not None:
        body["operationalStatus"] = {"system": system, "code": code,
                                     "display": display or DISPLAY.get(code, code)}  # fmt: skip
    return body


def bed(factory, label: str) -> tuple:  # noqa: ANN001
    with factory() as s:
        row = s.execute(
            select(Bed.state, Bed.state_reason, Bed.state_since).where(
                Bed.label == label
            )
        ).one()
    return row.state, row.state_reason, row.state_since


def location_events(factory) -> list[tuple]:  # noqa: ANN001
    with factory() as s:
        return s.execute(
            select(FlowEvent.kind, FlowEvent.status, FlowEvent.at)
            .where(FlowEvent.source == "fhir:pas", FlowEvent.subject.like("bed:%"))
            .order_by(FlowEvent.id)
        ).all()  # fmt: skip


def test_fhirl001_operational_status_walks_a_bed_through_its_states(feed: Feed) -> None:
    assert bed(feed.factory, "CAR-02")[0] == "available"
    t = AT + 10 * M
    # H housekeeping: the bed awaits cleaning, from meta.lastUpdated.
    r = feed.put(
        "Location/bed-car-02", bed_location("bed-car-02", "RGH-CAR-02", "H", t)
    )
    assert r.status_code == 201, r.get_json()
    text = " | ".join(i["diagnostics"] for i in issues(r))
    assert "matched to bed CAR-02" in text and "cleaning requested" in text
    assert bed(feed.factory, "CAR-02") == ("awaiting_clean", None, t)
    assert ward_api(feed)["available"] == 3
    # The same resource again: nothing new (already so).
    r = feed.put(
        "Location/bed-car-02", bed_location("bed-car-02", "RGH-CAR-02", "H", t)
    )
    assert r.status_code == 200 and "awaiting clean already" in str(issues(r))
    # U unoccupied: cleaned.
    r = feed.put("Location/bed-car-02",
                 bed_location("bed-car-02", "RGH-CAR-02", "U", t + 30 * M))  # fmt: skip
    assert r.status_code == 200, r.get_json()
    assert bed(feed.factory, "CAR-02") == ("available", None, t + 30 * M)
    # C closed, with the sender's display as the reason; then U opens it again.
    r = feed.put("Location/bed-car-02", bed_location(
        "bed-car-02", "RGH-CAR-02", "C", t + 60 * M, display="Closed - estates repair"))  # fmt: skip
    assert r.status_code == 200, r.get_json()
    assert bed(feed.factory, "CAR-02")[:2] == ("closed", "Closed - estates repair")
    r = feed.put("Location/bed-car-02",
                 bed_location("bed-car-02", "RGH-CAR-02", "U", t + 90 * M))  # fmt: skip
    assert bed(feed.factory, "CAR-02")[0] == "available"
    # K contaminated and I isolated block the free bed with that reason.
    r = feed.put("Location/bed-car-02",
                 bed_location("bed-car-02", "RGH-CAR-02", "K", t + 120 * M))  # fmt: skip
    assert r.status_code == 200, r.get_json()
    assert bed(feed.factory, "CAR-02")[:2] == ("blocked", "Contaminated")
    r = feed.put("Location/bed-car-02",
                 bed_location("bed-car-02", "RGH-CAR-02", "I", t + 150 * M))  # fmt: skip
    assert bed(feed.factory, "CAR-02")[:2] == ("blocked", "Isolated")
    r = feed.put("Location/bed-car-02",
                 bed_location("bed-car-02", "RGH-CAR-02", "U", t + 180 * M))  # fmt: skip
    assert bed(feed.factory, "CAR-02")[:2] == ("available", None)
    kinds = [(k, s) for k, s, _ in location_events(feed.factory)]
    assert kinds == [
        ("cleaning_requested", "applied"), ("cleaning_done", "applied"),
        ("bed_closed", "applied"), ("bed_opened", "applied"),
        ("bed_blocked", "applied"), ("bed_blocked", "applied"),
        ("bed_unblocked", "applied"),
    ]  # fmt: skip
    # Without meta.lastUpdated the time is when it was received.
    r = feed.put("Location/bed-car-02", bed_location("bed-car-02", "RGH-CAR-02", "H"))
    assert r.status_code == 200
    assert bed(feed.factory, "CAR-02")[2] == feed.clock()


def ward_api(feed: Feed) -> dict:
    api = feed.api("beds")
    return next(w for s in api["sites"] for w in s["wards"] if w["code"] == "CAR")


def test_fhirl002_unmapped_codes_answer_operation_outcome_and_change_nothing(
    feed: Feed,
) -> None:
    good = bed_location("bed-car-02", "RGH-CAR-02", "U", AT + M)
    assert feed.put("Location/bed-car-02", good).status_code == 201
    for body, shown in (
        (bed_location("bed-car-02", "RGH-CAR-02", "X", AT + 2 * M), f"{V2_0116}|X"),
        (bed_location("bed-car-02", "RGH-CAR-02", "C", AT + 2 * M,
                      system="http://snomed.info/sct"), "http://snomed.info/sct|C"),
    ):  # fmt: skip
        r = feed.put("Location/bed-car-02", body)
        assert r.status_code == 422, r.get_json()
        [issue] = issues(r)
        assert issue["code"] == "code-invalid"
        assert issue["expression"] == ["Location.operationalStatus"]
        assert f"operationalStatus {shown} is not a bed status" in issue["diagnostics"]
    assert bed(feed.factory, "CAR-02")[0] == "available"
    assert location_events(feed.factory) == []
    # The refused versions were not stored: the next good one is version 2.
    r = feed.put("Location/bed-car-02", dict(good, operationalStatus={
        "system": V2_0116, "code": "H", "display": "Housekeeping"}))  # fmt: skip
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'

    # In a transaction the bad Location is named and nothing of the bundle applies.
    enc = encounter("adm-1", "in-progress", "IMP", start=AT + 5 * M,
                    locations=[at_location("RGH-CAR-01", "active", AT + 5 * M)])  # fmt: skip
    bad = bed_location("bed-car-01", "RGH-CAR-01", "Z", AT + 5 * M)
    r = feed.post(bundle("transaction", enc, bad))
    assert r.status_code == 422, r.get_json()
    [issue] = issues(r)
    assert issue["expression"] == ["Bundle.entry[1].resource.operationalStatus"]
    assert "entry 1 (Location/bed-car-01)" in issue["diagnostics"]
    assert bed(feed.factory, "CAR-01")[0] == "available"
    with feed.factory() as s:
        assert s.scalar(select(FlowEvent.id).where(FlowEvent.kind == "admit")) is None


def test_fhirl003_occupancy_belongs_to_the_patient_feed(feed: Feed) -> None:
    enc = encounter("adm-1", "in-progress", "IMP", start=AT,
                    locations=[at_location("RGH-CAR-01", "active", AT)])  # fmt: skip
    assert feed.put("Encounter/adm-1", enc).status_code == 201
    assert bed(feed.factory, "CAR-01")[0] == "occupied"
    # O on the occupied bed: so already, nothing to do.
    r = feed.put("Location/bed-car-01",
                 bed_location("bed-car-01", "RGH-CAR-01", "O", AT + M))  # fmt: skip
    assert r.status_code == 201 and location_events(feed.factory) == []
    # I isolated on an occupied bed: a warning, the patient stays.
    r = feed.put("Location/bed-car-01",
                 bed_location("bed-car-01", "RGH-CAR-01", "I", AT + 2 * M))  # fmt: skip
    assert r.status_code == 200
    [warning] = [i for i in issues(r) if i["severity"] == "warning"]
    assert "holds a patient" in warning["diagnostics"]
    # U unoccupied while the patient feed has a patient in it: refused.
    r = feed.put("Location/bed-car-01",
                 bed_location("bed-car-01", "RGH-CAR-01", "U", AT + 3 * M))  # fmt: skip
    assert r.status_code == 422
    [issue] = issues(r)
    assert (
        issue["code"] == "business-rule" and "holds a patient" in issue["diagnostics"]
    )
    assert bed(feed.factory, "CAR-01")[0] == "occupied"
    assert location_events(feed.factory) == []
    # O on a free bed: a warning, occupancy is not taken from the Location.
    r = feed.put("Location/bed-car-02",
                 bed_location("bed-car-02", "RGH-CAR-02", "O", AT + 4 * M))  # fmt: skip
    assert r.status_code == 201
    assert any(
        i["severity"] == "warning" and "occupancy comes from the patient feed"
        in i["diagnostics"] for i in issues(r)
    )  # fmt: skip
    assert bed(feed.factory, "CAR-02")[0] == "available"
    # A ward Location's operationalStatus is not a bed's: a warning, nothing changes.
    ward = bed_location("ward-car", "RGH-CAR", "C", AT + 5 * M)
    ward["physicalType"]["coding"][0]["code"] = "wa"
    del ward["partOf"]
    r = feed.put("Location/ward-car", ward)
    assert r.status_code == 201
    assert any("is not a bed" in i["diagnostics"] for i in issues(r))
    assert location_events(feed.factory) == []
