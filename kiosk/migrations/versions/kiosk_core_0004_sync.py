"""Sync tables: the station outbox and state, the hub's peers, down-log and parked entries.

Revision ID: kiosk_core_0004
Revises: kiosk_core_0003
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0004"
down_revision = "kiosk_core_0003"
branch_labels = None
depends_on = None


def upgrade():

    op.create_table(
        "sync_down",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sync_down_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_down")),
    )
    with op.batch_alter_table("sync_down", schema=None) as batch_op:
        batch_op.create_index("ix_sync_down_station_id", ["station_id", "id"], unique=False)

    op.create_table(
        "sync_figures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sync_figures_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_figures")),
        sa.UniqueConstraint("station_id", "day", name="uq_sync_figures_station_day"),
    )
    op.create_table(
        "sync_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sync_outbox_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_outbox")),
        sa.UniqueConstraint("station_id", "seq", name="uq_sync_outbox_station_seq"),
    )
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_sync_outbox_station_sent", ["station_id", "sent_at"], unique=False)

    op.create_table(
        "sync_parked",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sync_parked_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_parked")),
    )
    op.create_table(
        "sync_peer",
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("signing_key", sa.String(length=200), nullable=False),
        sa.Column("tag", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("pulled_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("enrolled_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_sync_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sync_peer_station_id_station")),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_sync_peer")),
    )
    op.create_table(
        "sync_state",
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("hub_url", sa.String(length=500), nullable=False),
        sa.Column("hub_public_url", sa.String(length=500), nullable=False),
        sa.Column("station_key", sa.String(length=200), nullable=False),
        sa.Column("signing_key", sa.String(length=200), nullable=False),
        sa.Column("tag", sa.String(length=16), nullable=False),
        sa.Column("protocol", sa.Integer(), nullable=False),
        sa.Column("acked_seq", sa.Integer(), nullable=False),
        sa.Column("pulled_id", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", UTCDateTime(), nullable=True),
        sa.Column("last_ok_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_sync_state_station_id_station")),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_sync_state")),
    )


def downgrade():

    op.drop_table("sync_state")
    op.drop_table("sync_peer")
    op.drop_table("sync_parked")
    op.drop_table("sync_figures")
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_outbox_station_sent")

    op.drop_table("sync_outbox")
    with op.batch_alter_table("sync_down", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_down_station_id")

    op.drop_table("sync_down")
