"""Finding, loading and calling plugins.

Every plugin, built-in or third-party, is a module named by an entry point in
the ``kiosk.plugins`` group and registered the same way. A fresh plugin manager
is made per application; a misspelled hook implementation fails at start
(``check_pending``) instead of never running.

Calls into plugins go through :meth:`KioskPlugins.call`, which calls pluggy's
hook caller (so ``firstresult`` hooks, ``tryfirst``/``trylast`` and wrappers
work as pluggy documents them) and isolates each plugin: every hook
implementation is guarded when its plugin registers, so one that raises is
reported by name and skipped for the rest of the request (or, at start,
disabled for the station) while the others still answer.
"""

from __future__ import annotations

import contextvars
import difflib
import logging
import os
import threading
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

import pluggy
from flask import g, has_request_context

from kiosk import API_VERSION, hookspecs

log = logging.getLogger("kiosk.plugins")

ENTRY_POINT_GROUP = "kiosk.plugins"


@dataclass
class PluginInfo:
    """What the admin page and ``kiosk plugins list`` show about one plugin."""

    name: str
    version: str = ""
    module: str = ""
    state: str = "enabled"  # enabled | disabled | failed | incompatible
    error: str = ""
    faults: int = 0
    last_fault: str = ""
    path: str = ""
    requires_api: str = ""


@dataclass
class Tile:
    """A home-screen tile contributed by a plugin."""

    plugin: str
    key: str
    label: object
    endpoint: str
    icon: str = ""
    order: int = 100
    url_values: dict = field(default_factory=dict)
    #: Filled in by the shell for the current request: the link, the label's text, the icon's address.
    url: str = ""
    text: str = ""
    icon_url: str = ""


@dataclass
class StaffPanel:
    plugin: str
    key: str
    title: object
    render: Callable[[], str]
    order: int = 100


class PluginError(Exception):
    """A plugin handed the core something it cannot use."""


@dataclass
class _Call:
    """One :meth:`KioskPlugins.call` (or ``call_startup``) in progress.

    The guards around the plugins' implementations read it to hand each plugin
    its own ``per_plugin`` arguments and to note who answered what.
    """

    hook: str
    per_plugin: Callable[[str], dict] | None = None
    startup: bool = False
    answers: list = field(default_factory=list)  # (plugin, result) as given


#: The call in progress in this thread (or task); nested hook calls each set their own.
_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("kiosk_plugin_call", default=None)


def api_compatible(spec: str, version: int = API_VERSION) -> bool:
    """Whether ``version`` meets a requirement like ``">=1,<2"`` or ``"1"``."""
    ops = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        "==": lambda a, b: a == b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
    }
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        for op in (">=", "<=", "==", ">", "<"):
            if part.startswith(op):
                wanted = int(part[len(op) :].strip())
                break
        else:
            op, wanted = "==", int(part)
        if not ops[op](version, wanted):
            return False
    return True


