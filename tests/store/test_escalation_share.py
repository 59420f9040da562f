"""Escalation beds % (OPEL parameter 8) is open escalation beds / all open beds, the
same definition in the catalogue, the OPEL configuration, the Overview tile and the
beds API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.capacity import Bed, Site, Trust, Ward
from data.models.system import FeedStatus
from data.queries.metrics import snapshot_metrics
from ops.metrics import CATALOGUE
from ops.opel import load_opel_config

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def _build(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    with write_session(make_session_factory(engine)) as s:
        trust = Trust(code="TT", name="Test trust")
        s.add(trust)
        s.flush()
        site = Site(trust_id=trust.id, code="AAA", name="A Hospital")
        s.add(site)
        s.flush()
        ga = Ward(site_id=site.id, code="W1", name="Ward 1", specialty="Medicine",
                  ward_type="general_acute", core_beds=8)  # fmt: skip
        icu = Ward(site_id=site.id, code="ICU", name="Critical care", specialty="ICU",
                   ward_type="critical_care", core_beds=10)  # fmt: skip
        s.add_all([ga, icu])
        s.flush()
        beds = [
            # 8 core G&A beds open, 2 escalation beds open, 1 escalation bed closed
            *(Bed(ward_id=ga.id, label=f"G{i}", state="occupied", state_since=NOW)
              for i in range(8)),
            Bed(ward_id=ga.id, label="E1", state="occupied", is_escalation=True,
                state_since=NOW),
            Bed(ward_id=ga.id, label="E2", state="available", is_escalation=True,
                state_since=NOW),
            Bed(ward_id=ga.id, label="E3", state="closed", is_escalation=True,
                state_since=NOW),
            # 10 open critical care beds: open beds, not G&A beds
            *(Bed(ward_id=icu.id, label=f"C{i}", state="available", state_since=NOW)
              for i in range(10)),
        ]  # fmt: skip
        s.add_all(beds)
        s.add(FeedStatus(feed="simulator", last_write_at=NOW))
    engine.dispose()


def test_esc001_escalation_share_divides_by_all_open_beds(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'esc.db'}"
    _build(url)
    engine = create_db_engine(url)
    with make_session_factory(engine)() as s:
        snap = snapshot_metrics(s, NOW, "Europe/London")
    engine.dispose()
    for scope in (("site", "AAA"), ("trust", "TT")):
        assert snap.values[("escalation_beds_open", *scope)] == 2
        # 2 open escalation beds / 20 open beds (10 G&A + 10 critical care)
        assert snap.values[("escalation_beds_pct", *scope)] == 10.0
        # G&A occupancy keeps its own denominator: 9 occupied / 10 open G&A beds
        assert snap.values[("ga_occupancy_pct", *scope)] == 90.0
    # the beds API gives the same share with the same definition
    from app import create_app
    from tests.support.apps import settings_for

    app = create_app(settings_for(url, now=NOW), prepare=False)
    body = app.server.test_client().get("/api/v1/beds").get_json()
    assert "all open beds" in body["definitions"]["escalation_pct"]
    (site,) = body["sites"]
    assert site["escalation_open"] == 2 and site["open_beds"] == 20
    assert site["escalation_pct"] == 10.0


def test_esc002_one_definition_in_catalogue_opel_and_tile():
    definition = CATALOGUE["escalation_beds_pct"]
    assert "all open beds" in definition.description
    assert "G&A" not in definition.description
    parameter = next(
        p for p in load_opel_config().parameters if p.metric == "escalation_beds_pct"
    )
    assert parameter.label == "% of open beds that are escalation beds"
    from components.overview import BED_TILES

    tile = next(t for t in BED_TILES if t.key == "escalation")
    from types import SimpleNamespace

    text = tile.detail(SimpleNamespace(metrics={"escalation_beds_pct": 10.0}))
    assert "of open beds" in text and "G&A" not in text
