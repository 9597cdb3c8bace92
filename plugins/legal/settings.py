"""The station's legal-area settings: services, counters, fairness, voice.

Read once per app from ``[plugins.legal]`` in the station file (so a request
never parses settings) and kept in ``app.extensions["legal"]``. Defaults follow
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

from kiosk.config import ConfigError

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
    {"key": "consultation", "prefix": "A", "counters": [1, 2], "minutes": 15,
     "label": {"zh_Hans": "法律咨询", "zh_Hant": "法律諮詢", "en": "Legal consultation"}},
    {"key": "mediation", "prefix": "B", "counters": [3], "minutes": 40,
     "label": {"zh_Hans": "人民调解", "zh_Hant": "人民調解", "en": "People's mediation"}},
    {"key": "arbitration", "prefix": "C", "counters": [4], "minutes": 45,
     "label": {"zh_Hans": "劳动仲裁", "zh_Hant": "勞動仲裁", "en": "Labour arbitration"}},
    {"key": "notarisation", "prefix": "D", "counters": [5], "minutes": 20,
     "label": {"zh_Hans": "公证", "zh_Hant": "公證", "en": "Notarisation"}},
    {"key": "legal_aid", "prefix": "F", "counters": [6], "minutes": 20,
     "label": {"zh_Hans": "法律援助", "zh_Hant": "法律援助", "en": "Legal aid"}},
    # Talks and leaflets, not a queue: listed so the area's five functions show.
    {"key": "education", "prefix": "E", "counters": [], "minutes": 30, "queue": False,
     "label": {"zh_Hans": "法治宣传", "zh_Hant": "法治宣傳", "en": "Legal education"}},
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


def _int(raw: dict, name: str, default: int, low: int, high: int, where: str = "plugins.legal") -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}.{name} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _service(raw: dict, index: int) -> Service:
    where = f"plugins.legal.services[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table with key, label, prefix and counters")
    key = raw.get("key", "")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ConfigError(f"{where}.key must be lower-case letters, digits or _ (e.g. \"legal_aid\"), not {key!r}")
    label = raw.get("label")
    if isinstance(label, str):
        label = {"zh_Hans": label}
    if not isinstance(label, dict) or not label.get("zh_Hans") or not all(isinstance(v, str) for v in label.values()):
        raise ConfigError(f"{where}.label needs at least zh_Hans, e.g. {{ zh_Hans = \"法律咨询\" }}")
    prefix = raw.get("prefix", "")
    if not isinstance(prefix, str) or not re.match(r"^[A-Z]$", prefix):
        raise ConfigError(f"{where}.prefix must be one capital letter (A–Z), not {prefix!r}")
    counters = raw.get("counters", [])
    if not isinstance(counters, list) or not all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 99
                                                 for c in counters):
        raise ConfigError(f"{where}.counters must be a list of counter numbers 1–99, e.g. [1, 2]")
    queue = raw.get("queue", True)
    if not isinstance(queue, bool):
        raise ConfigError(f"{where}.queue must be true or false")
    if queue and not counters:
        raise ConfigError(f"{where} ({key}) is a queue but has no counters; list them, or set queue = false")
    return Service(key=key, label=dict(label), prefix=prefix, counters=tuple(sorted(set(counters))),
                   minutes=_int(raw, "minutes", 15, 1, 480, where), queue=queue)


def parse(raw: dict | None) -> LegalSettings:
    """Validate ``[plugins.legal]``; raise ConfigError naming the setting to fix."""
    raw = dict(raw or {})
    services_raw = raw.get("services", DEFAULT_SERVICES)
    if not isinstance(services_raw, (list, tuple)) or not services_raw:
        raise ConfigError("plugins.legal.services must be a non-empty list of services")
    services = tuple(_service(dict(s) if isinstance(s, dict) else s, i) for i, s in enumerate(services_raw))
    keys = [s.key for s in services]
    if len(set(keys)) != len(keys):
        raise ConfigError("plugins.legal.services: every service needs its own key")
    prefixes = [s.prefix for s in services if s.queue]
    if len(set(prefixes)) != len(prefixes):
        # The prefix tells residents and the display which queue a number is in.
        raise ConfigError("plugins.legal.services: every queue needs its own prefix letter")
    voices = raw.get("voice", ["cmn"])
    if isinstance(voices, str):
        voices = [voices]
    if not isinstance(voices, list) or not all(v in VOICES for v in voices):
        raise ConfigError(f"plugins.legal.voice must be a list drawn from {', '.join(VOICES)}, e.g. [\"cmn\", \"yue\"]")
    flags = {}
    for name in ("print_tickets", "show_tile"):
        value = raw.get(name, True)
        if not isinstance(value, bool):
            raise ConfigError(f"plugins.legal.{name} must be true or false")
        flags[name] = value
    return LegalSettings(
        services=services,
        max_skips=_int(raw, "max_skips", 3, 0, 50),
        no_show_recall_minutes=_int(raw, "no_show_recall_minutes", 15, 0, 240),
        voices=tuple(voices),
        voice_repeat=_int(raw, "voice_repeat", 2, 1, 3),
        display_rows=_int(raw, "display_rows", 6, 1, 20),
        booking_days=_int(raw, "booking_days", 7, 1, 60),
        checkin_early_minutes=_int(raw, "checkin_early_minutes", 60, 0, 480),
        checkin_late_minutes=_int(raw, "checkin_late_minutes", 15, 0, 240),
        estimate_window=_int(raw, "estimate_window", 10, 1, 100),
        by_key={s.key: s for s in services},
        **flags,
    )
