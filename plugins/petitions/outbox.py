"""Forwarding to the district's event-dispatch system (事件分拨系统) through an outbox.

A message row is written in the same transaction as the petition (or its
status change), so a request the resident was given a tracking number for
always has its message, also if the process dies the next instant. Delivery
happens later, never on the resident's request:

- right after the commit, a daemon thread tries once (:func:`kick`);
- the ``petitions.deliver`` job (every few seconds) sends whatever is due,
  retrying with exponential backoff while the endpoint is down or the station
  is offline.

In a district the hub forwards every station's requests, with the hub's
webhook settings and secret (job ``petitions.deliver_district``); a station
enrolled at a hub writes no message (:func:`handed_to_hub`), so its own job
sends nothing new. A station with no hub forwards its own, as it always did;
messages it wrote before it was enrolled are still its own to send (the hub
is told so and does not forward those requests a second time).

A sender leases the rows it is sending so two workers rarely send the same
message; a crashed sender's lease simply expires. Delivery is at least once:
every message carries the request's id (``request_id`` in the body, the
``X-Petition-Id`` header) and its own ``X-Petition-Message-Id``, so the
receiver can drop duplicates.

Every attempt is signed, with the shared secret, over the time it is sent
and the exact bytes of the body, so a captured request cannot be replayed
later or with another body:

- ``X-Petition-Timestamp: <unix seconds>``
- ``X-Petition-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``

The receiver recomputes the signature, compares it in constant time and
refuses a timestamp more than five minutes from its clock
(``examples/webhook_receiver.py`` does all of that with the standard
library; docs/deploy.md explains it). Nothing is ever sent unsigned: with
an address but no secret the job records why on every waiting message and
fails (:class:`SecretMissing`), and the messages wait until a secret is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select

from kiosk import sync
from kiosk.db import session_for, utcnow
from kiosk_plugins.petitions import vocabulary
from kiosk_plugins.petitions.models import OutboxMessage, Petition, PetitionPhoto
from kiosk_plugins.petitions.settings import get_settings

log = logging.getLogger("kiosk_plugins.petitions.outbox")

BATCH = 50
MAX_BACKOFF = 600
FIRST_BACKOFF = 5
USER_AGENT = "station-kiosk-petitions/1"
TIMESTAMP_HEADER = "X-Petition-Timestamp"
SIGNATURE_HEADER = "X-Petition-Signature"
#: What a receiver should accept between its clock and the timestamp (the example's default).
MAX_AGE_SECONDS = 300
#: Stored on each waiting message, which the staff page shows as it is (staff read Chinese first).
NO_SECRET = (
    "未发送：未设置事件分拨系统的签名密钥，诉求不会在未签名的情况下转发 / "
    "not sent: plugins.petitions.webhook.secret is empty (set it, e.g. from PETITIONS_WEBHOOK_SECRET); "
    "nothing is forwarded unsigned"
)


class SecretMissing(RuntimeError):
    """The dispatch system's address is set but no secret signs the bodies: nothing is sent."""


def backoff_seconds(attempts: int) -> float:
    """Wait before the next try after ``attempts`` failures: 5 s, 10 s, 20 s … at most 10 minutes."""
    base = min(FIRST_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    # A little jitter so a district's stations do not all retry in the same second.
    return base * random.uniform(1.0, 1.2)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Petition-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if not secret:
        raise SecretMissing(NO_SECRET)
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return "v1=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers for one attempt to send ``body``."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def message_body(session, petition: Petition, station, settings, event: str, message_id: str, note: str = "") -> str:
    """The JSON document for one message (stored, then sent byte for byte)."""
    category = settings.category(petition.category)
    department = settings.department(petition.department) if petition.department else None
    photos = (
        session.scalar(select(func.count()).select_from(PetitionPhoto).where(PetitionPhoto.request_id == petition.id))
        if petition.id
        else 0
    )
    doc = {
        "message_id": message_id,
        "event": event,
        "request_id": petition.uid,
        "tracking_no": petition.tracking_no,
        "station": {"code": station.code, "name": station.name},
        "type": petition.type,
        "category": petition.category,
        "category_name": vocabulary.text(category.label, "zh_Hans") if category else petition.category,
        "place": petition.place,
        "description": petition.description,
        "lat": petition.lat,
        "long": petition.lon,
        "photos": photos,
        "channel": petition.channel,
        "status": petition.status,
        "department": petition.department,
        "department_name": vocabulary.text(department.label, "zh_Hans") if department else "",
        "note": note,
        "created_at": _iso(petition.created_at),
        "updated_at": _iso(petition.updated_at),
        "due_at": _iso(petition.due_at),
        "anonymous": petition.anonymous,
    }
    if settings.webhook.include_contact and not petition.anonymous:
        doc["contact"] = {
            "name": petition.contact_name,
            "phone": petition.contact_phone,
            "email": petition.contact_email,
        }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def enqueue(session, petition: Petition, station, settings, event: str, note: str = "") -> OutboxMessage:
    """Add a message for ``petition`` to the caller's open transaction."""
    message_id = str(uuid.uuid4())
    row = OutboxMessage(
        station_id=station.id,
        request_id=petition.id,
        message_id=message_id,
        event=event,
        body=message_body(session, petition, station, settings, event, message_id, note),
        attempts=0,
        next_attempt_at=utcnow(),
        last_error="",
    )
    session.add(row)
    return row


def _send(webhook, claimed: dict) -> str:
    """POST one message; returns "" on a 2xx answer, else a short reason (never the body)."""
    body = claimed["body"].encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Petition-Id": claimed["request_uid"],
        "X-Petition-Message-Id": claimed["message_id"],
        "X-Petition-Event": claimed["event"],
        "X-Petition-Attempt": str(claimed["attempts"] + 1),
        # Signed at each attempt: a retry carries a fresh timestamp over the same bytes.
        **signed_headers(webhook.secret, body),
    }
    req = urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=webhook.timeout) as response:
            response.read(1024)
            return "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(exc).__name__}: {reason}"[:300]


