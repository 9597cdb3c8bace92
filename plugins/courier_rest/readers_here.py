"""Which readers the kiosk in front of the rider has, so words about a card or a scanner fit it.

The core decides (``kiosk.reader_hints``: the request's terminal's readers,
else the station's); templates call its ``reader_inputs()`` global directly.
Python code (messages, the printed pass) reaches the same function through
that global, since a plugin imports only the core's public modules.
"""

from __future__ import annotations

from flask import current_app, has_request_context

CARD = "card"
CODE = "code"


def reader_inputs() -> frozenset[str]:
    """The kinds of input (``card``, ``code``) the readers at this request's kiosk give; none outside a request."""
    if not has_request_context():
        return frozenset()
    found = current_app.jinja_env.globals.get("reader_inputs")
    return frozenset(found()) if callable(found) else frozenset()


def has_scanner() -> bool:
    """Whether a rider can hold a code under a scanner here."""
    return CODE in reader_inputs()
