"""Reads and writes of the feeds page, and the feed silence rule, on SQLite and
PostgreSQL: messages go through the HL7 feed's own path (``feeds.hl7.ingest.handle``)
into a small organisation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.db import write_session
from data.models.hl7 import Hl7Message, Hl7Quarantine
from data.models.security import AuditEvent
from data.queries import feeds as reads
from data.queries.metrics import snapshot_metrics
from data.writes import touch_feed
from data.writes.alerts import evaluate_rules
from data.writes.feed_admin import FeedAdminError, discard_quarantined
from feeds.hl7.ingest import handle
from ops.alerting import AlertRuleSet, load_alert_rules
from ops.config_errors import ConfigError
from tests.feeds.hl7_support import AT, KEY, adt, prepare

M = timedelta(minutes=1)


@pytest.fixture
def store(empty_url: str, tmp_path: Path):  # noqa: ANN201
    engine, factory = prepare(empty_url, tmp_path)
    yield factory
    engine.dispose()


def send(factory, message: str, at) -> str:  # noqa: ANN001
    return handle(factory, message, key=KEY, clock=lambda: at).outcome


def test_feedq001_lines_minutes_and_outcomes(store) -> None:
    factory = store
    assert send(factory, adt("A01", "C1", at=AT, location="CAR^^CAR-01^RGH"), AT) == (
        "applied"
    )
    at2 = AT + 2 * M + timedelta(seconds=5)
    assert send(factory, adt("A02", "C2", at=at2, location="RES^^RES-01^RGH"), at2) == (
        "applied"
    )
    bad = adt("A01", "C3", at=at2, patient="9990002", visit="V2",
              location="GAS^^GAS-01^RGH")  # fmt: skip
    assert send(factory, bad, at2) == "quarantined"
    assert send(factory, "garbage", at2) == "rejected"  # never archived: no MSH
    now = AT + 3 * M
    with factory() as s:
        lines = {line.feed: line for line in reads.feed_lines(s)}
        minutes = reads.hl7_minutes(s, now)
        outcomes = reads.hl7_outcomes(s, now - timedelta(hours=1))
    # The HL7 facility's feed with its domain row folded in.
    assert set(lines) == {"hl7:RGH"}
    assert lines["hl7:RGH"].kind == "HL7 v2 ADT (MLLP)"
    assert lines["hl7:RGH"].domains == ("beds",)
    assert lines["hl7:RGH"].last_write_at == at2
    assert set(lines["hl7:RGH"].domain_writes) == {"beds"}
    assert len(minutes) == 60 and minutes[-1].minute == AT + 3 * M
    by_minute = {m.minute: (m.accepted, m.refused) for m in minutes}
    assert by_minute[AT] == (1, 0)
    assert by_minute[AT + 2 * M] == (1, 1)
    assert sum(a + r for a, r in by_minute.values()) == 3
    assert (outcomes.accepted, outcomes.quarantined, outcomes.rejected) == (1 + 1, 1, 0)


def test_feedq002_original_discard_and_audit(store) -> None:
    factory = store
    bad = adt("A01", "Q1", at=AT, location="GAS^^GAS-01^RGH")
    assert send(factory, bad, AT) == "quarantined"
    with factory() as s:
        qid = s.scalar(select(Hl7Quarantine.id))
        original = reads.quarantine_original(s, qid)
        assert reads.purged_originals(s) == frozenset()
    assert original is not None and "SMITH" in original.raw
    assert "SMITH" not in original.redacted
    assert original.reason.startswith("unknown location")
    with write_session(factory) as s, pytest.raises(FeedAdminError, match="reason"):
        discard_quarantined(
            s, qid, actor_username="ada", actor_role="admin", reason="  ", at=AT
        )
    with write_session(factory) as s:
        discard_quarantined(
            s, qid, actor_username="ada", actor_role="admin",
            reason="test message from the PAS team", at=AT + M,
        )  # fmt: skip
    with factory() as s:
        entry = s.get(Hl7Quarantine, qid)
        assert entry.resolved_at == AT + M and entry.raw is None
        assert s.scalar(select(Hl7Message.outcome)) == "discarded"
        audit = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "hl7.quarantine.discard")
        ).one()
        assert audit.actor_username == "ada"
        assert audit.after["discard_reason"] == "test message from the PAS team"
        assert audit.before["reason_code"] == "unknown_location"
        assert reads.hl7_outcomes(s, AT - M).discarded == 1
    with write_session(factory) as s, pytest.raises(FeedAdminError, match="already"):
        discard_quarantined(
            s, qid, actor_username="ada", actor_role="admin", reason="again", at=AT
        )


def test_feedq003_purged_originals(store) -> None:
    factory = store
    send(factory, adt("A01", "Q2", at=AT, location="GAS^^GAS-01^RGH"), AT)
    from feeds.hl7.ingest import purge_expired

    assert purge_expired(factory, 30, now=AT + timedelta(days=31)) == 1
    with factory() as s:
        qid = s.scalar(select(Hl7Quarantine.id))
        assert reads.purged_originals(s) == frozenset({qid})
        assert reads.quarantine_original(s, qid).raw is None


# -- the feed silence rule ---------------------------------------------------------


def silence_rules(tmp_path: Path) -> AlertRuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(
        """
