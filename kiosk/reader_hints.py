"""Which readers the kiosk in front of the resident has, so a screen only says "tap your card" where one can.

A read reaches only the enrolled kiosk terminal it was made at
(:mod:`kiosk.readers`), so what a screen may promise depends on that terminal:

- the station file's ``[devices.readers]`` belong to the station's local
  terminal (``[devices] terminal``, :func:`kiosk.terminals.local_terminal_name`);
- ``[terminals.<name>.readers]`` belong to that terminal (driven here or by its agent);
- a browser that is no enrolled terminal (the demo before its link is opened)
  is told what the station has: any reader of the station file's. A station
  with none (the demo, a shop-corner station) shows no card or scanner hint.

Templates call ``reader_inputs()`` (a Jinja global) and test for the kind of
input a hint needs: ``{% if "card" in reader_inputs() %}`` for a card tap,
``"code"`` for a QR or bar code held under a scanner.
"""

from __future__ import annotations

from flask import current_app, g, has_request_context

__all__ = ["CARD", "CODE", "reader_inputs"]

#: The kinds of input a reader gives (as kiosk_hardware.readers.events.INPUT_KINDS).
CARD = "card"
CODE = "code"


def _kinds(readers: dict) -> set[str]:
    from kiosk_hardware.readers.config import DEFAULT_KIND

    out = set()
    for cfg in (readers or {}).values():
        if isinstance(cfg, dict):
            kind = cfg.get("kind") or DEFAULT_KIND.get(str(cfg.get("type", "")), "")
            if kind:
                out.add(str(kind))
    return out


def inputs_of(app, terminal_name: str | None) -> frozenset[str]:
    """The kinds of input (``card``, ``code``, ``track``) the readers of the terminal ``terminal_name`` give."""
    if not terminal_name:
        return frozenset()
    from kiosk.device_config import terminal_tables
    from kiosk.terminals import local_terminal_name

    kinds: set[str] = set()
    if terminal_name == local_terminal_name(app):
        kinds |= _kinds((app.config.get("DEVICES") or {}).get("readers") or {})
    devices = app.extensions.get("kiosk_devices")
    tables = devices.terminals if devices is not None else terminal_tables(app.config)
    table = tables.get(terminal_name)
    if table is not None:
        kinds |= _kinds(table.readers)
    return frozenset(kinds)


def station_inputs(app) -> frozenset[str]:
    """The kinds of input any reader of the station gives: ``[devices.readers]`` and every terminal's."""
    from kiosk.device_config import terminal_tables

    kinds = _kinds((app.config.get("DEVICES") or {}).get("readers") or {})
    devices = app.extensions.get("kiosk_devices")
    tables = devices.terminals if devices is not None else terminal_tables(app.config)
    for table in tables.values():
        kinds |= _kinds(table.readers)
    return frozenset(kinds)


def reader_inputs() -> frozenset[str]:
    """The kinds of input (:data:`CARD`, :data:`CODE`) a reader at this request's kiosk gives: its
    terminal's, else the station's; none outside a request.

    Word a hint by it (``if CODE in reader_inputs(): …`` "hold the code under the
    scanner"); templates call the same function as the ``reader_inputs()`` global.
    """
    if not has_request_context():
        return frozenset()
    if "reader_inputs" not in g:
        from kiosk.terminals import current_terminal

        try:
            terminal = current_terminal()
        except Exception:  # the database is down: an error page still renders
            terminal = None
        if terminal is not None:
            g.reader_inputs = inputs_of(current_app, terminal.name)
        else:
            g.reader_inputs = station_inputs(current_app)
    return g.reader_inputs


def init_app(app) -> None:
    """Make ``reader_inputs()`` available to every template."""
    app.jinja_env.globals["reader_inputs"] = reader_inputs
