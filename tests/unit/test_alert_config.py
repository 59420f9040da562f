"""Bad alert/OPEL configuration stops start-up with a message naming file and entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.alerting import (
    DEFAULT_ALERT_RULES_PATH,
    OPEL_RULE_ID,
    load_and_validate_config,
)
from ops.config_errors import ConfigError
from ops.opel import DEFAULT_OPEL_CONFIG_PATH


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _rules() -> dict:
    return yaml.safe_load(DEFAULT_ALERT_RULES_PATH.read_text(encoding="utf-8"))


def _opel() -> dict:
    return yaml.safe_load(DEFAULT_OPEL_CONFIG_PATH.read_text(encoding="utf-8"))


def test_shipped_configuration_is_valid():
    config = load_and_validate_config()
    assert config.rules.version and config.opel.version
    assert any(r.scope == "feed" for r in config.rules.rules)  # data-freshness rule


def test_bad_rule_names_the_file_and_the_rule(tmp_path):
    data = _rules()
    data["rules"][1]["condition"] = ">= ninety"
    bad = _write(tmp_path / "alert_rules.yaml", data)
    with pytest.raises(ConfigError) as info:
        load_and_validate_config(rules_path=bad)
    message = str(info.value)
    assert message.startswith(f"{bad}: rule 'ga-occupancy-trust': ")
    assert "'condition'" in message


def test_bad_opel_parameter_names_the_file_and_the_parameter(tmp_path):
    data = _opel()
    ga = next(p for p in data["parameters"] if p["key"] == "ga_occupancy")
    ga["bands"][2]["lower"] = 91  # overlaps band 2 (85 to < 92)
    bad = _write(tmp_path / "opel.yaml", data)
    with pytest.raises(ConfigError) as info:
        load_and_validate_config(opel_path=bad)
    assert str(info.value).startswith(f"{bad}: parameter 'ga_occupancy': ")


def test_reserved_rule_id_is_refused(tmp_path):
    data = _rules()
    data["rules"][0]["id"] = OPEL_RULE_ID
    bad = _write(tmp_path / "alert_rules.yaml", data)
    with pytest.raises(ConfigError, match=rf"{bad}: rule '{OPEL_RULE_ID}': .*reserved"):
        load_and_validate_config(rules_path=bad)


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=rf"{missing}: cannot read file"):
        load_and_validate_config(rules_path=missing)
