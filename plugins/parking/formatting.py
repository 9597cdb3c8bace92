"""Showing times, days and money the way each language writes them.

Dates are written with Babel's CLDR patterns (5月20日周一 / 5月20日週一 /
Mon, May 20), always in the station's time zone. Babel is imported with the
first date written, not by every worker as it starts (half a MiB of code a
kiosk that shows no parking dates never runs).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from kiosk.clock import hhmm
from kiosk.i18n import _, current_locale
from kiosk_plugins.parking.schedule import ALL_DAYS, crosses_midnight

BABEL_LOCALES = {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant_HK", "en": "en"}


def babel_locale(locale: str | None = None) -> str:
    """The Babel locale of a kiosk language."""
    return BABEL_LOCALES.get(locale or current_locale(), "zh_Hans_CN")


@lru_cache(maxsize=8)
def _month_day_pattern(locale: str):
    # Resolving the CLDR skeleton costs ten times the formatting itself: once per language.
    from babel import Locale

    parsed = Locale.parse(locale)
    return parsed, parsed.datetime_skeletons["MMMEd"]


def month_day(moment) -> str:
    """``5月20日周一`` / ``5月20日週一`` / ``Mon, May 20``."""
    from babel.dates import format_date

    parsed, pattern = _month_day_pattern(babel_locale())
    return format_date(moment, pattern, locale=parsed)


@lru_cache(maxsize=8)
def _day_names(locale: str) -> dict:
    """Babel's abbreviated weekday names of ``locale`` (0 = Monday)."""
    from babel.dates import get_day_names

    return dict(get_day_names("abbreviated", locale=locale))


def money(cents: int) -> str:
    """Fen to a price: ``10 元`` / ``10.50 元`` (``¥10`` in English)."""
    amount = f"{cents // 100}" if cents % 100 == 0 else f"{cents / 100:.2f}"
    return _("%(amount)s yuan", amount=amount)


def day_text(day: date, today: date | None = None) -> str:
    """``今天 5月20日周一``: the date, with today/tomorrow said in words."""
    when = month_day(day)
    if today is not None:
        if day == today:
            return _("Today") + " " + when
        if day == today + timedelta(days=1):
            return _("Tomorrow") + " " + when
    return when


def occurrence_parts(starts_at: datetime, ends_at: datetime, tz, today: date | None = None) -> tuple[str, str]:
    """``("今天 5月20日周一", "19:00 – 次日 08:00")``: the day, then the hours."""
    start_local, end_local = starts_at.astimezone(tz), ends_at.astimezone(tz)
    span = f"{hhmm(tz, starts_at)} – "
    if end_local.date() == start_local.date():
        span += hhmm(tz, ends_at)
    elif end_local.date() == start_local.date() + timedelta(days=1):
        span += _("next day") + " " + hhmm(tz, ends_at)
    else:
        span += day_text(end_local.date()) + " " + hhmm(tz, ends_at)
    return day_text(start_local.date(), today), span


def occurrence_text(starts_at: datetime, ends_at: datetime, tz, today: date | None = None) -> str:
    """``今天 5月20日周一 19:00 – 次日 08:00``."""
    return " ".join(occurrence_parts(starts_at, ends_at, tz, today))


def moment_text(moment: datetime, tz) -> str:
    """``5月20日周一 21:13`` for a past or future instant."""
    local = moment.astimezone(tz)
    return f"{month_day(local.date())} {local.strftime('%H:%M')}"


def weekdays_text(weekdays: str) -> str:
    """``每天`` / ``周六、周日`` / ``Mon, Tue``."""
    if weekdays == ALL_DAYS:
        return _("Every day")
    names = _day_names(babel_locale())
    sep = ", " if current_locale() == "en" else "、"
    return sep.join(names[int(d)] for d in weekdays)


def day_names() -> list[str]:
    """Monday to Sunday, abbreviated, in the request's language."""
    names = _day_names(babel_locale())
    return [names[i] for i in range(7)]


def window_text(window) -> str:
    """``每天 19:00 – 次日 08:00``."""
    end = window.end_time
    if crosses_midnight(window):
        end = _("next day") + " " + end
    return f"{weekdays_text(window.weekdays)} {window.start_time} – {end}"
