"""Station notices and calls for staff.

Revision ID: kiosk_core_0011
Revises: kiosk_core_0010
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "kiosk_core_0011"
down_revision = "kiosk_core_0010"
branch_labels = None
depends_on = None


def upgrade():
    """SKELETON: filled in by the helper that owns this migration."""


def downgrade():
    """SKELETON: filled in by the helper that owns this migration."""
