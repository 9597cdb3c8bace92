"""The station's petition settings, read from ``[plugins.petitions]`` with defaults.

Example (``instance/station.toml``)::

    [plugins.petitions]
    tracking_prefix = "P"
    retention_days = 180                          # closed requests lose their contact details after this

    [plugins.petitions.webhook]                   # the district's event-dispatch system (事件分拨系统):
                                                  # in a district only the hub's is used
    url = "https://dispatch.example/api/petitions"
    secret = { env = "PETITIONS_WEBHOOK_SECRET" } # a string, or read from the environment at start;
                                                  # required: nothing is sent unsigned
    timeout = 5
    include_contact = false

    [plugins.petitions.open311]
    api_keys = [{ env = "PETITIONS_OPEN311_KEY" }]  # may file requests
    [[plugins.petitions.open311.read_keys]]       # may read more than the public answer (see open311.py);
    name = "district-dashboard"                   # made by python -m kiosk_plugins.petitions.apikeys
    sha256 = "<64 hex: SHA-256 of the key>"
    scopes = ["read:details", "read:location"]    # and/or "read:photos"

    [plugins.petitions.rate_limit]                # [requests, seconds] per device or address
    kiosk = [30, 600]
    mobile = [10, 600]
    api = [60, 600]

    [plugins.petitions.routing]                   # category → department, overrides the defaults
    parking = "traffic_police"

    [plugins.petitions.phrases]                   # category → chips that type a common phrase
    noise = ["噪音扰民", { zh_Hans = "广场舞音响太大", zh_Hant = "廣場舞音響太大", en = "Loud square dancing" }]

Categories and departments may be replaced as whole lists (``[[plugins.petitions.categories]]``
with ``key``, ``label`` (a table of zh_Hans/zh_Hant/en or a message id),
``deadline_days`` and ``department``). In a district the hub's settings decide
forwarding, Open311 and retention of the district's copies; a station enrolled
at a hub keeps its own retention for its own copies and forwards only what it
took before it was enrolled. The core checks all of it against
:data:`SCHEMA` once at start: a mistake switches the plugin off with the
setting's name, instead of a 503 at a resident's first tap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app

from kiosk.i18n import N_
from kiosk.settings import (
    REQUIRED,
    URL,
    Boolean,
    Choice,
    Duration,
    Integer,
    Label,
    ListOf,
    MapOf,
    Schema,
    Setting,
    SettingError,
    Table,
    TableOf,
    Text,
    plugin_settings,
)
from kiosk_plugins.petitions import vocabulary

PLUGIN = "petitions"


@dataclass
class Webhook:
    """Where acknowledged petitions are forwarded and how the body is signed."""

    url: str = ""
    secret: str = ""
    timeout: float = 5.0
    include_contact: bool = False

    @property
    def configured(self) -> bool:
        """Whether a dispatch system is connected."""
        return bool(self.url)

    @property
    def problem(self) -> str:
        """What stops forwarding though an address is set ("" when nothing does): a missing secret."""
        if self.url and not self.secret:
            return "plugins.petitions.webhook.secret is empty: requests wait in the outbox, nothing is sent unsigned"
        return ""


@dataclass(frozen=True)
class ReadKey:
    """An Open311 read key: only its SHA-256 is stored; ``scopes`` say what it unlocks."""

    name: str
    sha256: str
    scopes: frozenset[str]


READ_SCOPES = ("read:details", "read:location", "read:photos")


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
    open311_read_keys: tuple[ReadKey, ...] = ()
    rate_limits: dict = field(default_factory=dict)
    photos: PhotoLimits = field(default_factory=PhotoLimits)
    categories: list[vocabulary.Category] = field(default_factory=list)
    departments: list[vocabulary.Department] = field(default_factory=list)
    places: list[vocabulary.Place] = field(default_factory=list)
    #: Category key → phrases (labels) the description screen offers as chips.
    phrases: dict[str, tuple] = field(default_factory=dict)

    def category(self, key: str) -> vocabulary.Category | None:
        """The category named ``key``, or None."""
        return next((c for c in self.categories if c.key == key), None)

    def department(self, key: str) -> vocabulary.Department | None:
        """The department named ``key``, or None."""
        return next((d for d in self.departments if d.key == key), None)

    def rate_limit(self, channel: str) -> tuple[int, int]:
        """(requests, seconds) allowed per device or address on an intake channel."""
        channel = {"open311": "api"}.get(channel, channel)
        return self.rate_limits.get(channel, self.rate_limits["mobile"])


KEY = r"[a-z][a-z0-9_]{0,31}"
KEY_HINT = N_('lower-case letters, digits or _ (e.g. "noise")')


def _key(default="", description: str = "") -> Text:
    return Text(default, pattern=KEY, hint=KEY_HINT, description=description)


def _limit(requests: int, seconds: int, description: str) -> ListOf:
    return ListOf(Integer(min=1), (requests, seconds), min_length=2, max_length=2, description=description)


def _present(values: dict) -> dict:
    """A table item as the vocabulary reads it: settings left out are absent, not None."""
    return {k: v for k, v in values.items() if v is not None}


class PlaceSetting(Setting):
    """A place residents can pick: a plain name, or a table with ``key`` and ``label``."""

    TABLE = Table({"key": _key(), "label": Label(None)}, default=None, build=_present)

    def convert(self, value):
        if isinstance(value, str) and value.strip():
            return value
        return self.TABLE.convert(value)


def _unknown_department(values: dict, categories, known: set) -> SettingError | None:
    for index, category in enumerate(categories):
        if category.department in known:
            continue
        if category.key in values["routing"]:
            where = f"routing.{category.key}"
        else:
            where = f"categories[{index}].department" if values["categories"] else "departments"
        return SettingError(
            where,
            N_("sends %(category)s to %(department)s, which is not a department; the departments are %(names)s"),
            category=category.key,
            department=category.department,
            names=", ".join(sorted(known)),
        )
    return None


def _build(values: dict) -> Settings:
    """The typed settings; every category must go to a department the station has."""
    departments = vocabulary.departments_from([dict(d) for d in values["departments"]])
    categories = vocabulary.categories_from([dict(c) for c in values["categories"]], values["routing"])
    error = _unknown_department(values, categories, {d.key for d in departments})
    if error is not None:
        raise error
    hook = values["webhook"]
    return Settings(
        tracking_prefix=values["tracking_prefix"],
        retention_days=values["retention_days"],
        description_max=values["description_max"],
        deliver_immediately=values["deliver_immediately"],
        webhook=Webhook(
            url=hook.url, secret=hook.secret, timeout=hook.timeout.total_seconds(), include_contact=hook.include_contact
        ),
        open311_keys=tuple(k for k in values["open311"].api_keys if k),
        open311_read_keys=tuple(
            ReadKey(k["name"], k["sha256"].lower(), frozenset(k["scopes"])) for k in values["open311"].read_keys
        ),
        rate_limits={name: tuple(pair) for name, pair in vars(values["rate_limit"]).items()},
        photos=PhotoLimits(**vars(values["photos"])),
        categories=categories,
        departments=departments,
        places=vocabulary.places_from(values["places"]),
        phrases={key: tuple(items) for key, items in values["phrases"].items()},
    )


SCHEMA = Schema(
    {
        "tracking_prefix": Text(
            "P",
            pattern=r"[A-Z]{1,4}",
            hint=N_("one to four capital letters (A-Z)"),
            description=N_("Letters before a tracking number (the P of P261206-K7QM-0007)"),
        ),
        "retention_days": Integer(
            180, min=1, max=3650, description=N_("Days after which closed requests lose their contact details")
        ),
        "description_max": Integer(500, min=50, max=5000, description=N_("Longest description accepted (characters)")),
        "deliver_immediately": Boolean(True, description=N_("Forward to the dispatch system at once")),
        "webhook": Table(
            {
                "url": URL("", description=N_("The dispatch system's address (empty: requests wait in the outbox)")),
                "secret": Text(
                    "",
                    description=N_("Key that signs each body and its time (required: nothing is sent unsigned)"),
                ),
                "timeout": Duration(
                    5,
                    unit="s",
                    min=timedelta(seconds=1),
                    max=timedelta(seconds=120),
                    description=N_("How long to wait for the dispatch system"),
                ),
                "include_contact": Boolean(False, description=N_("Send the resident's name and phone along")),
            },
            description=N_("The district's event-dispatch system"),
        ),
        "open311": Table(
            {
                "api_keys": ListOf(Text(""), single=True, description=N_("Keys for the Open311 API")),
                "read_keys": TableOf(
                    {
                        "name": Text(REQUIRED, pattern=r"[A-Za-z0-9_.-]{1,40}", hint=N_("a short name without spaces")),
                        "sha256": Text(
                            REQUIRED, pattern=r"[0-9a-fA-F]{64}", hint=N_("the key's SHA-256 as 64 hex digits")
                        ),
                        "scopes": ListOf(Choice("read:details", READ_SCOPES), min_length=1),
                    },
                    build=dict,
                    unique="name",
                    description=N_("Keys that may read more than the public answer, stored as SHA-256"),
                ),
            },
            description=N_("The Open311 GeoReport v2 API"),
        ),
        "rate_limit": Table(
            {
                "kiosk": _limit(30, 600, N_("Requests and seconds allowed per kiosk")),
                "mobile": _limit(10, 600, N_("Requests and seconds allowed per phone")),
                "api": _limit(60, 600, N_("Requests and seconds allowed per API caller")),
            },
            description=N_("[requests, seconds] per device or address"),
        ),
        "photos": Table(
            {
                "max_bytes": Integer(
                    5 * 1024 * 1024, min=1024, max=64 * 1024 * 1024, description=N_("Largest photo accepted (bytes)")
                ),
                "max_count": Integer(3, min=0, max=10, description=N_("Photos a request may have")),
                "max_pixels": Integer(
                    40_000_000, min=10_000, max=200_000_000, description=N_("Largest photo accepted (pixels)")
                ),
                "max_side": Integer(
                    2048, min=64, max=10_000, description=N_("Longest side a stored photo is scaled to")
                ),
            },
            description=N_("What a phone may upload with a request"),
        ),
        "routing": MapOf(_key(), description=N_("Category → department, overriding the defaults")),
        "categories": TableOf(
            {
                "key": _key(),
                "label": Label(None),
                "department": _key("community"),
                "deadline_days": Integer(5, min=1, max=365),
            },
            build=_present,
            unique="key",
            description=N_("The categories, replacing the defaults"),
        ),
        "departments": TableOf(
            {"key": _key(), "label": Label(None)},
            build=_present,
            unique="key",
            description=N_("The departments, replacing the defaults"),
        ),
        "places": ListOf(
            PlaceSetting(), description=N_("Places residents can pick: plain names or { key, label } tables")
        ),
        "phrases": MapOf(
            ListOf(Label(REQUIRED), max_length=12),
            vocabulary.DEFAULT_PHRASES,
            merge=True,
            description=N_("Category → common phrases a resident taps to write the description (replaces that list)"),
        ),
    },
    build=_build,
)


def from_config(cfg: dict | None) -> Settings:
    """Build :class:`Settings` from the plugin's config table; raises ``SettingError`` naming the first mistake."""
    return SCHEMA.parse(cfg)


def get_settings(app=None) -> Settings:
    """The settings of ``app`` (default: the current app), as the core checked them at start."""
    return plugin_settings(PLUGIN, app or current_app._get_current_object())
