"""Discharge barriers: the reason a patient with no criteria to reside is delayed

Revision ID: 0012
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inpatient_stay") as batch:
        batch.add_column(sa.Column("delay_reason", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inpatient_stay") as batch:
        batch.drop_column("delay_reason")
