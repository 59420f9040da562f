"""The embedded demo's HL7 sender: outbox and reference links

Revision ID: 0009b
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009b"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hl7_demo_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("failed_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_demo_outbox")),
    )
    op.create_table(
        "hl7_demo_ref",
        sa.Column("sim_ref", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("stored_ref", sa.String(length=64), nullable=False),
        sa.Column("patient_ref", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("sim_ref", name=op.f("pk_hl7_demo_ref")),
        sa.UniqueConstraint("stored_ref", name=op.f("uq_hl7_demo_ref_stored_ref")),
    )
    op.create_index(
        op.f("ix_hl7_demo_ref_patient_ref"), "hl7_demo_ref", ["patient_ref"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_hl7_demo_ref_patient_ref"), table_name="hl7_demo_ref")
    op.drop_table("hl7_demo_ref")
    op.drop_table("hl7_demo_outbox")
