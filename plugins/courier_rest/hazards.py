"""小蜜蜂巡查: hazards riders report from the road.

A report has a category and a short note, and may get photos from the
rider's phone through a QR code while it is a draft. Sending offers it to the
petitions plugin (``request_service(kind="civic_request")``); when that plugin
answers, the report becomes a petition with a tracking number, otherwise it is
kept for the station's staff. A draft nobody sends is sent by the station's
job after the photo window, so no report is lost.

In a district, a report kept at the station also goes to the hub (sync kind
``courier_rest.hazard``), whose job files it with the petitions plugin there
(:func:`file_at_hub`); the tracking number comes back to the station.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from kiosk import sync as kiosk_sync
from kiosk.i18n import N_, localized
from kiosk.models import Station
from kiosk.services import request_service
from kiosk_plugins.courier_rest import sync
from kiosk_plugins.courier_rest.models import Hazard
from kiosk_plugins.courier_rest.settings import get_settings
from kiosk_plugins.courier_rest.writes import run_write

CATEGORIES = [
    ("safety_hazard", N_("Safety hazard")),
    ("environment", N_("City appearance")),
    ("traffic", N_("Traffic order")),
    ("bulky_waste", N_("Bulky waste")),
    ("other", N_("Other problem")),
]
CATEGORY_KEYS = {k for k, _ in CATEGORIES}
LABELS = dict(CATEGORIES)
NOTE_MAX = 100
#: How long a draft accepts photos from the phone before the job sends it anyway.
PHOTO_WINDOW = timedelta(minutes=30)
#: A send that crashed half-way is tried again after this long.
SENDING_TIMEOUT = timedelta(minutes=5)


def validate(category: str, note: str) -> tuple[dict, dict]:
    """Check a report; returns (clean values, field → message id)."""
    note = " ".join((note or "").split())
    errors = {}
    if category not in CATEGORY_KEYS:
        errors["category"] = N_("Please tap what kind of problem you saw.")
    if not note:
        errors["note"] = N_("Please write a few words: what is wrong and where.")
    elif len(note) > NOTE_MAX:
        errors["note"] = N_("Please keep the note short: at most 100 characters.")
    return {"category": category, "note": note}, errors


def create(session, station_id: int, rider_id: int | None, category: str, note: str, now) -> Hazard:
    """Start a draft report (photos may still be added from the phone)."""
    report = Hazard(
        station_id=station_id,
        rider_id=rider_id,
        category=category,
        note=note,
        photos=[],
        state="draft",
        upload_token=secrets.token_urlsafe(18),
        tracking_no="",
        status_url="",
        created_at=now,
    )
    session.add(report)
    session.flush()
    # In a district the phone's upload page is the hub's: it must know the draft.
    sync.record_hazard(None, session, report)
    return report


def photo_folder(app, station_id: int) -> str:
    """Where a station's hazard photos live, inside the instance's uploads folder."""
    return os.path.join(app.instance_path, "uploads", "courier_rest", str(station_id))


def photo_paths(app, report: Hazard) -> list[str]:
    """Absolute paths of a report's photos (what the petitions plugin is handed)."""
    folder = photo_folder(app, report.station_id)
    return [os.path.join(folder, name) for name in report.photos or []]


PATROL = N_("Rider patrol")


def _chinese(message_id: str) -> str:
    # The district's handlers read Chinese whatever language the rider used.
    return localized(message_id, "zh_Hans")


