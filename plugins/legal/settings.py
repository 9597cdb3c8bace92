"""The station's legal-area settings: services, counters, fairness, voice.

Declared in :data:`SCHEMA`, checked by the core once at start (a mistake switches
the plugin off naming the setting) and read through ``runtime.settings()``, so a
request never parses settings. Defaults follow
Shuibei's legal function area (水贝法治功能区): 法律咨询, 人民调解, 劳动仲裁,
法治宣传 and 公证, plus 法律援助 which the district sends down to communities::

    [plugins.legal]
    max_skips = 3                 # a normal ticket is passed by priority ones at most this often
    no_show_recall_minutes = 15   # a no-show may be called back within this window
    voice = ["cmn"]               # "cmn" Mandarin, "yue" Cantonese, "en" English, in order
    [[plugins.legal.services]]
    key = "consultation"
    label = { zh_Hans = "法律咨询", zh_Hant = "法律諮詢", en = "Legal consultation" }
    prefix = "A"
    counters = [1, 2]
    minutes = 15                  # typical length before today's real times are known
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kiosk.i18n import N_
from kiosk.settings import Boolean, Choice, Integer, Label, ListOf, Schema, SettingError, TableOf, Text

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
VOICES = ("cmn", "yue", "en")


@dataclass(frozen=True)
class Service:
    """One service of the legal area: a queue with its own prefix letter and counters."""

    key: str
    label: dict
    prefix: str
    counters: tuple[int, ...]
    minutes: int
    queue: bool = True

    def text(self, locale: str) -> str:
        """The service's name in ``locale`` (Simplified Chinese when missing)."""
        return self.label.get(locale) or self.label.get("zh_Hans") or self.key


DEFAULT_SERVICES: tuple[dict, ...] = (
    {
        "key": "consultation",
        "prefix": "A",
        "counters": [1, 2],
        "minutes": 15,
        "label": {"zh_Hans": "法律咨询", "zh_Hant": "法律諮詢", "en": "Legal consultation"},
    },
    {
        "key": "mediation",
        "prefix": "B",
        "counters": [3],
        "minutes": 40,
        "label": {"zh_Hans": "人民调解", "zh_Hant": "人民調解", "en": "People's mediation"},
    },
    {
        "key": "arbitration",
        "prefix": "C",
        "counters": [4],
        "minutes": 45,
        "label": {"zh_Hans": "劳动仲裁", "zh_Hant": "勞動仲裁", "en": "Labour arbitration"},
    },
    {
        "key": "notarisation",
        "prefix": "D",
        "counters": [5],
        "minutes": 20,
        "label": {"zh_Hans": "公证", "zh_Hant": "公證", "en": "Notarisation"},
    },
    {
        "key": "legal_aid",
        "prefix": "F",
        "counters": [6],
        "minutes": 20,
        "label": {"zh_Hans": "法律援助", "zh_Hant": "法律援助", "en": "Legal aid"},
    },
    # Talks and leaflets, not a queue: listed so the area's five functions show.
    {
        "key": "education",
        "prefix": "E",
        "counters": [],
        "minutes": 30,
        "queue": False,
        "label": {"zh_Hans": "法治宣传", "zh_Hant": "法治宣傳", "en": "Legal education"},
    },
)

#: Priority groups a resident may claim (老年人 60+, 残疾人, 孕妇).
PRIORITY_REASONS = ("elderly", "disabled", "pregnant")


@dataclass(frozen=True)
class LegalSettings:
    """Everything the plugin reads from the station's config, validated."""

    services: tuple[Service, ...]
    max_skips: int = 3
    no_show_recall_minutes: int = 15
    voices: tuple[str, ...] = ("cmn",)
    voice_repeat: int = 2
    voice_cache_mb: int = 64
    display_rows: int = 6
    booking_days: int = 7
    checkin_early_minutes: int = 60
    checkin_late_minutes: int = 15
    estimate_window: int = 10
    print_tickets: bool = True
    show_tile: bool = True
    by_key: dict = field(default_factory=dict, compare=False, repr=False)

    def service(self, key: str) -> Service | None:
        """The service named ``key``, or None."""
        return self.by_key.get(key)

    def queues(self) -> list[Service]:
        """Services residents take tickets for, in the configured order."""
        return [s for s in self.services if s.queue]

    def counters(self) -> list[int]:
        """Every counter number of the legal area, ascending."""
        return sorted({c for s in self.services for c in s.counters})

    def services_at(self, counter: int) -> list[Service]:
        """The queues a counter serves."""
        return [s for s in self.queues() if counter in s.counters]


