"""Terminals of a station (kiosk screens, displays, counters) and the reader claims bound to them.

Revision ID: kiosk_core_0005
Revises: kiosk_core_0004
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0005"
down_revision = "kiosk_core_0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosk_terminal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("credential_hash", sa.String(length=64), nullable=True),
        sa.Column("credential_expires_at", UTCDateTime(), nullable=True),
        sa.Column("enrol_token_hash", sa.String(length=64), nullable=True),
        sa.Column("enrol_expires_at", UTCDateTime(), nullable=True),
        sa.Column("enrolled_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=op.f("fk_kiosk_terminal_station_id_station")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_terminal")),
        sa.UniqueConstraint("station_id", "name", name="uq_kiosk_terminal_station_name"),
    )
    with op.batch_alter_table("kiosk_terminal", schema=None) as batch_op:
        batch_op.create_index("ix_kiosk_terminal_enrol_token_hash", ["enrol_token_hash"], unique=False)

    op.create_table(
        "kiosk_reader_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_hash", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["kiosk_terminal.id"], name=op.f("fk_kiosk_reader_claim_terminal_id_kiosk_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_reader_claim")),
        sa.UniqueConstraint("claim_hash", name=op.f("uq_kiosk_reader_claim_claim_hash")),
    )
    with op.batch_alter_table("kiosk_reader_claim", schema=None) as batch_op:
        batch_op.create_index("ix_kiosk_reader_claim_expires_at", ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("kiosk_reader_claim", schema=None) as batch_op:
        batch_op.drop_index("ix_kiosk_reader_claim_expires_at")
    op.drop_table("kiosk_reader_claim")
    with op.batch_alter_table("kiosk_terminal", schema=None) as batch_op:
        batch_op.drop_index("ix_kiosk_terminal_enrol_token_hash")
    op.drop_table("kiosk_terminal")
