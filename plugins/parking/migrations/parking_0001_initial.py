"""parking: partner lots, windows, household whitelist, plates, occurrences, vouchers.

Revision ID: parking_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "parking_0001"
down_revision = None
branch_labels = ("parking",)
depends_on = "kiosk_core_0001"


def upgrade():
    op.create_table(
        "parking_lot",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("spaces", sa.Integer, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("quota_per_month", sa.Integer, nullable=False),
        sa.Column("reserve_days", sa.Integer, nullable=False),
        sa.Column("hold_minutes", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_lot"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_lot_station_id_station"),
    )
    op.create_index("ix_parking_lot_station_id", "parking_lot", ["station_id"])

    op.create_table(
        "parking_window",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("lot_id", sa.Integer, nullable=False),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("start_time", sa.String(5), nullable=False),
        sa.Column("end_time", sa.String(5), nullable=False),
        sa.Column("weekdays", sa.String(7), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_window"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_window_station_id_station"),
        sa.ForeignKeyConstraint(["lot_id"], ["parking_lot.id"], name="fk_parking_window_lot_id_parking_lot"),
    )
    op.create_index("ix_parking_window_lot_id", "parking_window", ["lot_id"])

    op.create_table(
        "parking_household",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("contact_name", sa.String(50), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("card_uid", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_household"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_household_station_id_station"),
        sa.UniqueConstraint("station_id", "unit", name="uq_parking_household_unit"),
        sa.UniqueConstraint("station_id", "phone", name="uq_parking_household_phone"),
        sa.UniqueConstraint("station_id", "card_uid", name="uq_parking_household_card"),
    )

    op.create_table(
        "parking_plate",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("household_id", sa.Integer, nullable=False),
        sa.Column("plate", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_plate"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_plate_station_id_station"),
        sa.ForeignKeyConstraint(
            ["household_id"], ["parking_household.id"], name="fk_parking_plate_household_id_parking_household"
        ),
        sa.UniqueConstraint("station_id", "plate", name="uq_parking_plate_plate"),
    )
    op.create_index("ix_parking_plate_household_id", "parking_plate", ["household_id"])

    op.create_table(
        "parking_slot",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("lot_id", sa.Integer, nullable=False),
        sa.Column("window_id", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_slot"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_slot_station_id_station"),
        sa.ForeignKeyConstraint(["lot_id"], ["parking_lot.id"], name="fk_parking_slot_lot_id_parking_lot"),
        sa.ForeignKeyConstraint(["window_id"], ["parking_window.id"], name="fk_parking_slot_window_id_parking_window"),
        sa.UniqueConstraint("window_id", "day", name="uq_parking_slot_window_day"),
    )
    op.create_index("ix_parking_slot_lot_id", "parking_slot", ["lot_id"])

    op.create_table(
        "parking_voucher",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("lot_id", sa.Integer, nullable=False),
        sa.Column("window_id", sa.Integer, nullable=False),
        sa.Column("slot_id", sa.Integer, nullable=False),
        sa.Column("household_id", sa.Integer, nullable=False),
        sa.Column("plate", sa.String(8), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("used_by", sa.Integer, nullable=True),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_parking_voucher"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_voucher_station_id_station"),
        sa.ForeignKeyConstraint(["lot_id"], ["parking_lot.id"], name="fk_parking_voucher_lot_id_parking_lot"),
        sa.ForeignKeyConstraint(
            ["window_id"], ["parking_window.id"], name="fk_parking_voucher_window_id_parking_window"
        ),
        sa.ForeignKeyConstraint(["slot_id"], ["parking_slot.id"], name="fk_parking_voucher_slot_id_parking_slot"),
        sa.ForeignKeyConstraint(
            ["household_id"], ["parking_household.id"], name="fk_parking_voucher_household_id_parking_household"
        ),
        sa.ForeignKeyConstraint(["used_by"], ["kiosk_user.id"], name="fk_parking_voucher_used_by_kiosk_user"),
    )
    op.create_index("ix_parking_voucher_station_code", "parking_voucher", ["station_id", "code"])
    op.create_index("ix_parking_voucher_slot_status", "parking_voucher", ["slot_id", "status"])
    op.create_index("ix_parking_voucher_household_starts", "parking_voucher", ["household_id", "starts_at"])
    op.create_index("ix_parking_voucher_lot_starts", "parking_voucher", ["lot_id", "starts_at"])


def downgrade():
    op.drop_table("parking_voucher")
    op.drop_table("parking_slot")
    op.drop_table("parking_plate")
    op.drop_table("parking_household")
    op.drop_table("parking_window")
    op.drop_table("parking_lot")
