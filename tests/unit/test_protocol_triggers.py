"""Shipped protocols are suggested by alert rules that exist: a trigger naming a
renamed or removed rule would never suggest its protocol."""

from __future__ import annotations

from pathlib import Path

from ops.alerting import OPEL_RULE_ID, load_alert_rules
from ops.protocols import load_templates

ROOT = Path(__file__).resolve().parents[2]


def test_every_trigger_names_a_shipped_alert_rule() -> None:
    rules = {r.id for r in load_alert_rules(ROOT / "config" / "alert_rules.yaml").rules}
    rules.add(OPEL_RULE_ID)
    templates = load_templates(ROOT / "config" / "protocols")
    named = {
        (key, rule)
        for key, template in templates.items()
        for rule in template.trigger.alert_rules
    }
    assert named, "no shipped protocol is triggered by an alert rule"
    assert {(key, rule) for key, rule in named if rule not in rules} == set()
