"""courier_rest: riders, visits, slots and their uses, waiting list, services, requests, hazards.

Revision ID: courier_rest_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "courier_rest_0001"
down_revision = None
branch_labels = ("courier_rest",)
depends_on = "kiosk_core_0001"


def _fk(table, column, target):
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{ref_table}")


def upgrade():
    t = "courier_rest_rider"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("vehicle", sa.String(20), nullable=False),
        sa.Column("card_uid", sa.String(64), nullable=True),
        sa.Column("pass_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        sa.UniqueConstraint("station_id", "phone", name="uq_courier_rest_rider_station_phone"),
        sa.UniqueConstraint("station_id", "card_uid", name="uq_courier_rest_rider_station_card"),
        sa.UniqueConstraint("pass_token", name=f"uq_{t}_pass_token"),
    )

    t = "courier_rest_visit"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=False),
        sa.Column("checked_in_at", UTCDateTime, nullable=False),
        sa.Column("checked_out_at", UTCDateTime, nullable=True),
        sa.Column("method_in", sa.String(10), nullable=False),
        sa.Column("method_out", sa.String(10), nullable=False),
        sa.Column("auto_closed", sa.Boolean, nullable=False),
        sa.Column("open_rider_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        _fk(t, "rider_id", "courier_rest_rider.id"),
        sa.UniqueConstraint("open_rider_id", name=f"uq_{t}_open_rider_id"),
    )
    op.create_index("ix_courier_rest_visit_station_in", t, ["station_id", "checked_in_at"])

    t = "courier_rest_slot"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        sa.UniqueConstraint("station_id", "kind", "number", name="uq_courier_rest_slot_station_kind_number"),
    )

    t = "courier_rest_use"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("visit_id", sa.Integer, nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=False),
        sa.Column("slot_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("held_until", UTCDateTime, nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=False),
        sa.Column("overstay_at", UTCDateTime, nullable=True),
        sa.Column("live_slot_id", sa.Integer, nullable=True),
        sa.Column("live_holder", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        _fk(t, "visit_id", "courier_rest_visit.id"),
        _fk(t, "rider_id", "courier_rest_rider.id"),
        _fk(t, "slot_id", "courier_rest_slot.id"),
        sa.UniqueConstraint("live_slot_id", name=f"uq_{t}_live_slot_id"),
        sa.UniqueConstraint("live_holder", name=f"uq_{t}_live_holder"),
    )
    op.create_index("ix_courier_rest_use_station_started", t, ["station_id", "started_at"])

    t = "courier_rest_waiting"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=False),
        sa.Column("visit_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("offered_at", UTCDateTime, nullable=True),
        sa.Column("offered_use_id", sa.Integer, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("live_holder", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        _fk(t, "rider_id", "courier_rest_rider.id"),
        _fk(t, "visit_id", "courier_rest_visit.id"),
        sa.UniqueConstraint("station_id", "day", "number", name="uq_courier_rest_waiting_station_day_number"),
        sa.UniqueConstraint("live_holder", name=f"uq_{t}_live_holder"),
    )

    t = "courier_rest_service"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("icon", sa.String(40), nullable=False),
        sa.Column("name_zh_hans", sa.String(40), nullable=False),
        sa.Column("name_zh_hant", sa.String(40), nullable=False),
        sa.Column("name_en", sa.String(60), nullable=False),
        sa.Column("note_zh_hans", sa.String(200), nullable=False),
        sa.Column("note_zh_hant", sa.String(200), nullable=False),
        sa.Column("note_en", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        sa.UniqueConstraint("station_id", "key", name="uq_courier_rest_service_station_key"),
    )

    t = "courier_rest_service_use"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=True),
        sa.Column("visit_id", sa.Integer, nullable=True),
        sa.Column("service_key", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        _fk(t, "rider_id", "courier_rest_rider.id"),
        _fk(t, "visit_id", "courier_rest_visit.id"),
    )
    op.create_index("ix_courier_rest_service_use_station_at", t, ["station_id", "at"])

    t = "courier_rest_request"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=False),
        sa.Column("visit_id", sa.Integer, nullable=True),
        sa.Column("service", sa.String(30), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("ticket", sa.String(20), nullable=False),
        sa.Column("ticket_url", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("handled_at", UTCDateTime, nullable=True),
        sa.Column("handled_by", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        _fk(t, "rider_id", "courier_rest_rider.id"),
        _fk(t, "visit_id", "courier_rest_visit.id"),
        _fk(t, "handled_by", "kiosk_user.id"),
    )
    op.create_index("ix_courier_rest_request_station_state", t, ["station_id", "state"])

    t = "courier_rest_hazard"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=True),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("photos", sa.JSON, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("upload_token", sa.String(64), nullable=False),
        sa.Column("tracking_no", sa.String(40), nullable=False),
        sa.Column("status_url", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("handled_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        _fk(t, "station_id", "station.id"),
        _fk(t, "rider_id", "courier_rest_rider.id"),
        sa.UniqueConstraint("upload_token", name=f"uq_{t}_upload_token"),
    )
    op.create_index("ix_courier_rest_hazard_station_created", t, ["station_id", "created_at"])


def downgrade():
    op.drop_index("ix_courier_rest_hazard_station_created", table_name="courier_rest_hazard")
    op.drop_table("courier_rest_hazard")
    op.drop_index("ix_courier_rest_request_station_state", table_name="courier_rest_request")
    op.drop_table("courier_rest_request")
    op.drop_index("ix_courier_rest_service_use_station_at", table_name="courier_rest_service_use")
    op.drop_table("courier_rest_service_use")
    op.drop_table("courier_rest_service")
    op.drop_table("courier_rest_waiting")
    op.drop_index("ix_courier_rest_use_station_started", table_name="courier_rest_use")
    op.drop_table("courier_rest_use")
    op.drop_table("courier_rest_slot")
    op.drop_index("ix_courier_rest_visit_station_in", table_name="courier_rest_visit")
    op.drop_table("courier_rest_visit")
    op.drop_table("courier_rest_rider")
