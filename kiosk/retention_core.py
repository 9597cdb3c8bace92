"""The core's own kinds of personal data and their periods (see :mod:`kiosk.retention`).

Each keeps the station file key it had before the retention hook existed
(``[retention] audit_days``, ``login_attempt_days``), or a flat key of the same
form; docs/retention.md says why each period is the minimum necessary.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import delete, or_

from kiosk.models import AuditLog, LoginAttempt, PrintJob

#: Print jobs still being worked on are never purged, however old.
LIVE_PRINT_STATES = ("queued", "printing")


def purge_audit(sweep) -> int:
    """Audit lines (who did what, from which address) older than the period."""
    query = delete(AuditLog).where(AuditLog.at < sweep.cutoff)
    if not sweep.hub:
        query = query.where(or_(AuditLog.station_id == sweep.station_id, AuditLog.station_id.is_(None)))
    return int(sweep.session.execute(query).rowcount or 0)


def purge_login_attempts(sweep) -> int:
    """Failed logins (user name and address) older than the period."""
    return int(sweep.session.execute(delete(LoginAttempt).where(LoginAttempt.at < sweep.cutoff)).rowcount or 0)


def purge_revoked_sessions(sweep) -> int:
    """Logged-out sessions (whose account, until when) once the cookie they stopped has expired."""
    from kiosk.auth import prune_revoked_sessions

    return prune_revoked_sessions(sweep.session, now=sweep.cutoff)


def purge_rate_hits(sweep) -> int:
    """Counted requests of public routes: the limits look back minutes, never a day."""
    from kiosk.ratelimit import RateHit

    return int(sweep.session.execute(delete(RateHit).where(RateHit.at < sweep.cutoff)).rowcount or 0)


def purge_receipts(sweep) -> int:
    """Stored receipts: print jobs (their text names people, plates, phones) and preview images on disk."""
    rows = sweep.session.execute(
        delete(PrintJob).where(
            sweep.mine(PrintJob.station_id),
            PrintJob.created_at < sweep.cutoff,
            PrintJob.state.not_in(LIVE_PRINT_STATES),
        )
    ).rowcount
    folder = os.path.join(sweep.app.instance_path, "receipts")
    cutoff = sweep.cutoff.timestamp()
    for directory, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(directory, name)
            try:
                if os.path.getmtime(path) < cutoff:
                    sweep.remove_file(path)
            except FileNotFoundError:
                continue
    return int(rows or 0)


def purge_visitors(sweep) -> int:
    """Visitor turns kept for a kiosk session (:mod:`kiosk.visitors`) once they have lapsed."""
    from kiosk.visitors import VisitorRow

    return int(sweep.session.execute(delete(VisitorRow).where(VisitorRow.expires_at < sweep.cutoff)).rowcount or 0)


#: Keyword arguments of :func:`kiosk.retention._make_kind` for each core kind.
KINDS: list[dict[str, Any]] = [
    dict(
        name="audit_log",
        setting="audit_days",
        days=365,
        purge=purge_audit,
        label={"zh_Hans": "操作日志", "zh_Hant": "操作日誌", "en": "Audit log"},
        reason="staff actions must be traceable for a year of complaints and inspections, then they identify staff "
        "and addresses for no purpose",
    ),
    dict(
        name="login_attempts",
        setting="login_attempt_days",
        days=30,
        purge=purge_login_attempts,
        label={"zh_Hans": "登录失败记录", "zh_Hant": "登入失敗記錄", "en": "Failed logins"},
        reason="the back-off looks back minutes; a month is enough to look into an attack",
    ),
    dict(
        name="revoked_sessions",
        setting="revoked_session_days",
        days=0,
        purge=purge_revoked_sessions,
        label={"zh_Hans": "已退出的登录会话", "zh_Hant": "已登出的登入工作階段", "en": "Logged-out sessions"},
        reason="a logged-out session is refused only until its cookie expires; after that the record is of no use",
    ),
    dict(
        name="rate_hits",
        setting="rate_hit_days",
        days=1,
        purge=purge_rate_hits,
        label={"zh_Hans": "访问频率计数", "zh_Hant": "訪問頻率計數", "en": "Rate-limit counts"},
        reason="limits count the last minutes; a day covers the longest window",
    ),
    dict(
        name="receipts",
        setting="receipt_days",
        days=7,
        purge=purge_receipts,
        label={"zh_Hans": "已存小票", "zh_Hant": "已存小票", "en": "Stored receipts"},
        reason="a failed receipt is reprinted the same day or the next; a week covers a weekend and a holiday",
    ),
    dict(
        name="visitors",
        setting="visitor_days",
        days=0,
        purge=purge_visitors,
        label={"zh_Hans": "自助机访客记录", "zh_Hant": "自助機訪客記錄", "en": "Kiosk visitor turns"},
        reason="a turn is over when it lapses (minutes); nothing is kept after it",
    ),
]