def _service(values: dict) -> Service:
    """One service; a queue needs counters to be called at."""
    if values["queue"] and not values["counters"]:
        raise SettingError(
            "counters", N_("is empty, but the service is a queue: list its counters, or set queue = false")
        )
    return Service(
        key=values["key"],
        label=values["label"],
        prefix=values["prefix"],
        counters=tuple(sorted(set(values["counters"]))),
        minutes=values["minutes"],
        queue=values["queue"],
    )


def _build(values: dict) -> LegalSettings:
    """The typed settings; each queue's prefix letter tells residents and the display which queue a number is in."""
    services = values.pop("services")
    seen: set[str] = set()
    for index, service in enumerate(services):
        if not service.queue:
            continue
        if service.prefix in seen:
            raise SettingError(
                f"services[{index}].prefix",
                N_("%(prefix)s is taken: every queue needs its own prefix letter"),
                prefix=service.prefix,
            )
        seen.add(service.prefix)
    return LegalSettings(services=services, voices=values.pop("voice"), by_key={s.key: s for s in services}, **values)


def _count(default: int, low: int, high: int, description: str) -> Integer:
    return Integer(default, min=low, max=high, description=description)


SCHEMA = Schema(
    {
        "services": TableOf(
            {
                "key": Text(
                    pattern=KEY_RE.pattern[1:-1], hint=N_('lower-case letters, digits or _ (e.g. "legal_aid")')
                ),
                "label": Label(plain_as="zh_Hans"),
                "prefix": Text(pattern=r"[A-Z]", hint=N_("one capital letter (A-Z)")),
                "counters": ListOf(Integer(min=1, max=99)),
                "minutes": Integer(15, min=1, max=480),
                "queue": Boolean(True),
            },
            DEFAULT_SERVICES,
            build=_service,
            unique="key",
            min_length=1,
            description=N_("The services (queues) in the order the kiosk shows them"),
        ),
        "max_skips": _count(3, 0, 50, N_("How often priority tickets may pass a normal one")),
        "no_show_recall_minutes": _count(15, 0, 240, N_("Minutes within which a no-show may be called back")),
        "voice": ListOf(
            Choice("cmn", VOICES),
            ("cmn",),
            single=True,
            min_length=1,
            description=N_("Languages calls are spoken in, in order"),
        ),
        "voice_repeat": _count(2, 1, 3, N_("Times each call is spoken")),
        "voice_cache_mb": _count(
            64, 1, 4096, N_("Largest size of the spoken-call folder in MB (the least recently played go first)")
        ),
        "display_rows": _count(6, 1, 20, N_("Recent calls on the calling display")),
        "booking_days": _count(7, 1, 60, N_("Days ahead residents may book a duty lawyer")),
        "checkin_early_minutes": _count(60, 0, 480, N_("Minutes before its time a booking may check in")),
        "checkin_late_minutes": _count(15, 0, 240, N_("Minutes after its time a booking may still check in")),
        "estimate_window": _count(10, 1, 100, N_("Recent services averaged for the waiting-time estimate")),
        "print_tickets": Boolean(True, description=N_("Print a ticket (the number is on screen either way)")),
        "show_tile": Boolean(True, description=N_("Show the tile on the home screen")),
    },
    build=_build,
)


def parse(raw: dict | None) -> LegalSettings:
    """Validate ``[plugins.legal]``; raise ``SettingError`` (a ``ConfigError``) naming the setting to fix."""
    return SCHEMA.parse(raw)
