"""The application factory: ``create_app(test_config=None)``."""

from __future__ import annotations

import logging
import os
import weakref
from inspect import iscoroutinefunction

from flask import Flask, abort, current_app, g, request, send_from_directory
from jinja2 import ChoiceLoader, FileSystemBytecodeCache, FileSystemLoader
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from kiosk import i18n, security
from kiosk.areas import AREAS
from kiosk.auth import load_user, require_role
from kiosk.config import ConfigError, configure, instance_path_default
from kiosk.db import Database, default_url
from kiosk.json_input import JSONProvider
from kiosk.plugins import KioskPlugins, PluginError

log = logging.getLogger("kiosk")

#: Seconds after which a "database unavailable" page loads itself again.
RETRY_SECONDS = 5


class LazyBuildRule(Rule):
    """A URL rule that writes its ``url_for`` builder when first asked to build.

    Werkzeug compiles two builder functions per rule when the rule is added:
    25 ms of every start for the kiosk's 130 rules, most of which a worker
    does not build for minutes, if ever.
    """

    def _compile_builder(self, append_unknown: bool = True):
        compile_now = super()._compile_builder
        built = None

        def build(*args, **kwargs):
            nonlocal built
            if built is None:
                built = compile_now(append_unknown)
            return built(*args, **kwargs)

        return build


class _KioskFlask(Flask):
    """Flask, asking once per hook or view whether it is ``async def`` instead of on every request.

    Flask's :meth:`~flask.Flask.ensure_sync` runs :func:`inspect.iscoroutinefunction` for
    each before/after-request hook, the view and the teardown of every request (eleven
    times, about ten Python calls each, on a ticket). The answer for a function never
    changes. The functions are held weakly: one made for a single request
    (``after_this_request``) is forgotten with it.
    """

    #: Request bodies nested deeper than the parser recurses are bad JSON (400), not a 500.
    json_provider_class = JSONProvider

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._is_async: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def ensure_sync(self, func):
        try:
            is_async = self._is_async[func]
        except KeyError:
            is_async = self._is_async[func] = iscoroutinefunction(func)
        except TypeError:  # not weakly referable: asked each time, as Flask does
            return super().ensure_sync(func)
        return self.async_to_sync(func) if is_async else func


def _instance_path() -> str:
    # KIOSK_INSTANCE_PATH, else instance/ in the current folder (never inside the virtual environment).
    return instance_path_default()


