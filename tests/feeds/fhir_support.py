"""FHIR test helpers: a small trust whose locations carry FHIR identifiers, the real
app (sign-in required, so the endpoint is shown to take tokens, not sessions), feed
tokens, and R4 resources written from the specification
(https://hl7.org/fhir/R4/encounter.html, location.html, bundle.html)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.writes.feed_tokens import issue_feed_token
from data.writes.organisation import apply_organisation
from ops.organisation import load_organisation_file

HL7_KEY = "fhir-test-key-" + "k" * 40
SYS = "https://rgh.example.nhs.uk/Id/location"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
UK_CORE_ENCOUNTER = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter"
FHIR_JSON = "application/fhir+json"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ORGANISATION = f"""
trust: {{code: TST, name: Test Trust}}
sites:
- code: RGH
  name: Riverside General
  wards:
  - code: CAR
    name: Cardiology
    specialty: Cardiology
    ward_type: general_acute
    core_beds: 4
    bed_range: {{prefix: CAR-, count: 4}}
    codes: {{fhir: [{{system: "{SYS}", value: RGH-CAR}}]}}
    beds:
    - label: CAR-01
      codes: {{fhir: [{{system: "{SYS}", value: RGH-CAR-01}}]}}
    - label: CAR-02
      codes: {{fhir: [{{system: "{SYS}", value: RGH-CAR-02}}]}}
  - code: RES
    name: Respiratory
    specialty: Respiratory medicine
    ward_type: general_acute
    core_beds: 2
    bed_range: {{prefix: RES-, count: 2}}
  ed_areas:
  - code: majors
    name: Majors
    space_range: {{prefix: MAJ-, count: 4}}
    codes: {{fhir: [{{system: "{SYS}", value: RGH-ED-MAJORS}}]}}
  - code: resus
    name: Resus
    space_range: {{prefix: RESUS-, count: 2}}
    codes: {{fhir: [{{system: "{SYS}", value: RGH-ED-RESUS}}]}}
"""


def prepare(url: str, folder: Path):  # noqa: ANN201
    """Upgrade, load the trust; returns (engine, factory)."""
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    path = folder / "org.yaml"
    path.write_text(ORGANISATION)
    with write_session(factory) as session:
        apply_organisation(
            session, load_organisation_file(path), at=AT,
            actor_username="test", actor_role="admin",
        )  # fmt: skip
    return engine, factory


def issue(factory, feed: str = "fhir:pas") -> tuple[int, str]:  # noqa: ANN001
    with write_session(factory) as session:
        row, token = issue_feed_token(
            session, feed, actor="test", actor_role="admin", now=AT, label="test"
        )
        return row.id, token


def make_app(url: str, clock, auth_required: bool = True):  # noqa: ANN001, ANN201
    from app import create_app
    from tests.support.apps import settings_for

    return create_app(settings_for(url, clock=clock, auth_required=auth_required))


def headers(token: str | None, content_type: str = FHIR_JSON, **extra: str) -> dict:
    out = {"Content-Type": content_type, "Accept": FHIR_JSON, **extra}
    if token is not None:
        out["Authorization"] = f"Bearer {token}"
    return out


def put(client, path: str, body: dict, token: str, **extra: str):  # noqa: ANN001, ANN201
    return client.put(f"/fhir/r4/{path}", data=json.dumps(body),
                      headers=headers(token, **extra))  # fmt: skip


def post(client, body: dict, token: str, **extra: str):  # noqa: ANN001, ANN201
    return client.post(
        "/fhir/r4", data=json.dumps(body), headers=headers(token, **extra)
    )


def ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def location(rid: str, value: str | None, physical: str = "wa", name: str = "") -> dict:
    """A Location (R4 §8.12): identifier, status, name, physicalType."""
    body: dict = {
        "resourceType": "Location",
        "id": rid,
        "status": "active",
        "name": name or rid,
        "mode": "instance",
        "physicalType": {"coding": [{"system": PHYSICAL, "code": physical}]},
    }
    if value is not None:
        body["identifier"] = [{"system": SYS, "value": value}]
    return body


def at_location(ref: str | dict, status: str, start: datetime,
                end: datetime | None = None) -> dict:  # fmt: skip
    """An Encounter.location entry: a Location reference (``Location/x`` or an
    identifier value of SYS), status and period."""
    if isinstance(ref, str) and not ref.startswith("Location/"):
        reference: dict = {"identifier": {"system": SYS, "value": ref}}
    elif isinstance(ref, str):
        reference = {"reference": ref}
    else:
        reference = ref
    period = {"start": ts(start)}
    if end is not None:
        period["end"] = ts(end)
    return {"location": reference, "status": status, "period": period}


def encounter(rid: str, status: str, cls: str, *, start: datetime,
              end: datetime | None = None, nhs: str = "9000000009",
              locations: list[dict] | None = None, history: list[tuple] = (),
              **more: object) -> dict:  # fmt: skip
    """An Encounter (R4 §8.11) with a UK Core profile: status, class (v3 ActCode),
    subject by NHS number, period, location[], statusHistory."""
    period = {"start": ts(start)}
    if end is not None:
        period["end"] = ts(end)
    body: dict = {
        "resourceType": "Encounter",
        "id": rid,
        "meta": {"profile": [UK_CORE_ENCOUNTER]},
        "status": status,
        "class": {"system": ACT, "code": cls},
        "subject": {"identifier": {"system": NHS, "value": nhs}},
        "period": period,
        "location": locations or [],
    }
    if history:
        body["statusHistory"] = [
            {"status": s, "period": {"start": ts(a), **({"end": ts(b)} if b else {})}}
            for s, a, b in history
        ]
    body.update(more)
    return body


def entry(resource: dict, method: str = "PUT") -> dict:
    rtype, rid = resource["resourceType"], resource["id"]
    return {
        "fullUrl": f"https://pas.example.nhs.uk/fhir/{rtype}/{rid}",
        "resource": resource,
        "request": {"method": method, "url": f"{rtype}/{rid}"},
    }


def bundle(kind: str, *resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind,
            "entry": [entry(r) for r in resources]}  # fmt: skip


class Feed:
    """The app under test with one FHIR feed's token, and a reader app for the
    read APIs a screen polls (``/api/v1/beds``, ``/api/v1/ed``). Both share a clock
    that moves a second with every request, as real time would."""

    def __init__(self, url: str, folder: Path, now: datetime) -> None:
        from tests.support.clock import MovableClock

        self.url, self.clock = url, MovableClock(now)
        self.engine, self.factory = prepare(url, folder)
        self.token_id, self.token = issue(self.factory)
        self.app = make_app(url, self.clock)
        self.client = self.app.server.test_client()
        self._reader = None

    def put(self, path: str, body: dict, **extra: str):  # noqa: ANN201
        self.clock.advance(seconds=1)
        return put(self.client, path, body, self.token, **extra)

    def post(self, body: dict, **extra: str):  # noqa: ANN201
        self.clock.advance(seconds=1)
        return post(self.client, body, self.token, **extra)

    def api(self, name: str) -> dict:
        if self._reader is None:
            self._reader = make_app(self.url, self.clock, auth_required=False)
        self.clock.advance(seconds=1)
        response = self._reader.server.test_client().get(f"/api/v1/{name}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def close(self) -> None:
        for app in (self.app, self._reader):
            if app is not None:
                app.server.extensions["command_centre"].engine.dispose()
        self.engine.dispose()


def issues(response) -> list[dict]:  # noqa: ANN001
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"]
