"""CSV imports: saved column mapping per source, and one row per applied file

Revision ID: 0013
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "csv_source",
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("date_format", sa.String(length=40), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", "kind", name=op.f("pk_csv_source")),
    )
    op.create_table(
        "csv_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("applied_at", UTC_TS, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csv_import")),
        sa.UniqueConstraint("source", "kind", "sha256", name="uq_csv_import_file"),
    )
    op.create_index("ix_csv_import_applied_at", "csv_import", ["applied_at"])


def downgrade() -> None:
    op.drop_index("ix_csv_import_applied_at", table_name="csv_import")
    op.drop_table("csv_import")
    op.drop_table("csv_source")
