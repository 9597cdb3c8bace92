"""Refusing bad input with a message the user can read, in their language."""

from __future__ import annotations

from flask import abort, g

__all__ = ["fail"]


def fail(message: str, code: int = 400):
    """Stop the request with ``code`` and show ``message`` (already translated).

    Nothing is changed: call it before writing anything.
    """
    g.user_message = message
    abort(code)
