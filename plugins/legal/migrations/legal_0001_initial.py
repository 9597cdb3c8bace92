"""legal: day counters, tickets, counters, duty schedule, bookings.

Revision ID: legal_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "legal_0001"
down_revision = None
branch_labels = ("legal",)
depends_on = "kiosk_core_0001"


def upgrade():
    op.create_table(
        "legal_day_counter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("last_number", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_legal_day_counter"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_day_counter_station_id_station"),
        sa.UniqueConstraint("station_id", "service", "day", name="uq_legal_day_counter_station_service_day"),
    )
    op.create_table(
        "legal_counter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_legal_counter"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_counter_station_id_station"),
        sa.ForeignKeyConstraint(["staff_id"], ["kiosk_user.id"], name="fk_legal_counter_staff_id_kiosk_user"),
        sa.UniqueConstraint("station_id", "number", name="uq_legal_counter_station_number"),
    )
    op.create_table(
        "legal_duty_slot",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("lawyer", sa.String(100), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_legal_duty_slot"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_duty_slot_station_id_station"),
        sa.ForeignKeyConstraint(["created_by"], ["kiosk_user.id"], name="fk_legal_duty_slot_created_by_kiosk_user"),
    )
    op.create_index("ix_legal_duty_slot_station_starts", "legal_duty_slot", ["station_id", "starts_at"])
    op.create_table(
        "legal_booking",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("slot_id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("checked_in_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_legal_booking"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_booking_station_id_station"),
        sa.ForeignKeyConstraint(["slot_id"], ["legal_duty_slot.id"], name="fk_legal_booking_slot_id_legal_duty_slot"),
        sa.UniqueConstraint("station_id", "code", name="uq_legal_booking_station_code"),
    )
    op.create_table(
        "legal_ticket",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("numbered_service", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("queue_at", UTCDateTime, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("first_called_at", UTCDateTime, nullable=True),
        sa.Column("called_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("counter", sa.Integer, nullable=True),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("skips", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("transferred_from", sa.String(32), nullable=False),
        sa.Column("booking_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_legal_ticket"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_ticket_station_id_station"),
        sa.ForeignKeyConstraint(["staff_id"], ["kiosk_user.id"], name="fk_legal_ticket_staff_id_kiosk_user"),
        sa.ForeignKeyConstraint(["booking_id"], ["legal_booking.id"], name="fk_legal_ticket_booking_id_legal_booking"),
        sa.UniqueConstraint("token", name="uq_legal_ticket_token"),
        sa.UniqueConstraint(
            "station_id", "numbered_service", "day", "number", name="uq_legal_ticket_station_service_day_number"
        ),
    )
    op.create_index(
        "ix_legal_ticket_station_day_service_status", "legal_ticket", ["station_id", "day", "service", "status"]
    )


def downgrade():
    op.drop_index("ix_legal_ticket_station_day_service_status", table_name="legal_ticket")
    op.drop_table("legal_ticket")
    op.drop_table("legal_booking")
    op.drop_index("ix_legal_duty_slot_station_starts", table_name="legal_duty_slot")
    op.drop_table("legal_duty_slot")
    op.drop_table("legal_counter")
    op.drop_table("legal_day_counter")