def _claim(app, now, ids, limit: int, lease_seconds: float) -> list[dict]:
    with session_for(app, write=True) as session:
        query = (
            select(OutboxMessage, Petition.uid)
            .join(Petition, Petition.id == OutboxMessage.request_id)
            .where(
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if ids:
            query = query.where(OutboxMessage.id.in_(ids))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=OutboxMessage, skip_locked=True)
        claimed = []
        for row, request_uid in session.execute(query).all():
            row.lease_until = now + timedelta(seconds=lease_seconds)
            claimed.append(
                {
                    "id": row.id,
                    "request_uid": request_uid,
                    "body": row.body,
                    "attempts": row.attempts,
                    "message_id": row.message_id,
                    "event": row.event,
                }
            )
        session.commit()
        return claimed


def handed_to_hub(app) -> bool:
    """True on a station enrolled at a district hub: the hub forwards its requests, the station never does."""
    if sync.is_hub(app):
        return False
    with app.app_context(), session_for(app) as session:
        return sync.is_enrolled(session)


def deliver_due(app, now=None, ids=None, limit: int = BATCH) -> dict:
    """Send every message that is due (or only ``ids``); returns counts of delivered and failed.

    On the hub that is every station's messages, with the hub's settings; at a
    station, its own (an enrolled station writes none: only those from before
    its enrolment remain).
    """
    settings = get_settings(app)
    webhook = settings.webhook
    result = {"delivered": 0, "failed": 0}
    if not webhook.configured:
        return result
    now = now or utcnow()
    if not webhook.secret:
        _refuse_unsigned(app, ids)
    # A sender that dies mid-send holds its rows only until the lease runs out.
    for claimed in _claim(app, now, ids, limit, webhook.timeout + 1):
        # No transaction stays open while the endpoint is slow to answer.
        error = _send(webhook, claimed)
        # Read-then-write on SQLite must lock up front, or a concurrent writer makes it fail.
        with session_for(app, write=True) as session:
            row = session.get(OutboxMessage, claimed["id"])
            row.attempts += 1
            row.lease_until = None
            if error:
                row.last_error = error
                # Counted from the later of the run's clock and the end of the attempt.
                row.next_attempt_at = max(now, utcnow()) + timedelta(seconds=backoff_seconds(row.attempts))
                result["failed"] += 1
                log.warning(
                    "dispatch delivery of message %s failed (attempt %d): %s", row.message_id, row.attempts, error
                )
            else:
                row.delivered_at = utcnow()
                row.last_error = ""
                result["delivered"] += 1
            session.commit()
    return result


def _refuse_unsigned(app, ids) -> None:
    """Say on every waiting message why it is not sent, then fail the job (admin page, /healthz, log)."""
    with session_for(app, write=True) as session:
        query = select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None), OutboxMessage.last_error != NO_SECRET)
        if ids:
            query = query.where(OutboxMessage.id.in_(ids))
        for row in session.scalars(query):
            row.last_error = NO_SECRET
        session.commit()
    raise SecretMissing(NO_SECRET)


class Kicker:
    """One daemon thread per app that makes the first delivery attempt after a commit."""

    def __init__(self, app):
        self.app = app
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="petitions-outbox", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            ids = self.queue.get()
            try:
                with self.app.app_context():
                    deliver_due(self.app, ids=ids)
            except Exception:
                # The job retries whatever this attempt could not send.
                log.exception("immediate dispatch attempt failed; the scheduled job will retry")
            finally:
                self.queue.task_done()


_kicker_lock = threading.Lock()


def kick(app, ids: list[int]) -> None:
    """Try to deliver ``ids`` now, off the request thread."""
    settings = get_settings(app)
    if not ids or not settings.deliver_immediately or not settings.webhook.configured:
        return
    if not settings.webhook.secret:
        return  # the scheduled job says why nothing is sent; no thread needs to fail on every request
    with _kicker_lock:
        kicker = app.extensions.get("petitions_kicker")
        if kicker is None:
            kicker = app.extensions["petitions_kicker"] = Kicker(app)
    kicker.queue.put(list(ids))


def after_commit(session, app, rows: list[OutboxMessage]) -> None:
    """Kick ``rows`` once ``session`` has committed (never before: the row must exist)."""
    from sqlalchemy import event

    event.listen(session, "after_commit", lambda _s: kick(app, [r.id for r in rows]), once=True)


def pending_summary(app, station_id: int | None = None) -> dict:
    """How many messages wait, and since when (for health checks and the staff panel)."""
    with session_for(app) as session:
        query = select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.delivered_at.is_(None))
        if station_id is not None:
            query = query.where(OutboxMessage.station_id == station_id)
        count, oldest = session.execute(query).one()
    return {"pending": count or 0, "oldest": oldest}
