"""Tile bands come from the alert rules file: one definition of every threshold."""

from __future__ import annotations

from pathlib import Path

import yaml

from components import ed, wall
from components.common import Status
from components.overview import band_status
from ops.alerting import (
    DEFAULT_ALERT_RULES_PATH,
    Severity,
    current_alert_rules,
    metric_bands,
    tile_bands,
)


def _copy_with(tmp_path: Path, rule_id: str, condition: str) -> Path:
    """A copy of the shipped rules file with one rule's raise condition changed."""
    data = yaml.safe_load(Path(DEFAULT_ALERT_RULES_PATH).read_text())
    for rule in data["rules"]:
        if rule["id"] == rule_id:
            rule["condition"] = condition
    data["version"] = "test-edited"
    path = tmp_path / "alert_rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _occupancy_status(bands: dict, value: float) -> str:
    # Overview tiles take the alerts' state (test_beds_overview_tiles); the bands
    # colour the figures of pages and the wall that show values without alerts.
    return band_status(bands, "ga_occupancy_pct", value).label


def test_band001_tile_band_follows_a_threshold_changed_in_the_rules_file(tmp_path):
    assert _occupancy_status(tile_bands("site"), 93.0) == "Warning"
    edited = _copy_with(tmp_path, "ga-occupancy-site", ">= 94")
    bands = tile_bands("site", edited)
    assert _occupancy_status(bands, 93.0) == "OK"
    assert _occupancy_status(bands, 94.0) == "Warning"
    # The trust rules were not edited: the trust's tiles keep their threshold.
    assert band_status(tile_bands("trust", edited), "ga_occupancy_pct", 93.0) is (
        Status.WARNING
    )


def test_band002_ed_tiles_and_wall_figures_use_the_same_rules(tmp_path):
    values = ed.EdTiles(10, 3, 77.0, 0, 2.0, 30.0, 0)
    text = str(ed.tiles(values, "as of 10:30", Status.OK, tile_bands("site")))
    assert "Warning" in text  # 77 % is below the rule's 78 % target
    edited = _copy_with(tmp_path, "ed-4h-below-target-site", "< 75")
    text = str(ed.tiles(values, "as of 10:30", Status.OK, tile_bands("site", edited)))
    assert "Warning" not in text
    figures = wall.metric_figures(
        [("ga_occupancy_pct", "G&A occupancy", "%", None)],
        {"ga_occupancy_pct": 96.0},
        Status.OK,
        tile_bands("site"),
    )
    assert "Critical" in str(figures)


def test_band003_bands_are_worst_first_and_fall_back_to_any_scope():
    rules = current_alert_rules()
    site = metric_bands(rules, "site")["ga_occupancy_pct"]
    assert [b.severity for b in site.bands] == [Severity.CRITICAL, Severity.WARNING]
    assert site.severity_of(None) is None and site.severity_of(80.0) is None
    # No trust-wide ED rule: the trust's ED tiles use the site rules' thresholds.
    trust = metric_bands(rules, "trust")
    assert trust["ed_over_12h_pct"].severity_of(10.0) is Severity.CRITICAL


def test_band004_an_unreadable_rules_file_leaves_tiles_unbanded(tmp_path):
    bad = tmp_path / "alert_rules.yaml"
    bad.write_text("version: 1\n")
    assert tile_bands("site", bad) == {}
