"""The legal queue's tables: day counters, tickets, counters, the duty schedule and bookings.

Every table has ``station_id``; every query filters on it. The migration in
``migrations/legal_0001_initial.py`` creates the station's tables;
``legal_0002_hub`` the two the district hub keeps of every station's queue
(:class:`HubTicket`, :class:`HubQueue`, filled by sync); ``legal_0004`` the
waiting counts per minute of queue time (:class:`QueueCount`, :class:`HubQueueCount`),
``legal_0005`` the same per hour (:class:`QueueHourCount`, :class:`HubQueueHourCount`),
kept by triggers.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from kiosk.db import Base, UTCDateTime, utcnow

#: A ticket's life: waiting → called → served | no_show; transfer puts it back
#: to waiting in another queue; at day's end waiting tickets become expired.
STATUSES = ("waiting", "called", "served", "no_show", "expired")


def _is_urgent(context) -> bool:
    """``urgent`` of a new ticket row: whether it was given a priority reason."""
    return bool(context.get_current_parameters().get("priority"))


class DayCounter(Base):
    """The last number given out per station, service and local day, before the core numbered tickets.

    No longer written: tickets are numbered by :mod:`kiosk.numbering`. Read
    once per day and queue when the core's counter is created (see
    :mod:`kiosk_plugins.legal.numbering`); a later migration may drop it.
    """

    __tablename__ = "legal_day_counter"
    __table_args__ = (
        UniqueConstraint("station_id", "service", "day", name="uq_legal_day_counter_station_service_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    service: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """One queue ticket (A012). ``phone`` is kept for this ticket only and shown masked."""

    __tablename__ = "legal_ticket"
    __table_args__ = (
        UniqueConstraint(
            "station_id", "numbered_service", "day", "number", name="uq_legal_ticket_station_service_day_number"
        ),
        # Queue order and skips per queue (kiosk_plugins.legal.places), the served pace and counters by status.
        Index("ix_legal_ticket_queue_order", "station_id", "day", "service", "status", "urgent", "queue_at", "id"),
        Index(
            "ix_legal_ticket_queue_skips", "station_id", "day", "service", "status", "urgent", "skips", "queue_at", "id"
        ),
        Index("ix_legal_ticket_station_day_status", "station_id", "day", "status", "service", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    day: Mapped[date] = mapped_column(Date)
    # The queue whose counter gave the number; stays when the ticket is transferred.
    numbered_service: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(8))
    service: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    priority: Mapped[str] = mapped_column(String(16), default="")
    # Whether ``priority`` is set: the fairness rule's two classes, each one index range in queue order.
    urgent: Mapped[bool] = mapped_column(Boolean, default=_is_urgent, server_default=false())
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(32), default="kiosk")
    # Place in the queue: issue time, or the booked time for a booking.
    queue_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)
    # How often a later priority ticket was called before this one (fairness).
    skips: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    transferred_from: Mapped[str] = mapped_column(String(32), default="")
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("legal_booking.id"), nullable=True)


class Counter(Base):
    """A counter (窗口) of the legal area: who sits there and whether it is paused."""

    __tablename__ = "legal_counter"
    __table_args__ = (UniqueConstraint("station_id", "number", name="uq_legal_counter_station_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    number: Mapped[int] = mapped_column(Integer)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DutySlot(Base):
    """A lawyer's duty period (值班律师排班) that residents may book a place in."""

    __tablename__ = "legal_duty_slot"
    __table_args__ = (Index("ix_legal_duty_slot_station_starts", "station_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    service: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lawyer: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("kiosk_user.id"), nullable=True)


class Booking(Base):
    """A resident's booked place in a duty slot; checked in at the kiosk with ``code``."""

    __tablename__ = "legal_booking"
    __table_args__ = (UniqueConstraint("station_id", "code", name="uq_legal_booking_station_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("legal_duty_slot.id"))
    code: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HubTicket(Base):
    """A station's ticket as the district hub last heard of it (hub side; synced as ``legal.ticket``).

    Only what the resident's phone page and the statistics need: no phone,
    no priority reason (only whether there is one), no staff or booking. Keyed by the station and
    the ticket's token; ``place`` is the station's own ticket id, which breaks
    ties in queue order exactly as the station does (the hub's ids differ).
    """

    __tablename__ = "legal_hub_ticket"
    __table_args__ = (
        UniqueConstraint("station_id", "token", name="uq_legal_hub_ticket_station_token"),
        Index(
            "ix_legal_hub_ticket_queue_order", "station_id", "day", "service", "status", "priority", "queue_at", "place"
        ),
        Index(
            "ix_legal_hub_ticket_queue_skips",
            "station_id",
            "day",
            "service",
            "status",
            "priority",
            "skips",
            "queue_at",
            "place",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    token: Mapped[str] = mapped_column(String(32))
    place: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(8))
    service: Mapped[str] = mapped_column(String(32))
    numbered_service: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[bool] = mapped_column(Boolean, default=False)
    queue_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    skips: Mapped[int] = mapped_column(Integer, default=0)
    transferred_from: Mapped[str] = mapped_column(String(32), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubQueue(Base):
    """A station's queue as the hub last heard of it (synced as ``legal.queue``): name and pace.

    The hub cannot use its own ``[plugins.legal]`` settings for a station's
    queue: each station names its queues and counters. ``data`` holds the
    queue's names by language, the minutes per person measured on ``day``,
    the default minutes, how many of its counters are open, and the
    station's fairness limit.
    """

    __tablename__ = "legal_hub_queue"
    __table_args__ = (UniqueConstraint("station_id", "service", name="uq_legal_hub_queue_station_service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    service: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


#: Width of a :class:`QueueCount` bucket: the minute of ``queue_at`` (seconds since the Unix epoch, whole
#: seconds, divided by this). Fixed by migration ``legal_0004``'s triggers: changing it needs a migration.
BUCKET_SECONDS = 60
#: Width of a :class:`QueueHourCount` row: the hour of ``queue_at``, reckoned the same way (a whole number
#: of minute buckets, so an hour's minutes are the buckets ``hour * 60`` to ``hour * 60 + 59``). Fixed by
#: migration ``legal_0005``'s triggers.
HOUR_SECONDS = 3600


class QueueCount(Base):
    """How many tickets of one queue and class wait, per minute of their ``queue_at`` (the station's tickets).

    "People ahead" needs the waiting tickets of a class queued before a given
    one: the hours before its hour (:class:`QueueHourCount`), the minutes of its
    hour before its minute, and an index count inside its own minute: at most
    23 + 59 rows and a minute's tickets whatever the queue's length
    (:mod:`kiosk_plugins.legal.places`), instead of counting the whole queue's
    index entries. Kept by database triggers on ``legal_ticket``
    (:func:`count_triggers`) in the transaction of every insert,
    status/queue/time change and delete, whoever writes the row (the ORM, a
    bulk insert, the day's close); a row whose count fell to 0 stays until its
    day is closed.
    """

    __tablename__ = "legal_queue_count"
    # On SQLite the rows live in the primary key's b-tree: a sum over a range reads one tree, not index then rows.
    __table_args__ = {"sqlite_with_rowid": False}

    station_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    urgent: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    waiting: Mapped[int] = mapped_column(Integer, default=0)


class HubQueueCount(Base):
    """:class:`QueueCount` of the hub's synced tickets (``legal_hub_ticket``; the class is ``priority``)."""

    __tablename__ = "legal_hub_queue_count"
    __table_args__ = {"sqlite_with_rowid": False}

    station_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    urgent: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    waiting: Mapped[int] = mapped_column(Integer, default=0)


class QueueHourCount(Base):
    """:class:`QueueCount` per hour of ``queue_at`` (:data:`HOUR_SECONDS`): the sums of its minutes' rows.

    A count before a ticket queued five hours after the first waiting one read
    some 300 minute rows (about 20 us each time on SQLite, several times per
    position page: ``python -m bench queue_length``); with these it reads the
    earlier hours and the minutes of its own hour. Kept by the same triggers,
    in the same statements' transaction.
    """

    __tablename__ = "legal_queue_hour_count"
    __table_args__ = {"sqlite_with_rowid": False}

    station_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    urgent: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    waiting: Mapped[int] = mapped_column(Integer, default=0)


class HubQueueHourCount(Base):
    """:class:`QueueHourCount` of the hub's synced tickets (``legal_hub_ticket``)."""

    __tablename__ = "legal_hub_queue_hour_count"
    __table_args__ = {"sqlite_with_rowid": False}

    station_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    urgent: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    waiting: Mapped[int] = mapped_column(Integer, default=0)


#: (ticket table, minute count table, hour count table, the column holding the class) kept by triggers.
COUNTED = (
    ("legal_ticket", "legal_queue_count", "legal_queue_hour_count", "urgent"),
    ("legal_hub_ticket", "legal_hub_queue_count", "legal_hub_queue_hour_count", "priority"),
)


def epoch_seconds_sql(dialect: str, at: str) -> str:
    """SQL of the whole seconds since the Unix epoch of the queue time ``at`` (SQL), as the count rows reckon them.

    The triggers' buckets are this divided by :data:`BUCKET_SECONDS` or :data:`HOUR_SECONDS`
    (:mod:`kiosk_plugins.legal.places` computes a ticket's buckets the same way in a query).
    """
    if dialect == "sqlite":
        # The stored text to the whole second (strftime would round .9995 up into the next second).
        return f"CAST(strftime('%s', substr({at}, 1, 19)) AS INTEGER)"
    return f"CAST(floor(extract(epoch FROM {at})) AS BIGINT)"


def count_triggers(dialect: str, table: str, counts: str, hours: str, urgent: str) -> list[str]:
    """The statements creating the triggers that keep ``counts`` and ``hours`` equal to ``table``'s waiting tickets.

    The same text as migration ``legal_0005`` (a test compares them): a fresh
    ``create_all`` and a migrated database keep the counts alike. A decrement
    only updates (a count row is there whenever a waiting ticket was counted
    in it); an increment inserts the row or adds one to it. Each count table
    has its statement in the same trigger body (a second trigger would cost
    a second firing per written ticket).
    """
    levels = ((counts, "bucket", BUCKET_SECONDS), (hours, "hour", HOUR_SECONDS))

    def key(column: str) -> str:
        return f"station_id, day, service, urgent, {column}"

    def seconds(row: str) -> str:
        return epoch_seconds_sql(dialect, row + ".queue_at")

    def where(row: str, column: str, width: int) -> str:
        return (
            f"station_id = {row}.station_id AND day = {row}.day AND service = {row}.service "
            f"AND urgent = {row}.{urgent} AND {column} = {seconds(row)} / {width}"
        )

    def values(row: str, width: int) -> str:
        return f"{row}.station_id, {row}.day, {row}.service, {row}.{urgent}, {seconds(row)} / {width}, 1"

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


def _attach_triggers() -> None:
    """``create_all`` creates the triggers with their ticket table (a trigger's body is checked when it runs)."""
    for table, counts, hours, urgent in COUNTED:
        for dialect in ("sqlite", "postgresql"):
            for statement in count_triggers(dialect, table, counts, hours, urgent):
                ddl = DDL(statement.replace("%", "%%")).execute_if(dialect=dialect)
                event.listen(Base.metadata.tables[table], "after_create", ddl)


_attach_triggers()
