"""The plugin's per-app state: parsed settings and the clock (``app.extensions["legal"]``).

Settings are parsed once at start, not per request. The clock is a plain
function so tests can move "now" across midnight without touching the system
time: ``app.extensions["legal"].clock = lambda: datetime(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import current_app

from kiosk.db import utcnow
from kiosk_plugins.legal.settings import LegalSettings, parse


@dataclass
class LegalRuntime:
    """Settings and clock of one app."""

    settings: LegalSettings
    clock: Callable = field(default=utcnow)


def init_app(app) -> LegalRuntime:
    """Parse the station's settings (ConfigError on a mistake) and keep them on the app."""
    state = LegalRuntime(settings=parse(app.config.get("PLUGINS", {}).get("legal", {})))
    app.extensions["legal"] = state
    return state


def runtime(app=None) -> LegalRuntime:
    """The plugin state of ``app`` (the current app by default)."""
    app = app or current_app._get_current_object()
    state = app.extensions.get("legal")
    return state if state is not None else init_app(app)


def settings() -> LegalSettings:
    """The current app's legal settings."""
    return runtime().settings
