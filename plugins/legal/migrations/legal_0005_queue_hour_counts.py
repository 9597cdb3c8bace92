"""legal: waiting tickets counted per hour of queue time too, kept by the same triggers as the minutes.

A count of the waiting tickets queued before a ticket summed the minute rows of
``legal_0004`` from the queue's first minute: with 5,000 waiting over five hours
that is some 300 rows, about 20 us per sum on SQLite and two or three sums per
position page, which made the page grow with the queue (``python -m bench
queue_length``, issue 22). ``legal_queue_hour_count`` (the station's tickets) and
``legal_hub_queue_hour_count`` (the hub's synced copy) hold the same counts per
hour, so a count reads the earlier hours, the minutes of its own hour and an
index count inside its minute: at most 23 + 59 rows whatever the queue's length
(:mod:`kiosk_plugins.legal.places`).

The triggers of ``legal_0004`` are replaced by ones that keep both tables in the
same trigger body. The old ones are dropped first, which on PostgreSQL locks the
ticket table until this transaction ends, so no ticket is written between the
hours counted here and the new triggers.

The triggers' text is frozen here; ``kiosk_plugins.legal.models.count_triggers``
must give the same (tests/test_legal_queue_length.py compares them), and
:func:`triggers` without an hour table gives ``legal_0004``'s, which the
downgrade restores.

Revision ID: legal_0005
Revises: legal_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "legal_0005"
down_revision = "legal_0004"
branch_labels = None
depends_on = None

BUCKET_SECONDS = 60
HOUR_SECONDS = 3600
#: (ticket table, minute count table, hour count table, the column holding the class)
COUNTED = (
    ("legal_ticket", "legal_queue_count", "legal_queue_hour_count", "urgent"),
    ("legal_hub_ticket", "legal_hub_queue_count", "legal_hub_queue_hour_count", "priority"),
)


def seconds_sql(dialect: str, row: str) -> str:
    if dialect == "sqlite":
        return f"CAST(strftime('%s', substr({row}.queue_at, 1, 19)) AS INTEGER)"
    return f"CAST(floor(extract(epoch FROM {row}.queue_at)) AS BIGINT)"


def triggers(dialect: str, table: str, counts: str, hours: str | None, urgent: str) -> list[str]:
    """The triggers keeping ``counts`` (and ``hours``; ``None``: ``legal_0004``'s, minutes only)."""
    levels = [(counts, "bucket", BUCKET_SECONDS)]
    if hours is not None:
        levels.append((hours, "hour", HOUR_SECONDS))

    def key(column: str) -> str:
        return f"station_id, day, service, urgent, {column}"

    def where(row: str, column: str, width: int) -> str:
        return (
            f"station_id = {row}.station_id AND day = {row}.day AND service = {row}.service "
            f"AND urgent = {row}.{urgent} AND {column} = {seconds_sql(dialect, row)} / {width}"
        )

    def values(row: str, width: int) -> str:
        return f"{row}.station_id, {row}.day, {row}.service, {row}.{urgent}, {seconds_sql(dialect, row)} / {width}, 1"

    if dialect == "sqlite":
        add = " ".join(
            f"INSERT INTO {name} ({key(column)}, waiting) SELECT {values('NEW', width)} "
            f"WHERE NEW.status = 'waiting' ON CONFLICT ({key(column)}) DO UPDATE SET waiting = waiting + 1;"
            for name, column, width in levels
        )
        remove = " ".join(
            f"UPDATE {name} SET waiting = waiting - 1 WHERE OLD.status = 'waiting' AND {where('OLD', column, width)};"
            for name, column, width in levels
        )
        watched = f"station_id, day, service, status, {urgent}, queue_at"
        return [
            f"CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table} WHEN NEW.status = 'waiting' BEGIN {add} END",
            f"CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table} "
            f"WHEN OLD.status = 'waiting' BEGIN {remove} END",
            f"CREATE TRIGGER {table}_count_update AFTER UPDATE OF {watched} ON {table} "
            f"WHEN OLD.status = 'waiting' OR NEW.status = 'waiting' BEGIN {remove} {add} END",
        ]
    remove = " ".join(
        f"UPDATE {name} SET waiting = waiting - 1 WHERE {where('OLD', column, width)};"
        for name, column, width in levels
    )
    add = " ".join(
        f"INSERT INTO {name} AS c ({key(column)}, waiting) VALUES ({values('NEW', width)}) "
        f"ON CONFLICT ({key(column)}) DO UPDATE SET waiting = c.waiting + 1;"
        for name, column, width in levels
    )
    return [
        f"CREATE FUNCTION {table}_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP <> 'INSERT' AND OLD.status = 'waiting' THEN {remove} END IF; "
        f"IF TG_OP <> 'DELETE' AND NEW.status = 'waiting' THEN {add} END IF; "
        f"RETURN NULL; END $$",
        f"CREATE TRIGGER {table}_count AFTER INSERT OR DELETE OR UPDATE OF "
        f"station_id, day, service, status, {urgent}, queue_at ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_count()",
    ]


def _drop_triggers(dialect: str, table: str) -> None:
    if dialect == "sqlite":
        for action in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_count_{action}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_count ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_count()")


def upgrade():
    dialect = op.get_bind().dialect.name
    for table, counts, hours, urgent in COUNTED:
        op.create_table(
            hours,
            sa.Column("station_id", sa.Integer, nullable=False),
            sa.Column("day", sa.Date, nullable=False),
            sa.Column("service", sa.String(32), nullable=False),
            sa.Column("urgent", sa.Boolean, nullable=False),
            sa.Column("hour", sa.BigInteger, nullable=False, autoincrement=False),
            sa.Column("waiting", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("station_id", "day", "service", "urgent", "hour", name=f"pk_{hours}"),
            sqlite_with_rowid=False,
        )
        _drop_triggers(dialect, table)
        # The queue as it stands (the triggers below keep it from here).
        hour = f"{seconds_sql(dialect, table)} / {HOUR_SECONDS}"
        op.execute(
            f"INSERT INTO {hours} (station_id, day, service, urgent, hour, waiting) "
            f"SELECT station_id, day, service, {urgent}, {hour}, count(*) FROM {table} "
            f"WHERE status = 'waiting' GROUP BY station_id, day, service, {urgent}, {hour}"
        )
        for statement in triggers(dialect, table, counts, hours, urgent):
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table, counts, hours, urgent in COUNTED:
        _drop_triggers(dialect, table)
        for statement in triggers(dialect, table, counts, None, urgent):
            op.execute(statement)
        op.drop_table(hours)
