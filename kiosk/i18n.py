"""Translations: Simplified Chinese first, then Traditional Chinese and English.

Message ids are English. Catalogs are gettext ``.po`` files, read with Babel
when a language is first used: ``kiosk/translations/<locale>/LC_MESSAGES/messages.po``
for the core and the same layout inside each plugin. Templates use
``{{ _("...") }}`` and ``{% trans %}``; Python uses :func:`gettext` (``_``)
and :func:`lazy_gettext` at import time.

Which catalog translates a message is decided by who wrote it, never by where
it is shown: a message in a plugin's module or template is looked up in that
plugin's catalog first, then the core's. So "Mobile" in a plugin's receipt
layout reads the same whether a page, a job or another plugin's hook builds
the receipt. The core's own messages use the core's catalog everywhere. Only
code that is neither (a test, a template given as a string) falls back to the
request's plugin: the panel being rendered, else the page's blueprint.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import threading
from types import FrameType

from flask import current_app, g, has_request_context, request, session
from jinja2 import pass_context
from markupsafe import Markup

__all__ = [
    "gettext",
    "_",
    "N_",
    "ngettext",
    "lazy_gettext",
    "LazyString",
    "localized",
    "current_locale",
    "LOCALES",
    "DEFAULT_LOCALE",
    "LOCALE_NAMES",
]

LOCALES = ("zh_Hans", "zh_Hant", "en")
DEFAULT_LOCALE = "zh_Hans"
#: The names shown on the language switch, each in its own language.
LOCALE_NAMES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}
#: For the <html lang> attribute and speech.
HTML_LANG = {"zh_Hans": "zh-CN", "zh_Hant": "zh-HK", "en": "en"}

CORE_TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")


class Catalogs:
    """The loaded catalogs per domain (the core, each plugin) and locale (``app.extensions["i18n"]``).

    A plugin's messages are looked up in its own catalog first, then the
    core's: two plugins may translate the same English id differently ("Name"
    is 姓名 for a rider, 名称 for a car park).
    """

    #: Bumped when the cached form of a catalog changes.
    CACHE_FORMAT = 1

    def __init__(self, cache_dir: str | None = None):
        #: Where each catalog's messages are kept once parsed (Babel takes some
        #: 35 ms a language at every start); ``None``: parse every time.
        self.cache_dir = cache_dir
        self.domains: dict[str | None, dict[str, dict[str, str]]] = {}
        self._messages: dict[str, dict[str, str]] = {loc: {} for loc in LOCALES}
        self.sources: list[str] = []
        self._folders: list[tuple[str, str | None]] = []
        # Each language is read when first asked for: reading every catalog of
        # every language took 20 ms of each start, and most kiosks run in one.
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        #: Module name or template file → the domain that owns it (see :func:`owner_of`).
        self.owners: dict[str, object] = {}

    @property
    def messages(self) -> dict[str, dict[str, str]]:
        """Every catalog merged (first wins) per locale, for text shown outside any plugin's page."""
        for loc in LOCALES:
            self._load(loc)
        return self._messages

    def add_folder(self, path: str, domain: str | None = None) -> None:
        """Add ``<path>/<locale>/LC_MESSAGES/messages.po`` for each locale present."""
        self.domains.setdefault(domain, {loc: {} for loc in LOCALES})
        with self._lock:
            self._folders.append((path, domain))
            for loc in self._loaded:
                self._read(path, domain, loc)
        self.sources.append(path)

    def _load(self, locale: str) -> None:
        """Read every added folder's catalog of ``locale``, once."""
        if locale in self._loaded:
            return
        with self._lock:
            if locale in self._loaded or locale not in self._messages:
                return
            for path, domain in self._folders:
                self._read(path, domain, locale)
            self._loaded.add(locale)

    def _read(self, path: str, domain: str | None, loc: str) -> None:
        """Merge one folder's catalog of ``loc`` into its domain's table and the merged one."""
        po = os.path.join(path, loc, "LC_MESSAGES", "messages.po")
        try:
            stat = os.stat(po)
        except OSError:
            return
        tables = self.domains[domain]
        for key, value in self._pairs(po, stat):
            tables[loc].setdefault(key, value)
            self._messages[loc].setdefault(key, value)

    def _pairs(self, po: str, stat: os.stat_result) -> list[tuple[str, str]]:
        """The (English id, translation) pairs of one ``.po`` file, from the cache when it is current."""
        stamp = (self.CACHE_FORMAT, os.path.abspath(po), stat.st_mtime_ns, stat.st_size)
        cached = None
        if self.cache_dir:
            cached = os.path.join(self.cache_dir, f"catalog-{_digest(stamp[1])}.marshal")
            try:
                with open(cached, "rb") as fh:
                    found_stamp, pairs = marshal.load(fh)
                if tuple(found_stamp) == stamp:
                    return pairs
            except (OSError, EOFError, ValueError, TypeError):
                pass  # missing, stale or damaged: parse the catalog again
        pairs = parse_po(po)
        if cached and self.cache_dir:
            try:
                os.makedirs(self.cache_dir, exist_ok=True)
                temporary = f"{cached}.{os.getpid()}.{threading.get_ident()}.tmp"
                with open(temporary, "wb") as fh:
                    marshal.dump((stamp, pairs), fh)
                os.replace(temporary, cached)  # another worker never reads half a file
            except OSError:
                pass  # a read-only instance folder costs a parse at each start, nothing else
        return pairs

    def gettext(self, locale: str, message: str, domain: str | None = None) -> str:
        self._load(locale)
        if domain is not None:
            found = self.domains.get(domain, {}).get(locale, {}).get(message)
            if found:
                return found
        found = self.domains.get(None, {}).get(locale, {}).get(message)
        if found:
            return found
        return self._messages.get(locale, {}).get(message, message)


