"""The core's own sync kinds: the station's description, its device reports, its figures, staff accounts.

They are declared exactly as a plugin declares its kinds (``to_hub`` /
``to_station`` functions keyed by natural keys), in
``app.extensions["kiosk_sync_kinds"]`` under the ``kiosk.`` prefix:

- ``kiosk.station`` (station → hub): name, kind and time zone; the hub updates
  its row of the sending station.
- ``kiosk.device_report`` (station → hub), key = device name: each device's
  state, recorded by :mod:`kiosk.device_reports` when it changes and at least
  every few minutes; the hub keeps it in its ``device_report`` table.
- ``kiosk.figures`` (station → hub), key = the station's local day (ISO): the
  plugins' ``district_figures`` with their labels as given, so the hub's
  dashboard translates them for whoever looks.
- ``kiosk.user`` (hub → station), key = user name: accounts the hub creates or
  changes (password, role, disabled or enabled), for the station they belong
  to (district accounts for every station). The station matches the name
  whatever its case; a new password, role or state ends the account's
  sessions there too.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import event, inspect, select

from kiosk import sync
from kiosk.config import STATION_KINDS
from kiosk.db import utcnow
from kiosk.models import DeviceReport, Station, User
from kiosk.sync.models import CLOCK_OFFSET, SyncFigures, SyncOutbox

log = logging.getLogger("kiosk.sync")

#: How often a station records its figures of the day.
FIGURES_SECONDS = 300


def register(app) -> None:
    """Add the core's kinds, the figures job (stations) and the account publisher (hub)."""
    kinds = app.extensions.setdefault("kiosk_sync_kinds", {})
    for name, to_hub, to_station in (
        ("kiosk.station", station_to_hub, None),
        ("kiosk.device_report", device_report_to_hub, None),
        ("kiosk.figures", figures_to_hub, None),
        ("kiosk.user", None, user_to_station),
    ):
        kinds[name] = sync.SyncKind(plugin="kiosk", name=name, to_hub=to_hub, to_station=to_station)
    if sync.is_hub(app):
        db = app.extensions["db"]

        def publish_changed_users(session, flush_context, instances):
            session.info.setdefault("kiosk_app", app)  # publish() works outside an app context too
            _publish_changed_users(session, flush_context, instances)

        for factory in (db.Session, db.WriteSession):
            event.listen(factory, "before_flush", publish_changed_users)
    jobs = app.extensions.get("kiosk_jobs")
    if jobs is not None:
        from kiosk.jobs import make_job

        # Station scope: each station node counts its own day (leased per station); never on the hub.
        jobs.append(make_job("kiosk", "kiosk.figures", record_figures, every=FIGURES_SECONDS, scope="station"))


# --- kiosk.station ------------------------------------------------------------------------------


def station_data(station: Station) -> dict:
    return {"code": station.code, "name": station.name, "kind": station.kind, "timezone": station.timezone}


def record_station(session, station: Station) -> None:
    """Record the station's description unless the last one recorded says the same."""
    data = station_data(station)
    if _last_recorded(session, station.id, "kiosk.station", station.code) != data:
        sync.record(session, "kiosk.station", station.code, data, station_id=station.id)


def station_to_hub(session, station: Station, key: str, data: dict | None) -> None:
    """The hub's row of the station takes the name, kind and zone the station has now."""
    if not isinstance(data, dict):
        return
    name, kind, zone = data.get("name"), data.get("kind"), data.get("timezone")
    if isinstance(name, str) and name.strip():
        station.name = name.strip()[:200]
    if kind in STATION_KINDS:
        station.kind = kind
    if isinstance(zone, str) and zone.strip():
        station.timezone = zone.strip()[:64]


# --- kiosk.device_report ------------------------------------------------------------------------


def device_report_to_hub(session, station: Station, key: str, data: dict | None) -> None:
    """Upsert the hub's report of this station's device (by station and device name)."""
    device = str(key)[:64]
    row = session.scalar(
        select(DeviceReport).where(DeviceReport.station_id == station.id, DeviceReport.device == device)
    )
    if data is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = DeviceReport(station_id=station.id, device=device)
        session.add(row)
    row.kind = str(data.get("kind") or "")[:32]
    row.state = str(data.get("state") or "")[:32]
    row.detail = str(data.get("detail") or "")[:2000]
    row.updated_at = _station_time(session, data.get("updated_at")) or utcnow()


# --- kiosk.figures ------------------------------------------------------------------------------


def record_figures(app) -> bool:
    """The station's scheduled job: record its figures of today (its local day) when they changed.

    Yesterday's are looked at again too, so the last minutes of a day are not
    left out of its final figures. The plugins count outside the write
    transaction (a kiosk's writes must not wait for them). Runs in an app
    context; returns whether an entry was recorded.
    """
    from datetime import timedelta

    from kiosk import clock, district
    from kiosk.db import session_for

    station_id = app.extensions["kiosk_station_id"]
    with session_for(app) as session:
        station = session.get(Station, station_id)
        if station is None or not sync.enrolled(session, station_id):
            return False
    today = clock.today(station, clock.now())
    counted = [
        (day, district.station_figures(station, day, localize=False)) for day in (today - timedelta(days=1), today)
    ]
    recorded = False
    with session_for(app, write=True) as session:
        session.info["kiosk_app"] = app
        for day, figures in counted:
            last = _last_recorded(session, station_id, "kiosk.figures", day.isoformat())
            if (last is None and day != today) or (last is not None and last.get("figures") == figures):
                continue  # unchanged (or a day before the station joined the hub)
            data = {"day": day.isoformat(), "figures": figures, "computed_at": utcnow().isoformat()}
            sync.record(session, "kiosk.figures", day.isoformat(), data, station_id=station_id)
            recorded = True
        session.commit()
    return recorded


