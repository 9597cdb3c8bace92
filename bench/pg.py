"""PostgreSQL for benchmarks: where it is, and scratch databases that are dropped afterwards.

The server named by ``KIOSK_BENCH_DATABASE_URL`` (or ``KIOSK_TEST_DATABASE_URL``)
is shared with the test suite and other people's runs, so a benchmark never
writes into the named database itself: each run gets a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator


def base_url() -> str | None:
    """The PostgreSQL server to benchmark on, or None (then only SQLite is measured)."""
    return os.environ.get("KIOSK_BENCH_DATABASE_URL") or os.environ.get("KIOSK_TEST_DATABASE_URL")


@contextlib.contextmanager
def scratch(prefix: str, url: str | None = None) -> Iterator[str]:
    """Create an empty database next to ``url`` (default :func:`base_url`), yield its URL, drop it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url or base_url())
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
