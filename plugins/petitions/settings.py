"""The station's petition settings, read from ``[plugins.petitions]`` with defaults.

Example (``instance/station.toml``)::

    [plugins.petitions]
    tracking_prefix = "P"
    retention_days = 180                          # closed requests lose their contact details after this

    [plugins.petitions.webhook]                   # the district's event-dispatch system (事件分拨系统)
    url = "https://dispatch.example/api/petitions"
    secret = { env = "PETITIONS_WEBHOOK_SECRET" } # a string, or read from the environment
    timeout = 5
    include_contact = false

    [plugins.petitions.open311]
    api_keys = [{ env = "PETITIONS_OPEN311_KEY" }]

    [plugins.petitions.rate_limit]                # [requests, seconds] per device or address
    kiosk = [30, 600]
    mobile = [10, 600]
    api = [60, 600]

    [plugins.petitions.routing]                   # category → department, overrides the defaults
    parking = "traffic_police"

Categories and departments may be replaced as whole lists (``[[plugins.petitions.categories]]``
with ``key``, ``label`` (a table of zh_Hans/zh_Hant/en or a message id),
``deadline_days`` and ``department``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from flask import current_app

from kiosk_plugins.petitions import vocabulary


def _resolve(value):
    """A secret may be given as ``{env = "NAME"}`` so it stays out of the station file."""
    if isinstance(value, dict) and "env" in value:
        return os.environ.get(str(value["env"]), "")
    return value


def _pair(value, default: tuple[int, int]) -> tuple[int, int]:
    try:
        count, seconds = int(value[0]), int(value[1])
    except (TypeError, ValueError, IndexError):
        return default
    return (max(count, 1), max(seconds, 1))


@dataclass
class Webhook:
    """Where acknowledged petitions are forwarded and how the body is signed."""

    url: str = ""
    secret: str = ""
    timeout: float = 5.0
    include_contact: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dataclass
class PhotoLimits:
    """What the phone form accepts before anything is stored."""

    max_bytes: int = 5 * 1024 * 1024
    max_count: int = 3
    max_pixels: int = 40_000_000
    max_side: int = 2048


@dataclass
class Settings:
    """Everything the plugin reads from its section of the config."""

    tracking_prefix: str = "P"
    retention_days: int = 180
    description_max: int = 500
    deliver_immediately: bool = True
    webhook: Webhook = field(default_factory=Webhook)
    open311_keys: tuple[str, ...] = ()
    rate_limits: dict = field(default_factory=dict)
    photos: PhotoLimits = field(default_factory=PhotoLimits)
    categories: list[vocabulary.Category] = field(default_factory=list)
    departments: list[vocabulary.Department] = field(default_factory=list)
    places: list[vocabulary.Place] = field(default_factory=list)

    def category(self, key: str) -> vocabulary.Category | None:
        return next((c for c in self.categories if c.key == key), None)

    def department(self, key: str) -> vocabulary.Department | None:
        return next((d for d in self.departments if d.key == key), None)

    def rate_limit(self, channel: str) -> tuple[int, int]:
        """(requests, seconds) allowed per device or address on an intake channel."""
        channel = {"open311": "api"}.get(channel, channel)
        return self.rate_limits.get(channel, self.rate_limits["mobile"])


def from_config(cfg: dict) -> Settings:
    """Build :class:`Settings` from the plugin's config dict (missing keys take defaults)."""
    cfg = cfg or {}
    hook = cfg.get("webhook") or {}
    photos = cfg.get("photos") or {}
    limits = cfg.get("rate_limit") or {}
    open311 = cfg.get("open311") or {}
    keys = open311.get("api_keys") or []
    if isinstance(keys, (str, dict)):
        keys = [keys]
    departments = vocabulary.departments_from(cfg.get("departments"))
    return Settings(
        tracking_prefix=str(cfg.get("tracking_prefix", "P"))[:4],
        retention_days=int(cfg.get("retention_days", 180)),
        description_max=int(cfg.get("description_max", 500)),
        deliver_immediately=bool(cfg.get("deliver_immediately", True)),
        webhook=Webhook(
            url=str(_resolve(hook.get("url", "")) or ""),
            secret=str(_resolve(hook.get("secret", "")) or ""),
            timeout=float(hook.get("timeout", 5.0)),
            include_contact=bool(hook.get("include_contact", False)),
        ),
        open311_keys=tuple(k for k in (str(_resolve(k) or "") for k in keys) if k),
        rate_limits={
            "kiosk": _pair(limits.get("kiosk"), (30, 600)),
            "mobile": _pair(limits.get("mobile"), (10, 600)),
            "api": _pair(limits.get("api"), (60, 600)),
        },
        photos=PhotoLimits(
            max_bytes=int(photos.get("max_bytes", 5 * 1024 * 1024)),
            max_count=int(photos.get("max_count", 3)),
            max_pixels=int(photos.get("max_pixels", 40_000_000)),
            max_side=int(photos.get("max_side", 2048)),
        ),
        categories=vocabulary.categories_from(cfg.get("categories"), cfg.get("routing") or {}),
        departments=departments,
        places=vocabulary.places_from(cfg.get("places")),
    )


def get_settings(app=None) -> Settings:
    """The settings of ``app`` (default: the current app), parsed once per app."""
    app = app or current_app._get_current_object()
    cached = app.extensions.get("petitions_settings")
    raw = app.config["PLUGINS"].get("petitions", {})
    # Re-parse when the config section was replaced (tests and admins change it live).
    if cached is None or cached[0] is not raw:
        cached = (raw, from_config(raw))
        app.extensions["petitions_settings"] = cached
    return cached[1]
