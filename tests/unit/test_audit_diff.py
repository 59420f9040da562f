"""The audit trail's before/after as readable differences (ops.audit_diff)."""

from __future__ import annotations

from ops.audit_diff import differences


def test_adf001_a_role_change_reads_as_words():
    assert differences({"role": "viewer"}, {"role": "site_lead"}) == [
        "role: viewer → site lead"
    ]


def test_adf002_accented_names_are_characters_not_escapes():
    lines = differences(
        {"display_name": "Rene Dupont"}, {"display_name": "René Dupont"}
    )
    assert lines == ["display name: Rene Dupont → René Dupont"]
    assert "\\u" not in lines[0]


def test_adf003_unchanged_fields_are_left_out_and_missing_reads_none():
    assert differences(
        {"active": True, "contact": None}, {"active": False, "contact": None}
    ) == ["active: yes → no"]
    assert differences({"contact": None}, {"contact": "bleep 4417"}) == [
        "contact: none → bleep 4417"
    ]


def test_adf004_a_creation_lists_its_fields():
    assert differences(None, {"role": "bed_manager", "display_name": "Zoë"}) == [
        "display name: Zoë",
        "role: bed manager",
    ]
    assert differences(None, None) == []


def test_adf005_nested_values_keep_their_characters_and_long_ones_are_cut():
    assert differences(None, {"names": ["Éloïse"]}) == ['names: ["Éloïse"]']
    (line,) = differences(None, {"note": "x" * 200})
    assert line.endswith("…") and len(line) < 100


def test_admin_audit_table_shows_the_differences_in_words():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from components import admin

    event = SimpleNamespace(
        at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC),
        actor_username="admin",
        actor_role="admin",
        action="user.update",
        entity_type="user",
        entity_id="7",
        before={"role": "viewer", "display_name": "Zoë"},
        after={"role": "site_lead", "display_name": "Zoë Brontë"},
        request_id=None,
    )
    text = str(admin.audit_table([event], "Europe/London"))
    assert "role: viewer → site lead" in text
    assert "display name: Zoë → Zoë Brontë" in text
    assert "\\u00eb" not in text and '{"' not in text
    csv = admin.audit_csv([event], "Europe/London")
    assert "Zoë Brontë" in csv and "\\u00eb" not in csv
