"""The station's card readers and scanners, per terminal, started from the config.

A station node drives the devices of its terminals. The station file's
``[devices]`` are the devices of the station's single local terminal (the
demo, a one-kiosk station: ``kiosk.terminals.local_terminal_name``); a station
with several screens describes each one's own in ``[terminals.<name>]``::

    [terminals.hall-1]
    kind = "kiosk"

    [terminals.hall-1.printer]         # the same keys as [devices.printer]
    type = "network"
    host = "192.168.10.21"

    [terminals.hall-1.readers.card]    # the same keys as [devices.readers.*]
    type = "pcsc"

    [terminals.hall-2]
    agent = true                       # its devices hang off its own PC: `kiosk agent` drives them

A terminal whose devices are driven here has them opened by this process; a
terminal with ``agent = true`` has them opened by ``kiosk agent`` on its PC
(:mod:`kiosk.agent`), which takes its print jobs and posts its reads and
device states. Reads go to :class:`kiosk.readers.ReaderHub` with the terminal
they were made at, which offers them only to that terminal's page. The
printers are handled by :mod:`kiosk.printing`; both report here for
``/healthz``, the admin page and (through :mod:`kiosk.device_reports`) the
district dashboard.
"""

from __future__ import annotations

import atexit
import logging
from datetime import timedelta
from typing import Any

from kiosk.config import ConfigError
from kiosk.device_config import TerminalDevices, device_key, terminal_tables

__all__ = ["AGENT_STALE_SECONDS", "Devices", "TerminalDevices", "device_key", "init_app", "terminal_tables"]

log = logging.getLogger("kiosk.devices")

#: An agent's device state older than this means the agent stopped reporting (it posts every 30 s).
AGENT_STALE_SECONDS = 90


class Devices:
    """Owns the reader managers of one app (``app.extensions["kiosk_devices"]``).

    ``manager`` runs the local terminal's ``[devices.readers]``;
    ``managers[name]`` each other terminal's readers that this node drives.
    """

    def __init__(self, app):
        self.app = app
        self.manager = None
        self.managers: dict[str, Any] = {}
        self.terminals = terminal_tables(app.config)
        configs = app.config["DEVICES"].get("readers") or {}
        hub = app.extensions["reader_hub"]
        if configs:
            from kiosk_hardware.readers import ReaderManager

            # Reads of [devices.readers] belong to the station's local terminal (the hub's default).
            self.manager = ReaderManager(configs, on_event=hub.publish)
        for name, table in self.terminals.items():
            if table.agent or not table.readers:
                continue
            from kiosk_hardware.readers import ReaderManager

            try:
                self.managers[name] = ReaderManager(table.readers, on_event=_publisher(hub, name))
            except ValueError as exc:
                raise ConfigError(f"[terminals.{name}.readers]: {exc}") from exc

    def _all(self) -> list:
        return [m for m in [self.manager, *self.managers.values()] if m is not None]

    def start(self) -> None:
        managers = self._all()
        for manager in managers:
            manager.start()
        if managers:
            atexit.register(self.stop)

    def stop(self) -> None:
        for manager in self._all():
            manager.stop()

    def reader(self, terminal: str | None, name: str):
        """A reader this node drives (``terminal`` None: the local ``[devices.readers]``)."""
        manager = self.manager if terminal is None else self.managers.get(terminal)
        if manager is None:
            raise KeyError(f"no readers driven here for terminal {terminal!r}")
        return manager.reader(name)

    def local_statuses(self) -> dict:
        """The devices this process drives: its printers and readers."""
        from kiosk import printing

        out = printing.printer_statuses(self.app)
        sources = [(None, self.manager), *self.managers.items()]
        for terminal, manager in sources:
            if manager is None:
                continue
            for status in manager.statuses():
                out[device_key(terminal, status.name)] = {
                    "kind": status.kind,
                    "state": status.state,
                    "ok": status.state == "ok",
                    "detail": status.detail,
                }
        return out

    def agent_statuses(self) -> dict:
        """What the agents of this station's agent terminals last reported (from the database).

        An agent that stopped reporting shows its devices as ``offline``: the
        terminal PC is off, its agent crashed or the network is cut.
        """
        agents = [name for name, table in self.terminals.items() if table.agent]
        if not agents:
            return {}
        from sqlalchemy import or_, select

        from kiosk.db import session_for, utcnow
        from kiosk.models import DeviceReport

        station_id = self.app.extensions["kiosk_station_id"]
        now = utcnow()
        out: dict[str, dict] = {}
        with session_for(self.app) as session:
            rows = session.scalars(
                select(DeviceReport).where(
                    DeviceReport.station_id == station_id,
                    or_(*[DeviceReport.device.startswith(f"{name}/", autoescape=True) for name in agents]),
                )
            ).all()
        seen = set()
        for row in rows:
            seen.add(row.device.split("/", 1)[0])
            stale = now - row.updated_at > timedelta(seconds=AGENT_STALE_SECONDS)
            state = "offline" if stale else row.state
            detail = f"its agent last reported at {row.updated_at:%Y-%m-%d %H:%M} UTC" if stale else row.detail
            out[row.device] = {
                "kind": row.kind,
                "state": state,
                "ok": state in ("ok", "warning"),
                "detail": detail,
                "agent": True,
            }
        for name in agents:
            if name not in seen:
                # Not marked "agent": the station's own report writes this one, so the
                # dashboards (and the hub) see a terminal whose agent never came.
                out[device_key(name, "agent")] = {
                    "kind": "agent",
                    "state": "offline",
                    "ok": False,
                    "detail": "no kiosk agent has reported for this terminal yet",
                }
        return out

    def statuses(self) -> dict:
        """Every device of the station: the ones driven here and the agents' (for /healthz and the admin page)."""
        out = self.local_statuses()
        try:
            out.update(self.agent_statuses())
        except Exception as exc:  # an unmigrated or unreachable database must not break /healthz
            log.warning("could not read the agents' device reports: %s", exc)
        return out


def _publisher(hub, terminal: str):
    """The callback of one terminal's readers: its reads go to that terminal's page only."""

    def publish(event):
        return hub.publish(event, terminal=terminal)

    return publish


def init_app(app) -> None:
    """Create the app's devices and the agents' endpoints; a server process also opens them and reports their states."""
    from kiosk import agent

    agent.init_app(app)  # /agent/v1: the devices of terminals that `kiosk agent` drives
    devices = Devices(app)
    app.extensions["kiosk_devices"] = devices
    if app.config.get("START_DEVICES"):
        devices.start()
        from kiosk import device_reports

        device_reports.report_at_start(app)