def create_app(test_config: dict | None = None) -> Flask:
    """Build a kiosk app: config, database, plugins, pages. No global state."""
    instance = (test_config or {}).get("INSTANCE_PATH") or _instance_path()
    app = _KioskFlask("kiosk", instance_path=instance, instance_relative_config=True)
    app.url_rule_class = LazyBuildRule
    configure(app, test_config)
    from kiosk import config_schema

    config_schema.enforce(app, test_config)  # the station file's and KIOSK_* mistakes, each with its line
    from kiosk import logs

    logs.set_process_station(app.config["STATION"]["code"])
    for sub in ("", "receipts", "uploads", "cache"):
        os.makedirs(os.path.join(app.instance_path, sub), exist_ok=True)
    app.secret_key = app.config["SECRET_KEY"]

    db = Database(
        app.config.get("DATABASE_URL") or default_url(app.instance_path),
        connections=app.config["DATABASE_CONNECTIONS"],
        prepare_threshold=app.config.get("DATABASE_PREPARE_THRESHOLD"),
    )
    db.init_app(app)

    plugins = KioskPlugins(
        disabled=app.config["PLUGINS"].get("disabled", []),
        extra_modules=app.config.get("EXTRA_PLUGINS"),
    )
    app.extensions["kiosk_plugins"] = plugins
    with app.app_context():  # so start-up hooks can read current_app.config
        _collect_static_registrations(app, plugins)

    # Parsed catalogs and compiled templates are kept between starts (a
    # worker's first page took some 70 ms to parse and compile them again).
    # CACHE_DIR puts them elsewhere: the tests share one folder between their
    # many apps, which otherwise compiled every template again for each test.
    cache = app.config.get("CACHE_DIR") or os.path.join(app.instance_path, "cache")
    i18n.init_app(app, plugins.translation_paths, cache_dir=cache)
    security.init_app(app)
    _template_loader(app, plugins)
    app.jinja_env.bytecode_cache = FileSystemBytecodeCache(cache, "template-%s.cache")

    from kiosk import admin, district, events, health, ime, offline, openapi, printing, readers, shell, staff
    from kiosk.auth import bp as auth_bp

    for bp in (
        shell.bp,
        auth_bp,
        staff.bp,
        admin.bp,
        district.bp,
        health.bp,
        events.bp,
        readers.bp,
        ime.bp,
        printing.bp,
        openapi.bp,
        offline.bp,
    ):
        app.register_blueprint(bp)
    ime.init_app(app)
    from kiosk import handwriting_views

    app.register_blueprint(handwriting_views.bp)  # the keyboard's handwriting pad (Zinnia, offline)
    from kiosk import speech

    speech.init_app(app)  # spoken guidance on kiosk screens
    from kiosk import terminals, terminals_admin

    terminals.init_app(app)  # enrolment, reader claims
    from kiosk import reader_hints

    reader_hints.init_app(app)  # reader_inputs(): card and scanner hints only at a terminal that has them
    app.register_blueprint(terminals_admin.bp)
    _register_plugin_blueprints(app, plugins)
    app.before_request(_before_request)
    _error_handlers(app)

    if app.config.get("AUTO_MIGRATE"):
        from kiosk import migrate

        migrate.ensure_current(app)
    from kiosk.stations import ensure_station

    with app.app_context():
        session = db.Session()
        try:
            app.extensions["kiosk_station_id"] = ensure_station(session, app.config).id
        except DBAPIError as exc:
            from kiosk import migrate

            if migrate.pending(app):
                raise ConfigError("the database is not migrated: run `kiosk db upgrade`") from exc
            raise
        finally:
            session.close()

    printing.init_app(app)
    events.init_app(app)
    readers.init_app(app)
    from kiosk import devices, jobs

    devices.init_app(app)
    jobs.init_app(app, _core_jobs(app))
    from kiosk.sync import core, pusher, views

    views.init_app(app)  # /sync/v1 (answers only on a hub)
    core.register(app)  # the core's sync kinds, the figures job, the hub's account publisher
    from kiosk import accounts

    accounts.init_app(app)  # /admin/accounts, /admin/audit, the audit trail's terminal, its retention job
    from kiosk import retention

    retention.init_app(app)  # the kinds of personal data, their periods, the daily purge
    pusher.init_app(app)  # a station's commits that recorded an entry wake its pusher
    with app.app_context():
        plugins.call_startup("kiosk_startup", app=app)
    openapi.init_app(app)
    from kiosk import metrics

    metrics.init_app(app)  # /metrics for Prometheus, request timing
    if app.config.get("RUN_JOBS"):
        app.extensions["kiosk_jobs_stop"] = jobs.start_scheduler(app)
        pusher.start(app)  # a station's sync with its hub (waits until the station is enrolled)
    from kiosk import ratelimit

    ratelimit.init_app(app)  # the 429 page; last: the trusted proxies' X-Forwarded-For, outermost
    return app


def close_app(app) -> None:
    """Stop what an app started (push listener, job scheduler, sync pusher, print worker, card readers)
    and close its database."""
    for name in ("kiosk_listener_stop", "kiosk_jobs_stop"):
        stop = app.extensions.get(name)
        if stop is not None:
            stop.set()
    sync_pusher = app.extensions.get("kiosk_sync_pusher")
    if sync_pusher is not None:
        sync_pusher.stop()  # it would go on asking a database that may be gone (a test's, dropped)
    printing = app.extensions.get("kiosk_printing")
    if printing is not None:
        printing.shutdown()
    devices = app.extensions.get("kiosk_devices")
    if devices is not None:
        devices.stop()  # reader threads would outlive the app (until exit) and hold their devices
    app.extensions["db"].dispose()


def _core_jobs(app) -> list[dict]:
    """The core's own scheduled jobs, each with its scope."""
    from kiosk import device_reports, events
    from kiosk.jobs import make_job
    from kiosk.sync import pusher

    core = [
        make_job("kiosk", "kiosk.prune_events", events.prune, every=3600, scope="any"),
        make_job("kiosk", "kiosk.sync.prune_outbox", pusher.prune_outbox, every=86400, scope="station"),
        make_job("kiosk", "kiosk.sync.prune_down", pusher.prune_down, every=86400, scope="hub"),
    ]
    if app.config.get("START_DEVICES"):
        # Only a process that holds devices has anything to report (never a hub: it has none).
        core.append(
            make_job(
                "kiosk",
                device_reports.job_name(app),
                device_reports.report,
                every=device_reports.REPORT_SECONDS,
                scope="station",
            )
        )
    return core


