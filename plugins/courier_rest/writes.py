"""Writes that race between kiosks: one short transaction, retried when another kiosk won.

Each attempt re-reads the state, so a retry after a lost race gives the rider
the right answer (the next free slot, or "you already have one") rather than
an error. The unique columns in :mod:`.models` make the loser fail; this
module makes the loser try again.
"""

from __future__ import annotations

import random
import time

from sqlalchemy.exc import IntegrityError, OperationalError

from kiosk.db import write_transaction

ATTEMPTS = 8


class Refused(Exception):
    """The rider asked for something the rules do not allow; ``code`` says what.

    Nothing was written. Views turn the code into a message that says what to
    do next, in the rider's language.
    """

    def __init__(self, code: str, **info):
        super().__init__(code)
        self.code = code
        self.info = info


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    # SQLite's lock wait ran out, or PostgreSQL broke a deadlock: both are worth a retry.
    return "locked" in text or "deadlock" in text or "could not serialize" in text


def run_write(work, attempts: int = ATTEMPTS):
    """Run ``work(session)`` in a write transaction; retry on lost races.

    :param work: a function of an open session; what it returns is returned.
        It may raise :class:`Refused`, which rolls back and propagates at once.
    """
    for attempt in range(attempts):
        try:
            with write_transaction() as session:
                return work(session)
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
            # Spread the retries so two kiosks that collided do not collide again.
            time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
    raise AssertionError("unreachable")
