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
