"""petitions: requests, history, photos, ratings, outbox, rate limits, numbering, places.

Revision ID: petitions_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "petitions_0001"
down_revision = None
branch_labels = ("petitions",)
depends_on = "kiosk_core_0001"


def _station_fk(table):
    return sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=f"fk_{table}_station_id_station")


def _request_fk(table):
    return sa.ForeignKeyConstraint(
        ["request_id"], ["petitions_request.id"], name=f"fk_{table}_request_id_petitions_request"
    )


def upgrade():
    op.create_table(
        "petitions_request",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("tracking_no", sa.String(32), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("category", sa.String(50), nullable=False),
        sa.Column("place_key", sa.String(64), nullable=False),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("anonymous", sa.Boolean, nullable=False),
        sa.Column("contact_name", sa.String(100), nullable=False),
        sa.Column("contact_phone", sa.String(32), nullable=False),
        sa.Column("contact_email", sa.String(200), nullable=False),
        sa.Column("contact_erased_at", UTCDateTime, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("media_url", sa.String(500), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reopened", sa.Integer, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_request"),
        _station_fk("petitions_request"),
        sa.UniqueConstraint("uid", name="uq_petitions_request_uid"),
        sa.UniqueConstraint("token", name="uq_petitions_request_token"),
        sa.UniqueConstraint("station_id", "tracking_no", name="uq_petitions_request_tracking"),
    )
    op.create_index("ix_petitions_request_station_status", "petitions_request", ["station_id", "status"])
    op.create_index("ix_petitions_request_station_created", "petitions_request", ["station_id", "created_at"])

    op.create_table(
        "petitions_step",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_step"),
        _station_fk("petitions_step"),
        _request_fk("petitions_step"),
        sa.ForeignKeyConstraint(["user_id"], ["kiosk_user.id"], name="fk_petitions_step_user_id_kiosk_user"),
    )
    op.create_index("ix_petitions_step_request", "petitions_step", ["request_id", "id"])

    op.create_table(
        "petitions_photo",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_photo"),
        _station_fk("petitions_photo"),
        _request_fk("petitions_photo"),
        sa.UniqueConstraint("token", name="uq_petitions_photo_token"),
    )
    op.create_index("ix_petitions_photo_request", "petitions_photo", ["request_id"])

    op.create_table(
        "petitions_rating",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("score", sa.String(24), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_rating"),
        _station_fk("petitions_rating"),
        _request_fk("petitions_rating"),
    )
    op.create_index("ix_petitions_rating_request", "petitions_rating", ["request_id"])

    op.create_table(
        "petitions_outbox",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_outbox"),
        _station_fk("petitions_outbox"),
        _request_fk("petitions_outbox"),
        sa.UniqueConstraint("message_id", name="uq_petitions_outbox_message_id"),
    )
    op.create_index("ix_petitions_outbox_due", "petitions_outbox", ["delivered_at", "next_attempt_at"])

    op.create_table(
        "petitions_rate_hit",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_rate_hit"),
    )
    op.create_index("ix_petitions_rate_hit_key_at", "petitions_rate_hit", ["key", "at"])

    op.create_table(
        "petitions_counter",
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("station_id", "day", name="pk_petitions_counter"),
        _station_fk("petitions_counter"),
    )

    op.create_table(
        "petitions_place",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name_zh_hans", sa.String(100), nullable=False),
        sa.Column("name_zh_hant", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_petitions_place"),
        _station_fk("petitions_place"),
        sa.UniqueConstraint("station_id", "key", name="uq_petitions_place_station_key"),
    )


def downgrade():
    for table in (
        "petitions_place",
        "petitions_counter",
        "petitions_rate_hit",
        "petitions_outbox",
        "petitions_rating",
        "petitions_photo",
        "petitions_step",
        "petitions_request",
    ):
        op.drop_table(table)
