"""``kiosk doctor``: checks a station node (or the district hub) can work, and says what to fix."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from sqlalchemy import text

from kiosk.settings import bilingual

MIN_FREE_MB = 200


def _check(name: str, ok: bool, detail: str) -> dict:
    return {"name": name, "ok": ok, "detail": detail}


SET_PUBLIC_URL = (
    "set public_url under [station] in the station file (or KIOSK_PUBLIC_URL) to the https:// address phones reach"
)


#: What an address no phone can open is, by :func:`kiosk.urls.unreachable_reason`.
WHAT_IT_IS = {
    "loopback": "this machine's own address",
    "private": "a private address of the station's own network",
    "link-local": "a link-local address of the station's own network",
}


def _public_url_check(app) -> dict:
    """Where the QR codes this node prints or shows lead, and whether a phone on 4G can open that.

    A station node's codes open the hub it is enrolled at, else its own
    ``public_url``; unset (with no hub) they carry the kiosk browser's own
    address, a loopback one. A loopback, private or link-local address fails
    the check (a warning only on a demo station).
    """
    from urllib.parse import urlsplit

    from kiosk.urls import hub_public_url, unreachable_reason

    hub = app.config.get("ROLE") == "hub"
    enrolled = "" if hub else _quietly(lambda: hub_public_url(app=app), "")
    base = enrolled or app.config.get("PUBLIC_URL") or ""
    if enrolled:
        where, fix = (
            f"the hub's public address {enrolled}",
            "set public_url in the hub's station file to the https:// address phones reach, then enrol "
            "this station again (kiosk sync join)",
        )
    else:
        where, fix = base, SET_PUBLIC_URL
    if not base:
        check = _check(
            "public URL",
            False,
            "not set: QR codes carry the address the kiosk browser uses (usually http://127.0.0.1:…, "
            f"a loopback address), which phones cannot open; {fix}"
            + ("" if hub else ", or enrol this station at the district hub (kiosk sync join HUB_URL TOKEN)"),
        )
    else:
        reason = unreachable_reason(urlsplit(base).netloc)
        if not reason:
            return _check("public URL", True, f"QR codes open {base}")
        check = _check(
            "public URL",
            False,
            f"{where} is {WHAT_IT_IS[reason]}: phones on mobile data cannot open the QR codes; {fix}",
        )
    if app.config.get("DEMO"):
        check["warning"] = True  # a demo station is looked at on the machine itself
    return check


def _quietly(read, default):
    """``read()``, or ``default`` when the database cannot answer (the database check says why)."""
    try:
        return read()
    except Exception:
        return default


def _role_checks(app) -> list[dict]:
    """The node's role, and on a station node its link to the district hub (read from ``SyncState``)."""
    if app.config.get("ROLE") == "hub":
        code = app.config["STATION"]["code"]
        stale = app.config.get("HUB", {}).get("stale_after_minutes")
        return [
            _check(
                "role",
                True,
                f"district hub (its own station: {code}; stations not synced for {stale} min are flagged)",
            )
        ]
    checks = [_check("role", True, f"station node for {app.config['STATION']['code']}")]
    state = _quietly(lambda: _sync_state(app), None)
    if state is None or not state["hub_url"]:
        checks.append(_check("sync", True, "standalone: not enrolled at a district hub"))
        return checks
    last_ok = _when(state["last_ok_at"])
    detail = (
        f"enrolled at the district hub {state['hub_url']} since {_when(state['enrolled_at'])}; last synced {last_ok}"
    )
    if state["last_error"]:
        detail += f"; last error: {state['last_error'][:200]}"
    check = _check("sync", bool(state["last_ok_at"]) and not state["last_error"], detail)
    # The station works offline for days by design: an unreachable hub is worth reading, not a fault.
    check["warning"] = True
    checks.append(check)
    return checks


def _sync_state(app) -> dict | None:
    from kiosk.db import session_for
    from kiosk.sync.models import SyncState

    with session_for(app) as session:
        row = session.get(SyncState, app.extensions["kiosk_station_id"])
        if row is None:
            return None
        return {
            "hub_url": row.hub_url,
            "enrolled_at": row.enrolled_at,
            "last_ok_at": row.last_ok_at,
            "last_error": row.last_error or "",
        }


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at is not None else "never"


def _uninstalled_checks(app) -> list[dict]:
    """A warning per uninstalled plugin whose revision (and tables) the database still has."""
    from kiosk import migrate

    checks = []
    for plugin, revisions in migrate.unknown_revisions(app).items():
        check = _check(
            f"plugin {plugin}",
            False,
            f"not installed, but the database has its revision {', '.join(revisions)}; its tables are "
            f"kept: reinstall it, or run `kiosk plugins forget {plugin}`",
        )
        check["warning"] = True
        checks.append(check)
    return checks


def run_checks(app) -> list[dict]:
    """Every check, in the order an operator should fix them."""
    from kiosk import migrate

    checks = []
    db = app.extensions["db"]
    hub = app.config.get("ROLE") == "hub"
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks.append(_check("database", True, f"{db.dialect} reachable"))
        left = migrate.pending(app)
        checks.append(
            _check(
                "migrations",
                not left,
                "up to date" if not left else f"pending {', '.join(left)}: run `kiosk db upgrade`",
            )
        )
        checks.extend(_uninstalled_checks(app))
    except Exception as exc:
        checks.append(_check("database", False, f"unreachable ({type(exc).__name__}): check KIOSK_DATABASE_URL"))

    from kiosk_hardware.fonts import cjk_font_check

    font = cjk_font_check()
    checks.append(_check("CJK font", font.ok, font.message))

    if not hub:  # the hub drives no devices: receipts and card reads happen at stations
        printing = app.extensions["kiosk_printing"]
        try:
            status = printing.queue.check_status()
            checks.append(
                _check("printer", status.ready and status.known, f"{printing.printer.describe()}: {status.describe()}")
            )
        except Exception as exc:
            checks.append(_check("printer", False, f"{printing.printer.describe()}: {exc}"))
        for name, info in app.extensions["kiosk_devices"].statuses().items():
            if name == "printer":
                continue
            checks.append(_check(f"device {name}", info["ok"], f"{info['state']}: {info['detail']}"))

    usage = shutil.disk_usage(app.instance_path)
    free_mb = usage.free // (1024 * 1024)
    checks.append(
        _check(
            "free disk",
            free_mb >= MIN_FREE_MB,
            f"{free_mb} MB free in {app.instance_path}"
            + ("" if free_mb >= MIN_FREE_MB else f"; free at least {MIN_FREE_MB} MB"),
        )
    )

    now = datetime.now(UTC)
    plausible = now.year >= 2024
    checks.append(
        _check(
            "clock",
            plausible,
            f"{now.isoformat(timespec='seconds')}"
            + ("" if plausible else ": the clock is wrong; enable NTP (timedatectl set-ntp true)"),
        )
    )

    checks.extend(_role_checks(app))
    checks.append(_public_url_check(app))

    checked = app.extensions.get("kiosk_settings")
    for name, info in app.extensions["kiosk_plugins"].infos.items():
        mistakes = checked.errors.get(name) if checked is not None else None
        if mistakes:
            # One line per wrong setting, so the operator fixes them all before restarting.
            checks.extend(_check(f"plugin {name}", False, f"off: {bilingual(e, info.path)}") for e in mistakes)
        elif info.state in ("failed", "incompatible"):
            checks.append(_check(f"plugin {name}", False, info.error))
    return checks
