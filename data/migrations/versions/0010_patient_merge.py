"""Patient merges (HL7 A40): a prior patient reference taken as the surviving one

Revision ID: 0010
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patient_merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prior_ref", sa.String(length=32), nullable=False),
        sa.Column("surviving_ref", sa.String(length=32), nullable=False),
        sa.Column("merged_at", UTC_TS, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_merge")),
        sa.UniqueConstraint("prior_ref", name=op.f("uq_patient_merge_prior_ref")),
    )
    op.create_index(
        "ix_patient_merge_surviving_ref", "patient_merge", ["surviving_ref"]
    )
    op.create_index("ix_patient_merge_merged_at", "patient_merge", ["merged_at"])


def downgrade() -> None:
    op.drop_table("patient_merge")
