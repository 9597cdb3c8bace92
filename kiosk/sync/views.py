"""The hub's sync endpoints, ``/sync/v1/*``: enrol, push, pull (JSON only, never an HTML page).

Every answer is JSON with ``error`` (a sentence for the station's operator)
when something is refused; nothing is changed by a refused request. The
station sends its protocol version in the ``Kiosk-Sync-Protocol`` header: the
hub accepts its own and the one before it, and answers 426 otherwise, saying
which side to upgrade. Stations authenticate with ``Authorization: Bearer
<station code>:<station key>``; the hub keeps only a hash of the key.

Each pushed batch is applied in one hub transaction with the station's peer
row locked, and only when it continues exactly where the hub is. A bounded
number of batches are applied at once per hub process; beyond that the hub
answers 429 with ``Retry-After`` and the station waits.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import datetime, timedelta

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from kiosk import sync
from kiosk.db import error_line, session_for, unavailable, utcnow
from kiosk.models import Station
from kiosk.sync.models import CLOCK_OFFSET, SyncPeer

log = logging.getLogger("kiosk.sync")

bp = Blueprint("sync", __name__, url_prefix="/sync/v1")

HEADER = "Kiosk-Sync-Protocol"
#: A batch may carry at most this many entries and this many bytes.
MAX_ENTRIES = 500
MAX_BYTES = 2 * 1024 * 1024
#: Entries a pull answers with at most (``more`` says when there are others).
PULL_LIMIT = 500
#: How long a push waits for one of the process's batch slots before the hub answers 429. A second:
#: when 200 stations' pushes come in a burst the slots stay full for some tenths of a second, and at
#: 0.5 s the refused pushes (each then waiting its Retry-After) made the district bench's sync-lag p99
#: (0.8–1.7 s, against 0.5–0.95 s with none refused). Waiting holds a thread, and a station pushes one
#: batch at a time, so the stations bound how many wait.
SLOT_WAIT_SECONDS = 1.0
#: Batches applied at once by one hub process; more wait at the station (429).
CONCURRENT_BATCHES = 4
#: Seconds a station is told to wait when the hub is busy.
RETRY_AFTER = 1
#: Sequence numbers and ids are 32-bit integers in the database.
MAX_NUMBER = 2**31 - 1
#: A station's clock this far from the hub's is taken as right (see :func:`clock_offset`).
CLOCK_TOLERANCE = timedelta(seconds=60)
#: A pull records the station's contact at most this often (a write per pull would be a write every 2 s per station).
CONTACT_EVERY_SECONDS = 60


def init_app(app) -> None:
    """Register the blueprint as CSRF-free (stations send no cookies) with its bounded batch slots."""
    app.register_blueprint(bp)
    app.extensions["csrf_exempt_blueprints"].add(bp.name)
    app.extensions["kiosk_sync_slots"] = threading.BoundedSemaphore(CONCURRENT_BATCHES)


def _refuse(status: int, message: str, *, log_it: bool = True, **extra):
    if log_it:
        log.warning("sync %s %s refused (%s): %s", request.method, request.path, status, message)
    body = {"error": message, "status": status, **extra}
    return jsonify(body), status


@bp.errorhandler(HTTPException)
def _http_error(exc):
    """Werkzeug's own refusals (405, 413 on a huge body) as JSON too."""
    return _refuse(exc.code or 400, exc.description or exc.name)


@bp.before_request
def _check_role_and_protocol():
    if not sync.is_hub():
        return _refuse(404, "this node is a station, not a district hub: sync with the hub's address")
    raw = request.headers.get(HEADER, "")
    try:
        version = int(raw)
    except ValueError:
        return _refuse(400, f"the {HEADER} header is missing or not a number")
    if version > sync.PROTOCOL:
        return _refuse(
            426,
            f"the station speaks sync protocol {version} but this hub only {sync.PROTOCOL}: upgrade the hub first",
            protocol=sync.PROTOCOL,
        )
    if version < sync.PROTOCOL - 1:
        return _refuse(
            426,
            f"the station speaks sync protocol {version}, too old for this hub "
            f"(it accepts {sync.PROTOCOL - 1} and {sync.PROTOCOL}): upgrade the station",
            protocol=sync.PROTOCOL,
        )
    return None