def _collect_static_registrations(app, plugins: KioskPlugins) -> None:
    """Ask every plugin for what it contributes once, at start."""

    def migrations(name):
        def register(path):
            if not os.path.isdir(path):
                raise PluginError(f"migrations folder {path} does not exist")
            _warn_register_migrations(name)
            plugins.migration_paths.append(path)

        return {"register": register}

    def translations(name):
        def register(path):
            plugins.translation_paths.append((name, path))

        return {"register": register}

    def layouts(name):
        def register(layout, build):
            if not callable(build):
                raise PluginError(f"receipt layout {layout} needs a callable builder")
            if layout in plugins.receipt_layouts:
                raise PluginError(f"receipt layout {layout} is already registered")
            plugins.receipt_layouts[layout] = (name, build)

        return {"register": register}

    def jobs(name):
        from kiosk.jobs import make_job

        def register(job_name, func, every=None, at=None, scope="station"):
            try:
                plugins.jobs.append(make_job(name, f"{name}.{job_name}", func, every=every, at=at, scope=scope))
            except ValueError as exc:
                raise PluginError(str(exc)) from exc

        return {"register": register}

    plugins.call_startup("register_migrations", per_plugin=migrations)
    # Settings are checked once, here: a plugin with a mistake in its table is
    # switched off before its translations, layouts, jobs and pages are taken.
    from kiosk import settings

    settings.init_app(app, plugins)
    plugins.call_startup("register_translations", per_plugin=translations)
    for name in plugins.enabled_names():
        folder = os.path.join(plugins.infos[name].path, "translations")
        if os.path.isdir(folder) and (name, folder) not in plugins.translation_paths:
            plugins.translation_paths.append((name, folder))
    plugins.call_startup("register_receipt_layouts", per_plugin=layouts)
    plugins.call_startup("register_jobs", per_plugin=jobs)
    from kiosk.sync import SyncKind

    sync_kinds: dict[str, SyncKind] = {}
    app.extensions["kiosk_sync_kinds"] = sync_kinds

    def sync(name):
        def register(kind, to_hub=None, to_station=None):
            full = f"{name}.{kind}"
            if full in sync_kinds:
                raise PluginError(f"sync kind {full} is already registered")
            if to_hub is None and to_station is None:
                raise PluginError(f"sync kind {full} needs to_hub=, to_station= or both")
            sync_kinds[full] = SyncKind(plugin=name, name=full, to_hub=to_hub, to_station=to_station)

        return {"register": register}

    plugins.call_startup("register_sync", per_plugin=sync)


def _warn_register_migrations(name: str) -> None:
    """Once per start and plugin: the hook is called once, at start."""
    log.warning(
        "plugin %s uses the deprecated register_migrations hook, which goes in the next release: "
        "its package's migrations/ folder is found without it, so remove the hook",
        name,
    )


def _template_loader(app, plugins: KioskPlugins) -> None:
    # Plugin templates live in templates/<plugin>/ inside the plugin package and
    # come after the core's, so a plugin cannot replace a core page by accident.
    folders = []
    for name in plugins.enabled_names():
        folder = os.path.join(plugins.infos[name].path, "templates")
        if os.path.isdir(folder):
            folders.append(FileSystemLoader(folder))
    app.jinja_loader = ChoiceLoader([app.jinja_loader, *folders])

    @app.route("/static/p/<plugin>/<path:filename>", endpoint="plugin_static")
    def plugin_static(plugin, filename):
        info = plugins.infos.get(plugin)
        if info is None or info.state != "enabled" or not info.path:
            abort(404)
        return send_from_directory(os.path.join(info.path, "static"), filename, max_age=3600)


def _register_plugin_blueprints(app, plugins: KioskPlugins) -> None:
    areas = app.extensions.setdefault("blueprint_areas", {})

    def per_plugin(name):
        def register(blueprint, area="kiosk"):
            if area not in AREAS:
                raise PluginError(f"unknown area {area!r}; use one of {', '.join(AREAS)}")
            if blueprint.name != name and not blueprint.name.startswith(name + "_"):
                raise PluginError(f"blueprint {blueprint.name!r} of plugin {name} must be named {name}_<something>")
            prefix = f"{AREAS[area][0]}/{name}"
            app.register_blueprint(blueprint, url_prefix=prefix)
            areas[blueprint.name] = (name, area)
            if area == "api":
                app.extensions["csrf_exempt_blueprints"].add(blueprint.name)

        return {"register": register}

    with app.app_context():
        plugins.call_startup("register_blueprints", per_plugin=per_plugin)