class KioskPlugins:
    """The plugin manager of one app (``app.extensions["kiosk_plugins"]``)."""

    def __init__(self, disabled=(), extra_modules=None):
        self.pm = pluggy.PluginManager("kiosk")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.migration_paths: list[str] = []
        self.translation_paths: list[tuple[str, str]] = []
        self.receipt_layouts: dict[str, tuple[str, object]] = {}
        self.jobs: list[dict] = []
        self._lock = threading.Lock()
        self._load(set(disabled), extra_modules or {})

    # -- loading ---------------------------------------------------------
    def _load(self, disabled: set, extra_modules: dict) -> None:
        found: list[tuple[str, metadata.EntryPoint | types.ModuleType]] = []
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in {f[0] for f in found}:
                continue  # the same distribution seen twice on sys.path
            found.append((ep.name, ep))
        for name, module in extra_modules.items():
            found.append((name, module))
        for name, source in found:
            info = PluginInfo(name=name)
            self.infos[name] = info
            if isinstance(source, metadata.EntryPoint):
                info.module = source.value
                dist = getattr(source, "dist", None)
                info.version = dist.version if dist else ""
            if name in disabled:
                info.state = "disabled"
                self._keep_migrations(info, source)
                continue
            try:
                module = source.load() if isinstance(source, metadata.EntryPoint) else source
            except Exception as exc:  # an uninstallable plugin must not stop the kiosk
                self._fail(info, "import", exc)
                continue
            info.module = module.__name__
            info.path = os.path.dirname(getattr(module, "__file__", "") or "")
            info.version = info.version or str(getattr(module, "__version__", ""))
            info.requires_api = str(getattr(module, "KIOSK_API", ""))
            if info.requires_api and not self._api_ok(info):
                continue
            # type() rather than isinstance(): a module may hold Flask's proxies
            # (request, g), which raise when inspected outside a request.
            unknown = [
                attr
                for attr, value in vars(module).items()
                if type(value) is types.FunctionType
                and getattr(value, "kiosk_impl", None) is not None
                and not hasattr(self.pm.hook, attr)
            ]
            if unknown:
                # A misspelled hook would silently never run: refuse the plugin at start.
                self._fail(info, "register", PluginError(self._unknown_hooks_message(unknown)))
                continue
            try:
                self.pm.register(module, name=name)
            except Exception as exc:
                self._fail(info, "register", exc)
                continue
            self._guard(name)
        # A hook implementation whose name matches no spec is a typo: fail loudly.
        self.pm.check_pending()
        log.info(
            "Registered hooks from %d installed plugin(s): %s",
            len(self.enabled_names()),
            ", ".join(f"{i.name}-{i.version or '?'}" for i in self.infos.values() if i.state == "enabled"),
        )

    def _unknown_hooks_message(self, unknown: list[str]) -> str:
        """Names the misspelled hooks, each with the nearest real hook name, and where hooks are listed."""
        hooks = [n for n in vars(self.pm.hook) if not n.startswith("_")]
        named = []
        for attr in sorted(unknown):
            nearest = difflib.get_close_matches(attr, hooks, n=1, cutoff=0.6)
            named.append(f"{attr} (did you mean {nearest[0]}?)" if nearest else attr)
        return f"implements unknown hook(s) {', '.join(named)}; every hook is listed in docs/hooks.md"

    def _keep_migrations(self, info: PluginInfo, source) -> None:
        """A disabled plugin's tables still belong to the database's history.

        Switching a plugin off must neither drop its data nor leave Alembic
        unable to find the revisions the database already has, so its
        migrations stay registered while none of its other hooks run.
        """
        try:
            module = source.load() if isinstance(source, metadata.EntryPoint) else source
            hook = getattr(module, "register_migrations", None)
            if hook is not None and getattr(hook, "kiosk_impl", None) is not None:
                hook(register=self.migration_paths.append)
        except Exception as exc:
            log.warning("could not read the migrations of disabled plugin %s: %s", info.name, exc)

    def _api_ok(self, info: PluginInfo) -> bool:
        try:
            ok = api_compatible(info.requires_api)
        except ValueError:
            ok = False
        if not ok:
            info.state = "incompatible"
            info.error = (
                f"plugin {info.name} needs kiosk plugin API {info.requires_api}, "
                f"this kiosk provides API {API_VERSION}; upgrade the plugin or the kiosk"
            )
            log.error("refused plugin %s: %s", info.name, info.error)
        return ok

    def _fail(self, info: PluginInfo, where: str, exc: BaseException) -> None:
        info.state = "failed"
        info.error = f"{where}: {type(exc).__name__}: {exc}"
        log.error("plugin %s disabled for this station (%s)", info.name, info.error)
        if self.pm.get_plugin(info.name) is not None:
            self.pm.unregister(name=info.name)

    def enabled_names(self) -> list[str]:
        return [n for n, i in self.infos.items() if i.state == "enabled"]

    def disable(self, name: str, reason: str) -> None:
        """Take a plugin out for the life of this app (it failed at start)."""
        info = self.infos[name]
        info.state = "failed"
        info.error = reason
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)

    # -- calling ---------------------------------------------------------
    def _skipped(self) -> set:
        if has_request_context():
            return g.setdefault("kiosk_failed_plugins", set())
        return set()

    def record_fault(self, plugin: str, hook: str, exc: BaseException) -> None:
        """Note that ``plugin`` raised in ``hook``; the admin page and /healthz show it."""
        info = self.infos.get(plugin)
        with self._lock:
            if info is not None:
                info.faults += 1
                info.last_fault = f"{hook}: {type(exc).__name__}: {exc}"
        log.error(
            "plugin %s raised in %s: %s\n%s",
            plugin,
            hook,
            exc,
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6)),
        )
        if has_request_context():
            self._skipped().add(plugin)

    def call(self, hook: str, *, firstresult: bool | None = None, station=None, per_plugin=None, **kwargs):
        """Call ``hook`` through pluggy's hook caller, isolating failures.

        Returns a list of ``(plugin_name, result)`` for results that are not
        ``None``; for a ``firstresult`` hook (as its hookspec says) the first
        such result, or ``None``. ``firstresult`` may be given to state what
        the caller expects; it must agree with the hookspec. Plugins switched
        off for ``station``, or that raised earlier in this request, are not
        called. ``per_plugin(name)`` may supply arguments made for each plugin,
        such as a ``register`` callback that knows who is registering.
        Wrappers (``wrapper=True`` or ``hookwrapper=True``) run around the
        call and see the results; pluggy orders implementations by
        ``tryfirst``/``trylast``, then the last registered first.
        """
        caller = getattr(self.pm.hook, hook)
        spec_first = bool(caller.spec is not None and caller.spec.opts.get("firstresult"))
        if firstresult is not None and bool(firstresult) != spec_first:
            raise TypeError(
                f"hook {hook} is {'' if spec_first else 'not '}a firstresult hook "
                f"(see docs/hooks.md); call it without firstresult="
            )
        if not caller.get_hookimpls():
            # No plugin implements it (a wrapper would be listed too): what pluggy would answer,
            # without working out whom to leave out and building the call for nobody.
            return None if spec_first else []
        left_out = self._left_out(caller, station)
        if left_out:
            caller = self.pm.subset_hook_caller(hook, left_out)
        available = dict(kwargs, station=station) if station is not None else dict(kwargs)
        call = _Call(hook, per_plugin)
        results = self._run(caller, call, available)
        return results if spec_first else _named(results, call.answers)

    def call_startup(self, hook: str, per_plugin=None, **kwargs) -> None:
        """Call a start-up hook; a plugin that raises is disabled for the station."""
        self._run(getattr(self.pm.hook, hook), _Call(hook, per_plugin, startup=True), dict(kwargs))

    def _left_out(self, caller, station) -> list:
        """The plugins not to call: those that raised in this request, those off for ``station``."""
        skipped = self._skipped()
        names = {impl.plugin_name for impl in caller.get_hookimpls()}
        out = {n for n in names if n in skipped or (station is not None and not station.plugin_enabled(n))}
        return [self.pm.get_plugin(n) for n in sorted(out) if self.pm.get_plugin(n) is not None]

    def _run(self, caller, call: _Call, available: dict):
        # Every argument the hookspec names is passed (None when the caller has
        # none): pluggy refuses the whole call when an implementation asks for
        # an argument the call lacks, and per_plugin ones are filled per plugin.
        names = caller.spec.argnames if caller.spec is not None else tuple(available)
        token = _CALL.set(call)
        try:
            return caller(**{a: available.get(a) for a in names})
        finally:
            _CALL.reset(token)

    # -- isolation -------------------------------------------------------
    def _guard(self, name: str) -> None:
        """Put a guard around each hook implementation of plugin ``name``.

        pluggy calls implementations one after another and stops at the first
        exception; the guard records it by plugin name and answers ``None``
        instead, so the others still answer. Replacing ``HookImpl.function``
        keeps pluggy's ordering, ``firstresult`` and wrappers untouched.
        """
        plugin = self.pm.get_plugin(name)
        for caller in self.pm.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    guarded = (
                        self._guarded_wrapper(impl, caller.name)
                        if impl.wrapper or impl.hookwrapper
                        else self._guarded_function(impl, caller.name)
                    )
                    impl.function = guarded

    def _fault(self, name: str, hook: str, exc: BaseException, call: _Call | None) -> None:
        self.record_fault(name, hook, exc)
        if call is not None and call.startup:
            self.disable(name, f"{hook}: {type(exc).__name__}: {exc}")

    @staticmethod
    def _arguments(impl, args) -> tuple[dict, _Call | None]:
        given = dict(zip(impl.argnames, args, strict=True))
        call = _CALL.get()
        if call is not None and call.per_plugin is not None:
            given.update((k, v) for k, v in call.per_plugin(impl.plugin_name).items() if k in impl.argnames)
        return given, call

    def _guarded_function(self, impl, hook: str):
        function, name = impl.function, impl.plugin_name

        def guarded(*args):
            given, call = self._arguments(impl, args)
            try:
                result = function(**given)
            except Exception as exc:
                if _database_unavailable(exc):
                    raise  # not the plugin's fault: the request answers "temporarily unavailable"
                self._fault(name, hook, exc, call)
                return None
            if result is not None and call is not None:
                call.answers.append((name, result))
            return result

        return guarded

    def _guarded_wrapper(self, impl, hook: str):
        function, name, old_style = impl.function, impl.plugin_name, impl.hookwrapper

        def guarded(*args):
            given, call = self._arguments(impl, args)
            try:
                inner = function(**given)
                next(inner)
            except StopIteration:
                self._fault(name, hook, PluginError("the wrapper did not yield"), call)
                return (yield)
            except Exception as exc:  # before the call: the call goes on without this wrapper
                if _database_unavailable(exc):
                    raise
                self._fault(name, hook, exc, call)
                return (yield)
            try:
                outcome = yield
            except BaseException as exc:
                # The call itself failed (implementations are guarded, so not a plugin's
                # Exception): the wrapper may handle it, as pluggy lets it.
                try:
                    inner.throw(exc)
                except StopIteration as stop:
                    return stop.value
                inner.close()
                raise
            try:
                inner.send(outcome)
            except StopIteration as stop:
                if old_style:
                    return None  # an old-style wrapper changes the outcome it was sent
                if call is not None and isinstance(outcome, list) and isinstance(stop.value, list):
                    call.answers.extend((name, r) for r in stop.value if not any(r is o for o in outcome))
                return stop.value
            except Exception as exc:  # after the call: the results stand as they were
                self._fault(name, hook, exc, call)
                return None if old_style else outcome
            inner.close()
            self._fault(name, hook, PluginError("the wrapper yielded twice"), call)
            return None if old_style else outcome

        return guarded

    def plugin_of(self, module_name: str) -> str | None:
        """The plugin a module belongs to, by module name."""
        for info in self.infos.values():
            if info.module and (module_name == info.module or module_name.startswith(info.module + ".")):
                return info.name
        return None


def _named(results: list, answers: list) -> list[tuple[str, object]]:
    """Pair each result of a hook call with the plugin that gave it (or the wrapper that added it).

    Matched by identity, in order, so a wrapper that drops or reorders results
    keeps every name right.
    """
    pool = list(answers)
    named = []
    for result in results:
        for i, (plugin, answer) in enumerate(pool):
            if answer is result:
                named.append((plugin, result))
                del pool[i]
                break
        else:
            named.append(("", result))  # made by something that is no plugin: keep it
    return named


def _database_unavailable(exc: BaseException) -> bool:
    """Whether a hook failed because the database is away (an outage, not a fault of the plugin)."""
    from kiosk.db import unavailable

    return unavailable(exc)
