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
        checks = [
            _check(
                "role",
                True,
                f"district hub (its own station: {code}; stations not synced for {stale} min are flagged)",
            )
        ]
        from kiosk.ratelimit import proxy_hops

        if not proxy_hops(app.config):
            # Phones reach the hub through nginx: without this every phone has nginx's address,
            # and one person spends the whole district's quota of each rate limit.
            proxies = _check(
                "reverse proxy",
                False,
                "[security] trusted_proxy_hops is 0: behind nginx set it to 1 (KIOSK_TRUSTED_PROXY_HOPS=1), "
                "or every phone shares nginx's address in rate limits and the login back-off",
            )
            proxies["warning"] = True
            checks.append(proxies)
        return checks
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


def _guarded(name: str, make) -> list[dict]:
    """``make()``'s checks, or one check saying what went wrong: the doctor never ends in a traceback."""
    try:
        return make()
    except Exception as exc:
        return [_check(name, False, f"could not be checked ({type(exc).__name__}: {str(exc)[:200]})")]


def _printer_check(name: str, printing, reports: dict[str, dict] | None = None) -> dict:
    """Ask one printer this node drives for its state (seconds at most on a dead one).

    A device-file printer (``/dev/usb/lp0``) answers no status: it is checked
    by its path existing and being writable, without opening it (an open of a
    wedged usblp device can block), and by what the running server last saw
    of it (``reports``: its fresh device reports), since only a write tells.
    """
    from kiosk.printing import describe_printer

    label = "printer" if name == "default" else f"printer of {name}"
    where = describe_printer(name, printing.app)
    device = printing.printers.get(name)
    if getattr(device, "kind", "") == "file":
        ok, detail = _file_printer_state(device.path, where)
        report = (reports or {}).get("printer" if name == "default" else f"{name}/printer")
        if ok and report is not None and report["fault"]:
            return _check(label, False, f"{where}: {report['state']}: {report['detail']} (as the server saw it)")
        return _check(label, ok, detail)
    try:
        status = printing.queues[name].check_status()
    except Exception as exc:
        return _check(label, False, f"{where}: {exc}")
    if status.ready and not status.known and device is not None and not getattr(device, "check_status", True):
        # status = false in the station file: printing may work, but nothing can confirm it.
        check = _check(label, False, f"{where}: {status.describe()} (status = false: receipts are sent unconfirmed)")
        check["warning"] = True
        return check
    return _check(label, status.ready and status.known, f"{where}: {status.describe()}")


