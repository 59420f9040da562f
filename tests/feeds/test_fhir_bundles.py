"""FHIR R4 Bundles (https://hl7.org/fhir/R4/http.html#transaction): a transaction is
all or nothing, a batch answers per entry; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data.models.capacity import EdAttendance, InpatientStay
from data.models.events import FlowEvent
from data.models.feeds import FhirRequest, FhirResource
from tests.feeds.fhir_support import (
    AT,
    HL7_KEY,
    Feed,
    at_location,
    bundle,
    encounter,
    issues,
    location,
)

M = timedelta(minutes=1)


@pytest.fixture
def feed(empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("COMMAND_CENTRE_HL7_KEY", HL7_KEY)
    f = Feed(empty_url, tmp_path, AT + timedelta(hours=6))
    yield f
    f.close()


def counts(factory) -> tuple[int, int, int, int]:  # noqa: ANN001
    with factory() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(model))
            for model in (FlowEvent, EdAttendance, InpatientStay, FhirResource)
        )


def good_entries() -> list[dict]:
    return [
        # the Encounter comes first but names the Location of the same bundle
        encounter("att-10", "arrived", "EMER", start=AT, nhs="9000000106",
                  locations=[at_location("Location/ed-majors", "active", AT)]),
        location("ed-majors", "RGH-ED-MAJORS", "area"),
        encounter("adm-11", "in-progress", "IMP", start=AT + M, nhs="9000000114",
                  locations=[at_location("RGH-CAR-01", "active", AT + M)]),
    ]  # fmt: skip


def test_fhirb001_transaction_applies_every_entry_in_one_go(feed: Feed) -> None:
    r = feed.post(bundle("transaction", *good_entries()))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["resourceType"] == "Bundle" and body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3
    assert body["entry"][0]["response"]["location"] == "Encounter/att-10/_history/1"
    assert counts(feed.factory)[1:] == (1, 1, 3)
    # The bundle again: every entry updated, nothing new applied.
    events = counts(feed.factory)[0]
    r = feed.post(bundle("transaction", *good_entries()))
    assert [e["response"]["status"] for e in r.get_json()["entry"]] == ["200 OK"] * 3
    assert counts(feed.factory)[0] == events


def test_fhirb002_transaction_with_one_bad_entry_applies_nothing(feed: Feed) -> None:
    bad_location = encounter(
        "adm-12", "in-progress", "IMP", start=AT, nhs="9000000122",
        locations=[at_location("NO-SUCH-WARD", "active", AT)],
    )  # fmt: skip
    r = feed.post(bundle("transaction", *good_entries(), bad_location))
    assert r.status_code == 422
    [issue] = issues(r)
    assert issue["expression"] == ["Bundle.entry[3].resource.location[0].location"]
    assert issue["diagnostics"].startswith("entry 3 (Encounter/adm-12):")
    assert counts(feed.factory) == (0, 0, 0, 0)

    # Structural problems in two entries: 400, both named, nothing applied.
    no_class = encounter("adm-13", "planned", "IMP", start=AT)
    del no_class["class"]
    no_status = encounter("adm-14", "planned", "IMP", start=AT)
    del no_status["status"]
    r = feed.post(bundle("transaction", *good_entries(), no_class, no_status))
    assert r.status_code == 400
    found = {(i["expression"][0], i["code"]) for i in issues(r)}
    assert found == {
        ("Bundle.entry[3].resource.class", "required"),
        ("Bundle.entry[4].resource.status", "required"),
    }
    assert counts(feed.factory) == (0, 0, 0, 0)
    with feed.factory() as s:
        refused = s.scalars(select(FhirRequest.status_code)).all()
    assert refused == [422, 400]


def test_fhirb003_batch_answers_per_entry(feed: Feed) -> None:
    bad = encounter("adm-15", "finished", "IMP", start=AT, nhs="9000000130",
                    locations=[at_location("RGH-CAR-02", "active", AT)])  # fmt: skip
    doc = bundle("batch", *good_entries(), bad)
    doc["entry"].append({"request": {"method": "DELETE", "url": "Encounter/att-10"}})
    r = feed.post(doc)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 3 + ["422 Unprocessable Entity",
                                              "405 Method Not Allowed"]  # fmt: skip
    outcome = body["entry"][3]["response"]["outcome"]["issue"][0]
    assert outcome["expression"] == ["Bundle.entry[3].resource.period.end"]
    assert counts(feed.factory)[1:] == (1, 1, 3)
    # The feeds page's figures: one accepted request this minute, none refused
    # (the batch as a whole was taken; its refused entries are in its answer).
    from data.queries.fhir import fhir_minutes, fhir_outcomes

    with feed.factory() as s:
        minutes = fhir_minutes(s, feed.clock(), 5, feed="fhir:pas")
        outcomes = fhir_outcomes(s, AT, feed="fhir:pas")
    assert [(m.accepted, m.refused) for m in minutes] == [(0, 0)] * 4 + [(1, 0)]
    assert (outcomes.accepted, outcomes.rejected) == (1, 0)


def test_fhirb004_not_a_batch_or_transaction(feed: Feed) -> None:
    r = feed.post({"resourceType": "Bundle", "type": "collection", "entry": []})
    assert r.status_code == 400 and issues(r)[0]["expression"] == ["Bundle.type"]
    r = feed.post(location("x", "RGH-CAR"))
    assert r.status_code == 400
    assert "takes a Bundle" in issues(r)[0]["diagnostics"]
    from data.queries.fhir import fhir_minutes, fhir_outcomes

    with feed.factory() as s:
        minutes = fhir_minutes(s, feed.clock(), 2)
        outcomes = fhir_outcomes(s, AT)
    assert sum(m.refused for m in minutes) == 2 and outcomes.rejected == 2
