"""Answers read from the database, kept by a process for a few seconds (for the core).

Some reads happen on nearly every request and almost never change: the
station's row (the plugin gate), the hub a station is enrolled at (every phone
link). A :class:`RowCache` keeps such answers per app for ``seconds`` and drops
them at once when this process's ORM inserts, updates or deletes a row of the
table they come from; a change made by another process (a command) is seen
within ``seconds``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

#: What :meth:`RowCache.get` returns when it holds no fresh answer.
MISSING: Any = object()


class RowCache:
    """Answers per app and key, fresh for a few seconds and forgotten when this process writes ``model``'s rows."""

    def __init__(self, extension: str, model: Callable[[], type]) -> None:
        """``extension``: the ``app.extensions`` key of the app's answers; ``model()``: the mapped class
        whose writes make them stale (called on first use, so a module need not import it at import)."""
        self.extension = extension
        self._model = model
        self._writes = itertools.count(1)
        self._generation = 0
        self._listening = False

    def _written(self, *_args) -> None:
        self._generation = next(self._writes)

    def _listen(self) -> None:
        if not self._listening:
            for name in ("after_insert", "after_update", "after_delete"):
                event.listen(self._model(), name, self._written)
            self._listening = True

    def get(self, app, key, seconds: float) -> Any:
        """The answer kept for ``key``, or :data:`MISSING` when there is none younger than ``seconds``."""
        self._listen()
        hit = app.extensions.get(self.extension, {}).get(key)
        if hit is not None and hit[0] == self._generation and time.monotonic() - hit[1] < seconds:
            return hit[2]
        return MISSING

    def generation(self) -> int:
        """Take it before reading the database; hand it to :meth:`keep`, which then keeps nothing
        if this process wrote a row meanwhile."""
        self._listen()
        return self._generation

    def keep(self, app, key, generation: int, value: Any) -> None:
        """Keep ``value`` read for ``key`` when no row was written since ``generation``."""
        if generation == self._generation:
            app.extensions.setdefault(self.extension, {})[key] = (generation, time.monotonic(), value)
