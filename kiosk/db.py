"""The database: one SQLAlchemy engine per app, a session per request.

SQLite (WAL, foreign keys on) is the zero-set-up default; ``KIOSK_DATABASE_URL``
points a station or a district's fleet at PostgreSQL with the same code.

Three ways to a session, one per situation:

- :func:`get_session` in a request (or any app context): one session, closed
  when the context ends; the view commits what it wrote.
- :func:`write_transaction` for writes that must not race (numbers, slots): its
  own transaction, committed when the block ends. A request that already wrote
  through :func:`get_session` is *joined*, not given a second connection (see
  there): one connection of a thread can never wait for another of the same
  thread, on SQLite's file lock or on PostgreSQL's row locks.
- :func:`session_for` in jobs and threads, where there is no request.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import DateTime, MetaData, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Timeouts",
    "UTCDateTime",
    "WriterNestingError",
    "after_commit",
    "as_loaded",
    "error_line",
    "get_db",
    "get_session",
    "release_read_connection",
    "session_for",
    "unavailable",
    "upsert_insert",
    "utcnow",
    "write_transaction",
]

log = logging.getLogger("kiosk.db")

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
        zone = value.tzinfo
        if zone is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        if zone is not UTC:  # most values come from utcnow(): already UTC, nothing to convert
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


def as_loaded(session, model, values: dict):
    """A row of ``model`` holding ``values`` in ``session``, as if just loaded: persistent and unchanged.

    For a row stored by a Core statement (a prebuilt ``INSERT``), or known from
    a process cache, that the rest of the transaction wants as an ORM object:
    no flush, no read back. ``values`` must give every column attribute (one
    missing would be read from the database on first access) and the primary
    key; they are the object's own (copy a mutable value shared elsewhere). If
    the session already holds that row, that object is returned unchanged.
    """
    mapper = model.__mapper__
    key = mapper.identity_key_from_primary_key(
        tuple(values[mapper.get_property_by_column(column).key] for column in mapper.primary_key)
    )
    present = session.identity_map.get(key)
    if present is not None:
        return present
    # Not through __init__: that would record every value as a change, to be reset again.
    row = mapper.class_manager.new_instance()
    row.__dict__.update(values)
    inspect(row).key = key
    session.add(row)
    return row


def upsert_insert(dialect: str):
    """``insert`` of the dialect named ``dialect``, the one with ``on_conflict_do_…``.

    Imported on first use: the PostgreSQL dialect's modules cost a SQLite
    kiosk 25 ms of its start for nothing.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def default_url(instance_path: str) -> str:
    return "sqlite:///" + os.path.join(instance_path, "kiosk.db")


WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "ALTER", "DROP")
#: Seconds a writer waits for the file (SQLite's busy timeout) or for this process's other writers.
SQLITE_WAIT = 15


class WriterNestingError(RuntimeError):
    """A write asked for where it cannot be nested; the message says where to move it.

    Mostly: a thread that holds SQLite's write transaction asked for it again
    on another connection. SQLite has one writer per file, so the second
    connection would wait for a lock its own thread holds: a deadlock, formerly
    a 15-second wait and a 503. Raised at once instead. (Printing inside a
    :func:`write_transaction` block is allowed: the print job is stored in the
    block's transaction and the printer woken after it commits.)
    """


NESTED_WRITER = (
    "this thread already holds the SQLite write transaction on another connection, so this "
    "write would wait for itself. Write through the session that holds it (the one "
    "write_transaction() gave you, or get_session() in a request, which write_transaction() "
    "joins), or commit that session before opening another one."
)


