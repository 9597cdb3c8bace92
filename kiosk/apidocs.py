"""The plugin API: which core modules a plugin may import, and docs/api.md made from them.

A plugin (built-in or third-party) imports only the names listed in the
``__all__`` of the modules in :data:`PUBLIC_MODULES`; everything else in
``kiosk`` and ``kiosk_hardware`` may change without notice.
``tests/test_public_api.py`` walks ``plugins/`` and ``examples/`` and fails on
any other import, and keeps docs/api.md in step with the docstrings:
``python -m kiosk.apidocs > docs/api.md``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

#: Module → one line on what a plugin finds there. The order is the order of docs/api.md.
PUBLIC_MODULES: dict[str, str] = {
    "kiosk": "The hook marker and the API version.",
    "kiosk.stations": "The station a request or job belongs to, and rows that must be this station's.",
    "kiosk.db": "Models, sessions and transactions, in a request and outside one (jobs, threads).",
    "kiosk.models": "The core's tables a plugin may read.",
    "kiosk.clock": "The station clock: now, the station's local day, day and month bounds.",
    "kiosk.numbering": "Per-day numbering (ticket and tracking numbers) safe under concurrency.",
    "kiosk.settings": "Declaring a plugin's settings and reading them, validated at start.",
    "kiosk.i18n": "Translating: gettext, lazy strings, the current locale.",
    "kiosk.urls": "Links that leave the kiosk: the public URL a phone can open.",
    "kiosk.qr": "QR images for screens and phone pages.",
    "kiosk.photos": "Cleaning an uploaded photo: size, format and metadata.",
    "kiosk.terminals": "The terminal (kiosk screen, display, counter) a request comes from.",
    "kiosk.reader_hints": "Which readers (card, scanner) the kiosk in front of the resident has, for its hints.",
    "kiosk.ratelimit": "Rate limits of public write routes per client, and back-off after wrong guesses.",
    "kiosk.visitors": "The identified visitor of a kiosk session, and signed tokens for links.",
    "kiosk.privacy": "Masking and checking personal data (names, phones, ID numbers).",
    "kiosk.typed": "What people type or paste (codes, numbers, plates) as the plain characters they meant.",
    "kiosk.retention": "How long each kind of personal data lives, and the sweep that purges it.",
    "kiosk.printing": "Printing receipts through the station's printer queue.",
    "kiosk.sync": "Syncing records between a station node and the district hub.",
    "kiosk.services": "Asking another plugin for a service without importing it.",
    "kiosk.events": "Publishing events to displays and phones (server-sent events).",
    "kiosk.speech": "Offline speech (espeak-ng) in a bounded cache, and what kiosk screens say aloud.",
    "kiosk.audit": "The audit trail of staff actions.",
    "kiosk.errors": "Errors a plugin raises to get a clear answer in the user's language.",
    "kiosk.testing": "Pytest fixtures and helpers for testing a plugin on SQLite and PostgreSQL.",
    "kiosk_hardware.receipt": "The receipt model a plugin fills in (text, QR codes, barcodes).",
    "kiosk_hardware.readers.uids": "Card numbers that identify nobody (random, blank): never link one to a person.",
}

HEADER = """# Plugin API reference

Generated from the modules' docstrings and `__all__` lists by
`python -m kiosk.apidocs > docs/api.md`; do not edit by hand. A plugin imports
only these names: anything else in `kiosk` or `kiosk_hardware` is private and may
change in any release (a test walks the built-in plugins and `examples/` and fails
on any other import). Hooks are in [hooks.md](hooks.md); a guided tour is in
[plugins.md](plugins.md).
"""


def public_names(module_name: str) -> list[str]:
    """The names ``module_name`` offers plugins (its ``__all__``)."""
    module = importlib.import_module(module_name)
    return list(getattr(module, "__all__", ()))


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "")
    return text.split("\n\n", 1)[0].strip()


def _signature(value) -> str:
    # A default like a sentinel object() prints its address: keep the docs stable.
    return re.sub(r"<object object at 0x[0-9a-f]+>", "<unset>", str(inspect.signature(value)))


def _describe(name: str, value) -> str:
    if inspect.isclass(value):
        try:
            signature = _signature(value)
        except (TypeError, ValueError):
            signature = ""
        head = f"### class `{name}{signature}`"
    elif callable(value) and not inspect.ismodule(value):
        try:
            signature = _signature(value)
        except (TypeError, ValueError):
            signature = "(…)"
        head = f"### `{name}{signature}`"
    elif inspect.ismodule(value):
        head = f"### module `{name}`"
    else:
        head = f"### `{name}`"
    doc = (
        _first_paragraph(getattr(value, "__doc__", None))
        if (inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value))
        else ""
    )
    return head + ("\n\n" + doc if doc else "") + "\n"


def render() -> str:
    parts = [HEADER]
    for module_name, summary in PUBLIC_MODULES.items():
        module = importlib.import_module(module_name)
        parts.append(f"## `{module_name}`\n\n{summary}\n")
        for name in getattr(module, "__all__", ()):
            parts.append(_describe(name, getattr(module, name)))
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
