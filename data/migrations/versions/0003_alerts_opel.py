"""alerts and OPEL: alert, alert_event, opel_assessment, alert_evaluation

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("scope_label", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("rules_version", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("episode_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("acknowledged_by_username", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("silenced_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("silenced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("silenced_by", sa.String(length=120), nullable=True),
        sa.Column("silenced_by_username", sa.String(length=64), nullable=True),
        sa.Column("silence_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('normal', 'pending', 'firing', 'recovering', 'no_data', 'error')",
            name=op.f("ck_alert_state_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint(
            "rule_id", "scope_kind", "scope_id", name="uq_alert_rule_scope"
        ),
    )
    op.create_index("ix_alert_state", "alert", ["state"], unique=False)
    op.create_table(
        "alert_evaluation",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules_version", sa.String(length=64), nullable=False),
        sa.Column("opel_config_version", sa.String(length=64), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_evaluation")),
    )
    op.create_table(
        "opel_assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("scope_label", sa.String(length=200), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("config_version", sa.String(length=64), nullable=False),
        sa.Column("incomplete", sa.Boolean(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opel_assessment")),
        sa.UniqueConstraint(
            "scope_kind", "scope_id", "assessed_at", name="uq_opel_assessment_scope_at"
        ),
    )
    op.create_index(
        "ix_opel_assessment_at", "opel_assessment", ["assessed_at"], unique=False
    )
    op.create_table(
        "alert_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=True),
        sa.Column("episode_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rules_version", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('transition', 'escalation', 'de-escalation', 'acknowledged', 'silenced')",
            name=op.f("ck_alert_event_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_event_alert_id_alert")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_event")),
    )
    op.create_index(
        "ix_alert_event_alert_at", "alert_event", ["alert_id", "at"], unique=False
    )
    op.create_index("ix_alert_event_at", "alert_event", ["at"], unique=False)
    op.create_index(
        "ix_alert_event_rule_scope",
        "alert_event",
        ["rule_id", "scope_kind", "scope_id"],
        unique=False,
    )


def downgrade() -> None:

    op.drop_index("ix_alert_event_rule_scope", table_name="alert_event")
    op.drop_index("ix_alert_event_at", table_name="alert_event")
    op.drop_index("ix_alert_event_alert_at", table_name="alert_event")
    op.drop_table("alert_event")
    op.drop_index("ix_opel_assessment_at", table_name="opel_assessment")
    op.drop_table("opel_assessment")
    op.drop_table("alert_evaluation")
    op.drop_index("ix_alert_state", table_name="alert")
    op.drop_table("alert")
