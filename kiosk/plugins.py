"""Finding, loading and calling plugins.

Every plugin, built-in or third-party, is a module named by an entry point in
the ``kiosk.plugins`` group and registered the same way. A fresh plugin manager
is made per application; a misspelled hook implementation fails at start
(``check_pending``) instead of never running.

Calls into plugins go through :meth:`KioskPlugins.call`, which isolates each
plugin: one that raises is reported by name and skipped for the rest of the
request (or, at start, disabled for the station) while the kiosk carries on.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
import types
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


@dataclass
class StaffPanel:
    plugin: str
    key: str
    title: object
    render: object
    order: int = 100


class PluginError(Exception):
    """A plugin handed the core something it cannot use."""


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
                wanted = int(part[len(op):].strip())
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
        found = []
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
                attr for attr, value in vars(module).items()
                if type(value) is types.FunctionType and getattr(value, "kiosk_impl", None) is not None
                and not hasattr(self.pm.hook, attr)
            ]
            if unknown:
                # A misspelled hook would silently never run: refuse the plugin at start.
                self._fail(info, "register", PluginError(
                    f"implements unknown hook(s) {', '.join(sorted(unknown))}; see kiosk/hookspecs.py"))
                continue
            try:
                self.pm.register(module, name=name)
            except Exception as exc:
                self._fail(info, "register", exc)
                continue
        # A hook implementation whose name matches no spec is a typo: fail loudly.
        self.pm.check_pending()
        log.info(
            "Registered hooks from %d installed plugin(s): %s",
            len(self.enabled_names()),
            ", ".join(f"{i.name}-{i.version or '?'}" for i in self.infos.values() if i.state == "enabled"),
        )

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

    def call(self, hook: str, *, firstresult: bool = False, station=None, per_plugin=None, **kwargs):
        """Call ``hook`` on each plugin, isolating failures.

        Returns a list of ``(plugin_name, result)`` for results that are not
        ``None``, or with ``firstresult`` the first such result (or ``None``).
        Plugins switched off for ``station`` are not called. ``per_plugin(name)``
        may supply arguments made for each plugin, such as a ``register``
        callback that knows who is registering.
        """
        caller = getattr(self.pm.hook, hook)
        skipped = self._skipped()
        results = []
        # pluggy calls the most recently registered implementation first.
        for impl in reversed(caller.get_hookimpls()):
            name = impl.plugin_name
            if name in skipped:
                continue
            if station is not None and not station.plugin_enabled(name):
                continue
            available = dict(kwargs, station=station) if station is not None else dict(kwargs)
            if per_plugin is not None:
                available.update(per_plugin(name))
            args = {a: available[a] for a in impl.argnames if a in available}
            try:
                result = impl.function(**args)
            except Exception as exc:
                self.record_fault(name, hook, exc)
                continue
            if result is None:
                continue
            if firstresult:
                return result
            results.append((name, result))
        return None if firstresult else results

    def call_startup(self, hook: str, per_plugin=None, **kwargs) -> None:
        """Call a start-up hook; a plugin that raises is disabled for the station."""
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            available = dict(kwargs)
            if per_plugin is not None:
                available.update(per_plugin(impl.plugin_name))
            args = {a: available[a] for a in impl.argnames if a in available}
            try:
                impl.function(**args)
            except Exception as exc:
                self.record_fault(impl.plugin_name, hook, exc)
                self.disable(impl.plugin_name, f"{hook}: {type(exc).__name__}: {exc}")

    def plugin_of(self, module_name: str) -> str | None:
        """The plugin a module belongs to, by module name."""
        for info in self.infos.values():
            if info.module and (module_name == info.module or module_name.startswith(info.module + ".")):
                return info.name
        return None
