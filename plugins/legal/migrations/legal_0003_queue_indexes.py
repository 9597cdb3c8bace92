"""legal: indexes that answer "people ahead" and "call next" without reading the whole queue.

``legal_ticket.urgent`` (priority or not, as the fairness rule reads it) lets one
index range hold a queue's priority tickets in queue order; the three indexes
serve :mod:`kiosk_plugins.legal.places` (counts and seeks by queue order and by
skips) and the served-pace and counter look-ups by status. The hub's synced
tickets get the same two queue-order indexes (``priority`` is already a flag there), which
replace the status index both tables had (a prefix of the new ones).

Revision ID: legal_0003
Revises: legal_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "legal_0003"
down_revision = "legal_0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("legal_ticket") as batch:
        batch.add_column(sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE legal_ticket SET urgent = (priority <> '')")
    op.drop_index("ix_legal_ticket_station_day_service_status", table_name="legal_ticket")
    op.create_index(
        "ix_legal_ticket_queue_order",
        "legal_ticket",
        ["station_id", "day", "service", "status", "urgent", "queue_at", "id"],
    )
    op.create_index(
        "ix_legal_ticket_queue_skips",
        "legal_ticket",
        ["station_id", "day", "service", "status", "urgent", "skips", "queue_at", "id"],
    )
    op.create_index(
        "ix_legal_ticket_station_day_status",
        "legal_ticket",
        ["station_id", "day", "status", "service", "finished_at"],
    )
    op.drop_index("ix_legal_hub_ticket_station_day_service_status", table_name="legal_hub_ticket")
    op.create_index(
        "ix_legal_hub_ticket_queue_order",
        "legal_hub_ticket",
        ["station_id", "day", "service", "status", "priority", "queue_at", "place"],
    )
    op.create_index(
        "ix_legal_hub_ticket_queue_skips",
        "legal_hub_ticket",
        ["station_id", "day", "service", "status", "priority", "skips", "queue_at", "place"],
    )


def downgrade():
    op.drop_index("ix_legal_hub_ticket_queue_skips", table_name="legal_hub_ticket")
    op.drop_index("ix_legal_hub_ticket_queue_order", table_name="legal_hub_ticket")
    op.create_index(
        "ix_legal_hub_ticket_station_day_service_status",
        "legal_hub_ticket",
        ["station_id", "day", "service", "status"],
    )
    op.drop_index("ix_legal_ticket_station_day_status", table_name="legal_ticket")
    op.drop_index("ix_legal_ticket_queue_skips", table_name="legal_ticket")
    op.drop_index("ix_legal_ticket_queue_order", table_name="legal_ticket")
    op.create_index(
        "ix_legal_ticket_station_day_service_status", "legal_ticket", ["station_id", "day", "service", "status"]
    )
    with op.batch_alter_table("legal_ticket") as batch:
        batch.drop_column("urgent")