#: The numbers a URL's <int:> part may name: ids are INTEGER columns, 32 bits on PostgreSQL (64 on
#: SQLite). A larger number names no row, and the database would refuse to compare it ("integer out
#: of range": a 503 and a plugin fault), so it is a 404 at once (test_huge_ids, on both databases).
_ROW_ID_RANGE = range(-(2**31), 2**31)


def _before_request():
    load_user()
    # The app and the request once each, not through their proxies at every use.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    req = request._get_current_object()  # type: ignore[attr-defined]
    g.kiosk_plugins = plugins = app.extensions["kiosk_plugins"]
    view_args = req.view_args
    if view_args and any(
        isinstance(v, int) and not isinstance(v, bool) and v not in _ROW_ID_RANGE for v in view_args.values()
    ):
        abort(404)
    blueprint = req.blueprint
    if not blueprint:
        return None
    owner = app.extensions["blueprint_areas"].get(blueprint.split(".")[0])
    if owner is None:
        return None
    plugin, area = owner
    if area == "kiosk" and app.config.get("ROLE") == "hub":
        abort(404)  # kiosk screens run on station nodes; the hub serves phones, staff and stations
    role = AREAS[area][1]
    if role:
        denied = require_role(role)
        if denied is not None:
            return denied
    from kiosk.stations import current_station

    info = plugins.infos.get(plugin)
    if info is None or info.state != "enabled" or not current_station().plugin_enabled(plugin):
        abort(404)
    return None


def _error_handlers(app) -> None:
    from flask import jsonify, render_template, url_for

    from kiosk.db import error_line, unavailable
    from kiosk.i18n import N_, _

    messages = {
        400: N_("Something in the request was not right. Please go back and try again."),
        401: N_("Please log in first."),
        403: N_("You are not allowed to open this page."),
        404: N_("This page does not exist."),
        405: N_("This action is not available here."),
        413: N_("The file is too large."),
        429: N_("Too many requests. Please wait a moment and try again."),
        500: N_("Something went wrong on our side. Please ask the staff for help."),
        503: N_("This service is temporarily unavailable. Please try again later or ask the staff."),
    }

    from kiosk.openapi import answers_json

    def render_error(code: int, message: str, **page):
        if answers_json():
            return jsonify({"error": message, "status": code}), code
        # The hub has no kiosk screens: a plain page, no home button or idle reset leading to one.
        on_hub = current_app.config.get("ROLE") == "hub"
        return render_template("error.html", code=code, message=message, on_hub=on_hub, **page), code

    def database_unavailable(exc):
        # Not the fault of the page that asked: the database, or the way to it, is
        # down. One line in the log (not a traceback per tap during an outage), and
        # a page that tries again by itself, so the screen comes back with the database.
        log.warning("database unavailable on %s %s: %s", request.method, request.path, error_line(exc))
        # After a refused form: the kiosk's home screen, or on the hub (which has none) the staff start page.
        home = url_for("staff.console") if current_app.config.get("ROLE") == "hub" else url_for("shell.home")
        again = request.full_path.rstrip("?") if request.method in ("GET", "HEAD") else home
        body, code = render_error(503, _(messages[503]), retry_url=again, retry_seconds=RETRY_SECONDS)
        return body, code, {"Retry-After": str(RETRY_SECONDS)}

    @app.errorhandler(HTTPException)
    def http_error(exc):
        code = exc.code or 500
        if code == 400 and g.get("csrf_failed"):
            return render_error(400, _("This page has expired. Please go back and try again."))
        if g.get("user_message"):
            return render_error(code, g.user_message)
        return render_error(code, _(messages.get(code, messages[500])))

    @app.errorhandler(Exception)
    def unhandled(exc):
        if unavailable(exc):
            return database_unavailable(exc)
        # A plugin's page that crashes is reported by plugin name and answered
        # with a friendly page; the rest of the kiosk keeps working.
        plugins = current_app.extensions["kiosk_plugins"]
        view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
        owner = plugins.plugin_of(getattr(view, "__module__", "")) if view else None
        if owner:
            plugins.record_fault(owner, f"view {request.endpoint}", exc)
            return render_error(503, _(messages[503]))
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500, _(messages[500]))
