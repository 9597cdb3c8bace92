"""courier_rest: district-wide rider ids, rider aliases (merged registrations), visit ids and the hub's visit uses.

Existing riders and visits get a random ``uid`` each, so a station that joins
a district can send them to the hub.

Revision ID: courier_rest_0002
"""

import secrets

import sqlalchemy as sa
from alembic import op

from kiosk.db import UTCDateTime

revision = "courier_rest_0002"
down_revision = "courier_rest_0001"
branch_labels = None
depends_on = "kiosk_core_0001"


def _backfill(table: str) -> None:
    bind = op.get_bind()
    rows = sa.table(table, sa.column("id", sa.Integer), sa.column("uid", sa.String))
    for (row_id,) in bind.execute(sa.select(rows.c.id).where(rows.c.uid.is_(None))).all():
        bind.execute(sa.update(rows).where(rows.c.id == row_id).values(uid=secrets.token_urlsafe(12)))


def upgrade():
    with op.batch_alter_table("courier_rest_rider") as batch:
        batch.add_column(sa.Column("uid", sa.String(32), nullable=True))
        batch.add_column(sa.Column("home_station", sa.String(40), nullable=False, server_default=""))
    _backfill("courier_rest_rider")
    with op.batch_alter_table("courier_rest_rider") as batch:
        batch.alter_column("uid", existing_type=sa.String(32), nullable=False)
        batch.alter_column("home_station", existing_type=sa.String(40), server_default=None)
    op.create_index("uq_courier_rest_rider_station_uid", "courier_rest_rider", ["station_id", "uid"], unique=True)

    with op.batch_alter_table("courier_rest_visit") as batch:
        batch.add_column(sa.Column("uid", sa.String(32), nullable=True))
        batch.add_column(sa.Column("uses", sa.JSON, nullable=True))
    _backfill("courier_rest_visit")
    with op.batch_alter_table("courier_rest_visit") as batch:
        batch.alter_column("uid", existing_type=sa.String(32), nullable=False)
    op.create_index("uq_courier_rest_visit_station_uid", "courier_rest_visit", ["station_id", "uid"], unique=True)

    t = "courier_rest_rider_alias"
    op.create_table(
        t,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.Integer, nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("rider_id", sa.Integer, nullable=False),
        sa.Column("pass_token", sa.String(64), nullable=True),
        sa.Column("card_uid", sa.String(64), nullable=True),
        sa.Column("merged_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{t}"),
        sa.ForeignKeyConstraint(["station_id"], ["station.id"], name=f"fk_{t}_station_id_station"),
        sa.ForeignKeyConstraint(["rider_id"], ["courier_rest_rider.id"], name=f"fk_{t}_rider_id_courier_rest_rider"),
    )
    op.create_index("uq_courier_rest_rider_alias_station_uid", t, ["station_id", "uid"], unique=True)
    op.create_index("ix_courier_rest_rider_alias_token", t, ["pass_token"])
    op.create_index("ix_courier_rest_rider_alias_card", t, ["station_id", "card_uid"])


def downgrade():
    t = "courier_rest_rider_alias"
    op.drop_index("ix_courier_rest_rider_alias_card", table_name=t)
    op.drop_index("ix_courier_rest_rider_alias_token", table_name=t)
    op.drop_index("uq_courier_rest_rider_alias_station_uid", table_name=t)
    op.drop_table(t)
    op.drop_index("uq_courier_rest_visit_station_uid", table_name="courier_rest_visit")
    with op.batch_alter_table("courier_rest_visit") as batch:
        batch.drop_column("uses")
        batch.drop_column("uid")
    op.drop_index("uq_courier_rest_rider_station_uid", table_name="courier_rest_rider")
    with op.batch_alter_table("courier_rest_rider") as batch:
        batch.drop_column("home_station")
        batch.drop_column("uid")
