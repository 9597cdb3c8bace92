"""hello: greetings table.

Revision ID: hello_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "hello_0001"
down_revision = None
branch_labels = ("hello",)
depends_on = "kiosk_core_0001"


def upgrade():
    op.create_table(
        "hello_greeting",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("text", sa.String(100), nullable=False),
    )


def downgrade():
    op.drop_table("hello_greeting")