def _number(value) -> bool:
    """A whole number the database can hold, 0 or more (JSON's true/false are not numbers)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_NUMBER


def _text(value, longest: int) -> bool:
    """A non-empty string of at most ``longest`` characters that the database can store (no NUL)."""
    return isinstance(value, str) and 0 < len(value) <= longest and "\x00" not in value


def _json_body() -> dict | None:
    if request.content_length is not None and request.content_length > MAX_BYTES:
        return None
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


def _credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or ":" not in header:
        return None
    code, _, key = header[7:].strip().partition(":")
    return (code, key) if code and key else None


def _authenticate(session, *, lock: bool = False):
    """(station, peer) of a valid station, or an error answer."""
    creds = _credentials()
    if creds is None:
        return None, None, _refuse(401, "send Authorization: Bearer <station code>:<station key>")
    code, key = creds
    station = session.scalar(select(Station).where(Station.code == code))
    peer = session.get(SyncPeer, station.id, with_for_update=lock) if station is not None else None
    if peer is None or not sync.secret_matches(key, peer.key_hash):
        return None, None, _refuse(401, f"unknown station {code[:64]!r} or wrong station key")
    if peer.revoked_at is not None:
        return None, None, _refuse(403, f"station {code} has been revoked at the hub: enrol it again to sync")
    return station, peer, None


def _hub_public_url() -> str:
    configured = current_app.config["STATION"].get("public_url") or current_app.config.get("PUBLIC_URL") or ""
    return (configured or request.host_url).rstrip("/")


@bp.route("/enrol", methods=["POST"])
def enrol():
    """Exchange a one-time enrolment token for the station's own key."""
    body = _json_body()
    if body is None:
        return _refuse(400, "send a JSON object: {code, token, signing_key, protocol}")
    code, token, signing_key = body.get("code"), body.get("token"), body.get("signing_key")
    acked = body.get("acked_seq", 0)
    tag = body.get("tag")
    if not (_text(code, 64) and _text(token, 200) and _text(signing_key, 200)):
        return _refuse(400, "code (at most 64 characters), token and signing_key (200) must be non-empty strings")
    if not _number(acked):
        return _refuse(400, "acked_seq must be a whole number, 0 or more")
    if tag is not None and not isinstance(tag, str):
        return _refuse(400, "tag must be a string")
    with session_for(current_app, write=True) as session:
        station = session.scalar(select(Station).where(Station.code == code))
        peer = session.get(SyncPeer, station.id, with_for_update=True) if station is not None else None
        if peer is None:
            return _refuse(
                403,
                f"no station {code!r} is waiting to enrol at this hub: run `kiosk stations enrol {code}` on the hub "
                "(the code must be the station file's [station] code)",
            )
        if (
            not sync.secret_matches(token, peer.token_hash)
            or peer.token_expires_at is None
            or peer.token_expires_at < utcnow()
        ):
            return _refuse(
                403,
                f"the enrolment token for station {code!r} is wrong, already used or expired: "
                "run `kiosk stations enrol CODE` on the hub for a new one",
            )
        if isinstance(tag, str) and tag and tag.upper() != peer.tag:
            return _refuse(
                409,
                f"the hub enrolled station {code} with tag {peer.tag} but the station's file says {tag.upper()}: "
                f'set tag = "{peer.tag}" under [station] at the station, or enrol it again with --tag',
                tag=peer.tag,
            )
        key = secrets.token_urlsafe(32)
        peer.key_hash = sync.hash_secret(key)
        peer.token_hash = ""  # one time only
        peer.token_expires_at = None
        peer.signing_key = signing_key
        peer.protocol = int(request.headers[HEADER])
        peer.enrolled_at = utcnow()
        peer.revoked_at = None
        # A station starts numbering from where it says the hub has it (0 for a new one).
        peer.last_seq = acked
        peer.last_error = ""
        tag_value = peer.tag
        session.commit()
    log.info("station %s enrolled (tag %s)", code, tag_value)
    return jsonify(
        {"station_key": key, "hub_public_url": _hub_public_url(), "tag": tag_value, "protocol": sync.PROTOCOL}
    )


