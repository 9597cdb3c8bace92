"""The plugin's per-app state: parsed settings (``app.extensions["legal"]``).

Settings are parsed once at start, not per request. "Now" is the core's
station clock (:func:`kiosk.clock.now`); tests move it across midnight with
:func:`kiosk.clock.set_clock`, which moves it for every plugin at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from kiosk.settings import plugin_settings
from kiosk_plugins.legal.settings import LegalSettings


@dataclass
class LegalRuntime:
    """Settings of one app, and which queues' names and pace this process has sent the hub today."""

    settings: LegalSettings
    #: (station id, service, day) whose ``legal.queue`` entry went out (see ``syncing.record_queue_once``).
    queues_sent: set = field(default_factory=set)


def init_app(app) -> LegalRuntime:
    """Keep the settings the core checked at start on the app."""
    state = LegalRuntime(settings=plugin_settings("legal", app))
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
