"""venue: rooms' time slots and residents' bookings.

Revision ID: venue_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "venue_0001"
down_revision = None
# A plugin's first revision starts its own branch, after the core's first
# revision: the tables reference station.id.
branch_labels = ("venue",)
depends_on = "kiosk_core_0001"


def upgrade():
    op.create_table(
        "venue_slot",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("room", sa.String(32), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_venue_slot"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_venue_slot_station_id_station"),
    )
    op.create_index("ix_venue_slot_station_starts", "venue_slot", ["station_id", "starts_at"])
    op.create_table(
        "venue_booking",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("slot_id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_venue_booking"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_venue_booking_station_id_station"),
        sa.ForeignKeyConstraint(["slot_id"], ["venue_slot.id"], name="fk_venue_booking_slot_id_venue_slot"),
        sa.UniqueConstraint("station_id", "code", name="uq_venue_booking_station_code"),
    )
    op.create_index("ix_venue_booking_slot_status", "venue_booking", ["slot_id", "status"])


def downgrade():
    op.drop_index("ix_venue_booking_slot_status", table_name="venue_booking")
    op.drop_table("venue_booking")
    op.drop_index("ix_venue_slot_station_starts", table_name="venue_slot")
    op.drop_table("venue_slot")
