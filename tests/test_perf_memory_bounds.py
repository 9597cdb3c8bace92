"""What keeps a worker's memory bounded on SQLite (issue 22 point 3).

Each SQLite connection has a page cache of its own on top of the kernel's
copy of the file; a worker's pool holds several. The cache is limited per
connection, and the pool hands out the connection returned last, so under
light load the same few connections (and their caches) are reused while
the others stay idle.
"""

from __future__ import annotations

import os

from sqlalchemy import text

from kiosk.db import SQLITE_CACHE_KIB, Database


def test_each_sqlite_connection_has_a_bounded_page_cache(tmp_path):
    db = Database("sqlite:///" + os.path.join(tmp_path, "bounds.db"), connections=4)
    try:
        with db.engine.connect() as conn:
            # Negative: KiB, as set; SQLite's own default would read -2000.
            assert conn.execute(text("PRAGMA cache_size")).scalar() == -SQLITE_CACHE_KIB
        assert SQLITE_CACHE_KIB < 2000
    finally:
        db.engine.dispose()


def test_the_pool_hands_out_the_connection_returned_last(tmp_path):
    db = Database("sqlite:///" + os.path.join(tmp_path, "lifo.db"), connections=4)
    try:
        first = db.engine.raw_connection()
        second = db.engine.raw_connection()
        ids = {"first": id(first.dbapi_connection), "second": id(second.dbapi_connection)}
        second.close()  # returned first
        first.close()  # returned last
        again = db.engine.raw_connection()
        try:
            assert id(again.dbapi_connection) == ids["first"]
        finally:
            again.close()
    finally:
        db.engine.dispose()