def send(station, report_id: int, now) -> Hazard | None:
    """Send a draft on (petition, or kept for staff); returns the report, None if not a draft.

    The draft is claimed first (``draft`` → ``sending`` in one UPDATE), so the
    kiosk and the phone pressing "send" together make one petition, not two.
    """
    app = current_app._get_current_object()

    def claim(session):
        result = session.execute(
            update(Hazard)
            .where(
                Hazard.id == report_id,
                Hazard.station_id == station.id,
                (Hazard.state == "draft") | ((Hazard.state == "sending") & (Hazard.sent_at < now - SENDING_TIMEOUT)),
            )
            .values(state="sending", sent_at=now)
        )
        if result.rowcount != 1:
            return None
        return session.get(Hazard, report_id), kiosk_sync.is_enrolled(session)

    claimed = run_write(claim)
    if claimed is None:
        return None
    report, enrolled = claimed
    # A station of a district hands the report to the hub, which files it with the photos the
    # phone gave there; the hub (or a standalone station) files it itself.
    answer = None if enrolled else request_service("civic_request", _payload(app, report), station, app=app)
    ok = isinstance(answer, dict) and answer.get("tracking_no")

    def finish(session):
        row = session.get(Hazard, report_id)
        row.state = "sent" if ok else "kept"
        row.tracking_no = str(answer.get("tracking_no"))[:40] if ok else ""
        row.status_url = str(answer.get("status_url") or "")[:300] if ok else ""
        row.sent_at = now
        # The hub files a kept report as a district petition (and keeps a sent one on record).
        sync.record_hazard(app, session, row)
        if ok:
            # Sent from the phone at the hub: the station that took the report learns its number.
            _publish_result(session, row)
        return row

    return run_write(finish)


def _payload(app, report: Hazard) -> dict:
    """What the petitions plugin's ``civic_request`` service is handed for a report."""
    settings = get_settings(app)
    return {
        "type": "complaint",
        "category": settings.petition_categories.get(report.category, "other"),
        "description": f"【{_chinese(PATROL)}·{_chinese(LABELS[report.category])}】{report.note}",
        "place": "",
        "photos": photo_paths(app, report),
        "source": "courier_rest",
    }


def file_at_hub(app, report_id: int, now) -> Hazard | None:
    """At the hub: file a station's report as a petition there; the tracking number goes back to the station.

    Claimed like :func:`send` (``forward`` → ``sending``), so two hub
    processes file it once. With no petitions plugin answering at the hub the
    report stays ``kept``, for the station's staff as before.
    """

    def claim(session):
        result = session.execute(
            update(Hazard)
            .where(
                Hazard.id == report_id,
                (Hazard.state == "forward") | ((Hazard.state == "sending") & (Hazard.sent_at < now - SENDING_TIMEOUT)),
            )
            .values(state="sending", sent_at=now)
        )
        if result.rowcount != 1:
            return None
        report = session.get(Hazard, report_id)
        return report, session.get(Station, report.station_id)

    claimed = run_write(claim)
    if claimed is None:
        return None
    report, station = claimed
    answer = request_service("civic_request", _payload(app, report), station, app=app)
    ok = isinstance(answer, dict) and answer.get("tracking_no")

    def finish(session):
        row = session.get(Hazard, report_id)
        row.state = "sent" if ok else "kept"
        row.tracking_no = str(answer.get("tracking_no"))[:40] if ok else ""
        row.status_url = str(answer.get("status_url") or "")[:300] if ok else ""
        row.sent_at = now
        if ok:
            _publish_result(session, row)
        return row

    return run_write(finish)


def _publish_result(session, row: Hazard) -> None:
    """At the hub: tell the station that took the report its tracking number (a no-op on a station)."""
    kiosk_sync.publish(
        session,
        sync.HAZARD,
        row.upload_token,
        {"tracking_no": row.tracking_no, "status_url": row.status_url},
        station_id=row.station_id,
    )


def to_file(session, now) -> list[int]:
    """At the hub: reports stations sent to be filed, and filings that never finished."""
    return list(
        session.scalars(
            select(Hazard.id).where(
                (Hazard.state == "forward") | ((Hazard.state == "sending") & (Hazard.sent_at < now - SENDING_TIMEOUT)),
            )
        )
    )


def unsent(session, station_id: int, now) -> list[int]:
    """Drafts past their photo window, and sends that never finished."""
    return list(
        session.scalars(
            select(Hazard.id).where(
                Hazard.station_id == station_id,
                ((Hazard.state == "draft") & (Hazard.created_at < now - PHOTO_WINDOW))
                | ((Hazard.state == "sending") & (Hazard.sent_at < now - SENDING_TIMEOUT)),
            )
        )
    )
