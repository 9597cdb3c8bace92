"""A database that stalls, rather than refusing, gives the "temporarily unavailable" page within 5 s.

Issue 17 point 6: a stalled database (a hung host, a lock held by a stuck
session) held every request for the whole outage. Now connect, lock and
statement timeouts end the wait, the page is the friendly 503 (never a 500),
and the kiosk works again as soon as the database does.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kiosk.db import Timeouts, get_session, session_for

LIMIT = 5.0  # seconds until the friendly page, at most


def _take_ticket(client, csrf):
    started = time.monotonic()
    response = client.post("/k/legal/take/consultation", data={"csrf_token": csrf(client), "priority": ""})
    return response, time.monotonic() - started


def _unavailable_page(response) -> bool:
    return response.status_code == 503 and "暂时无法使用" in response.get_data(as_text=True)


def test_timeouts_come_from_the_settings_and_the_role():
    assert Timeouts.from_config({}) == Timeouts(connect=3.0, lock=3.0, statement=4.0)
    assert Timeouts.from_config({"ROLE": "hub"}).statement == 10.0
    custom = {"DATABASE_CONNECT_TIMEOUT": 5, "DATABASE_LOCK_TIMEOUT": 1.5, "DATABASE_STATEMENT_TIMEOUT": 20}
    assert Timeouts.from_config(custom) == Timeouts(connect=5.0, lock=1.5, statement=20.0)


def test_a_locked_ticket_table_gives_the_503_page_within_5_s_and_tickets_come_back(
    app, client, csrf, backend, database_url
):
    assert _take_ticket(client, csrf)[0].status_code in (200, 302)  # warm: the page, the pool
    if backend == "postgresql":
        with app.test_request_context("/"):
            session = get_session()
            assert session.execute(text("SHOW lock_timeout")).scalar() == "3s"
            assert session.execute(text("SHOW statement_timeout")).scalar() == "4s"
        with session_for(app) as job:  # jobs and commands wait as long as they need
            assert job.execute(text("SHOW statement_timeout")).scalar() == "0"
        holder = create_engine(database_url).connect()
        holder.execute(text("LOCK TABLE legal_ticket IN ACCESS EXCLUSIVE MODE"))  # a stuck session
        release = holder.rollback
    else:
        holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's stuck writer
        release = lambda: holder.execute("ROLLBACK")  # noqa: E731
    try:
        response, took = _take_ticket(client, csrf)
        assert _unavailable_page(response), response.status_code
        assert took < LIMIT, f"{took:.1f} s"
        assert response.headers.get("Retry-After")
    finally:
        release()
        holder.close()
    response, took = _take_ticket(client, csrf)
    assert response.status_code in (200, 302) and took < 1.0


class StallingProxy:
    """A TCP proxy to PostgreSQL that can freeze: from then on it answers nothing.

    Frozen, it keeps the connections it was forwarding open but passes
    nothing on, and accepts new ones without ever answering: a database host
    that hangs rather than going away.
    """

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.sockets.append(client)
                if self.frozen:
                    continue  # accepted, never answered
                upstream = socket.create_connection(self.target)
                self.sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.frozen:
                    sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@contextlib.contextmanager
def _behind_proxy(database_url: str):
    """A :class:`StallingProxy` to the test's PostgreSQL and the database URL through it."""
    url = make_url(database_url)
    proxy = StallingProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.close()


def _timed_get(client, path: str = "/"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_database_that_hangs_gives_the_503_page_within_5_s_and_the_kiosk_comes_back(make_app, backend, database_url):
    with _behind_proxy(database_url) as (proxy, proxied_url):
        # The station's own connect timeout (the test ladder gives loaded test machines longer).
        app = make_app(proxied_url, DATABASE_CONNECT_TIMEOUT=3.0)
        db = app.extensions["db"]
        client = app.test_client()
        assert client.get("/").status_code == 200
        proxy.frozen = True
        # A kept connection: the pool's check of it gets no answer and is cut.
        response, took = _timed_get(client)
        assert _unavailable_page(response), response.get_data(as_text=True)
        assert took < LIMIT, f"{took:.1f} s"
        # Meanwhile others are answered at once rather than each waiting again.
        response, took = _timed_get(client)
        assert _unavailable_page(response) and took < 1.0, took
        # Once that moment has passed, one request tries a new connection: the connect timeout.
        db._stalled_until = 0.0
        response, took = _timed_get(client)
        assert _unavailable_page(response) and 2.0 < took < LIMIT, took
        proxy.frozen = False
        db._stalled_until = 0.0
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_statement_whose_server_stops_answering_is_cut_and_the_next_request_works(make_app, backend, database_url):
    """A request's statement on a connection already checked out (past the pool's ping) whose server
    then hangs: the watchdog shuts its socket after the statement timeout and a second, so the request
    fails within seconds instead of waiting for ever, and the next request gets a new connection."""
    from sqlalchemy.exc import OperationalError

    with _behind_proxy(database_url) as (proxy, proxied_url):
        app = make_app(proxied_url, DATABASE_STATEMENT_TIMEOUT=1.0)
        assert app.extensions["db"].engine._has_events is False  # the watch is not an engine listener
        with app.test_request_context("/"):
            session = get_session()
            assert session.execute(text("SELECT 1")).scalar() == 1
            proxy.frozen = True
            started = time.monotonic()
            with pytest.raises(OperationalError):
                session.execute(text("SELECT 2"))
            took = time.monotonic() - started
            session.rollback()
        assert 1.5 < took < LIMIT, f"{took:.1f} s"
        proxy.frozen = False
        with app.test_request_context("/"):
            assert get_session().execute(text("SELECT 3")).scalar() == 3
