"""Start-up work that can wait until the kiosk has answered its first request.

A kiosk that boots shows its home screen first; loading what only a later
tap needs (Pillow and the receipt fonts, for instance) before that would
only make the screen come up later. Such work is handed to
:func:`after_first_response`, which runs it once in a background thread as
soon as the first response has been sent, so the first resident who takes a
ticket does not wait for it either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)


def after_first_response(app: Flask, task: Callable[[], None], name: str) -> None:
    """Run ``task`` once, in a daemon thread called ``name``, after ``app``'s first response is sent."""
    lock = threading.Lock()
    pending = [True]

    def run() -> None:
        try:
            task()
        except Exception:  # the work is only early: whoever needs it later does it again
            log.exception("start-up work %s failed", name)

    def start() -> None:
        threading.Thread(target=run, name=name, daemon=True).start()

    def hook(response):
        if pending[0]:
            with lock:
                if pending[0]:
                    pending[0] = False
                    # call_on_close: after the server has written the response, not before.
                    response.call_on_close(start)
        return response

    app.after_request(hook)
