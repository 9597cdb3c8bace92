"""The station's card readers and scanners, started from the config.

Reads go to :class:`kiosk.readers.ReaderHub`, which offers them to the page in
front of the user and drops what nobody claims. The printer is handled by
:mod:`kiosk.printing`; both report here for ``/healthz`` and the admin page.
"""

from __future__ import annotations

import atexit
import logging

log = logging.getLogger("kiosk.devices")


class Devices:
    """Owns the reader manager of one app (``app.extensions["kiosk_devices"]``)."""

    def __init__(self, app):
        self.app = app
        self.manager = None
        configs = app.config["DEVICES"].get("readers") or {}
        if configs:
            from kiosk_hardware.readers import ReaderManager

            hub = app.extensions["reader_hub"]
            self.manager = ReaderManager(configs, on_event=hub.publish)

    def start(self) -> None:
        if self.manager is not None:
            self.manager.start()
            atexit.register(self.stop)

    def stop(self) -> None:
        if self.manager is not None:
            self.manager.stop()

    def statuses(self) -> dict:
        out = {}
        from kiosk import printing

        out["printer"] = printing.printer_status(self.app)
        if self.manager is not None:
            for status in self.manager.statuses():
                out[status.name] = {
                    "kind": status.kind,
                    "state": status.state,
                    "ok": status.state == "ok",
                    "detail": status.detail,
                }
        return out


def init_app(app) -> None:
    """Create the app's devices; a server process also opens them and reports their states."""
    devices = Devices(app)
    app.extensions["kiosk_devices"] = devices
    if app.config.get("START_DEVICES"):
        devices.start()
        from kiosk import device_reports

        device_reports.report_at_start(app)
