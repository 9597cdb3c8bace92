"""Devices per terminal: which terminal a print job belongs to, agent leases, and agent credentials.

Revision ID: kiosk_core_0006
Revises: kiosk_core_0005
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "kiosk_core_0006"
down_revision = "kiosk_core_0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("print_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("terminal", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_print_job_station_printer_state", ["station_id", "printer", "state"], unique=False)

    op.create_table(
        "kiosk_terminal_agent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("credential_hash", sa.String(length=64), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", UTCDateTime(), nullable=True),
        sa.Column("enrolled_at", UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("session", sa.String(length=64), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["kiosk_terminal.id"], name=op.f("fk_kiosk_terminal_agent_terminal_id_kiosk_terminal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_terminal_agent")),
        sa.UniqueConstraint("terminal_id", name=op.f("uq_kiosk_terminal_agent_terminal_id")),
    )
    with op.batch_alter_table("kiosk_terminal_agent", schema=None) as batch_op:
        batch_op.create_index("ix_kiosk_terminal_agent_token_hash", ["token_hash"], unique=False)


def downgrade():
    with op.batch_alter_table("kiosk_terminal_agent", schema=None) as batch_op:
        batch_op.drop_index("ix_kiosk_terminal_agent_token_hash")
    op.drop_table("kiosk_terminal_agent")
    with op.batch_alter_table("print_job", schema=None) as batch_op:
        batch_op.drop_index("ix_print_job_station_printer_state")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("terminal")
