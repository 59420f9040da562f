"""FHIR R4 endpoint: feed tokens, received resources, location proposals, requests

Revision ID: 0011
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", UTC_TS, nullable=True),
        sa.Column("revoked_at", UTC_TS, nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["trust_id"], ["trust.id"], name=op.f("fk_feed_token_trust_id_trust")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_feed_token_token_hash")),
    )
    op.create_index("ix_feed_token_feed", "feed_token", ["feed"])
    op.create_table(
        "fhir_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_resource")),
        sa.UniqueConstraint(
            "feed", "resource_type", "resource_id", name="uq_fhir_resource_feed_id"
        ),
    )
    op.create_table(
        "fhir_location_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("trust_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("physical_type", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("part_of", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("decided_at", UTC_TS, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("ward_id", sa.Integer(), nullable=True),
        sa.Column("bed_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trust_id"], ["trust.id"],
            name=op.f("fk_fhir_location_proposal_trust_id_trust"),
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["ward.id"], name=op.f("fk_fhir_location_proposal_ward_id_ward")
        ),
        sa.ForeignKeyConstraint(
            ["bed_id"], ["bed.id"], name=op.f("fk_fhir_location_proposal_bed_id_bed")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_location_proposal")),
        sa.UniqueConstraint("feed", "resource_id", name="uq_fhir_proposal_feed_id"),
    )
    op.create_table(
        "fhir_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("interaction", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_request")),
    )
    op.create_index("ix_fhir_request_received_at", "fhir_request", ["received_at"])
    op.create_index("ix_fhir_request_feed", "fhir_request", ["feed", "received_at"])


def downgrade() -> None:
    op.drop_table("fhir_request")
    op.drop_table("fhir_location_proposal")
    op.drop_table("fhir_resource")
    op.drop_table("feed_token")