version: "t1"
rules:
  - id: feed-silent
    title: Feed silent
    metric: data_age_seconds
    scope: feed
    expect: {"hl7:*": 15m, simulator: 2m}
    for: 0s
    recover_for: 0s
    severity: critical
"""
    )
    return load_alert_rules(path)


def test_feedq004_a_feed_silent_past_its_expectation_raises(
    store, tmp_path: Path
) -> None:
    factory = store
    rules = silence_rules(tmp_path)

    def evaluate(now) -> dict[str, str]:  # noqa: ANN001
        with factory() as s:
            snap = snapshot_metrics(s, now, "Europe/London")
        with write_session(factory) as s:
            result = evaluate_rules(s, snap, rules, now)
        return {t.scope_id: t.to_state for t in result.transitions}

    with write_session(factory) as s:
        touch_feed(s, "hl7:RGH", AT)
        touch_feed(s, "hl7:RGH:beds", AT)
        touch_feed(s, "simulator", AT)
    assert evaluate(AT + M) == {}  # everything inside its expectation
    # The simulator (2 min) is silent first; the HL7 feed at 15 min; the domain row
    # and the organisation row are not watched.
    assert evaluate(AT + 3 * M) == {"simulator": "firing"}
    assert evaluate(AT + 14 * M) == {}
    assert evaluate(AT + 16 * M) == {"hl7:RGH": "firing"}
    with write_session(factory) as s:
        touch_feed(s, "hl7:RGH", AT + 17 * M)
    assert evaluate(AT + 18 * M) == {"hl7:RGH": "normal"}
    from data.models.alerts import Alert

    with factory() as s:
        scopes = {a.scope_id: a.state for a in s.scalars(select(Alert))}
    assert scopes == {"hl7:RGH": "normal", "simulator": "firing"}


def test_feedq005_silence_rule_file_checks(tmp_path: Path) -> None:
    rules = silence_rules(tmp_path)
    rule = rules.rule("feed-silent")
    assert rule.expectation_for("hl7:RGH") == 900
    assert rule.expectation_for("hl7:RGH:beds") is None
    assert rule.expectation_for("organisation") is None
    assert (
        rule.for_scope("simulator").threshold,
        rule.for_scope("simulator").clear,
    ) == (
        120,
        60,
    )
    bad = tmp_path / "bad.yaml"
    for text, problem in (
        ('expect: {"hl7:*": 15m}\n    condition: "> 5"', "takes no 'condition'"),
        ("expect: {}", "must map feed names"),
        ('expect: {"hl7:*": soon}', "bad duration"),
        ('expect: {"hl7 *": 5m}', "bad feed name"),
    ):
        bad.write_text(
            f"""
version: "t1"
rules:
  - id: feed-silent
    title: Feed silent
    metric: data_age_seconds
    scope: feed
    {text}
    for: 0s
    severity: critical
"""
        )
        with pytest.raises(ConfigError, match=problem):
            load_alert_rules(bad)
    shipped = load_alert_rules().rule("feed-stale")
    assert shipped.expectation_for("simulator") == 600
    assert shipped.expectation_for("csv:sitrep") == 26 * 3600
