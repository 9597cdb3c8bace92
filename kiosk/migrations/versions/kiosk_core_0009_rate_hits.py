"""Rate hits: public write routes limited per client across workers, and failed guesses for back-off.

Revision ID: kiosk_core_0009
Revises: kiosk_core_0008
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0009"
down_revision = "kiosk_core_0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosk_rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_rate_hit")),
    )
    op.create_index("ix_kiosk_rate_hit_key_at", "kiosk_rate_hit", ["key", "at"])
    op.create_index("ix_kiosk_rate_hit_at", "kiosk_rate_hit", ["at"])


def downgrade():
    op.drop_index("ix_kiosk_rate_hit_at", table_name="kiosk_rate_hit")
    op.drop_index("ix_kiosk_rate_hit_key_at", table_name="kiosk_rate_hit")
    op.drop_table("kiosk_rate_hit")
