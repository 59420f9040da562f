"""Display profiles and tokens in the store, and the wall's read pass.

Runs against SQLite and a real PostgreSQL server (``seeded_runtime``, ``empty_url``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from data.db import create_db_engine, make_session_factory, upgrade, write_session
from data.models.security import AuditEvent
from data.models.wall import DisplayToken
from data.queries import display as reads
from data.queries.metrics import snapshot_metrics
from data.writes import display as writes
from ops import display
from tests.support.apps import FROZEN_NOW

TZ = "Europe/London"


def _audit(runtime, entity_type: str) -> list[AuditEvent]:
    with runtime.factory() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_type == entity_type)
                .order_by(AuditEvent.id)
            )
        )


def test_migration_seeds_the_two_default_profiles(empty_url):
    engine = create_db_engine(empty_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as s:
        profiles = {p.slug: p for p in reads.list_profiles(s)}
        assert set(profiles) == {"trust-overview", "rgh-beds"}
        assert profiles["trust-overview"].mode == "grid"
        assert (
            list(profiles["trust-overview"].panels)
            == display.DEFAULT_PROFILES[0]["panels"]
        )
        assert profiles["rgh-beds"].rotates and profiles["rgh-beds"].scope == "RGH"
        # the default (no slug) is the first profile created
        assert reads.get_profile(s, None).slug == "trust-overview"
    with write_session(factory) as s:
        assert writes.ensure_default_profiles(s, FROZEN_NOW) == 0  # already there
        s.execute(text("DELETE FROM display_profile"))
    with write_session(factory) as s:
        assert writes.ensure_default_profiles(s, FROZEN_NOW) == 2
    engine.dispose()


def test_profile_create_update_conflict_and_audit(seeded_runtime):
    rt = seeded_runtime
    raw = {"slug": "ed-tv", "name": "ED television", "scope": "DDH",
           "panels": ["ed_board", "opel_alerts"], "mode": "rotate", "rotate_seconds": "15",
           "poll_seconds": 10, "resolution": "4k"}  # fmt: skip
    with write_session(rt.factory) as s:
        spec = display.validate_profile(raw, reads.site_codes(s))
        created = writes.save_profile(s, spec, actor_username="ada", actor_role="admin",
                                     now=FROZEN_NOW)  # fmt: skip
    # panels are kept in the canonical order whatever order the form sent
    assert created.panels == ("opel_alerts", "ed_board")
    assert created.version == 1 and created.rotate_seconds == 15
    with write_session(rt.factory) as s:
        changed = display.validate_profile(
            {**raw, "name": "ED TV (majors)"}, ["DDH", "RGH"]
        )
        updated = writes.save_profile(s, changed, actor_username="ada", actor_role="admin",
                                     now=FROZEN_NOW, expected_version=1)  # fmt: skip
    assert updated.version == 2 and updated.name == "ED TV (majors)"
    # a second editor who read version 1 is refused, not silently overwritten
    with pytest.raises(display.ProfileConflict), write_session(rt.factory) as s:
        writes.save_profile(s, spec, actor_username="bob", actor_role="admin",
                           now=FROZEN_NOW, expected_version=1)  # fmt: skip
    with rt.factory() as s:
        assert reads.get_profile(s, "ed-tv").name == "ED TV (majors)"
    events = _audit(rt, "display_profile")
    assert [e.action for e in events] == [
        "display_profile.create",
        "display_profile.update",
    ]
    assert events[1].before["name"] == "ED television"
    assert events[1].after["name"] == "ED TV (majors)"
    assert events[1].actor_username == "ada"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slug": "Bad Slug"}, "short name"),
        ({"scope": "XYZ"}, "Unknown scope"),
        ({"panels": []}, "at least one panel"),
        ({"panels": ["weather"]}, "Unknown panels"),
        ({"poll_seconds": 1}, "between"),
        ({"rotate_seconds": "soon"}, "whole number"),
        ({"mode": "carousel"}, "grid or rotate"),
    ],
)
def test_validate_profile_refuses_bad_input(change, message):
    raw = {"slug": "tv", "name": "TV", "scope": "trust", "panels": ["ed_board"],
           "mode": "grid", "rotate_seconds": 20, "poll_seconds": 30, "resolution": "1080p"}  # fmt: skip
    with pytest.raises(display.DisplayStoreError, match=message):
        display.validate_profile({**raw, **change}, ["RGH", "DDH"])


def test_token_issue_resolve_touch_revoke(seeded_runtime):
    rt = seeded_runtime
    with write_session(rt.factory) as s:
        token, info = writes.issue_token(s, "rgh-beds", created_by="ada",
                                        created_by_role="admin", now=FROZEN_NOW,
                                        label="Bed bureau TV")  # fmt: skip
    assert token.startswith(display.TOKEN_PREFIX) and len(token) > 40
    # only the hash is stored
    with rt.factory() as s:
        row = s.get(DisplayToken, info.id)
        assert (
            row.token_hash == display.hash_token(token) and token not in row.token_hash
        )
        access = reads.resolve_token(s, token)
        assert access.profile_slug == "rgh-beds" and access.token_id == info.id
        assert access.last_used_at is None
        assert reads.resolve_token(s, token + "x") is None
        assert reads.resolve_token(s, "not-a-token") is None
        assert reads.check_access(s, info.id).profile_slug == "rgh-beds"
    # last used: written once, then at most every TOUCH_EVERY
    with write_session(rt.factory) as s:
        assert writes.touch_token(s, info.id, FROZEN_NOW) is True
    with write_session(rt.factory) as s:
        assert (
            writes.touch_token(s, info.id, FROZEN_NOW + timedelta(seconds=10)) is False
        )
    later = FROZEN_NOW + display.TOUCH_EVERY + timedelta(seconds=1)
    with write_session(rt.factory) as s:
        assert writes.touch_token(s, info.id, later) is True
    with rt.factory() as s:
        assert reads.check_access(s, info.id).last_used_at == later
        assert not display.needs_touch(reads.check_access(s, info.id), later)
    # revoke: refused from then on, audited once, revoking twice is harmless
    with write_session(rt.factory) as s:
        revoked = writes.revoke_token(s, info.id, revoked_by="ada", revoked_by_role="admin",
                                     now=later)  # fmt: skip
        writes.revoke_token(
            s, info.id, revoked_by="ada", revoked_by_role="admin", now=later
        )
    assert revoked.revoked_at == later and not revoked.active
    with rt.factory() as s:
        assert reads.resolve_token(s, token) is None
        assert reads.check_access(s, info.id) is None
        listed = reads.list_tokens(s)
        assert [t.id for t in listed] == [info.id] and listed[0].revoked_by == "ada"
    actions = [e.action for e in _audit(rt, "display_token")]
    assert actions == ["display_token.issue", "display_token.revoke"]
    with pytest.raises(display.DisplayStoreError), write_session(rt.factory) as s:
        writes.issue_token(s, "no-such-profile", created_by="ada", created_by_role="admin",
                          now=FROZEN_NOW)  # fmt: skip


def test_cli_issue_function_gives_a_working_token(seeded_runtime):
    token = writes.issue_display_token_cli(
        seeded_runtime.factory, "trust-overview", FROZEN_NOW
    )
    with seeded_runtime.factory() as s:
        assert reads.resolve_token(s, token).profile_slug == "trust-overview"
    assert _audit(seeded_runtime, "display_token")[0].actor_username == "cli"


def test_read_wall_uses_the_catalogue_figures_and_the_profile_scope(seeded_runtime):
    rt = seeded_runtime
    with rt.factory() as s:
        trust = reads.read_wall(
            s, reads.get_profile(s, "trust-overview"), FROZEN_NOW, TZ
        )
        site = reads.read_wall(s, reads.get_profile(s, "rgh-beds"), FROZEN_NOW, TZ)
        snap = snapshot_metrics(s, FROZEN_NOW, TZ)
        wards_rgh = s.execute(
            text("SELECT count(*) FROM ward w JOIN site s ON s.id = w.site_id "
                 "WHERE s.code = 'RGH'")
        ).scalar()  # fmt: skip
    assert trust.scope_kind == "trust" and site.scope_kind == "site"
    assert site.scope_id == "RGH" and site.scope_label == "Riverside General Hospital"
    trust_id = snap.scopes("trust")[0]
    assert trust.snapshot.get("beds_available", "trust", trust_id) == snap.get(
        "beds_available", "trust", trust_id
    )
    # the site wall's ward list is that site's wards only; panels not chosen are not read
    assert len(site.wards) == wards_rgh
    assert {w.site_code for w in site.wards} == {"RGH"}
    assert site.theatres == [] and trust.theatres
    assert {a.site_code for a in trust.ed_areas} == {"RGH", "DDH"}
    assert not trust.occupancy.empty
    # OPEL: no stored assessment in the seed -> calculated from the same figures
    assert trust.opel is not None and trust.opel.source == "calculated"
    assert trust.opel.level in (1, 2, 3, 4)
    assert len(trust.opel.parameters) == 9
    assert trust.alerts == []  # the seed has no alerts firing


def test_read_wall_shows_the_alert_stores_alerts_and_stored_opel(seeded_runtime):
    from data.models.alerts import Alert, OpelAssessment
    from ops.alerting import AlertState, AlertStatus
    from ops.opel import load_opel_config, score_opel

    rt = seeded_runtime
    since = FROZEN_NOW - timedelta(minutes=25)
    status = AlertStatus(state=AlertState.FIRING, since=since, last_evaluated_at=FROZEN_NOW,
                         value=96.4, episode_started_at=since, active_since=since).to_dict()  # fmt: skip
    result = score_opel(load_opel_config(), {})
    with write_session(rt.factory) as s:
        for rule, kind, scope, label, acked in (
            ("ga-occ", "site", "RGH", "Riverside General Hospital", None),
            ("ed-12h", "site", "DDH", "Downs District Hospital", None),
            ("amb", "trust", "RDT", "Trust", FROZEN_NOW),
        ):
            s.add(Alert(rule_id=rule, scope_kind=kind, scope_id=scope, title=f"{rule} high",
                        scope_label=label, metric="ga_occupancy_pct", severity="critical",
                        rules_version="t", state="firing", since=since, value=96.4,
                        active_since=since, episode_started_at=since,
                        last_evaluated_at=FROZEN_NOW, status=status, acknowledged_at=acked,
                        acknowledged_by="Ada" if acked else None))  # fmt: skip
        s.add(OpelAssessment(scope_kind="site", scope_id="RGH",
                             scope_label="Riverside General Hospital",
                             assessed_at=FROZEN_NOW - timedelta(minutes=5), level=4,
                             total=result.total, config_version=result.config_version,
                             incomplete=True, breakdown={**result.to_dict(), "level": 4}))  # fmt: skip
    with rt.factory() as s:
        site = reads.read_wall(s, reads.get_profile(s, "rgh-beds"), FROZEN_NOW, TZ)
        trust = reads.read_wall(
            s, reads.get_profile(s, "trust-overview"), FROZEN_NOW, TZ
        )
    # the site wall: its own alerts and trust-wide ones, not the other site's
    assert site.notes == []
    assert {a.title for a in site.alerts} == {"ga-occ high", "amb high"}
    loud = [a for a in site.alerts if a.needs_attention]
    assert [a.title for a in loud] == ["ga-occ high"]  # the acknowledged one is quiet
    assert loud[0].value == 96.4 and loud[0].unit == "%" and loud[0].since == since
    assert len(trust.alerts) == 3
    # the stored assessment wins over the live calculation
    assert site.opel.source == "assessed" and site.opel.level == 4
    assert trust.opel.source == "calculated"