def _entries_or_error(body: dict, station_code: str):
    after, entries = body.get("after"), body.get("entries")
    if not _number(after):
        return None, None, _refuse(400, "after must be a whole number, 0 or more")
    if not isinstance(entries, list):
        return None, None, _refuse(400, "entries must be a list")
    if len(entries) > MAX_ENTRIES:
        return None, None, _refuse(413, f"a batch carries at most {MAX_ENTRIES} entries, this one {len(entries)}")
    clean = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return None, None, _refuse(400, f"entry {i} is not an object")
        seq, kind, key, data = entry.get("seq"), entry.get("kind"), entry.get("key"), entry.get("data")
        if not _number(seq) or seq == 0:
            return None, None, _refuse(400, f"entry {i}: seq must be a whole number, 1 or more")
        if not _text(kind, 100):
            return None, None, _refuse(400, f"entry {i}: kind must be a string of 1 to 100 characters")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if not _text(key, 200):
            return None, None, _refuse(400, f"entry {i}: key must be a string of 1 to 200 characters")
        if data is not None and not isinstance(data, dict):
            return None, None, _refuse(400, f"entry {i}: data must be an object or null")
        if isinstance(data, dict) and "station" in data and data["station"] != station_code:
            return (
                None,
                None,
                _refuse(
                    403,
                    f"entry {i} ({kind} {key}) names station {data['station']!r}: "
                    f"station {station_code} may only send its own records; nothing was applied",
                ),
            )
        clean.append({"seq": seq, "kind": kind, "key": str(key), "data": data, "at": entry.get("at")})
    return after, clean, None


def clock_offset(sent_at) -> timedelta:
    """How far the hub's clock is ahead of the station's, from the ``sent_at`` of its push (0: unknown or small).

    A station's clock may be off by minutes (no NTP on a district intranet) or
    a day (a lost real-time clock); the times in its records (a device's last
    report) are corrected by this, or the hub's dashboard would flag every
    device of a station that is behind as not reporting, and never one of a
    station ahead. Skews under :data:`CLOCK_TOLERANCE` are left alone (the
    request's own time in transit is in the figure).
    """
    if not isinstance(sent_at, str):
        return timedelta(0)
    try:
        sent = datetime.fromisoformat(sent_at)
    except ValueError:
        return timedelta(0)
    if sent.tzinfo is None:
        return timedelta(0)
    offset = utcnow() - sent
    return offset if abs(offset) > CLOCK_TOLERANCE else timedelta(0)


@bp.route("/push", methods=["POST"])
def push():
    """Apply a batch of a station's entries; answers ``{last_seq}``, where the hub now is."""
    if request.content_length is None or request.content_length > MAX_BYTES:
        if request.content_length is None:
            return _refuse(411, "send the batch with a Content-Length")
        return _refuse(413, f"a batch may be at most {MAX_BYTES} bytes")
    creds = _credentials()
    code = creds[0] if creds else ""
    body = _json_body()
    if body is None:
        return _refuse(400, "send a JSON object: {after, entries: [{seq, kind, key, data, at}]}")
    slots = current_app.extensions["kiosk_sync_slots"]
    # A short wait for a slot costs a thread for a moment; refusing costs the station a
    # second's back-off, which under a burst of 200 stations made most of the sync lag.
    if not slots.acquire(timeout=SLOT_WAIT_SECONDS):
        response, status = _refuse(429, "the hub is busy applying other batches: try again shortly", log_it=False)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response, status
    try:
        return _apply(code, body)
    finally:
        slots.release()


def _apply(code: str, body: dict):
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for isolate in (False, True):
        with session_for(app, write=True) as session:
            station, peer, refusal = _authenticate(session, lock=True)
            if refusal is not None:
                return refusal
            after, entries, refusal = _entries_or_error(body, station.code)
            if refusal is not None:
                return refusal
            session.info[CLOCK_OFFSET] = clock_offset(body.get("sent_at"))
            try:
                upto = sync.apply_batch(app, session, station, peer, after, entries, isolate=isolate)
                session.commit()
                return jsonify({"last_seq": upto})
            except sync.BatchRefused as exc:
                session.rollback()
                extra: dict = {"last_seq": exc.last_seq} if exc.last_seq is not None else {}
                return _refuse(exc.status, str(exc), **extra)
            except Exception as exc:
                session.rollback()
                if unavailable(exc):
                    log.warning("sync push from %s: database unavailable: %s", code, error_line(exc))
                    response, status = _refuse(503, "the hub's database is unavailable: try again shortly")
                    response.headers["Retry-After"] = "5"
                    return response, status
                if isolate:
                    log.exception("sync push from %s failed even entry by entry", code)
                    return _refuse(422, f"the hub could not apply this batch: {type(exc).__name__}")
                log.warning("sync push from %s failed (%s); applying entry by entry", code, type(exc).__name__)
    return _refuse(422, "the hub could not apply this batch")  # not reached


