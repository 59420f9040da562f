"""performance: indexes the refresh queries need at regional (ICS) scale

Each index serves a time-window query of the catalogue metrics, the overview or the
ED page (see docs/performance.md for the figures before and after). The ED ones lead
with the time column and carry the few columns the aggregate reads, so SQLite answers
from the index alone and PostgreSQL (which cannot skip-scan the existing
``(site_id, <time>)`` indexes) gets a range scan instead of a full scan.

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    # departures since midnight / in the last 24 h (4-hour %); "departure_at IS NULL"
    # (patients in the department)
    (
        "ix_ed_departure_site",
        "ed_attendance",
        ["departure_at", "site_id", "arrival_at"],
    ),
    # ambulance handovers since midnight / in the last 4 h
    (
        "ix_ed_handover",
        "ed_attendance",
        ["handover_at", "mode", "site_id", "arrival_at"],
    ),
    # median time to treatment since midnight
    ("ix_ed_seen", "ed_attendance", ["seen_at", "site_id", "arrival_at"]),
    # arrivals today, the usual arrivals by now, arrivals per hour for 12 weeks
    ("ix_ed_arrival_site", "ed_attendance", ["arrival_at", "site_id"]),
    # theatre cases done today / cancelled today
    ("ix_case_out_of_theatre", "theatre_case", ["out_of_theatre_at"]),
    ("ix_case_cancelled", "theatre_case", ["cancelled_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
