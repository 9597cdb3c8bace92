"""The database watchdog cuts only the connection it watches, never a later one on the same socket number."""

from __future__ import annotations

import time

import pytest

from kiosk.db import WATCHDOG
from kiosk.testing import PG_URL


@pytest.mark.skipif(not PG_URL, reason="needs KIOSK_TEST_DATABASE_URL (PostgreSQL)")
def test_a_watch_left_on_a_closed_connection_never_cuts_the_next_one():
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    first = psycopg.connect(url)
    fileno = first.pgconn.socket
    WATCHDOG.watch(first, 0.1)  # a statement whose connection then went away without an unwatch
    first.close()
    second = psycopg.connect(url)  # the lowest free descriptor: usually the same number
    try:
        # The lowest free descriptor is taken, so this is the closed one's number (which made the bug).
        assert second.pgconn.socket == fileno
        time.sleep(0.8)  # past the stale deadline: the watchdog has looked at least twice
        assert second.execute("SELECT 1").fetchone() == (1,), "the new connection was cut"
        watched = WATCHDOG.watch(second, 0.1)  # and a live connection past its deadline is still cut
        time.sleep(0.8)
        assert WATCHDOG.was_cut(watched)
        with pytest.raises(psycopg.OperationalError):
            second.execute("SELECT 1")
    finally:
        second.close()