class WriterLock:
    """This process's SQLite writer lock, knowing which thread and connection hold it.

    A thread asking again for a connection that already holds it is the
    nesting :func:`write_transaction` cannot join (two sessions of one thread):
    it gets :class:`WriterNestingError` at once rather than waiting for itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: tuple[int, int] | None = None  # (thread id, id of the connection)
        #: Seconds a request waits for the lock (``database_lock_timeout``); jobs wait SQLITE_WAIT.
        self.request_wait: float = SQLITE_WAIT

    def wait_seconds(self) -> float:
        """How long this thread may wait for the write lock: a request briefly, so a stuck
        writer turns into the "temporarily unavailable" page within seconds; a job longer."""
        return min(self.request_wait, SQLITE_WAIT) if has_request_context() else SQLITE_WAIT

    def locked(self) -> bool:
        return self._lock.locked()

    def acquire(self, connection) -> None:
        me = threading.get_ident()
        owner = self._owner
        # Only this thread sets an owner naming this thread, so the read cannot race.
        if owner is not None and owner[0] == me and owner[1] != id(connection):
            raise WriterNestingError(NESTED_WRITER)
        if not self._lock.acquire(timeout=self.wait_seconds()):
            raise sqlite3.OperationalError("database is locked")
        self._owner = (me, id(connection))

    def release(self) -> None:
        self._owner = None
        self._lock.release()


def _sqlite_connection_class(lock: WriterLock) -> type[sqlite3.Connection]:
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

        _busy_ms = SQLITE_WAIT * 1000

        def begin_immediate(self) -> None:
            """BEGIN IMMEDIATE, once this process's other writers are done."""
            lock.acquire(self)
            self._writing = True
            try:
                # Another process's writer (a second kiosk, a command) is waited for as long.
                busy_ms = int(lock.wait_seconds() * 1000)
                if busy_ms != self._busy_ms:
                    self.execute(f"PRAGMA busy_timeout={busy_ms}")
                    self._busy_ms = busy_ms
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

        def cursor(self, factory=None):
            return super().cursor(factory or KioskSqliteCursor)

    return KioskSqliteConnection


class KioskSqliteCursor(sqlite3.Cursor):
    """A pysqlite cursor whose first write outside a transaction begins one, with the write lock taken up front.

    pysqlite's own transaction handling begins transactions lazily and never
    with IMMEDIATE (see :func:`_sqlite_setup`). This was an engine listener
    (``before_cursor_execute``); any engine listener sends every statement
    through SQLAlchemy's event path, some 30 more Python calls each, ten
    statements on every ticket issued. Here it is one method call.
    """

    def _begin_for(self, sql):
        if not self.connection.in_transaction and sql.lstrip()[:7].upper().startswith(WRITE_VERBS):
            self.connection.begin_immediate()

    def execute(self, sql, parameters=()):
        self._begin_for(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):
        self._begin_for(sql)
        return super().executemany(sql, seq_of_parameters)


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
        # Each connection keeps its own page cache (2 MiB by default) besides the
        # kernel's copy of the file: a station's working set is far smaller, and
        # a worker's pooled connections would hold it several times over.
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.close()

    # No BEGIN when SQLAlchemy begins a transaction: reads run on their own, as
    # PostgreSQL's READ COMMITTED would show them. A deferred transaction that read
    # and then writes fails at once with SQLITE_BUSY_SNAPSHOT when another kiosk
    # committed in between (busy_timeout cannot help), so the transaction starts at
    # the first write (KioskSqliteCursor), with the write lock taken up front, or at
    # once for the sessions of writers that must serialise (_begin_immediate).


def _begin_immediate(_session, _transaction, connection) -> None:
    """A write session's transaction on SQLite: BEGIN IMMEDIATE before its first statement.

    A session event (once per transaction), not an engine one: an engine's
    ``begin`` listener would put every statement of every connection on
    SQLAlchemy's slower event path (see :class:`KioskSqliteCursor`).
    """
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.begin_immediate()


