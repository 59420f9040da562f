"""HL7 v2 ADT feed: message archive (redacted) and quarantine (raw until resolved)

Revision ID: 0009
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hl7_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=120), nullable=False),
        sa.Column("control_id", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("event_at", UTC_TS, nullable=True),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("event_keys", sa.JSON(), nullable=False),
        sa.Column("redacted", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_message")),
        sa.UniqueConstraint("message_key", name=op.f("uq_hl7_message_message_key")),
    )
    op.create_index("ix_hl7_message_received_at", "hl7_message", ["received_at"])
    op.create_table(
        "hl7_quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("resolved_at", UTC_TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["hl7_message.id"],
            name=op.f("fk_hl7_quarantine_message_id_hl7_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_quarantine")),
        sa.UniqueConstraint("message_id", name=op.f("uq_hl7_quarantine_message_id")),
    )
    op.create_index("ix_hl7_quarantine_resolved_at", "hl7_quarantine", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_hl7_quarantine_resolved_at", table_name="hl7_quarantine")
    op.drop_table("hl7_quarantine")
    op.drop_index("ix_hl7_message_received_at", table_name="hl7_message")
    op.drop_table("hl7_message")