def parse_po(po: str) -> list[tuple[str, str]]:
    """The translated messages of one ``.po`` file (fuzzy and empty ones left out)."""
    from babel.messages.pofile import read_po  # 8 ms of import, needed only when the cache is stale

    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=None)
    pairs: list[tuple[str, str]] = []
    for message in catalog:
        if not message.id or message.fuzzy or not message.string:
            continue
        if isinstance(message.id, tuple):
            # Chinese has one form; the plural id maps to the last one given.
            strings = message.string if isinstance(message.string, tuple) else (str(message.string),)
            candidates = [(str(message.id[0]), strings[0]), (str(message.id[1]), strings[-1])]
        else:
            candidates = [(str(message.id), str(message.string))]
        pairs.extend((key, value) for key, value in candidates if value)
    return pairs


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def current_domain() -> str | None:
    """The plugin whose page (or panel) is being rendered, if any.

    Only text whose author is unknown (see the module's docstring) is
    translated by this domain; a plugin's or the core's own text is not.
    """
    if not has_request_context():
        return None
    domain = g.get("i18n_domain")
    if domain is not None:
        return domain
    if request.blueprint:
        owner = current_app.extensions.get("blueprint_areas", {}).get(request.blueprint.split(".")[0])
        if owner is not None:
            return owner[0]
    return None


#: An owner lookup found neither a plugin nor the core: use :func:`current_domain`.
_UNOWNED = object()
_CORE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")


def _module_domain(module: str | None, app=None):
    """The plugin whose Python module this is, ``None`` for the core's, else ``_UNOWNED``."""
    if not module:
        return _UNOWNED
    app = app or current_app
    owners = app.extensions["i18n"].owners
    found = owners.get(module, owners)  # the dict itself: "not looked up yet"
    if found is owners:
        plugins = app.extensions.get("kiosk_plugins")
        found = plugins.plugin_of(module) if plugins is not None else None
        if found is None:
            found = None if module == "kiosk" or module.startswith("kiosk.") else _UNOWNED
        owners[module] = found
    return found


def _file_domain(filename: str | None):
    """The plugin whose package holds this template file, ``None`` for the core's, else ``_UNOWNED``."""
    if not filename or not os.path.isabs(filename):
        return _UNOWNED  # a template given as a string
    owners = current_app.extensions["i18n"].owners
    found = owners.get(filename, owners)
    if found is owners:
        found = _UNOWNED
        plugins = current_app.extensions.get("kiosk_plugins")
        for info in plugins.infos.values() if plugins is not None else ():
            if info.path and filename.startswith(os.path.join(info.path, "")):
                found = info.name
                break
        else:
            if filename.startswith(_CORE_DIR):
                found = None
        owners[filename] = found
    return found


def _resolved(found) -> str | None:
    return current_domain() if found is _UNOWNED else found


def _caller_domain(depth: int) -> str | None:
    """The domain of the Python code ``depth`` frames above the caller."""
    return _resolved(_module_domain(sys._getframe(depth + 1).f_globals.get("__name__")))


def _template_domain(context) -> str | None:
    """The domain of the template whose code called the caller (not the page's outermost template).

    A block a plugin's page fills in the core's ``base.html`` is the plugin's
    text, and the base's own text stays the core's: compiled template code
    runs with its template's file as ``__file__`` next to its environment.
    """
    frame: FrameType | None = sys._getframe(2)
    for _hop in range(8):  # the template is a few of Jinja's calls away
        if frame is None:
            break
        namespace = frame.f_globals
        if namespace.get("environment") is context.environment and "__file__" in namespace:
            return _resolved(_file_domain(namespace["__file__"]))
        frame = frame.f_back
    return current_domain()


