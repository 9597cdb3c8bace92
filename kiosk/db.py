"""The database: one SQLAlchemy engine per app, a session per request.

SQLite (WAL, foreign keys on) is the zero-set-up default; ``KIOSK_DATABASE_URL``
points a station or a district's fleet at PostgreSQL with the same code.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone

from flask import current_app, g, has_app_context
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for the core's and every plugin's models."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and gives them back aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """The current time, aware, in UTC (what every timestamp column stores)."""
    return datetime.now(timezone.utc)


def upsert_insert(dialect: str):
    """``insert`` of the dialect named ``dialect``, the one with ``on_conflict_do_…``.

    Imported on first use: the PostgreSQL dialect's modules cost a SQLite
    kiosk 25 ms of its start for nothing.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def default_url(instance_path: str) -> str:
    return "sqlite:///" + os.path.join(instance_path, "kiosk.db")


WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "ALTER", "DROP")
#: Seconds a writer waits for the file (SQLite's busy timeout) or for this process's other writers.
SQLITE_WAIT = 15


def _sqlite_connection_class(lock: threading.Lock) -> type[sqlite3.Connection]:
    """pysqlite connections that take turns writing through ``lock`` within this process.

    SQLite allows one writer; a writer that finds the file locked sleeps in
    SQLite's busy handler for 1, 2, 5 … up to 100 ms before looking again, so
    under load most of a request's time was spent asleep while the lock was
    long free (a p99 of 135 ms for a 7 ms check-in with four kiosks). Threads
    of one server wait on a Python lock instead and go the moment it is
    released; other processes on the same file still meet SQLite's own lock.
    """

    class KioskSqliteConnection(sqlite3.Connection):
        _writing = False

        def begin_immediate(self) -> None:
            """BEGIN IMMEDIATE, once this process's other writers are done."""
            if not lock.acquire(timeout=SQLITE_WAIT):
                raise sqlite3.OperationalError("database is locked")
            self._writing = True
            try:
                self.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._let_go()
                raise

        def _let_go(self) -> None:
            if self._writing:
                self._writing = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._let_go()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._let_go()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._let_go()

    return KioskSqliteConnection


def _sqlite_setup(engine) -> None:
    # pysqlite's own transaction handling begins transactions lazily and never
    # with IMMEDIATE; take it over so writers can lock up front (no upgrade
    # deadlocks between kiosks) while readers stay cheap under WAL.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_WAIT * 1000}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("sqlite_immediate"):
            conn.connection.dbapi_connection.begin_immediate()
        # Otherwise no BEGIN yet: reads run on their own, as PostgreSQL's READ
        # COMMITTED would show them. A deferred transaction that read and then
        # writes fails at once with SQLITE_BUSY_SNAPSHOT when another kiosk
        # committed in between (busy_timeout cannot help), so the transaction
        # starts at the first write, with the write lock taken up front.

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(conn, cursor, statement, parameters, context, executemany):
        dbapi_conn = cursor.connection
        if not dbapi_conn.in_transaction and statement.lstrip()[:7].upper().startswith(WRITE_VERBS):
            dbapi_conn.begin_immediate()


class Database:
    """The engine and session factories of one app (``app.extensions["db"]``)."""

    def __init__(self, url: str, connections: int = 20):
        self.url = url
        self.write_lock: threading.Lock | None = None
        kwargs: dict = {"future": True}
        # Five kept open, the rest opened for a busy spell: a thread must never
        # wait for a connection another thread holds (the pool would jam).
        kept = min(5, connections)
        pool = {"pool_size": kept, "max_overflow": connections - kept}
        if url.startswith("sqlite"):
            #: Held by this process's one SQLite writer (see _sqlite_connection_class).
            self.write_lock = threading.Lock()
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_WAIT,
                                      "factory": _sqlite_connection_class(self.write_lock)}
            if ":memory:" not in url and "mode=memory" not in url:
                kwargs.update(pool)  # a file: a pool of connections, as on PostgreSQL
        else:
            kwargs.update(pool_pre_ping=True, **pool)
        self.engine = create_engine(url, **kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.Session, "after_flush", _mark_written)
        event.listen(self.Session, "after_commit", _clear_written)
        event.listen(self.Session, "after_rollback", _clear_written)
        # Writers that must serialise (numbering, capacity) use this engine: on
        # SQLite their transaction starts with BEGIN IMMEDIATE; on PostgreSQL
        # they lock rows explicitly, so the option is simply ignored there.
        self.WriteSession = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def init_app(self, app) -> None:
        app.extensions["db"] = self
        app.teardown_appcontext(_close_session)

    def dispose(self) -> None:
        self.engine.dispose()


def get_db() -> Database:
    """The current app's :class:`Database`."""
    return current_app.extensions["db"]


def get_session() -> Session:
    """The session of the current request (or app context), opened on first use."""
    if "db_session" not in g:
        g.db_session = get_db().Session()
    return g.db_session


@contextmanager
def write_transaction():
    """A short transaction for writes that must not race (ticket numbers, slots).

    Commits on success, rolls back on error. On SQLite it holds the write lock
    from the start; on PostgreSQL take row locks with ``with_for_update()``.
    """
    release_read_connection()
    session = get_db().WriteSession()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def release_read_connection() -> None:
    """End the request session's read-only transaction, handing its connection back.

    A request that has read (its station, a queue) and now writes would
    otherwise hold two connections at once; sixteen threads doing that wait on
    each other for the pool's last connections. Objects it loaded stay usable
    (sessions do not expire them on commit). A session that wrote keeps its
    transaction: that is its caller's to commit.
    """
    session = g.get("db_session") if has_app_context() else None
    if session is not None and session.in_transaction() and not session.info.get("wrote") \
            and not (session.new or session.dirty or session.deleted):
        session.commit()


def _mark_written(session, _flush_context) -> None:
    session.info["wrote"] = True


def _clear_written(session) -> None:
    session.info.pop("wrote", None)


def unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error that led to it, says the database cannot be used right now.

    A refused or lost connection, a locked SQLite file, no free connection in the
    pool: the code that met it did nothing wrong, and the same request works again
    once the database is back.
    """
    for _ in range(5):  # the chain of causes is short; never loop on a cycle
        if exc is None:
            return False
        if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def error_line(exc: BaseException) -> str:
    """The driver's first line about a database error, for a log line.

    Never the whole SQLAlchemy message: that carries the statement's parameters.
    """
    orig = getattr(exc, "orig", None)
    lines = str(exc if orig is None else orig).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