@bp.route("/pull")
def pull():
    """What the hub has for the station after ``?after=N``: ``{entries: [{id, kind, key, data}], more}``."""
    raw = request.args.get("after", "0")
    after = int(raw) if raw.isdigit() and len(raw) < 12 else -1
    if not _number(after):
        return _refuse(400, "after must be a whole number, 0 or more")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with session_for(app) as session:
        station, peer, refusal = _authenticate(session)
        if refusal is not None:
            return refusal
        entries = sync.down_since(session, station.id, after, PULL_LIMIT)
        contact_due = (
            peer.last_sync_at is None or (utcnow() - peer.last_sync_at).total_seconds() > CONTACT_EVERY_SECONDS
        )
        station_id = station.id
    if contact_due:
        with session_for(app, write=True) as session:
            row = session.get(SyncPeer, station_id)
            if row is not None:
                row.last_sync_at = utcnow()
                # Asking after N means it holds everything up to N (see kiosk.sync.pusher.prune_down).
                row.pulled_id = max(row.pulled_id or 0, after)
                session.commit()
    return jsonify({"entries": entries, "more": len(entries) == PULL_LIMIT})


def api_description() -> dict:
    """The sync endpoints for ``/api/openapi.json`` (a station answers them all with 404)."""

    def error(text: str) -> dict:
        return {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    refusals = {
        "400": error("Malformed request, or the protocol header is missing"),
        "401": error("Unknown station or wrong station key"),
        "403": error("Revoked station, or a record of another station"),
        "404": error("This node is a station, not a hub"),
        "426": error("The protocol version is not accepted: the answer says which side to upgrade"),
    }
    header = {
        "name": HEADER,
        "in": "header",
        "required": True,
        "schema": {"type": "integer"},
        "description": f"The sync protocol version the station speaks (the hub accepts {sync.PROTOCOL - 1} and "
        f"{sync.PROTOCOL})",
    }
    entry = {
        "type": "object",
        "required": ["seq", "kind", "key"],
        "properties": {
            "seq": {"type": "integer", "minimum": 1},
            "kind": {"type": "string", "minLength": 1, "maxLength": 100},
            "key": {"type": "string", "minLength": 1, "maxLength": 200},
            "data": {"type": ["object", "null"]},
            "at": {"type": ["string", "null"]},
        },
    }
    return {
        "endpoints": {
            "sync.enrol": {
                "post": {
                    "summary": "A station exchanges its one-time enrolment token for its station key (hub only)",
                    "parameters": [header],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["code", "token", "signing_key"],
                                    "properties": {
                                        "code": {"type": "string"},
                                        "token": {"type": "string"},
                                        "signing_key": {"type": "string"},
                                        "protocol": {"type": "integer"},
                                        "acked_seq": {"type": "integer", "minimum": 0},
                                        "tag": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Enrolled: the station key (shown once), the hub's public address, the tag",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["station_key", "hub_public_url", "tag", "protocol"],
                                        "properties": {
                                            "station_key": {"type": "string"},
                                            "hub_public_url": {"type": "string"},
                                            "tag": {"type": "string"},
                                            "protocol": {"type": "integer"},
                                        },
                                    }
                                }
                            },
                        },
                        **refusals,
                        "409": error("The station's tag differs from the one the hub enrolled it with"),
                    },
                }
            },
            "sync.push": {
                "post": {
                    "summary": "A station's batch of entries, continuing where the hub is (hub only)",
                    "parameters": [header],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["after", "entries"],
                                    "properties": {
                                        "after": {"type": "integer", "minimum": 0},
                                        "sent_at": {
                                            "type": "string",
                                            "description": "The station's clock as it sent the batch (ISO 8601)",
                                        },
                                        "entries": {"type": "array", "maxItems": MAX_ENTRIES, "items": entry},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Applied (a replay changes nothing): where the hub now is",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["last_seq"],
                                        "properties": {"last_seq": {"type": "integer"}},
                                    }
                                }
                            },
                        },
                        **refusals,
                        "409": error("The batch does not continue where the hub is; last_seq says where"),
                        "411": error("No Content-Length"),
                        "413": error(f"More than {MAX_ENTRIES} entries or {MAX_BYTES} bytes"),
                        "422": error("The hub could not apply the batch"),
                        "429": error("The hub is busy: retry after Retry-After seconds"),
                        "503": error("The hub's database is unavailable"),
                    },
                }
            },
            "sync.pull": {
                "get": {
                    "summary": "What the hub has for the station after an id (hub only)",
                    "parameters": [
                        header,
                        {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    ],
                    "responses": {
                        "200": {
                            "description": "Entries in order; more: there are others after them",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["entries", "more"],
                                        "properties": {
                                            "entries": {"type": "array", "items": {"type": "object"}},
                                            "more": {"type": "boolean"},
                                        },
                                    }
                                }
                            },
                        },
                        **refusals,
                    },
                }
            },
        }
    }
