"""Station notices and calls for staff.

``kiosk_notice``: what staff tell every resident on the home screen (closed
on a holiday, a lawyer on duty this afternoon), in each station language,
until it expires. ``kiosk_staff_call``: a resident pressed 呼叫工作人员 at a
kiosk screen; it stays open until a member of staff acknowledges it.

Revision ID: kiosk_core_0011
Revises: kiosk_core_0010
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0011"
down_revision = "kiosk_core_0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosk_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_kiosk_notice_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_notice")),
    )
    op.create_index("ix_kiosk_notice_station_expires", "kiosk_notice", ["station_id", "expires_at"])
    op.create_table(
        "kiosk_staff_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("terminal", sa.String(length=64), nullable=False),
        sa.Column("screen", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_kiosk_staff_call_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_staff_call")),
    )
    op.create_index("ix_kiosk_staff_call_station_open", "kiosk_staff_call", ["station_id", "acknowledged_at"])


def downgrade():
    op.drop_index("ix_kiosk_staff_call_station_open", table_name="kiosk_staff_call")
    op.drop_table("kiosk_staff_call")
    op.drop_index("ix_kiosk_notice_station_expires", table_name="kiosk_notice")
    op.drop_table("kiosk_notice")
