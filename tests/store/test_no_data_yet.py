"""An organisation with no feed: every figure is "no data yet", never 0; /healthz says
which feeds wrote and which domains never reported. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from data.db import upgrade, write_session
from data.models.alerts import Alert, OpelAssessment
from data.models.capacity import Bed, BedEvent
from data.queries.feeds import (
    DOMAINS,
    feed_domains,
    feed_report,
    organisation_loaded,
    reported_domains,
)
from data.queries.metrics import snapshot_metrics
from data.writes import touch_feed
from jobs.worker import JOBS
from tests.support.apps import FROZEN_NOW, runtime_for, settings_for
from tests.support.organisation import load_organisation

TZ = "Europe/London"
BED_METRICS = ("ga_occupancy_pct", "beds_available", "beds_occupied", "nctr_count")
ED_METRICS = ("ed_in_department", "ed_4h_pct_today", "ambulances_waiting")
THEATRE_METRICS = ("theatre_cancellations_today",)


@pytest.fixture
def runtime(empty_url: str):  # noqa: ANN201
    runtime = runtime_for(settings_for(empty_url))
    upgrade(runtime.engine)
    yield runtime
    runtime.engine.dispose()


def _load(runtime) -> None:  # noqa: ANN001
    with write_session(runtime.factory) as s:
        load_organisation(s, FROZEN_NOW - timedelta(hours=1))


def _figures(snap, metrics, kind="trust") -> dict:  # noqa: ANN001
    scope = snap.scopes(kind)[0]
    return {m: snap.get(m, kind, scope) for m in metrics}


def test_nds001_feed_names_map_to_domains() -> None:
    assert feed_domains("simulator") == set(DOMAINS)
    assert feed_domains("hl7-adt:beds") == {"beds"}
    assert feed_domains("fhir:ed") == {"ed"}
    assert feed_domains("theatres") == {"theatres"}
    # The organisation file, benchmarks and tests are writes, not domain reports.
    for feed in ("organisation", "bench", "test", "hl7-adt", "x:beds:nope"):
        assert feed_domains(feed) == set(), feed


def test_nds002_organisation_without_feed_has_no_figures(runtime) -> None:  # noqa: ANN001
    _load(runtime)
    with write_session(runtime.factory) as s:
        # What the organisation loader writes: one initial event per bed, a
        # feed_status row of its own. Neither is a report of the beds' state.
        bed = s.scalar(select(Bed).order_by(Bed.id).limit(1))
        s.add(BedEvent(bed_id=bed.id, at=FROZEN_NOW - timedelta(hours=1),
                       state="available", source="organisation"))  # fmt: skip
        touch_feed(s, "organisation", FROZEN_NOW - timedelta(hours=1))
    with runtime.factory() as s:
        assert organisation_loaded(s)
        assert reported_domains(s) == set()
        snap = snapshot_metrics(s, FROZEN_NOW, TZ)
        available = s.scalar(select(func.count(Bed.id)).where(Bed.state == "available"))
    assert available > 0  # the store holds beds in a state ...
    assert snap.unreported == set(DOMAINS)
    for kind in ("trust", "site"):  # ... yet no figure is shown as a count or a 0 %
        figures = _figures(snap, BED_METRICS + ED_METRICS + THEATRE_METRICS, kind)
        assert figures == dict.fromkeys(figures), (kind, figures)
    ward = snap.scopes("ward")[0]
    assert snap.get("ga_occupancy_pct", "ward", ward) is None
    assert snap.get("beds_available", "ward", ward) is None
    # Every domain figure in the snapshot is missing, at every scope.
    domain_values = [v for (m, k, _), v in snap.values.items() if k != "feed"]
    assert domain_values and all(v is None for v in domain_values)


def test_nds003_a_domain_has_figures_once_its_feed_reports(runtime) -> None:  # noqa: ANN001
    _load(runtime)
    with write_session(runtime.factory) as s:
        touch_feed(s, "hl7-adt:beds", FROZEN_NOW - timedelta(minutes=1))
    with runtime.factory() as s:
        assert reported_domains(s) == {"beds"}
        snap = snapshot_metrics(s, FROZEN_NOW, TZ)
        available = s.scalar(select(func.count(Bed.id)).where(Bed.state == "available"))
    assert snap.unreported == {"ed", "theatres"}
    beds = _figures(snap, BED_METRICS)
    assert beds["beds_available"] == available
    assert beds["beds_occupied"] == 0  # now a real count: the feed described the beds
    assert all(v is None for v in _figures(snap, ED_METRICS + THEATRE_METRICS).values())
    with write_session(runtime.factory) as s:
        touch_feed(s, "ed-csv:ed", FROZEN_NOW)
        touch_feed(s, "theatre-csv:theatres", FROZEN_NOW)
    with runtime.factory() as s:
        snap = snapshot_metrics(s, FROZEN_NOW, TZ)
    assert snap.unreported == set()
    assert _figures(snap, ("ed_in_department",)) == {"ed_in_department": 0}
    assert _figures(snap, THEATRE_METRICS) == {"theatre_cancellations_today": 0}


def test_nds004_alerts_and_opel_on_unreported_domains_are_no_data(runtime) -> None:  # noqa: ANN001
    _load(runtime)
    for _name, job in JOBS:
        job(runtime)
    with runtime.factory() as s:
        alerts = s.execute(select(Alert.rule_id, Alert.scope_id, Alert.state)).all()
        opel = s.scalars(select(OpelAssessment)).all()
    assert alerts, "the rules were evaluated"
    assert {state for _, _, state in alerts} == {"no_data"}, alerts
    assert opel, "OPEL was assessed"
    for assessment in opel:
        assert assessment.level is None  # not OPEL 1 from zeros
        params = assessment.breakdown["parameters"]
        assert params and all(p["missing"] for p in params), params


def test_nds005_healthz_lists_feeds_and_domains_never_reported(empty_url) -> None:  # noqa: ANN001
    app = create_app(settings_for(empty_url))  # prepare: migrations, no seeding
    runtime = app.server.extensions["command_centre"]
    client = app.server.test_client()
    body = client.get("/healthz").get_json()
    assert body["database"] == "ok"
    assert body["organisation"] == "not loaded"
    assert body["feeds"] == []
    assert body["never_reported"] == list(DOMAINS)
    assert body["data"] == "stale" and body["newest_data_at"] is None

    _load(runtime)
    with write_session(runtime.factory) as s:
        touch_feed(s, "hl7-adt:beds", FROZEN_NOW - timedelta(seconds=30))
        touch_feed(s, "bench", FROZEN_NOW - timedelta(seconds=10))
    body = client.get("/healthz").get_json()
    assert body["organisation"] == "loaded"
    assert body["feeds"] == [
        {"feed": "bench", "domains": [], "age_seconds": 10.0,
         "last_write_at": body["feeds"][0]["last_write_at"]},
        {"feed": "hl7-adt:beds", "domains": ["beds"], "age_seconds": 30.0,
         "last_write_at": body["feeds"][1]["last_write_at"]},
    ]  # fmt: skip
    assert body["never_reported"] == ["ed", "theatres"]
    with runtime.factory() as s:
        assert feed_report(s).never_reported == ["ed", "theatres"]
    runtime.engine.dispose()


def test_nds006_read_apis_say_no_data_yet_until_their_feed_reports(empty_url) -> None:  # noqa: ANN001
    app = create_app(settings_for(empty_url))
    runtime = app.server.extensions["command_centre"]
    client = app.server.test_client()
    _load(runtime)
    labels = {"beds": "inpatient beds", "ed": "emergency department",
              "theatres": "theatres"}  # fmt: skip
    for domain, label in labels.items():
        response = client.get(f"/api/v1/{domain}")
        assert response.status_code == 200
        body = response.get_json()
        assert body["no_data_yet"] == f"no {label} feed has reported yet"
        assert body["sites"] == [] and body["as_of"] is None
    assert client.get("/api/v1/beds?site=NOPE").status_code == 404
    with write_session(runtime.factory) as s:
        touch_feed(s, "hl7-adt:beds", FROZEN_NOW)
    body = client.get("/api/v1/beds").get_json()
    assert "no_data_yet" not in body
    assert sorted(site["code"] for site in body["sites"]) == ["DDH", "RGH"]
    assert client.get("/api/v1/ed").get_json()["sites"] == []
    runtime.engine.dispose()


def test_nds007_demo_off_starts_on_an_empty_database_without_seeding(tmp_path) -> None:  # noqa: ANN001
    import secrets

    from data.models.capacity import Site
    from data.models.security import AppUser
    from data.models.system import FeedStatus, SimulationState
    from jobs.worker import holder_id, run_cycle
    from ops.settings import load_settings

    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'real.db'}",
            "COMMAND_CENTRE_DEMO": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "COMMAND_CENTRE_HL7_KEY": secrets.token_urlsafe(48),
        }
    )
    assert settings.demo is False
    app = create_app(settings.with_(run_background=False))  # migrations run
    runtime = app.server.extensions["command_centre"]
    assert run_cycle(runtime, holder_id())  # a worker cycle: evaluators, no simulator
    with runtime.factory() as s:
        for model in (Site, FeedStatus, SimulationState, AppUser):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model
        assert not organisation_loaded(s)
    assert not (tmp_path / "demo-credentials.txt").exists()
    assert app.server.test_client().get("/healthz").get_json()["organisation"] == (
        "not loaded"
    )
    runtime.engine.dispose()
