"""Board-round actions on an inpatient stay: what, owner, due, done

Revision ID: 0017
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "discharge_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stay_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("due_at", UTC_TS, nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("done_at", UTC_TS, nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stay_id"],
            ["inpatient_stay.id"],
            name=op.f("fk_discharge_action_stay_id_inpatient_stay"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discharge_action")),
    )
    op.create_index(
        "ix_discharge_action_open", "discharge_action", ["stay_id", "done_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_discharge_action_open", table_name="discharge_action")
    op.drop_table("discharge_action")
