"""``kiosk doctor``: checks a station can work, and says what to fix."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

from sqlalchemy import text

from kiosk.settings import bilingual

MIN_FREE_MB = 200


def _check(name: str, ok: bool, detail: str) -> dict:
    return {"name": name, "ok": ok, "detail": detail}


def _public_url_check(app) -> dict:
    """A warning, not a failure: a station may be reached by its LAN address."""
    from urllib.parse import urlsplit

    from kiosk.urls import is_loopback

    base = app.config.get("PUBLIC_URL")
    if base and is_loopback(urlsplit(base).netloc):
        return _check(
            "public URL",
            False,
            f"{base} is this machine's own address: phones cannot open the QR "
            "codes; set public_url under [station] to the address phones reach",
        )
    if base:
        return _check("public URL", True, f"QR codes open {base}")
    check = _check(
        "public URL",
        False,
        "not set: QR codes carry the address the kiosk browser uses (usually "
        "http://127.0.0.1:…), which phones cannot open; set public_url under [station] "
        "in the station file (or KIOSK_PUBLIC_URL)",
    )
    check["warning"] = True
    return check


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
