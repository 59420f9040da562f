"""event log: flow_event, stay references, theatre session references

Every feed's events are kept in ``flow_event``; the operational tables are its
projections (``data.writes``). A patient may have several stays, so the stay gets its
own reference and ``patient_ref`` is no longer unique. ED triage may arrive after the
arrival. Theatre sessions get the reference feeds name them by.

Revision ID: 0008
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "flow_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("received_at", UTC_TS, nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("related", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("voided_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_event")),
        sa.UniqueConstraint("source", "key", name="uq_flow_event_source_key"),
    )
    op.create_index("ix_flow_event_domain_at", "flow_event", ["domain", "at"])
    op.create_index("ix_flow_event_domain_subject", "flow_event", ["domain", "subject"])
    op.create_index("ix_flow_event_related", "flow_event", ["related"])

    with op.batch_alter_table("inpatient_stay") as batch:
        batch.add_column(sa.Column("stay_ref", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("on_leave_since", UTC_TS, nullable=True))
    op.execute("UPDATE inpatient_stay SET stay_ref = patient_ref")
    with op.batch_alter_table("inpatient_stay") as batch:
        batch.alter_column("stay_ref", existing_type=sa.String(64), nullable=False)
        batch.drop_constraint("uq_inpatient_stay_patient_ref", type_="unique")
        batch.create_unique_constraint("uq_inpatient_stay_stay_ref", ["stay_ref"])
        batch.create_index("ix_inpatient_stay_patient_ref", ["patient_ref"])

    with op.batch_alter_table("ed_attendance") as batch:
        batch.alter_column("triage", existing_type=sa.Integer(), nullable=True)

    # theatre_case refers to theatre_session, so SQLite cannot copy the table here:
    # the column is added in place and made unique by an index (not null on
    # PostgreSQL; on SQLite the model always gives a reference).
    op.add_column("theatre_session", sa.Column("ref", sa.String(length=64)))
    op.execute("UPDATE theatre_session SET ref = 'TS' || CAST(id AS VARCHAR(20))")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("theatre_session", "ref", nullable=False)
    op.create_index("uq_theatre_session_ref", "theatre_session", ["ref"], unique=True)

    op.add_column("theatre_case", sa.Column("knife_to_skin_at", UTC_TS))
    op.add_column("theatre_case", sa.Column("procedure_end_at", UTC_TS))


def downgrade() -> None:
    with op.batch_alter_table("theatre_case") as batch:
        batch.drop_column("procedure_end_at")
        batch.drop_column("knife_to_skin_at")
    op.drop_index("uq_theatre_session_ref", table_name="theatre_session")
    with op.batch_alter_table("theatre_session", recreate="never") as batch:
        batch.drop_column("ref")
    with op.batch_alter_table("inpatient_stay") as batch:
        batch.drop_index("ix_inpatient_stay_patient_ref")
        batch.drop_constraint("uq_inpatient_stay_stay_ref", type_="unique")
        batch.create_unique_constraint("uq_inpatient_stay_patient_ref", ["patient_ref"])
        batch.drop_column("on_leave_since")
        batch.drop_column("stay_ref")
    op.drop_table("flow_event")
