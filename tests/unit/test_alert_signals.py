"""Banner signals: pending alerts are said, not hidden behind "No firing alerts"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from components import alert_banner as banner
from tests.unit.test_alert_components import TZ, _alert, _text


def test_banner_counts_pending_alerts():
    alerts = [_alert(id=1, state="pending"), _alert(id=2, state="pending")]
    text = _text(banner.alert_banner(alerts, None, tz=TZ))
    assert "No firing alerts" in text and "2 pending" in text
    firing = [_alert(id=3), _alert(id=4, state="pending")]
    words = " ".join(_text(banner.alert_banner(firing, None, tz=TZ)).split())
    assert "1 firing alert · 1 pending" in words
    assert "pending" not in _text(banner.alert_banner([_alert(id=5)], None, tz=TZ))


def test_silence_limits_by_role_and_severity_are_read_from_the_rules_file(tmp_path):
    import pytest
    import yaml

    from ops.alerting import DEFAULT_ALERT_RULES_PATH, load_alert_rules
    from ops.config_errors import ConfigError

    rules = load_alert_rules()
    assert rules.max_silence("bed_manager", "critical") == timedelta(hours=1)
    assert rules.max_silence("bed_manager", "warning") == timedelta(hours=4)
    assert rules.max_silence("site_lead", "critical") == timedelta(hours=4)
    assert rules.max_silence("incident_commander", "critical") == timedelta(hours=24)
    data = yaml.safe_load(Path(DEFAULT_ALERT_RULES_PATH).read_text())
    data["silence_limits"] = {"porter": {"critical": "1h"}}
    bad = tmp_path / "rules.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="silence_limits 'porter'.*unknown role"):
        load_alert_rules(bad)
    data["silence_limits"] = {"bed_manager": {"critical": "48h"}}
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="at most 24h"):
        load_alert_rules(bad)


def test_reasons_are_rounded_with_units():
    from ops.alerting import format_measure

    assert format_measure(96.2345, "%") == "96.2%"
    assert format_measure(95.0, "%") == "95%"
    assert format_measure(19.734345351043643 * 3600, "seconds") == "19.7 h"
    assert format_measure(600, "seconds") == "10 min"
    assert format_measure(34.4, "minutes") == "34 min"
    assert format_measure(3.0, "count") == "3"


LEVELS = [(1, 11), (2, 22), (3, 33), (4, 44)]


def test_opel_on_the_banner_has_score_distance_and_age():
    from datetime import timedelta as td

    from tests.unit.test_alert_components import NOW, _Opel

    assert banner.opel_headroom(22, 2, LEVELS) == (
        "score 22 of 44 · top of OPEL 2 (OPEL 3 above 22)"
    )
    assert (
        banner.opel_headroom(18, 2, LEVELS) == "score 18 of 44 · 4 to OPEL 3 (above 22)"
    )
    assert banner.opel_headroom(40, 4, LEVELS) == "score 40 of 44 · highest level"
    assert banner.opel_headroom(9, None, LEVELS) == "score 9"
    opel = _Opel(level=2, total=22, assessed_at=NOW - td(minutes=7))
    text = _text(banner.alert_banner([], opel, tz=TZ, opel_levels=LEVELS, now=NOW))
    assert "OPEL 2" in text and "top of OPEL 2 (OPEL 3 above 22)" in text
    assert "assessed 7 min ago" in text


def test_ward_alerts_are_grouped_per_site_on_the_banner():
    wards = [
        _alert(id=10 + i, rule_id="ward-full", scope_kind="ward", scope_id=str(i),
               scope_label=f"RGH Ward {i}", title="Ward full", severity="info")
        for i in range(6)
    ] + [
        _alert(id=30, rule_id="ward-full", scope_kind="ward", scope_id="30",
               scope_label="DDH Oak", title="Ward full", severity="info"),
    ]  # fmt: skip
    site = _alert(id=1)
    text = " ".join(_text(banner.alert_banner([site, *wards], None, tz=TZ)).split())
    assert "Ward full — 6 wards at RGH" in text and "and 2 more" in text
    assert "Ward full — DDH Oak" in text  # a single ward stays as it is
    assert "8 firing alerts" in text  # the count is of alerts, not rows
    assert "Ward 5" not in text
