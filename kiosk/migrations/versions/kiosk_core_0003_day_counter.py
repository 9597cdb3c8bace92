"""Day counters: per-station, per-series numbers that restart each local day (kiosk.numbering).

Revision ID: kiosk_core_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "kiosk_core_0003"
down_revision = "kiosk_core_0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosk_day_counter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("series", sa.String(100), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("last", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kiosk_day_counter"),
        sa.UniqueConstraint("station_id", "series", "day", name="uq_kiosk_day_counter_station_series_day"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name="fk_kiosk_day_counter_station_id_station"),
    )


def downgrade():
    op.drop_table("kiosk_day_counter")
