"""parking: longer voucher codes (station-signed), and the hub's copies of lots, vouchers and redemptions.

Revision ID: parking_0002
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "parking_0002"
down_revision = "parking_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("parking_voucher") as batch:
        batch.alter_column("code", existing_type=sa.String(8), type_=sa.String(32), existing_nullable=False)

    op.create_table(
        "parking_hub_lot",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("ref", sa.Integer, nullable=False),
        sa.Column("tag", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("spaces", sa.Integer, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("synced_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_hub_lot"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_hub_lot_station_id_station"),
        sa.UniqueConstraint("station_id", "ref", name="uq_parking_hub_lot_station_ref"),
    )

    op.create_table(
        "parking_hub_voucher",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("lot_ref", sa.Integer, nullable=False),
        sa.Column("plate", sa.String(8), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.Column("synced_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_parking_hub_voucher"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_hub_voucher_station_id_station"),
        sa.UniqueConstraint("station_id", "serial", name="uq_parking_hub_voucher_station_serial"),
    )
    op.create_index("ix_parking_hub_voucher_station_code", "parking_hub_voucher", ["station_id", "code"])
    op.create_index("ix_parking_hub_voucher_station_starts", "parking_hub_voucher", ["station_id", "starts_at"])

    op.create_table(
        "parking_redemption",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("lot_ref", sa.Integer, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=False),
        sa.Column("used_by", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_parking_redemption"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_parking_redemption_station_id_station"),
        sa.ForeignKeyConstraint(["used_by"], ["kiosk_user.id"], name="fk_parking_redemption_used_by_kiosk_user"),
        sa.UniqueConstraint("station_id", "serial", name="uq_parking_redemption_station_serial"),
    )


def downgrade():
    op.drop_table("parking_redemption")
    op.drop_index("ix_parking_hub_voucher_station_starts", table_name="parking_hub_voucher")
    op.drop_index("ix_parking_hub_voucher_station_code", table_name="parking_hub_voucher")
    op.drop_table("parking_hub_voucher")
    op.drop_table("parking_hub_lot")
    with op.batch_alter_table("parking_voucher") as batch:
        batch.alter_column("code", existing_type=sa.String(32), type_=sa.String(8), existing_nullable=False)
