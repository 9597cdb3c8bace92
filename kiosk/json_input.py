"""JSON that comes from outside (request bodies, a hub's answers): anything unreadable is a ``ValueError``.

Python's parser raises ``RecursionError``, not ``ValueError``, for arrays or
objects nested deeper than it recurses (``[`` fifty thousand times fits in a
64 kB body), so every ``except ValueError`` and Flask's
``request.get_json(silent=True)`` let such a body through as a 500. The app's
JSON provider (:class:`JSONProvider`, installed by the app factory) and
:func:`loads` turn it into the ``ValueError`` every caller already handles as
"not JSON". No request the kiosk expects nests more than a few levels.
"""

from __future__ import annotations

import json

from flask.json.provider import DefaultJSONProvider

__all__ = ["JSONProvider", "loads"]

_TOO_DEEP = "JSON nested too deeply"


def loads(data: str | bytes | bytearray):
    """``json.loads``, with nesting too deep for the parser reported as ``ValueError``."""
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise ValueError(_TOO_DEEP) from exc


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading request bodies with :func:`loads`' rule."""

    def loads(self, s: str | bytes, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError(_TOO_DEEP) from exc
