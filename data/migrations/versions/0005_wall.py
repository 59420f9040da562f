"""wall: display profiles and display tokens, two default profiles

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    profile = op.create_table(
        "display_profile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("panels", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("rotate_seconds", sa.Integer(), nullable=False),
        sa.Column("poll_seconds", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_display_profile")),
        sa.UniqueConstraint("slug", name=op.f("uq_display_profile_slug")),
    )
    op.create_table(
        "display_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["display_profile.id"],
            name=op.f("fk_display_token_profile_id_display_profile"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_display_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_display_token_token_hash")),
    )
    with op.batch_alter_table("display_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_display_token_profile_id"), ["profile_id"], unique=False
        )

    # Two default profiles (ops/display.py DEFAULT_PROFILES describes them too).
    now = datetime.now(UTC)
    stamp = now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now
    op.bulk_insert(
        profile,
        [
            {
                "slug": "trust-overview",
                "name": "Trust overview",
                "scope": "trust",
                "panels": ["opel_alerts", "bed_heatmap", "ed_board", "theatre_board",
                           "protocols"],
                "mode": "grid",
                "rotate_seconds": 20,
                "poll_seconds": 30,
                "resolution": "1080p",
                "created_at": stamp,
                "updated_at": stamp,
                "version": 1,
            },
            {
                "slug": "rgh-beds",
                "name": "Riverside beds",
                "scope": "RGH",
                "panels": ["bed_heatmap", "ed_board", "protocols"],
                "mode": "rotate",
                "rotate_seconds": 20,
                "poll_seconds": 30,
                "resolution": "1080p",
                "created_at": stamp,
                "updated_at": stamp,
                "version": 1,
            },
        ],
    )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("display_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_display_token_profile_id"))
    op.drop_table("display_token")
    op.drop_table("display_profile")