#: KiB of SQLite page cache per connection (SQLite's default is 2,000).
SQLITE_CACHE_KIB = 512
#: Seconds a request waits for a free connection before it gets the "temporarily unavailable" page
#: (at most the connect timeout: waiting for a connection is no better than waiting to open one).
POOL_WAIT = 10
#: ``database_statement_timeout`` when not set: a station's pages run in milliseconds; the hub's
#: district pages read every station's rows.
STATION_STATEMENT_TIMEOUT = 4.0
HUB_STATEMENT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Timeouts:
    """How long a request waits for a stalled database before it gets the "temporarily unavailable" page.

    A database that stalls (a hung host, a lock held by a stuck session)
    rather than refusing would otherwise hold every request thread for the
    whole outage. ``connect``: opening a connection (and waiting for a free
    one in the pool); ``lock``: waiting for a row or table lock (on SQLite,
    for the file's write lock); ``statement``: one statement (PostgreSQL
    only). Lock and statement timeouts apply to requests; jobs, commands and
    migrations wait for locks as before and have no statement timeout.
    """

    connect: float = 3.0
    lock: float = 3.0
    statement: float = STATION_STATEMENT_TIMEOUT

    @classmethod
    def from_config(cls, config) -> Timeouts:
        """The ``database_*_timeout`` settings of an app's config."""
        statement = config.get("DATABASE_STATEMENT_TIMEOUT")
        if statement is None:
            statement = HUB_STATEMENT_TIMEOUT if config.get("ROLE") == "hub" else STATION_STATEMENT_TIMEOUT
        return cls(
            connect=float(config.get("DATABASE_CONNECT_TIMEOUT") or cls.connect),
            lock=float(config.get("DATABASE_LOCK_TIMEOUT") or cls.lock),
            statement=float(statement),
        )


#: ``DATABASE_PREPARE_THRESHOLD`` when it is not set: psycopg's own default (prepare a statement
#: on the server after its fifth run).
DRIVER_DEFAULT = "default"


def _pg_connect_args(timeouts: Timeouts) -> dict:
    """libpq settings so that a stalled server or network is noticed.

    ``connect_timeout`` bounds opening a connection (whole seconds, at least
    2 for libpq); keepalives and ``tcp_user_timeout`` drop a connection whose
    other end vanished mid-request (sent data unacknowledged), which would
    otherwise wait for the kernel's retransmissions for some 15 minutes.
    """
    return {
        "connect_timeout": max(2, math.ceil(timeouts.connect)),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": int((timeouts.statement + timeouts.connect) * 1000),
    }


