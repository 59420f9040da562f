"""A command role holder's contact (bleep or phone)

Revision ID: 0018
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0001"
branch_labels = None
depends_on = "0004"  # protocol_role_assignment is created there


def upgrade() -> None:
    with op.batch_alter_table("protocol_role_assignment") as batch:
        batch.add_column(sa.Column("contact", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("protocol_role_assignment") as batch:
        batch.drop_column("contact")
