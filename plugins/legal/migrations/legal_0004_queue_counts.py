"""legal: waiting tickets counted per queue, class and minute of queue time, kept by triggers.

"People ahead" counted a queue's index entries before a ticket, which grows
with the queue (issue 22). ``legal_queue_count`` (the station's tickets) and
``legal_hub_queue_count`` (the hub's synced copy) hold how many tickets of a
queue and class wait per minute of their ``queue_at``; the count before a
ticket is the sum of the earlier minutes plus a count inside its own minute
(:mod:`kiosk_plugins.legal.places`). Triggers keep them in the transaction of
every write to the ticket tables, whoever makes it; existing waiting tickets
are counted here (an upgrade during opening hours keeps its queue).

The triggers' text is frozen here; ``kiosk_plugins.legal.models.count_triggers``
must give the same (tests/test_legal_queue_length.py compares them).

Revision ID: legal_0004
Revises: legal_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "legal_0004"
down_revision = "legal_0003"
branch_labels = None
depends_on = None

BUCKET_SECONDS = 60
#: (ticket table, count table, the column holding the class)
COUNTED = (("legal_ticket", "legal_queue_count", "urgent"), ("legal_hub_ticket", "legal_hub_queue_count", "priority"))
KEY = "station_id, day, service, urgent, bucket"


def bucket_sql(dialect: str, row: str) -> str:
    if dialect == "sqlite":
        return f"CAST(strftime('%s', substr({row}.queue_at, 1, 19)) AS INTEGER) / {BUCKET_SECONDS}"
    return f"CAST(floor(extract(epoch FROM {row}.queue_at)) AS BIGINT) / {BUCKET_SECONDS}"


def triggers(dialect: str, table: str, counts: str, urgent: str) -> list[str]:
    def where(row: str) -> str:
        return (
            f"station_id = {row}.station_id AND day = {row}.day AND service = {row}.service "
            f"AND urgent = {row}.{urgent} AND bucket = {bucket_sql(dialect, row)}"
        )

    def values(row: str) -> str:
        return f"{row}.station_id, {row}.day, {row}.service, {row}.{urgent}, {bucket_sql(dialect, row)}, 1"

    if dialect == "sqlite":
        add = (
            f"INSERT INTO {counts} ({KEY}, waiting) SELECT {values('NEW')} WHERE NEW.status = 'waiting' "
            f"ON CONFLICT ({KEY}) DO UPDATE SET waiting = waiting + 1;"
        )
        remove = f"UPDATE {counts} SET waiting = waiting - 1 WHERE OLD.status = 'waiting' AND {where('OLD')};"
        watched = f"station_id, day, service, status, {urgent}, queue_at"
        return [
            f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} WHEN NEW.status = 'waiting' BEGIN {add} END",
            f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} "
            f"WHEN OLD.status = 'waiting' BEGIN {remove} END",
            f"CREATE TRIGGER {table}_count_update AFTER UPDATE OF {watched} ON {table} "
            f"WHEN OLD.status = 'waiting' OR NEW.status = 'waiting' BEGIN {remove} {add} END",
        ]
    return [
        f"CREATE FUNCTION {table}_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' AND OLD.status = 'waiting' THEN "
        f"UPDATE {counts} SET waiting = waiting - 1 WHERE {where('OLD')}; END IF; "
        f"IF TG_OP <> 'DELETE' AND NEW.status = 'waiting' THEN "
        f"INSERT INTO {counts} AS c ({KEY}, waiting) VALUES ({values('NEW')}) "
        f"ON CONFLICT ({KEY}) DO UPDATE SET waiting = c.waiting + 1; END IF; "
        f"RETURN NULL; END $$",
        f"CREATE TRIGGER {table}_count AFTER INSERT OR DELETE OR UPDATE OF "
        f"station_id, day, service, status, {urgent}, queue_at ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_count()",
    ]


def upgrade():
    dialect = op.get_bind().dialect.name
    for table, counts, urgent in COUNTED:
        op.create_table(
            counts,
            sa.Column("station_id", sa.Integer, nullable=False),
            sa.Column("day", sa.Date, nullable=False),
            sa.Column("service", sa.String(32), nullable=False),
            sa.Column("urgent", sa.Boolean, nullable=False),
            sa.Column("bucket", sa.BigInteger, nullable=False, autoincrement=False),
            sa.Column("waiting", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("station_id", "day", "service", "urgent", "bucket", name=f"pk_{counts}"),
            # SQLite: rows kept in the key's b-tree, so a sum over a range of minutes reads one tree.
            sqlite_with_rowid=False,
        )
        # The queue as it stands (the triggers below keep it from here; writes wait for this transaction).
        op.execute(
            f"INSERT INTO {counts} ({KEY}, waiting) "
            f"SELECT station_id, day, service, {urgent}, {bucket_sql(dialect, table)}, count(*) FROM {table} "
            f"WHERE status = 'waiting' GROUP BY station_id, day, service, {urgent}, {bucket_sql(dialect, table)}"
        )
        for statement in triggers(dialect, table, counts, urgent):
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table, counts, _urgent in COUNTED:
        if dialect == "sqlite":
            for action in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_count_{action}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_count ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_count()")
        op.drop_table(counts)