class Watchdog:
    """Cuts a PostgreSQL connection whose server has not answered by its deadline.

    psycopg waits for an answer without a time limit, and a server or proxy
    that hangs keeps the socket open, so neither the server's timeouts nor
    TCP's ever end the wait. One thread per process looks four times a
    second and shuts the socket of a connection past its deadline; the
    driver then fails at once with "server closed the connection", which the
    app answers with its "temporarily unavailable" page, and the pool opens
    a new connection next time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[object, tuple[float, int, weakref.ref]] = {}
        self._cut: set[object] = set()
        self._thread: threading.Thread | None = None

    def watch(self, dbapi_connection, seconds: float) -> object | None:
        """Start watching ``dbapi_connection`` (psycopg) for ``seconds``; a token for :meth:`unwatch`."""
        try:
            fileno = dbapi_connection.pgconn.socket
        except Exception:  # not psycopg, or closed: nothing to watch
            return None
        token = object()
        with self._lock:
            self._due[token] = (time.monotonic() + seconds, fileno, weakref.ref(dbapi_connection))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kiosk-db-watchdog", daemon=True)
                self._thread.start()
        return token

    def unwatch(self, token: object | None) -> None:
        if token is not None:
            with self._lock:
                self._due.pop(token, None)
                self._cut.discard(token)

    def was_cut(self, token: object | None) -> bool:
        with self._lock:
            return token in self._cut

    def _run(self) -> None:
        import socket

        while True:
            time.sleep(0.25)
            now = time.monotonic()
            # Cut under the lock: a watched connection is still inside its statement, so its
            # socket number cannot have been closed and given to another socket meanwhile.
            with self._lock:
                for token, (deadline, fileno, owner) in list(self._due.items()):
                    if deadline > now:
                        continue
                    del self._due[token]
                    if not _still_owns(owner(), fileno):
                        # Its connection was closed without an unwatch (an engine disposed or a
                        # thread abandoned mid-statement): the socket number may belong to
                        # another connection by now, which must not be cut.
                        continue
                    self._cut.add(token)
                    try:
                        with socket.socket(fileno=os.dup(fileno)) as sock:
                            sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


def _still_owns(connection, fileno: int) -> bool:
    """Whether ``connection`` (psycopg) is open and still talks over socket ``fileno``."""
    if connection is None or getattr(connection, "closed", True):
        return False
    try:
        return connection.pgconn.socket == fileno
    except Exception:  # closed meanwhile: its socket is gone
        return False


WATCHDOG = Watchdog()


def parse_prepare_threshold(value) -> int | None | str:
    """``DATABASE_PREPARE_THRESHOLD`` as psycopg takes it, or :data:`DRIVER_DEFAULT`.

    ``"none"`` (or empty) turns psycopg's server-side prepared statements off:
    PgBouncer in transaction mode hands each transaction to any server
    connection, where a statement prepared on another one "does not exist".
    A whole number N prepares a statement after its N-th run (0: at once).

    :raises ConfigError: any other value.
    """
    if value is None or value == DRIVER_DEFAULT:
        return DRIVER_DEFAULT
    if isinstance(value, str) and value.strip().lower() in ("", "none", "off", "false"):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    from kiosk.config import ConfigError

    raise ConfigError(
        f'database_prepare_threshold must be "none" (behind PgBouncer in transaction mode) or a whole '
        f"number of at least 0, not {value!r}"
    )


class Database:
    """The engine and session factories of one app (``app.extensions["db"]``).

    One engine, so one bounded pool per process however many stations its
    database holds (a hub serves them all): at most ``connections`` open at
    once, and a thread that finds none free within :data:`POOL_WAIT` seconds
    (or the connect timeout, if shorter) fails with a pool timeout, which the
    app answers with its "temporarily unavailable" page (503) rather than
    letting requests pile up. A stalled database is given up on after the
    :class:`Timeouts` (``database_*_timeout``), with the same page.
    """

    def __init__(
        self,
        url: str,
        connections: int = 20,
        prepare_threshold=DRIVER_DEFAULT,
        timeouts: Timeouts | None = None,
    ):
        self.url = url
        self.connections = connections
        self.prepare_threshold = parse_prepare_threshold(prepare_threshold)
        #: Given here, or read from the app's config by :meth:`init_app`.
        self.timeouts = timeouts or Timeouts()
        self._timeouts_given = timeouts is not None
        self.write_lock: WriterLock | None = None
        self._build()

    def _build(self) -> None:
        url, connections, threshold, timeouts = self.url, self.connections, self.prepare_threshold, self.timeouts
        kwargs: dict = {"future": True}
        # Five kept open, the rest opened for a busy spell: a thread must never
        # wait for a connection another thread holds (the pool would jam).
        kept = min(5, connections)
        pool = {
            "pool_size": kept,
            "max_overflow": connections - kept,
            "pool_timeout": min(POOL_WAIT, timeouts.connect),
            # The connection used last is handed out next: a few stay warm (their
            # caches, prepared statements) and the rest idle, rather than all in turn.
            "pool_use_lifo": True,
        }
        if url.startswith("sqlite"):
            #: Held by this process's one SQLite writer (see _sqlite_connection_class).
            self.write_lock = WriterLock()
            self.write_lock.request_wait = timeouts.lock
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": SQLITE_WAIT,
                "factory": _sqlite_connection_class(self.write_lock),
            }
            if ":memory:" not in url and "mode=memory" not in url:
                kwargs.update(pool)  # a file: a pool of connections, as on PostgreSQL
        else:
            kwargs.update(pool_pre_ping=True, **pool)
            connect_args: dict = {}
            if url.startswith("postgresql+psycopg"):
                connect_args.update(_pg_connect_args(timeouts))
                if threshold != DRIVER_DEFAULT:
                    connect_args["prepare_threshold"] = threshold
            kwargs["connect_args"] = connect_args
        self.engine = create_engine(url, **kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        else:
            event.listen(self.engine, "do_connect", self._connect_unless_stalled)
            self._guard_statements(self.engine.dialect)
            self._guard_ping(self.engine.dialect)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        # Writers that must serialise (numbering, capacity) use these sessions: on
        # SQLite their transaction starts with BEGIN IMMEDIATE; on PostgreSQL
        # they lock rows explicitly.
        self.WriteSession = sessionmaker(self.engine, expire_on_commit=False)
        if self.is_sqlite:
            event.listen(self.WriteSession, "after_begin", _begin_immediate)
        event.listen(self.Session, "after_flush", _mark_written)
        event.listen(self.Session, "after_commit", _clear_written)
        event.listen(self.Session, "after_rollback", _clear_written)
        if not self.is_sqlite:
            for factory in (self.Session, self.WriteSession):
                event.listen(factory, "after_begin", self._request_timeouts)

    #: ``time.monotonic()`` until which a new connection is not even tried: the last one stalled.
    _stalled_until = 0.0

    def _connect_unless_stalled(self, dialect, _record, cargs, cparams):
        """Open a connection, or fail at once for a short while after one stalled for the whole timeout.

        During an outage of a database that accepts and never answers, every
        request (and the error page's own lookups) would wait the connect
        timeout again; one request per ``connect`` seconds tries, the others
        get the "temporarily unavailable" page at once.
        """
        if time.monotonic() < self._stalled_until:
            raise dialect.loaded_dbapi.OperationalError(
                "the database did not answer within the connect timeout a moment ago; not waiting again yet"
            )
        started = time.monotonic()
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError:
            if time.monotonic() - started >= self.timeouts.connect * 0.9:
                self._stalled_until = time.monotonic() + self.timeouts.connect
            raise

    def _guard_statements(self, dialect) -> None:
        """Each statement of a request, watched by :data:`WATCHDOG` while the driver waits for it.

        The server's statement_timeout ends a slow statement; this ends the wait for a
        server that stopped answering altogether (a hung host keeps the socket open).
        The dialect's own execute methods are wrapped, as its ping is: engine listeners
        (``before_cursor_execute`` and ``after_cursor_execute``) would send every
        statement through SQLAlchemy's event dispatch, some 30 more Python calls each.
        """

        def guarded(execute):
            def run(cursor, *args, **kwargs):
                if not has_request_context():
                    return execute(cursor, *args, **kwargs)
                token = WATCHDOG.watch(cursor.connection, self.timeouts.statement + 1)
                try:
                    return execute(cursor, *args, **kwargs)
                finally:
                    WATCHDOG.unwatch(token)

            return run

        for name in ("do_execute", "do_execute_no_params", "do_executemany"):
            setattr(dialect, name, guarded(getattr(dialect, name)))

    def _guard_ping(self, dialect) -> None:
        """The pool's liveness check of a kept connection, cut after the connect timeout.

        The check may wait as long as opening a new connection may, not less:
        behind PgBouncer in transaction mode it waits in PgBouncer's queue until
        a server connection is free, which is a busy pool, not a hung database
        (with a 1.5 s limit a district admin got the "unavailable" page in CI
        while other admins' requests kept PgBouncer's server connections busy).
        A check that had to be cut says the database stalled: new connections
        are then not tried for a moment either (see :meth:`_connect_unless_stalled`).
        """
        ping = dialect.do_ping

        def guarded_ping(dbapi_connection):
            token = WATCHDOG.watch(dbapi_connection, self.timeouts.connect)
            try:
                return ping(dbapi_connection)
            except Exception:
                if WATCHDOG.was_cut(token):
                    self._stalled_until = time.monotonic() + self.timeouts.connect
                raise
            finally:
                WATCHDOG.unwatch(token)

        dialect.do_ping = guarded_ping

    def _request_timeouts(self, _session, _transaction, connection) -> None:
        """In a request, this transaction's lock and statement timeouts (PostgreSQL).

        Set per transaction (``set_config(..., true)``), not per connection:
        behind PgBouncer in transaction mode a connection's settings would stay
        on whichever server connection ran them; and jobs, commands and
        migrations keep waiting as long as they need.
        """
        if not has_request_context():
            return
        timeouts = self.timeouts
        connection.exec_driver_sql(
            "SELECT set_config('lock_timeout', %(lock)s, true), set_config('statement_timeout', %(statement)s, true)",
            {"lock": f"{int(timeouts.lock * 1000)}ms", "statement": f"{int(timeouts.statement * 1000)}ms"},
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def init_app(self, app) -> None:
        if not self._timeouts_given:
            timeouts = Timeouts.from_config(app.config)
            if timeouts != self.timeouts:
                self.timeouts = timeouts
                self.engine.dispose()  # not connected yet: made again with the app's timeouts
                self._build()
        app.extensions["db"] = self
        app.teardown_appcontext(_close_session)

    def dispose(self) -> None:
        self.engine.dispose()


def get_db() -> Database:
    """The current app's :class:`Database`."""
    return current_app.extensions["db"]


def get_session() -> Session:
    """The session of the current request (or app context), opened on first use."""
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    session = request_g.get("db_session")
    if session is None:
        request_g.db_session = session = get_db().Session()
    return session


@contextmanager
def write_transaction() -> Iterator[Session]:
    """A short transaction for writes that must not race (ticket numbers, slots).

    Commits on success, rolls back on error. On SQLite it holds the write lock
    from the start; on PostgreSQL take row locks with ``with_for_update()``.

    Inside a transaction this app context already writes in, it joins that one
    instead of opening a second connection, on both databases:

    - after the request wrote through :func:`get_session` (it flushed), the
      block runs in the request's session; at its end everything the session
      holds is committed, the request's earlier writes with the block's, so
      that what the block wrote is committed when it ends, as always. An error
      in the block rolls back only the block (a savepoint); the request's
      earlier writes stay, for the request to commit or not.
    - inside another ``write_transaction()`` block, it is part of that one
      (a savepoint) and committed when the outermost block ends.

    A separate session of the same thread that writes meanwhile cannot be
    joined: on SQLite it raises :class:`WriterNestingError` at once.
    """
    outer, commit_at_end = _joinable_write_session()
    if outer is not None:
        with outer.begin_nested():  # released on success, rolled back on error
            yield outer
        if commit_at_end:
            outer.commit()
        return
    release_read_connection()
    session = get_db().WriteSession()
    g.kiosk_write_session = session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        g.pop("kiosk_write_session", None)
        session.close()


#: ``session.info`` key: the callbacks :func:`after_commit` holds, each with the transaction it was added in.
AFTER_COMMIT = "kiosk_db_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback()`` once ``session``'s transaction has committed for good; never if it is rolled back.

    SQLAlchemy's own ``after_commit`` event also fires when a savepoint is
    released (a joined :func:`write_transaction` block ends), while the data is
    not committed yet: a display woken then would read nothing new and wait
    for the next event. Added inside a savepoint, the callback is dropped if
    that savepoint is rolled back, and otherwise runs when the outermost
    transaction commits. It runs in the committing thread; an exception in it
    is logged, not raised (the data is committed).
    """
    # A session that has not begun yet begins here, so a rollback before the commit drops the callback.
    marker = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(AFTER_COMMIT, []).append((marker, callback))


def _run_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: its work commits with the transaction around it, or not at all
    for _marker, callback in session.info.pop(AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:  # the data is committed; what the callback would have done is not
            log.exception("after-commit callback %r failed", callback)


def _within(marker, ended) -> bool:
    while marker is not None:
        if marker is ended:
            return True
        marker = marker.parent
    return False


def _drop_rolled_back(session: Session, previous_transaction) -> None:
    pending = session.info.get(AFTER_COMMIT)
    if pending:
        pending[:] = [(m, cb) for m, cb in pending if not _within(m, previous_transaction)]


def _drop_uncommitted(session: Session, transaction) -> None:
    # The outermost transaction ended without a commit (closed): what waited for it never happens.
    if transaction.parent is None:
        session.info.pop(AFTER_COMMIT, None)


# Process-wide and idempotent: every session of every app.
for _name, _listener in (
    ("after_commit", _run_after_commit),
    ("after_soft_rollback", _drop_rolled_back),
    ("after_transaction_end", _drop_uncommitted),
):
    if not event.contains(Session, _name, _listener):
        event.listen(Session, _name, _listener)


def joins_write_transaction() -> bool:
    """Whether a :func:`write_transaction` block opened now would join a transaction this app context
    writes in (an enclosing block, or a request session that wrote), for the core's print path: a second
    connection would wait for that transaction's SQLite lock."""
    return _joinable_write_session()[0] is not None


def _joinable_write_session() -> tuple[Session | None, bool]:
    """The session this app context writes in, and whether joining it should commit it.

    An enclosing ``write_transaction()`` commits itself; a request session that
    wrote has nobody bound to commit it before the joined block's caller relies
    on its writes, so the joined block does.
    """
    if not has_app_context():
        return None, False
    context_g = g._get_current_object()  # type: ignore[attr-defined]
    enclosing = context_g.get("kiosk_write_session")
    if enclosing is not None:
        return enclosing, False
    session = context_g.get("db_session")
    if session is not None and session.info.get("wrote") and session.in_transaction():
        return session, True
    return None, False


@contextmanager
def session_for(app, write: bool = False) -> Iterator[Session]:
    """A session of ``app``'s database for code that runs outside a request: jobs, threads.

    ``write=True`` gives a session whose transaction takes SQLite's write lock
    at its start (as :func:`write_transaction` does): use it for read-then-write
    work. The caller commits (``session.commit()``); what is not committed is
    rolled back when the block ends, and the session is always closed. ::

        with session_for(app, write=True) as session:
            session.execute(delete(Hit).where(Hit.at < cutoff))
            session.commit()

    In a request use :func:`get_session` or :func:`write_transaction` instead:
    a second session of a request that already wrote would wait for that one.
    """
    db: Database = app.extensions["db"]
    session = (db.WriteSession if write else db.Session)()
    try:
        yield session
    finally:
        session.close()  # rolls back whatever was not committed


def release_read_connection() -> None:
    """End the request session's read-only transaction, handing its connection back.

    A request that has read (its station, a queue) and now writes would
    otherwise hold two connections at once; sixteen threads doing that wait on
    each other for the pool's last connections. Objects it loaded stay usable
    (sessions do not expire them on commit). A session that wrote keeps its
    transaction: that is its caller's to commit.
    """
    session = g.get("db_session") if has_app_context() else None
    if (
        session is not None
        and session.in_transaction()
        and not session.info.get("wrote")
        and not (session.new or session.dirty or session.deleted)
    ):
        session.commit()


def _mark_written(session, _flush_context) -> None:
    session.info["wrote"] = True


def _clear_written(session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released (a joined block ended): the session's transaction goes on
    session.info.pop("wrote", None)


def unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error that led to it, says the database cannot be used right now.

    A refused, stalled or lost connection, a lock or statement timeout, a locked
    SQLite file, no free connection in the pool: the code that met it did nothing
    wrong, and the same request works again once the database is back. The
    driver's own error counts too when SQLAlchemy did not wrap it (raised in
    one of its events, as the SQLite writer lock does).
    """
    for _ in range(5):  # the chain of causes is short; never loop on a cycle
        if exc is None:
            return False
        if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, sqlite3.OperationalError)):
            return True
        if _driver_operational(exc):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _driver_operational(exc: BaseException) -> bool:
    """A psycopg OperationalError not wrapped by SQLAlchemy (raised inside one of its events).

    Recognised by name so a SQLite kiosk need not import psycopg.
    """
    return any(
        cls.__name__ in ("OperationalError", "InterfaceError") and cls.__module__.startswith("psycopg")
        for cls in type(exc).__mro__
    )


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
