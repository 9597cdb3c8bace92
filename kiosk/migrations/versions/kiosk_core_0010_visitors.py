"""Visitors remembered on the server, not in the session cookie.

The cookie keeps only a random id; the identified visitor and what a plugin
remembered of their turn (a typed phone number, a chosen plate) live in this
table until the turn lapses, then the retention job deletes the row.

Revision ID: kiosk_core_0010
Revises: kiosk_core_0009
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0010"
down_revision = "kiosk_core_0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosk_visitor",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kiosk_visitor")),
    )
    op.create_index("ix_kiosk_visitor_expires_at", "kiosk_visitor", ["expires_at"])


def downgrade():
    op.drop_index("ix_kiosk_visitor_expires_at", table_name="kiosk_visitor")
    op.drop_table("kiosk_visitor")
