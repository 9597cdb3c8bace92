"""How long personal data lives: each plugin declares its kinds, a daily job purges them.

China's Personal Information Protection Law (PIPL, art. 6 and 19) allows
personal data to be kept only as long as the purpose needs it (the
*minimum-necessary* rule). So every kind of personal data the kiosk keeps has
a period, declared by whoever keeps it through the ``register_retention``
hook::

    from kiosk import hookimpl
    from sqlalchemy import delete

    @hookimpl
    def register_retention(register):
        register(
            "bookings",
            days=30,
            label={"zh_Hans": "预约的电话号码", "zh_Hant": "預約的電話號碼", "en": "Phone numbers of bookings"},
            purge=purge_bookings,
            reason="a booking is over once its day has passed; 30 days leaves time for a complaint",
        )

    def purge_bookings(sweep):
        rows = sweep.session.execute(
            delete(Booking).where(sweep.mine(Booking.station_id), Booking.created_at < sweep.cutoff)
        )
        return rows.rowcount

``purge(sweep)`` deletes (or blanks) what is older than ``sweep.cutoff`` and
returns how many records it took; files go through :meth:`Sweep.remove_file`,
which deletes them only once the database change is committed. The same
function answers ``kiosk purge --dry-run``: it runs in a transaction that is
rolled back and no file is touched, so the counts shown are the counts a real
purge would take.

The station file shortens or lengthens each period: ``[retention.<plugin>]``
with ``<kind> = days`` (``[retention.petitions] descriptions = 365``); the
core's own kinds keep their flat keys (``[retention] audit_days``). The daily
job ``kiosk.retention`` (03:20, on stations and the hub) purges every kind of
every enabled plugin; ``kiosk purge`` does it now.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import true

__all__ = ["Kind", "Sweep", "Outcome", "kinds", "days_for", "purge"]

log = logging.getLogger("kiosk.retention")

#: ``app.extensions`` key of the declared kinds (a list of :class:`Kind`).
EXTENSION = "kiosk_retention"
#: The longest period any kind may be given (ten years), so a typo cannot mean "for ever".
MAX_DAYS = 10 * 366
#: When the daily job runs, in the station's time zone: after the day's closing jobs.
JOB_AT = "03:20"


@dataclass(frozen=True)
class Kind:
    """One kind of personal data a plugin (or the core) keeps, and how long.

    ``days`` is the default period (an int, or ``days(app)`` for a default read
    from the plugin's own settings); ``setting`` is its key under
    ``[retention]`` of the station file; ``reason`` says in one line why that
    period is the minimum necessary (docs/retention.md lists them).
    """

    plugin: str
    name: str
    label: Any
    days: int | Callable[[Any], int]
    purge: Callable[[Sweep], int]
    setting: str
    reason: str = ""

    @property
    def key(self) -> str:
        """``<plugin>.<name>``, as ``kiosk purge`` lists it."""
        return f"{self.plugin}.{self.name}"


@dataclass
class Sweep:
    """What a kind's ``purge`` is handed: the session, the cut-off, whose rows, and a place for files.

    ``station_id`` is this node's station; ``None`` on the district hub, whose
    tables hold every station's copies (``mine(column)`` is then always true).
    """

    app: Any
    session: Any
    kind: Kind
    days: int
    now: datetime
    station_id: int | None
    dry_run: bool = False
    files: list[str] = field(default_factory=list)

    @property
    def cutoff(self) -> datetime:
        """Records older than this go."""
        return self.now - timedelta(days=self.days)

    @property
    def hub(self) -> bool:
        """Whether this sweep runs on the district hub."""
        return self.station_id is None

    def mine(self, column):
        """A condition on a ``station_id`` column: this station's rows (every row on the hub)."""
        return true() if self.station_id is None else column == self.station_id

    def remove_file(self, path: str) -> None:
        """Delete ``path`` once the purge is committed (never in a dry run); only files inside the instance folder."""
        root = os.path.realpath(self.app.instance_path)
        real = os.path.realpath(path)
        if real.startswith(root + os.sep):
            self.files.append(real)


@dataclass(frozen=True)
class Outcome:
    """What one kind's purge took (or would take): ``records`` rows and ``files`` files, or the ``error``."""

    kind: Kind
    days: int
    records: int
    files: int
    error: str = ""


def _days_value(app, kind: Kind) -> int:
    return int(kind.days(app) if callable(kind.days) else kind.days)


def days_for(app, kind: Kind) -> int:
    """The period of ``kind`` at this node: the station file's ``[retention]`` value, else the declared default."""
    settings = app.config.get("RETENTION") or {}
    if "." in kind.setting:
        plugin, name = kind.setting.split(".", 1)
        table = settings.get(plugin)
        value = table.get(name) if isinstance(table, dict) else None
    else:
        value = settings.get(kind.setting)
    return _days_value(app, kind) if value is None else int(value)


def kinds(app) -> list[Kind]:
    """Every declared kind of the core and of the plugins enabled at this node, core first."""
    plugins = app.extensions["kiosk_plugins"]
    declared: list[Kind] = app.extensions.get(EXTENSION, [])
    return [k for k in declared if k.plugin == "kiosk" or plugins.infos.get(k.plugin).state == "enabled"]


def unknown_settings(app) -> list[str]:
    """``[retention.<plugin>]`` keys that name no declared kind (a misspelt kind would keep data for ever)."""
    settings = app.config.get("RETENTION") or {}
    known = {k.setting for k in app.extensions.get(EXTENSION, [])}
    unknown = []
    for plugin, table in settings.items():
        if isinstance(table, dict):
            unknown += [f"retention.{plugin}.{name}" for name in table if f"{plugin}.{name}" not in known]
    return sorted(unknown)


def _make_kind(plugin: str, name, *, days, purge, label=None, reason: str = "", setting: str = "") -> Kind:
    from kiosk.plugins import PluginError

    if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.islower():
        raise PluginError(f"retention kind {name!r}: a name of lower-case letters, digits and _")
    if not callable(purge):
        raise PluginError(f"retention kind {name}: purge must be callable")
    if not callable(days) and (not isinstance(days, int) or not 0 <= days <= MAX_DAYS):
        raise PluginError(f"retention kind {name}: days must be 0–{MAX_DAYS} (or a function of the app)")
    return Kind(plugin, name, label or name, days, purge, setting or f"{plugin}.{name}", reason)


def init_app(app) -> None:
    """Collect the core's kinds and every plugin's (``register_retention``), and schedule the daily purge."""
    from kiosk import retention_core
    from kiosk.jobs import make_job
    from kiosk.plugins import PluginError

    declared: list[Kind] = [_make_kind("kiosk", **spec) for spec in retention_core.KINDS]
    plugins = app.extensions["kiosk_plugins"]

    def per_plugin(plugin):
        def register(name, *, days, purge, label=None, reason=""):
            kind = _make_kind(plugin, name, days=days, purge=purge, label=label, reason=reason)
            if any(k.key == kind.key for k in declared):
                raise PluginError(f"retention kind {kind.key} is declared twice")
            declared.append(kind)

        return {"register": register}

    plugins.call_startup("register_retention", per_plugin=per_plugin)
    app.extensions[EXTENSION] = declared
    for key in unknown_settings(app):
        log.warning("%s names no kind of personal data any running plugin keeps; it is ignored", key)
    jobs = app.extensions.get("kiosk_jobs")
    if jobs is not None:
        jobs.append(make_job("kiosk", "kiosk.retention", lambda a: purge(a), at=JOB_AT, scope="any"))


def purge(app, *, dry_run: bool = False, now: datetime | None = None, only: str | None = None) -> list[Outcome]:
    """Purge (``dry_run``: count) every kind past its period; one :class:`Outcome` per kind.

    Each kind runs in its own write transaction: one that fails is rolled
    back, logged (a plugin's is charged to it as a fault) and the others go on.
    Files are deleted after their kind's commit. ``only`` limits it to one
    plugin (``"petitions"``) or one kind (``"petitions.photos"``).
    """
    from kiosk.db import session_for, utcnow

    now = now or utcnow()
    station_id = None if app.config.get("ROLE") == "hub" else app.extensions["kiosk_station_id"]
    plugins = app.extensions["kiosk_plugins"]
    outcomes = []
    for kind in kinds(app):
        if only and only not in (kind.plugin, kind.key):
            continue
        days = days_for(app, kind)
        with app.app_context(), session_for(app, write=True) as session:
            sweep = Sweep(app, session, kind, days, now, station_id, dry_run)
            try:
                records = int(kind.purge(sweep) or 0)
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
            except Exception as exc:
                session.rollback()
                if kind.plugin != "kiosk":
                    plugins.record_fault(kind.plugin, f"retention {kind.name}", exc)
                else:
                    log.exception("retention %s failed", kind.key)
                outcomes.append(Outcome(kind, days, 0, 0, f"{type(exc).__name__}: {exc}"))
                continue
        files = sorted(set(sweep.files))
        removed = len([f for f in files if os.path.isfile(f)]) if dry_run else _remove(files)
        if (records or removed) and not dry_run:
            log.info("retention %s: %d record(s), %d file(s) older than %d days", kind.key, records, removed, days)
        outcomes.append(Outcome(kind, days, records, removed))
    return outcomes


def _remove(paths: list[str]) -> int:
    removed = 0
    for path in paths:
        try:
            os.remove(path)
            removed += 1
        except FileNotFoundError:
            continue
        except OSError:
            log.warning("retention: could not delete a file; it stays until the next run", exc_info=True)
    return removed