def _file_printer_state(path: str, where: str) -> tuple[bool, str]:
    """``(ok, detail)`` of a device-file printer: present and writable by this user."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False, f"{where}: {path} not present: is the printer plugged in and switched on (ls /dev/usb/)?"
    except OSError as exc:
        return False, f"{where}: {path}: {exc.strerror or exc}"
    if not os.access(path, os.W_OK):
        return False, f"{where}: {path} is not writable by this user: add it to the lp group (usermod -aG lp kiosk)"
    what = "device" if stat.S_ISCHR(mode) else "file"
    return True, f"{where}: {what} present and writable (it gives no paper or cover state)"


def _device_checks(app) -> list[dict]:
    """Every printer and reader of the station file: ``[devices]`` and each ``[terminals.<name>]``.

    The printers this node drives are asked now; an agent terminal's devices
    hang off its own PC, so their state is what its agent last reported (an
    agent that stopped reporting is the terminal checks' warning, not one per device).
    """
    from kiosk.device_config import device_key

    printing = app.extensions["kiosk_printing"]
    devices = app.extensions["kiosk_devices"]
    reports = _quietly(lambda: _server_reports(app), {}) if not app.config.get("START_DEVICES") else {}
    checks = [_printer_check("default", printing, reports)]
    checks.extend(_printer_check(name, printing, reports) for name in sorted(printing.queues) if name != "default")
    statuses = devices.statuses()
    for name in sorted(printing.agent_printers):
        kind = printing.agent_printers[name].get("type", "?")
        checks.append(
            _agent_device_check(f"printer of {name}", f"{kind} printer", name, statuses.get(f"{name}/printer"))
        )
    configured = {device_key(None, r) for r in (app.config.get("DEVICES") or {}).get("readers") or {}}
    for tname, table in printing.terminals.items():
        configured |= {device_key(tname, r) for r in table.readers}
    agents = {tname for tname, table in printing.terminals.items() if table.agent}
    for key in sorted(configured | {k for k, v in statuses.items() if v.get("kind") not in ("printer", "agent")}):
        if key in statuses and statuses[key].get("kind") in ("printer", "agent"):
            continue
        info = statuses.get(key)
        owner = key.split("/", 1)[0] if "/" in key else ""
        if owner in agents:
            checks.append(_agent_device_check(f"reader {key}", "reader", owner, info))
        elif not app.config.get("START_DEVICES"):
            # `kiosk doctor` is its own process: the server opens the readers, so what counts is
            # the state it last reported, and else whether the device could be opened at all.
            checks.append(_reader_check(app, key, reports.get(key)))
        elif info is None:
            checks.append(_check(f"reader {key}", False, "configured but not opened by this node"))
        else:
            checks.append(_check(f"reader {key}", info["ok"], f"{info['state']}: {info['detail']}"))
        checks.extend(_unusable_uid_checks(key, reports.get(key), info))
    return checks


def _server_reports(app) -> dict[str, dict]:
    """This station's device reports that are fresh (written by its running server), by device."""
    from kiosk.db import session_for
    from kiosk.device_reports import reports_by_station

    station_id = app.extensions["kiosk_station_id"]
    with session_for(app) as session:
        reports = reports_by_station(session, [station_id])[station_id]
    return {r["device"]: r for r in reports if not r["stale"]}


def _reader_object(app, key: str):
    terminal, _, name = key.rpartition("/")
    try:
        return app.extensions["kiosk_devices"].reader(terminal or None, name)
    except KeyError:
        return None


def _reader_check(app, key: str, report: dict | None) -> dict:
    """A reader the server opens: as it last reported it; with no report, whether the device is there."""
    label = f"reader {key}"
    if report is not None:
        return _check(label, not report["fault"], f"{report['state']}: {report['detail']} (as the server reported it)")
    reader = _reader_object(app, key)
    ok, detail = reader.probe() if reader is not None else (None, "not driven by this node")
    if ok is False:
        return _check(label, False, detail)
    check = _check(label, bool(ok), f"{detail}; not started (the server starts it)")
    if ok is None:
        check["warning"] = True  # nothing wrong found, nothing proven either
    return check


def _unusable_uid_checks(key: str, report: dict | None, info: dict | None) -> list[dict]:
    """A warning when the reader has read cards whose UID changes at every tap (phones) or is blank."""
    from kiosk_hardware.readers.base import UNUSABLE_NOTE

    detail = (report or {}).get("detail") or (info or {}).get("detail") or ""
    if UNUSABLE_NOTE not in detail:
        return []
    check = _check(
        f"reader {key} cards",
        False,
        f"{detail.split('; ', 1)[-1]}: random UIDs (first byte 08: phones' NFC, privacy cards) and blank ones "
        "identify nobody and are refused as rider cards; riders with such cards use their rider code or phone",
    )
    check["warning"] = True
    return [check]


def _agent_device_check(label: str, what: str, terminal: str, info: dict | None) -> dict:
    """A device of an agent terminal: its agent's last report; no report yet is a warning only."""
    if info is None:
        check = _check(label, False, f"{what} driven by the kiosk agent of {terminal}, which has not reported it")
        check["warning"] = True
        return check
    check = _check(
        label, info["ok"], f"{what} driven by the kiosk agent of {terminal}: {info['state']}: {info['detail']}"
    )
    if info["state"] == "offline":
        check["warning"] = True  # the agent is away: the terminal checks say so and what to do
    return check


def _terminal_checks(app) -> list[dict]:
    """The station file's terminals against the enrolled ones, their agents, and where card reads go.

    A ``[terminals.<name>]`` table that names no enrolled terminal drives a
    printer and readers for no screen; an agent that never reported (or
    stopped) leaves its terminal's receipts for staff; readers whose terminal
    is not enrolled deliver their taps to nobody. All warnings: the station
    still serves its other screens.
    """
    from kiosk.db import session_for
    from kiosk.terminals import local_terminal_name, terminals_of

    printing = app.extensions["kiosk_printing"]
    tables = printing.terminals
    readers = (app.config.get("DEVICES") or {}).get("readers") or {}
    if not tables and not readers:
        return []
    station_id = app.extensions["kiosk_station_id"]
    try:
        with session_for(app) as session:
            rows = terminals_of(session, station_id)
            agents = _agent_contacts(session, station_id, [t.id for t in rows])
    except Exception:
        return []  # the database check says why
    by_name = {t.name: t for t in rows}
    local = local_terminal_name(app)
    spare = [t for t in rows if t.active and t.name not in tables and t.name != local]
    checks = []
    for name, table in sorted(tables.items()):
        terminal = by_name.get(name)
        check = _table_check(name, table, terminal, spare)
        checks.append(check)
        if table.agent and terminal is not None and terminal.revoked_at is None:
            checks.append(_agent_check(name, agents.get(terminal.id)))
    if readers:
        terminal = by_name.get(local)
        names = ", ".join(sorted(readers))
        if terminal is not None and terminal.active:
            checks.append(_check("readers", True, f"[devices.readers] ({names}) deliver to terminal {local}"))
        else:
            why = _not_enrolled(terminal)
            check = _check(
                "readers",
                False,
                f"[devices.readers] ({names}) deliver card taps and scans to terminal {local}, which {why}: "
                f"no screen receives them; enrol it (kiosk terminals add {local} --kind kiosk), or set "
                f'terminal = "NAME" under [devices] to an enrolled kiosk terminal',
            )
            check["warning"] = True
            checks.append(check)
    return checks


def _not_enrolled(terminal) -> str:
    if terminal is None:
        return "this station does not have"
    if terminal.revoked_at is not None:
        return f"was revoked on {_when(terminal.revoked_at)}"
    return "was added but its enrolment link was never opened"


def _table_check(name: str, table, terminal, spare: list) -> dict:
    devices = []
    if table.printer is not None:
        devices.append(f"a {table.printer.get('type', '?')} printer")
    if table.readers:
        devices.append(f"reader{'s' if len(table.readers) > 1 else ''} {', '.join(sorted(table.readers))}")
    driven = ", driven by its kiosk agent" if table.agent and devices else ""
    what = (" and ".join(devices) or "no devices") + driven
    label = f"terminals.{name}"
    if terminal is not None and terminal.active and terminal.kind != table.kind:
        # The enrolled terminal's kind decides how its screen behaves (idle reset, start page), not the file's.
        check = _check(
            label,
            False,
            f"[terminals.{name}] says kind = {table.kind!r} but terminal {name} was enrolled as a {terminal.kind}; "
            f"it behaves as a {terminal.kind}: set kind = {terminal.kind!r} in the station file, or revoke it and "
            f"add it again as a {table.kind}",
        )
        check["warning"] = True
        return check
    if terminal is not None and terminal.active:
        return _check(label, True, f"terminal {name} ({terminal.kind}) enrolled; {what}")
    if terminal is None:
        fix = f"add it: kiosk terminals add {name} --kind {table.kind}"
        renames = [t for t in spare if t.kind == table.kind][:3]
        if renames:
            fix += "; or, if it is the screen enrolled as " + " or ".join(
                f"{t.name}: kiosk terminals rename {t.name} {name}" for t in renames
            )
        detail = f"[terminals.{name}] names no terminal of this station: its devices ({what}) serve no screen; {fix}"
    elif terminal.revoked_at is not None:
        detail = (
            f"[terminals.{name}] names terminal {name}, revoked on {_when(terminal.revoked_at)}: "
            f"its devices ({what}) serve no screen; rename the revoked one (kiosk terminals rename {name} "
            f"{name}-old) and add it again (kiosk terminals add {name} --kind {table.kind})"
        )
    else:
        detail = (
            f"terminal {name} was added but its enrolment link was never opened: its devices ({what}) serve no "
            f"screen yet; open the link in its browser, or make a new one (kiosk terminals link {name})"
        )
    check = _check(label, False, detail)
    check["warning"] = True
    return check


def _agent_contacts(session, station_id: int, terminal_ids: list[int]) -> dict[int, dict]:
    """Per terminal id: its agent's enrolment and last contact (its calls, or its last device report)."""
    from sqlalchemy import select

    from kiosk.agent import TerminalAgent
    from kiosk.models import DeviceReport
    from kiosk.terminals import Terminal

    if not terminal_ids:
        return {}
    out: dict[int, dict] = {}
    for agent in session.scalars(select(TerminalAgent).where(TerminalAgent.terminal_id.in_(terminal_ids))):
        out[agent.terminal_id] = {
            "enrolled_at": agent.enrolled_at if agent.credential_hash else None,
            "seen": agent.last_seen_at,
            "version": agent.version or "",
        }
    names = dict(session.execute(select(Terminal.name, Terminal.id).where(Terminal.id.in_(terminal_ids))).all())
    reports = session.execute(
        select(DeviceReport.device, DeviceReport.updated_at, DeviceReport.detail).where(
            DeviceReport.station_id == station_id, DeviceReport.device.in_([f"{n}/agent" for n in names])
        )
    ).all()
    for device, updated_at, detail in reports:
        info = out.setdefault(names[device.split("/", 1)[0]], {"enrolled_at": None, "seen": None, "version": ""})
        if info["seen"] is None or updated_at > info["seen"]:
            info["seen"] = updated_at
        info.setdefault("report", detail)
    return out


def agent_state(info: dict | None, now: datetime | None = None) -> tuple[str, datetime | None]:
    """``("not enrolled" | "never reported" | "offline" | "online", last contact)`` of a terminal's agent."""
    from datetime import timedelta

    from kiosk.devices import AGENT_STALE_SECONDS

    if info is None or (info["enrolled_at"] is None and info["seen"] is None):
        return "not enrolled", None
    seen = info["seen"]
    if seen is None:
        return "never reported", None
    now = now or datetime.now(UTC)
    return ("offline" if now - seen > timedelta(seconds=AGENT_STALE_SECONDS) else "online"), seen


def agent_state_of(app, name: str) -> tuple[str, datetime | None]:
    """The state of the agent of terminal ``name`` of this station (``not enrolled`` when it has no terminal)."""
    from kiosk.db import session_for
    from kiosk.terminals import find

    station_id = app.extensions["kiosk_station_id"]
    with session_for(app) as session:
        terminal = find(session, station_id, name)
        if terminal is None or terminal.revoked_at is not None:
            return "not enrolled", None
        return agent_state(_agent_contacts(session, station_id, [terminal.id]).get(terminal.id))


def _agent_check(name: str, info: dict | None) -> dict:
    state, seen = agent_state(info)
    label = f"agent of {name}"
    if state == "online":
        version = f" {info['version']}" if info and info["version"] else ""
        return _check(label, True, f"kiosk agent{version} last reported {_when(seen)}")
    if state == "not enrolled":
        detail = (
            f"terminal {name} has agent = true but no kiosk agent is enrolled: run `kiosk agent token {name}` here, "
            f"then `kiosk agent enrol <this station's URL> TOKEN` on its PC; its receipts are left for staff till then"
        )
    elif state == "never reported":
        detail = (
            f"the kiosk agent of {name} was enrolled on {_when(info['enrolled_at'] if info else None)} but has "
            "never reported: is `kiosk agent` running on that PC (systemctl status kiosk-agent)?"
        )
    else:
        detail = (
            f"the kiosk agent of {name} is offline: last reported {_when(seen)}; check that PC, its network and "
            "`systemctl status kiosk-agent`; its receipts are left for staff to reprint meanwhile"
        )
    check = _check(label, False, detail)
    check["warning"] = True
    return check


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

    if not hub and app.config["SPEECH"]["guidance"]:
        from kiosk.speech import espeak_binary

        found = espeak_binary()
        checks.append(
            _check(
                "spoken guidance",
                found is not None,
                f"espeak-ng at {found}"
                if found
                else "espeak-ng is missing: apt-get install espeak-ng, or set guidance = false under [speech]",
            )
        )
    if not hub:
        from kiosk.handwriting import DEFAULT_MODEL
        from kiosk.handwriting import status as handwriting_status

        works, detail = handwriting_status(app.config.get("HANDWRITING_MODEL") or DEFAULT_MODEL)
        # A note, not a fault: the keyboard's pinyin still works and its pad says handwriting is off.
        checks.append({**_check("handwriting", works, detail), **({} if works else {"warning": True})})
    if not hub:  # the hub drives no devices: receipts and card reads happen at stations
        checks.extend(_guarded("devices", lambda: _device_checks(app)))
        checks.extend(_guarded("terminals", lambda: _terminal_checks(app)))

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
    from kiosk.retention import unknown_settings

    for key in unknown_settings(app):
        # A misspelt kind would keep that data for its default period, not the one the operator chose.
        checks.append(
            _check(
                key,
                False,
                "names no kind of personal data an installed plugin keeps: fix the name "
                "(`kiosk purge --dry-run` lists the kinds); until then the default period applies",
            )
        )
    if not any(c["name"] == "database" and not c["ok"] for c in checks):
        checks.extend(_guarded("plugins", lambda: _plugin_health_checks(app)))
    return checks


def _plugin_health_checks(app) -> list[dict]:
    """What each running plugin's own health check says (what /healthz shows), e.g. forwarding with no secret."""
    from kiosk.health import plugin_health
    from kiosk.stations import current_station

    with app.test_request_context("/"):
        report = plugin_health(current_station())
    return [
        _check(f"plugin {name}", entry["ok"], entry.get("detail") or "ok")
        for name, entry in report.items()
        if entry["state"] == "enabled" and (entry.get("detail") or not entry["ok"])
    ]
