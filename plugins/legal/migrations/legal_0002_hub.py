"""legal: the hub's copy of every station's tickets and queues (filled by sync).

Revision ID: legal_0002
Revises: legal_0001
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "legal_0002"
down_revision = "legal_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "legal_hub_ticket",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("place", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("numbered_service", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Boolean, nullable=False),
        sa.Column("queue_at", UTCDateTime, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("first_called_at", UTCDateTime, nullable=True),
        sa.Column("called_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("counter", sa.Integer, nullable=True),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("skips", sa.Integer, nullable=False),
        sa.Column("transferred_from", sa.String(32), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_legal_hub_ticket"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_hub_ticket_station_id_station"),
        sa.UniqueConstraint("station_id", "token", name="uq_legal_hub_ticket_station_token"),
    )
    op.create_index(
        "ix_legal_hub_ticket_station_day_service_status",
        "legal_hub_ticket",
        ["station_id", "day", "service", "status"],
    )
    op.create_table(
        "legal_hub_queue",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_legal_hub_queue"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_legal_hub_queue_station_id_station"),
        sa.UniqueConstraint("station_id", "service", name="uq_legal_hub_queue_station_service"),
    )


def downgrade():
    op.drop_table("legal_hub_queue")
    op.drop_index("ix_legal_hub_ticket_station_day_service_status", table_name="legal_hub_ticket")
    op.drop_table("legal_hub_ticket")