def figures_to_hub(session, station: Station, key: str, data: dict | None) -> None:
    """Keep the station's figures of that day (one row per station and day, replaced)."""
    try:
        day = date.fromisoformat(str(key))
    except ValueError:
        raise ValueError(f"kiosk.figures key must be an ISO day, not {key!r}") from None
    row = session.scalar(select(SyncFigures).where(SyncFigures.station_id == station.id, SyncFigures.day == day))
    if data is None:
        if row is not None:
            session.delete(row)
        return
    figures = [f for f in (data.get("figures") or []) if _figure(f)]
    if row is None:
        row = SyncFigures(station_id=station.id, day=day)
        session.add(row)
    row.figures = figures
    row.computed_at = _station_time(session, data.get("computed_at"))
    row.received_at = utcnow()


def _figure(item) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and isinstance(item.get("plugin"), str)
        and isinstance(item.get("label"), (str, dict))
        and isinstance(item.get("value"), (int, float))
        and not isinstance(item.get("value"), bool)
    )


# --- kiosk.user (hub → station) -----------------------------------------------------------------


def user_data(user: User, station_code: str | None) -> dict:
    return {
        "username": user.username,
        "password_hash": user.password_hash,
        "role": user.role,
        "display_name": user.display_name,
        "station": station_code,
        "active": bool(user.active if user.active is not None else True),
    }


def _publish_changed_users(session, _flush_context, _instances) -> None:
    """At the hub: every account added or changed in this flush is published to its station (district: all)."""
    if session.info.get(sync.APPLYING):
        return
    changed = [u for u in list(session.new) + list(session.dirty) if isinstance(u, User)]
    if not changed:
        return
    with session.no_autoflush:
        for user in changed:
            if user in session.dirty and not _published_fields_changed(user):
                continue  # nothing a station keeps changed (a login's time, say)
            station_code = None
            target = None
            if user.role != "district" and user.station_id is not None:
                station = session.get(Station, user.station_id)
                station_code = station.code if station is not None else None
                target = user.station_id
            if user.role != "district" and target is None:
                continue  # an account of no station: nobody to tell
            sync.publish(session, "kiosk.user", user.username, user_data(user, station_code), station_id=target)


#: The account's columns a station keeps (``last_login_at`` and ``session_version`` are each node's own).
PUBLISHED_USER_FIELDS = ("username", "password_hash", "role", "display_name", "station_id", "active")


def _published_fields_changed(user: User) -> bool:
    state = inspect(user)
    return any(state.attrs[name].history.has_changes() for name in PUBLISHED_USER_FIELDS)


def user_to_station(session, station: Station, key: str, data: dict | None) -> None:
    """Upsert the account by user name; staff and admins belong to this station, district accounts to none."""
    from kiosk.auth import end_sessions, find_user

    username = str(key)[:64]
    user = find_user(session, username)
    if data is None:
        if user is not None:
            user.active = False
            end_sessions(user)
        return
    role = data.get("role")
    if role not in ("staff", "admin", "district"):
        log.warning("account %s from the hub has an unknown role %r; skipped", username, role)
        return
    if role != "district" and data.get("station") != station.code:
        return  # another station's account (the hub only sends ours; be safe)
    if user is None:
        user = User(username=username, password_hash="", created_at=utcnow(), session_version=0)
        session.add(user)
    password_hash = str(data.get("password_hash") or "")
    active = bool(data.get("active", True))
    if user.id is not None and (user.password_hash != password_hash or user.role != role or user.active != active):
        end_sessions(user)  # a reset, a role change or disabling at the hub ends the account's sessions here too
    user.username = username
    user.password_hash = password_hash
    user.role = role
    user.display_name = str(data.get("display_name") or username)[:100]
    user.station_id = None if role == "district" else station.id
    user.active = active


# --- helpers ------------------------------------------------------------------------------------


def _last_recorded(session, station_id: int, kind: str, key: str):
    row = session.scalar(
        select(SyncOutbox)
        .where(SyncOutbox.station_id == station_id, SyncOutbox.kind == kind, SyncOutbox.key == key)
        .order_by(SyncOutbox.id.desc())
        .limit(1)
    )
    return row.data if row is not None else None


def _station_time(session, value) -> datetime | None:
    """A time the station wrote, on the hub's clock: corrected by the batch's clock skew, never after now."""
    at = _when(value)
    if at is None:
        return None
    at += session.info.get(CLOCK_OFFSET) or timedelta(0)
    return min(at, utcnow())


def _when(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
