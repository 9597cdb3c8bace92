"""Print leases: one process drives each printer, and receipts expire.

Revision ID: kiosk_core_0008
Revises: kiosk_core_0007
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0008"
down_revision = "kiosk_core_0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "printer_lease",
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("printer", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_printer_lease_station_id_station")),
        sa.PrimaryKeyConstraint("station_id", "printer", name=op.f("pk_printer_lease")),
    )
    with op.batch_alter_table("print_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("print_job", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    op.drop_table("printer_lease")
