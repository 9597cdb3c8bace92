"""Every hook a kiosk plugin can implement.

The docstring of each hook is its user documentation: the plugin author's guide
is generated from this module, and a test fails when a hook here is not
documented there or has no ``test_hook_<name>`` test.

Hooks named ``register_*`` receive a ``register(...)`` callback instead of
returning loose lists, so the core validates what a plugin hands it and records
which plugin registered what.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("kiosk")
hookimpl = pluggy.HookimplMarker("kiosk")


@hookspec
def kiosk_startup(app):
    """Called once when the application has been created and every plugin loaded.

    A plugin that raises here is disabled for the station and reported on the
    admin page; the rest of the kiosk starts.

    :param app: the Flask application. Keep per-app state in
        ``app.extensions``, never in module globals.
    """


@hookspec
def register_blueprints(register):
    """Add pages and endpoints.

    Call ``register(blueprint, area)`` for each Flask blueprint. ``area`` decides
    where it is mounted and who may reach it; the plugin never picks a bare URL,
    so plugins cannot collide with each other or with the core:

    - ``"kiosk"``  → ``/k/<plugin>/...``: screens on the touchscreen.
    - ``"mobile"`` → ``/m/<plugin>/...``: pages opened on a resident's phone
      from a QR code (no login).
    - ``"api"``    → ``/api/<plugin>/...``: JSON endpoints (no login, CSRF-exempt;
      protect them yourself if they change state).
    - ``"staff"``  → ``/staff/<plugin>/...``: the core requires a staff login.
    - ``"admin"``  → ``/admin/<plugin>/...``: the core requires an admin login.

    :param register: ``register(blueprint, area="kiosk")``.
    """


@hookspec
def register_tiles(register, station):
    """Put tiles on the kiosk home screen.

    Call ``register(key=..., label=..., endpoint=..., icon=..., order=...)`` once
    per tile. ``label`` is either a dict of language → text
    (``{"zh_Hans": "法律咨询", "zh_Hant": "法律諮詢", "en": "Legal advice"}``) or a
    message id translated through the plugin's catalog. ``endpoint`` is a Flask
    endpoint name (``"legal_kiosk.index"``); ``icon`` is a file name under the
    plugin's ``static/`` folder or one of the core icons; tiles are sorted by
    ``order`` then key.

    :param register: the callback described above.
    :param station: the :class:`kiosk.models.Station` the kiosk serves, so a
        plugin can offer a tile only where it makes sense (e.g. by ``station.kind``).
    """


@hookspec
def register_migrations(register):
    """Deprecated: a ``migrations/`` folder in the plugin package is found without it.

    The folder next to the package's ``templates/`` and ``static/`` is the
    plugin's Alembic branch, labelled with the plugin's name, and
    ``kiosk db revision <plugin> -m "..."`` writes its next revision (see
    "Schema changes" in docs/plugins.md). This hook still works for one
    release, with a warning at start, and goes in the next: call
    ``register(path)`` with a folder of revision files whose first revision
    carries ``branch_labels = ("<plugin>",)`` and ``depends_on = "kiosk_core_0001"``.

    :param register: ``register(path)``.
    """


@hookspec
def register_settings(register):
    """Declare the plugin's settings: its ``[plugins.<name>]`` table of the station file.

    Call ``register(schema)`` once with a :class:`kiosk.settings.Schema` of
    field types (``Text``, ``Integer(min=, max=)``, ``Number``, ``Boolean``,
    ``Choice``, ``TimeOfDay``, ``Duration``, ``URL``, ``Label``, ``ListOf``,
    ``MapOf``, ``Table``, ``TableOf``), each with its default and a translatable
    description. The core checks the table once at start: a wrong type, a value
    out of range or an unknown key switches this plugin off, naming
    ``plugins.<name>.<key>`` and the reason on ``/healthz``, the admin page and
    ``kiosk doctor``, while the rest of the kiosk runs. Read the parsed values
    with ``kiosk.settings.plugin_settings("<name>")``; a value written as
    ``{ env = "NAME" }`` is read from the environment.

    :param register: ``register(schema)``.
    """


@hookspec
def register_receipt_layouts(register):
    """Offer receipt layouts that the plugin (or another) can print by name.

    Call ``register(name, build)`` where ``build(context) -> Receipt`` builds a
    :class:`kiosk_hardware.receipt.Receipt` document from a dict. Print it with
    ``kiosk.printing.print_receipt(name, context)``.

    :param register: ``register(name, build)``.
    """


@hookspec
def decorate_receipt(receipt, layout, station):
    """Change any receipt before it is printed (e.g. add the station's footer).

    :param receipt: the :class:`kiosk_hardware.receipt.Receipt` about to print;
        modify it in place.
    :param layout: the layout name it was built from.
    :param station: the station printing it.
    """


@hookspec(firstresult=True)
def handle_reader_event(event, screen, station):
    """A card reader or scanner produced a read while a kiosk screen was open.

    The first plugin that returns something other than ``None`` wins. Return a
    dict that is pushed to the page, e.g. ``{"redirect": url}`` or
    ``{"fill": {"field": "value"}}``. A read that no screen claims is dropped,
    never kept for the next user.

    :param event: a :class:`kiosk_hardware.readers.ReaderEvent` (``source``,
        ``kind``: ``"card"``, ``"code"`` or ``"track"``, ``value``, ``at``).
    :param screen: the screen id the open page declared, e.g. ``"courier_rest.checkin"``;
        ``None`` on the home screen.
    :param station: the station.
    """


@hookspec
def register_staff_panels(register, station):
    """Add panels to the staff console.

    Call ``register(key=..., title=..., render=..., order=...)``; ``render()``
    returns HTML (use ``render_template``) and runs inside the staff request.

    :param register: the callback described above.
    :param station: the station the staff member works at.
    """


@hookspec
def kiosk_event(event):
    """A domain event happened (ticket issued, petition submitted, rider checked in...).

    Events are :class:`kiosk.events.Event` objects with ``name`` (dotted,
    ``"legal.ticket_issued"``), ``station_id`` and a JSON-able ``payload`` that
    holds no personal data. Use ``kiosk.events.emit(name, payload)`` to send one.
    Every plugin receives every event; ignore the ones you do not know.

    :param event: the event.
    """


@hookspec(firstresult=True)
def request_service(kind, payload, station):
    """Ask whichever plugin provides a service to perform it, without importing it.

    For example the courier station asks for a legal-queue ticket with
    ``kind="queue_ticket"`` and ``payload={"service": "legal_aid"}``. The first
    plugin that returns something other than ``None`` handles it; ``None``
    overall means no enabled plugin offers that service.

    :param kind: the service asked for.
    :param payload: a dict of arguments.
    :param station: the station.
    :returns: a dict describing the outcome (e.g. ``{"ticket": "F012", "url": ...}``).
    """


@hookspec
def register_commands(cli):
    """Add ``kiosk`` command-line commands.

    :param cli: the root ``click`` group; add a sub-group named after the plugin.
    """


@hookspec
def register_translations(register):
    """Add message catalogs.

    Call ``register(path)`` with a folder laid out as
    ``<path>/<locale>/LC_MESSAGES/messages.po`` for ``zh_Hans``, ``zh_Hant`` and
    ``en``. A plugin with a ``translations/`` folder next to its module is picked
    up without implementing this hook.

    :param register: ``register(path)``.
    """


@hookspec
def register_jobs(register):
    """Schedule background work.

    Call ``register(name, func, every=seconds)`` or ``register(name, func, at="03:00")``,
    with ``scope=``: ``"station"`` (the default) runs on every station node for
    its own station, with that station's settings, ``at`` in its time zone;
    ``"hub"`` runs on the district hub only, once across its processes (work
    the hub owns after intake: forwarding, settlement, retention of hub
    records); ``"any"`` runs on both. ``func(app)`` runs inside an application
    context; only one worker runs a job for a given station (or the hub) at a time.

    :param register: ``register(name, func, every=None, at=None, scope="station")``.
    """


@hookspec
def register_retention(register):
    """Declare each kind of personal data the plugin keeps, how long it lives, and how it goes.

    China's PIPL keeps personal data only as long as its purpose needs (the
    minimum-necessary rule): every name, phone number, plate, free text, photo,
    position or receipt a plugin stores must be declared here. Call
    ``register(name, days=..., purge=..., label=..., reason=...)`` once per
    kind; ``name`` is lower-case (``"photos"``) and the kind is known as
    ``<plugin>.<name>``. ``days`` is the default period (an int; or
    ``days(app)``, read from the plugin's own settings), which the station file
    shortens or lengthens with ``[retention.<plugin>] <name> = days``.
    ``label`` says what it is in people's words (a dict of language → text);
    ``reason`` says in one line why the period is the minimum necessary.

    ``purge(sweep)`` deletes or blanks what is older than ``sweep.cutoff`` and
    returns how many records it took: see :class:`kiosk.retention.Sweep`
    (``session``, ``cutoff``, ``mine(column)`` for this station's rows,
    ``remove_file(path)`` for a file that goes once the purge is committed).
    It must not commit. The daily job ``kiosk.retention`` runs it on the
    stations and the hub, and ``kiosk purge --dry-run`` runs it in a
    transaction that is rolled back, touching no file, to count what would go.

    :param register: ``register(name, *, days, purge, label=None, reason="")``.
    """


@hookspec
def register_sync(register):
    """Declare what the plugin syncs between a station node and the district hub.

    Call ``register(name, to_hub=None, to_station=None)`` once per kind of
    record; the kind's full name is ``"<plugin>.<name>"``. At the station, write
    an entry with :func:`kiosk.sync.record` in the same transaction as the
    change; at the hub, :func:`kiosk.sync.publish` one that stations pull.
    ``to_hub(session, station, key, data)`` applies a station's entry at the
    hub (``station`` is the station that sent it: a station can only ever write
    its own records); ``to_station(session, station, key, data)`` applies a
    hub entry at the station. Both must be idempotent (an entry carries the
    record's whole state, ``None`` when it was deleted) and must not commit.
    See "Sync" in docs/plugins.md.

    :param register: ``register(name, to_hub=None, to_station=None)``.
    """


@hookspec
def register_metrics(register):
    """Add the plugin's figures to the Prometheus endpoint ``GET /metrics``.

    Call ``register(name, help, collect, labels=(), kind="gauge")`` once per
    metric. It is published as ``kiosk_<plugin>_<name>`` (``name``: lower-case
    letters, digits and underscores); ``kind="counter"`` publishes
    ``kiosk_<plugin>_<name>_total`` for a count that only grows (a count of the
    day, back to zero at local midnight, is fine: Prometheus takes a drop as a
    reset). ``help`` is one line of English for the operator.

    ``collect(session, station)`` is called at every scrape, inside the request
    to ``/metrics``, with a read-only database session and the
    :class:`kiosk.models.Station` this node serves; it is not called on a
    station that has the plugin switched off. It returns a dict from label
    values (a tuple with one string per name in ``labels``; a plain string
    when there is one label; ``()`` when there are none) to a number. Read
    what the database holds at that moment with one or two cheap, indexed
    queries: never count per request. Label values must come from a small,
    fixed set (service keys, states, printer names): never ticket numbers,
    phone numbers, plates, tokens or free text, which would both leak personal
    data and grow the series without bound. A ``collect`` that raises is
    logged and left out of that scrape; the rest of the page is published.

    :param register: ``register(name, help, collect, labels=(), kind="gauge")``.
    """


@hookspec
def health_check(station):
    """Report the plugin's health for ``/healthz`` and the admin page.

    :param station: the station.
    :returns: ``{"ok": bool, "detail": str}`` or ``None`` for nothing to report.
        ``detail`` is for monitors and logs (plain English, figures); an
        optional ``"summary"`` says the same for people, translated (``gettext``)
        into the reader's language: the admin page shows it instead of ``detail``.
    """


@hookspec
def district_figures(station, day):
    """Report the station's figures of the day for the district dashboard.

    Called for each station on the district dashboard (``/admin/district/``)
    and its JSON twin, inside a request: read with ``kiosk.db.get_session()``
    and count only rows of ``station``. Not called for a station that has the
    plugin switched off. Figures are counts, never personal data.

    :param station: the :class:`kiosk.models.Station` being summarised.
    :param day: the station's local calendar day (a :class:`datetime.date`, in
        the station's timezone); "today" figures count from that day's local
        midnight to the next.
    :returns: a list of dicts ``{"key": str, "label": ..., "value": int,
        "alert": bool}``. ``key`` is unique within the plugin (the dashboard
        shows it as ``<plugin>.<key>``); ``label`` is a dict of language → text
        or a message id translated through the plugin's catalog; ``alert``
        asks the district to look (overdue requests, overstays). Return
        ``None`` or ``[]`` for nothing to report.
    """


@hookspec
def api_description():
    """Describe the plugin's JSON endpoints for ``GET /api/openapi.json``.

    The kiosk publishes one OpenAPI 3.1 document for all its JSON endpoints;
    each plugin describes its own. Return ``None`` when the plugin has none,
    else a dict::

        {
            "endpoints": {
                "legal_display.state": {"get": {...an OpenAPI operation...}},
            },
            "schemas": {"Board": {...a JSON Schema...}},
        }

    ``endpoints`` maps a Flask endpoint name (``"<blueprint>.<view>"``) of one
    of the plugin's own blueprints to its operations by lower-case HTTP method.
    The plugin never writes a mounted path: the core finds the URL from the
    endpoint, so the description cannot drift from the routes, and it adds the
    path parameters an operation does not declare (from the URL rule's
    converters). Every operation needs ``responses``; describe the error
    answers as well as the success.

    ``schemas`` are JSON Schemas the operations refer to as
    ``{"$ref": "#/components/schemas/<name>"}``. The core publishes them as
    ``<plugin>.<name>`` and rewrites those references, so names never
    collide. The core's own ``Error`` (``{"error": str, "status": int}``,
    what the core answers on a JSON endpoint's 4xx/5xx) and ``PrintJob``
    (``{"state", "error", "attempts"}``) may be referred to by their names.

    Security: an endpoint of a ``staff`` or ``admin`` blueprint is marked as
    needing a login and listed only to a caller logged in with that role. An
    endpoint that wants a token says ``"security": [{"bearer": []}]``; a kiosk
    ``POST`` that wants the page's CSRF token (``X-CSRF-Token`` header) says
    ``"security": [{"csrf": []}]``. Errors of a described endpoint are answered
    as JSON. Endpoints of a plugin switched off for the station are left out.
    An endpoint that is not the plugin's own, or an operation without
    ``responses``, is dropped and charged to the plugin as a fault.

    :returns: the dict described above, or ``None``.
    """


@hookspec
def register_demo_data(station, session):
    """Fill a new demo station with sample data (``kiosk demo``).

    Use the real service names and places from the source documents.

    :param station: the demo station.
    :param session: an open SQLAlchemy session; the core commits it.
    """


@hookspec
def register_home_status(register, station):
    """Tell a resident on the home screen, before they tap, how busy a service is.

    Call ``register(key=..., label=..., waiting=..., wait_minutes=..., counters=..., order=...)``
    once per service. ``label`` is a dict of language → text or a message id of the
    plugin's catalog, as for tiles; ``waiting`` is how many people wait now (or
    ``None`` to show only the counters); ``wait_minutes`` the estimated wait for
    someone who joins now (or ``None``); ``counters`` the counter numbers that serve
    it today. Lines are sorted by ``order`` then key. Never a name or a phone
    number: the home screen is seen by everyone in the hall. Keep it quick (one
    query): the home screen is the kiosk's busiest page.

    :param register: the callback described above.
    :param station: the :class:`kiosk.models.Station` the kiosk serves.
    """


@hookspec
def register_audit_actions(register):
    """Give words to the plugin's own audit actions, for the audit log staff read.

    ``/admin/audit`` and its CSV export show each action
    (:func:`kiosk.audit.record`'s ``action``) in the reader's language, and
    an admin can search by those words. Call ``register(action, label)`` once
    per action the plugin records. ``action`` is the full key and starts with
    the plugin's name (``"parking.voucher_checked"``): a plugin words only its
    own actions. ``label`` is a dict of language → text
    (``{"zh_Hans": "核验停车券", "zh_Hant": "核驗停車券", "en": "Voucher checked"}``)
    or a message id of the plugin's catalog, as for tiles; say what staff did
    (or what happened), never whom it concerned. Called once at start; an
    action without words is shown as its key. A registration of another's
    action, or without a label, is left out and charged to the plugin as a
    fault (``/healthz`` names it); the plugin stays on.

    :param register: ``register(action, label)``.
    """
