"""Device reports: each kiosk's printer and reader states, for the district dashboard.

Revision ID: kiosk_core_0002
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0002"
down_revision = "kiosk_core_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "device_report",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_device_report"),
        sa.UniqueConstraint("station_id", "device", name="uq_device_report_station_device"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_device_report_station_id_station"),
    )


def downgrade():
    op.drop_table("device_report")
