"""petitions: when a request's copy was last brought up to date by the other side of the sync.

Revision ID: petitions_0002
"""

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "petitions_0002"
down_revision = "petitions_0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("petitions_request") as batch:
        batch.add_column(sa.Column("synced_at", UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("petitions_request") as batch:
        batch.drop_column("synced_at")
