"""``kiosk serve``: gunicorn with threaded keep-alive workers.

Threaded workers because the calling display and each kiosk page hold a
server-sent-events stream open; keep-alive because kiosk browsers reuse one
connection for every tap.
"""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

log = logging.getLogger("kiosk.server")


class KioskServer(BaseApplication):
    """Embeds gunicorn so ``kiosk serve`` needs no separate config file."""

    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        from kiosk.app import create_app

        return create_app()


def run_server(host: str = "127.0.0.1", port: int = 5000, workers: int = 1, threads: int = 16) -> None:
    import os

    if workers > 1:
        # Devices belong to one process; several workers are for a fleet server.
        os.environ["KIOSK_START_DEVICES"] = "false"
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": 75,
        "timeout": 0,  # push streams stay open; gthread still reaps dead workers
        "graceful_timeout": 10,
        # No access log: URLs can carry ticket tokens, and the app logs what matters.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "kiosk",
    }
    KioskServer(options).run()