def _translate(message: str, domain: str | None, variables: dict, app=None) -> str:
    text = (app or current_app).extensions["i18n"].gettext(current_locale(), message, domain)
    return text % variables if variables else text


def current_locale() -> str:
    """The language of this request: the user's choice, else the station's first."""
    if not has_request_context():
        return DEFAULT_LOCALE
    request_g = g._get_current_object()  # type: ignore[attr-defined]
    loc = request_g.get("locale")
    if loc:
        return loc
    loc = session.get("lang")
    langs = current_app.config["STATION"]["languages"]
    if loc not in langs:
        loc = langs[0] if langs else DEFAULT_LOCALE
    request_g.locale = loc
    return loc


def gettext(message: str, **variables) -> str:
    """Translate ``message`` into the request's language; ``%(name)s`` filled from kwargs.

    The catalog is that of the plugin whose module calls this (then the
    core's), wherever the text ends up: a page, a job, a receipt.
    """
    # The app once for both lookups (the caller's catalog, the text), not through its proxy at each.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    domain = _resolved(_module_domain(sys._getframe(1).f_globals.get("__name__"), app))
    return _translate(message, domain, variables, app)


_ = gettext


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet."""
    return message


def ngettext(singular: str, plural: str, num: int, **variables) -> str:
    """``singular`` or ``plural`` translated by ``num``; ``%(num)s`` is filled in too."""
    # Chinese has no plural forms; English picks by number.
    variables.setdefault("num", num)
    return _translate(singular if num == 1 else plural, _caller_domain(1), variables)


class LazyString:
    """A message translated when it is shown, for strings defined at import time.

    It is translated by the catalog of the module that made it (see :func:`lazy_gettext`).
    """

    def __init__(self, message: str, **variables):
        self.message = message
        self.variables = variables
        #: The module whose catalog translates the message.
        self.module = sys._getframe(1).f_globals.get("__name__")

    def __str__(self) -> str:
        return _translate(self.message, _resolved(_module_domain(self.module)), self.variables)

    def __html__(self) -> str:
        return str(Markup.escape(str(self)))

    def __repr__(self) -> str:
        return f"LazyString({self.message!r})"

    def __eq__(self, other):
        return str(self) == str(other)

    def __hash__(self):
        return hash(self.message)


def lazy_gettext(message: str, **variables) -> LazyString:
    """A :class:`LazyString` for ``message``, translated by the calling module's plugin when shown."""
    lazy = LazyString(message, **variables)
    lazy.module = sys._getframe(1).f_globals.get("__name__")
    return lazy


def localized(value, locale: str | None = None, domain: str | None = None) -> str:
    """Text for a label given as a dict of locale → text, a message id, or a lazy string.

    ``domain``: the plugin that gave the label, whose catalog translates it;
    by default the plugin whose code (or template) calls this.
    """
    return _localized(value, locale, domain if domain is not None else _caller_domain(1))


def _localized(value, locale: str | None, domain: str | None) -> str:
    locale = locale or current_locale()
    if isinstance(value, dict):
        return value.get(locale) or value.get(DEFAULT_LOCALE) or next(iter(value.values()), "")
    if isinstance(value, str):
        return current_app.extensions["i18n"].gettext(locale, value, domain)
    return str(value)


# Templates' versions: the domain is the template's that holds the call.
@pass_context
def _template_gettext(context, message: str) -> str:
    return _translate(message, _template_domain(context), {})


@pass_context
def _template_ngettext(context, singular: str, plural: str, num: int) -> str:
    return _translate(singular if num == 1 else plural, _template_domain(context), {})


@pass_context
def _template_localized(context, value, locale: str | None = None, domain: str | None = None) -> str:
    return _localized(value, locale, domain if domain is not None else _template_domain(context))


def init_app(app, plugin_paths, cache_dir: str | None = None) -> None:
    """``plugin_paths``: ``(plugin name, folder)`` pairs; ``cache_dir``: where parsed catalogs are kept."""
    catalogs = Catalogs(cache_dir)
    catalogs.add_folder(CORE_TRANSLATIONS)
    for name, path in plugin_paths:
        catalogs.add_folder(path, domain=name)
    app.extensions["i18n"] = catalogs
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # Jinja's "newstyle" wrappers fill in %(name)s; ours only pick the catalog.
    app.jinja_env.install_gettext_callables(_template_gettext, _template_ngettext, newstyle=True)
    app.jinja_env.globals.update(
        current_locale=current_locale,
        localized=_template_localized,
        LOCALE_NAMES=LOCALE_NAMES,
        HTML_LANG=HTML_LANG,
    )
