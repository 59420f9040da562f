"""organisation: retirement, bed and ward attributes, named ED spaces, external codes

Locations are retired (``retired_at``), never deleted, when they leave the
organisation file. Existing rows get the defaults the file format uses: no ODS code,
not retired, G&A by ward type, no side rooms or isolation beds, no emergency theatre.

Revision ID: 0007
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)
# Only columns are added (SQLite's ALTER TABLE ADD COLUMN does it in place); copying a
# populated table that other tables reference would fail its foreign keys.
RECREATE = "never"


def upgrade() -> None:
    with op.batch_alter_table("site", recreate=RECREATE) as batch_op:
        batch_op.add_column(sa.Column("ods_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("retired_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("ward", recreate=RECREATE) as batch_op:
        batch_op.add_column(
            sa.Column(
                "general_and_acute",
                sa.Boolean(),
                nullable=False,
                server_default=sa.true(),
            )
        )
        batch_op.add_column(sa.Column("retired_at", UTC_TIME, nullable=True))
    op.execute(
        "UPDATE ward SET general_and_acute = "
        "(ward_type IN ('general_acute', 'assessment', 'escalation'))"
    )
    with op.batch_alter_table("bed", recreate=RECREATE) as batch_op:
        for name in ("side_room", "isolation_capable"):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch_op.add_column(sa.Column("retired_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("ed_area", recreate=RECREATE) as batch_op:
        batch_op.add_column(sa.Column("retired_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("theatre", recreate=RECREATE) as batch_op:
        batch_op.add_column(
            sa.Column(
                "is_emergency", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("retired_at", UTC_TIME, nullable=True))

    op.create_table(
        "ed_space",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ed_area_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("retired_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["ed_area_id"], ["ed_area.id"], name=op.f("fk_ed_space_ed_area_id_ed_area")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ed_space")),
        sa.UniqueConstraint("ed_area_id", "label", name="uq_ed_space_area_label"),
    )
    op.create_index("ix_ed_space_ed_area_id", "ed_space", ["ed_area_id"])

    op.create_table(
        "location_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=8), nullable=False),
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("facility", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("ward_id", sa.Integer(), nullable=True),
        sa.Column("bed_id", sa.Integer(), nullable=True),
        sa.Column("ed_area_id", sa.Integer(), nullable=True),
        sa.Column("ed_space_id", sa.Integer(), nullable=True),
        sa.Column("theatre_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("retired_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_location_code_site_id_site")
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["ward.id"], name=op.f("fk_location_code_ward_id_ward")
        ),
        sa.ForeignKeyConstraint(
            ["bed_id"], ["bed.id"], name=op.f("fk_location_code_bed_id_bed")
        ),
        sa.ForeignKeyConstraint(
            ["ed_area_id"],
            ["ed_area.id"],
            name=op.f("fk_location_code_ed_area_id_ed_area"),
        ),
        sa.ForeignKeyConstraint(
            ["ed_space_id"],
            ["ed_space.id"],
            name=op.f("fk_location_code_ed_space_id_ed_space"),
        ),
        sa.ForeignKeyConstraint(
            ["theatre_id"],
            ["theatre.id"],
            name=op.f("fk_location_code_theatre_id_theatre"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_code")),
    )
    op.create_index("ix_location_code_site_id", "location_code", ["site_id"])
    op.create_index("ix_location_code_lookup", "location_code", ["scheme", "value"])
    op.create_index(
        "uq_location_code_active",
        "location_code",
        ["scheme", "system", "value", "facility"],
        unique=True,
        sqlite_where=sa.text("retired_at IS NULL"),
        postgresql_where=sa.text("retired_at IS NULL"),
    )


def downgrade() -> None:  # dropping columns needs a table copy on SQLite
    op.drop_index("uq_location_code_active", table_name="location_code")
    op.drop_index("ix_location_code_lookup", table_name="location_code")
    op.drop_index("ix_location_code_site_id", table_name="location_code")
    op.drop_table("location_code")
    op.drop_index("ix_ed_space_ed_area_id", table_name="ed_space")
    op.drop_table("ed_space")
    with op.batch_alter_table("theatre", recreate="auto") as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("is_emergency")
    with op.batch_alter_table("ed_area", recreate="auto") as batch_op:
        batch_op.drop_column("retired_at")
    with op.batch_alter_table("bed", recreate="auto") as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("isolation_capable")
        batch_op.drop_column("side_room")
    with op.batch_alter_table("ward", recreate="auto") as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("general_and_acute")
    with op.batch_alter_table("site", recreate="auto") as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("ods_code")
