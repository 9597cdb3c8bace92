"""The station's pusher: sends committed outbox entries to the hub and pulls what the hub has for it.

One daemon thread per station node process (started by ``kiosk serve`` /
``kiosk run``), of which exactly one works at a time: it holds a lease in
``job_run`` (``kiosk.sync.pusher@<code>``) that it renews while it runs, so a
station served by several processes still sends each batch once.

A pass (:func:`sync_once`, also what ``kiosk sync now`` runs) numbers the
committed outbox rows, pushes them in batches of :data:`BATCH` from the last
one the hub acknowledged, marks them sent, then pulls and applies the hub's
entries for the station. A crash anywhere in it loses nothing: the next pass
resends from the last acknowledged number, and the hub skips what it already
applied.

The thread wakes as soon as a transaction that recorded an entry commits (a
listener on the app's sessions), looks at the local outbox every
:data:`POLL_SECONDS` for entries another process of the station committed,
pulls the hub's entries every :data:`IDLE_SECONDS`, and backs off
exponentially with jitter while the hub cannot be reached, honouring a
``Retry-After`` the hub sends.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from sqlalchemy import delete, event, func, select, update

from kiosk import sync
from kiosk.db import session_for, unavailable, utcnow
from kiosk.models import JobRun, Station
from kiosk.sync.models import SyncOutbox, SyncState

log = logging.getLogger("kiosk.sync")

BATCH = 200
#: Seconds between pulls from the hub while all is well (what the hub publishes is never urgent, and a
#: pull costs the hub some 4 ms of CPU: 140 stations at 2 s kept a quarter of a core busy).
IDLE_SECONDS = 5.0
#: Seconds between looks at the local outbox (for entries committed by another process of the station).
POLL_SECONDS = 0.5
BACKOFF_CAP = 60.0
#: Seconds one socket operation (connect, a send, a read) may take.
TIMEOUT = 15.0
#: Seconds a whole request may take, plus a second per :data:`SLOWEST_LINK` bytes it sends: a
#: link or middlebox that trickles the answer in a byte at a time (each within ``TIMEOUT``) must
#: not hold the pusher on one request for ever while the station's outbox grows behind it.
DEADLINE = 60.0
SLOWEST_LINK = 16 * 1024
#: The pusher's lease; a process killed while holding it blocks its successor this long at most.
LEASE_SECONDS = 15
#: Sent entries are kept this long (for an operator's look), then pruned.
KEEP_SENT = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)
#: A successful pass updates ``last_ok_at`` at most this often.
NOTE_OK_SECONDS = 30


class SyncFailure(Exception):
    """A push or pull that did not go through; ``status`` 0 when the hub could not be reached."""

    def __init__(self, message: str, status: int = 0, retry_after: float | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body or {}


# --- the HTTP client ----------------------------------------------------------------------------


class _Watchdog:
    """Shuts down the sockets of the request under way in this thread once its deadline has passed.

    A socket timeout bounds each read, not the whole answer; shutting the socket down
    from the timer's thread wakes a read blocked on it (for TLS too: the raw socket).
    """

    current = threading.local()

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def __enter__(self) -> _Watchdog:
        _Watchdog.current.value = self
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        _Watchdog.current.value = None

    @classmethod
    def watch(cls, sock) -> None:
        watchdog = getattr(cls.current, "value", None)
        if watchdog is None or sock is None:
            return
        with watchdog.lock:
            watchdog.sockets.append(sock)
            fired = watchdog.fired
        if fired:
            _shut(sock)

    def _fire(self) -> None:
        with self.lock:
            self.fired = True
            sockets = list(self.sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket's, also under TLS
    except OSError:
        pass


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _Watchdog.watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _Watchdog.watch(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


#: urllib's opener (proxies from the environment, redirects) whose connections the watchdog can end.
_OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


def _request(url: str, *, method: str = "GET", body: dict | None = None, auth: str | None = None) -> dict:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else None
    headers = {"Accept": "application/json", "Kiosk-Sync-Protocol": str(sync.PROTOCOL)}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if auth:
        headers["Authorization"] = f"Bearer {auth}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    deadline = DEADLINE + len(data or b"") / SLOWEST_LINK
    watchdog = _Watchdog(deadline)
    with watchdog:  # the error page of an HTTPError is read under the deadline too
        try:
            with _OPENER.open(req, timeout=TIMEOUT) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except (ValueError, OSError, http.client.HTTPException):  # an error page cut short counts as none
                answer = {}
            if not isinstance(answer, dict):
                answer = {}
            retry = exc.headers.get("Retry-After") if exc.headers else None
            try:
                retry_after = float(retry) if retry else None
            except ValueError:
                retry_after = None
            message = answer.get("error") or f"HTTP {exc.code} {exc.reason}"
            raise SyncFailure(f"hub answered {exc.code}: {message}", exc.code, retry_after, answer) from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            # HTTPException: an answer that is not HTTP or ends early (a middlebox, a hub killed mid-answer).
            if watchdog.fired:
                raise SyncFailure(f"hub unreachable at {url}: no whole answer within {deadline:.0f} s") from None
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            raise SyncFailure(f"hub unreachable at {url}: {reason}") from None
    if not isinstance(answer, dict):
        raise SyncFailure(f"the hub's answer at {url} is not a JSON object")
    return answer


def join(hub_url: str, code: str, token: str, signing_key: str, acked_seq: int = 0, tag: str = "") -> dict:
    """Exchange an enrolment token at the hub; returns its answer (station_key, hub_public_url, tag, protocol)."""
    body = {
        "code": code,
        "token": token,
        "signing_key": signing_key,
        "protocol": sync.PROTOCOL,
        "acked_seq": acked_seq,
        "tag": tag,
    }
    answer = _request(hub_url.rstrip("/") + "/sync/v1/enrol", method="POST", body=body)
    if not isinstance(answer.get("station_key"), str) or not answer["station_key"]:
        raise SyncFailure("the hub's answer to the enrolment has no station key")
    return answer


# --- one pass -----------------------------------------------------------------------------------


def sync_once(app, pull: bool = True) -> tuple[int, int]:
    """Push everything pending and (unless ``pull=False``) pull everything new; returns (pushed, pulled).

    Raises :class:`SyncFailure` (after storing it as the station's
    ``last_error``) when the hub refuses or cannot be reached.
    """
    sid = app.extensions["kiosk_station_id"]
    try:
        with app.app_context():  # plugins' to_station may read current_app (the pusher's thread has no context)
            result = _pass(app, sid, pull)
    except SyncFailure as exc:
        _note(app, sid, error=str(exc))
        raise
    _note(app, sid, error="")
    return result


def _note(app, sid: int, error: str) -> None:
    """Store the outcome of a pass; a success is written at most every :data:`NOTE_OK_SECONDS` (no write every 2 s)."""
    with session_for(app) as session:
        row = session.get(SyncState, sid)
        if (
            not error
            and row is not None
            and not row.last_error
            and row.last_ok_at is not None
            # A last success "in the future" means the clock was set back: write it now, or staff would
            # read a time that stays wrong (and the sync age negative) until the clock catches up.
            and 0 <= (utcnow() - row.last_ok_at).total_seconds() < NOTE_OK_SECONDS
        ):
            return
    with session_for(app, write=True) as session:
        row = sync.state(session, sid)
        if error:
            row.last_error = error[:2000]
        else:
            row.last_error = ""
            row.last_ok_at = utcnow()
        session.commit()


def _pass(app, sid: int, pull: bool = True) -> tuple[int, int]:
    from kiosk.sync.core import record_station

    with session_for(app) as session:
        row = session.get(SyncState, sid)
        if row is None or not (row.hub_url and row.station_key):
            raise SyncFailure("this station is not enrolled at a hub: run `kiosk sync join HUB_URL TOKEN`")
        station = session.get(Station, sid)
        if station is None:
            raise SyncFailure("this station's row is missing from its database")
        hub, auth = row.hub_url.rstrip("/"), f"{station.code}:{row.station_key}"
        acked, pulled_id = row.acked_seq, row.pulled_id
        unsequenced = session.scalar(
            select(SyncOutbox.id).where(SyncOutbox.station_id == sid, SyncOutbox.seq.is_(None)).limit(1)
        )
    describe = not app.extensions.get("kiosk_sync_station_recorded")
    if unsequenced is not None or describe:
        # Only now the write lock: an idle station's passes write nothing.
        with session_for(app, write=True) as session:
            session.info["kiosk_app"] = app
            if describe:
                record_station(session, station)
                session.flush()
            sync.sequence(session, sid)
            session.commit()
    app.extensions["kiosk_sync_station_recorded"] = True
    if not app.extensions.get(POSITION_CHECKED):
        acked = _after_restore(app, sid, hub, auth, acked)
        app.extensions[POSITION_CHECKED] = True
    pushed = pulled = 0
    while True:
        with session_for(app) as session:
            entries = _fit(sync.pending(session, sid, acked, BATCH))
        if not entries:
            break
        try:
            answer = _request(
                hub + "/sync/v1/push",
                method="POST",
                # The station's clock as it sends: the hub corrects the station's times by the skew.
                body={"after": acked, "entries": entries, "sent_at": utcnow().isoformat()},
                auth=auth,
            )
        except SyncFailure as exc:
            if exc.status == 409 and isinstance(exc.body.get("last_seq"), int):
                # The hub is behind what we thought (restored from a backup): resend from where it is.
                log.warning("the hub has our entries up to %s only; resending from there", exc.body["last_seq"])
                acked = _rewind(app, sid, exc.body["last_seq"])
                continue
            raise
        upto = answer.get("last_seq")
        if not isinstance(upto, int):
            raise SyncFailure("the hub's answer to a push has no last_seq")
        if upto > entries[-1]["seq"] and _renumber_past(app, sid, acked, upto):
            acked = upto  # our entries now come after the hub's numbers: send them again
            continue
        with session_for(app, write=True) as session:
            sync.mark_sent(session, sid, upto)
            session.commit()
        pushed += sum(1 for e in entries if acked < e["seq"] <= upto)
        if upto <= acked:
            raise SyncFailure(f"the hub did not move past {acked}")
        acked = upto
    while pull:
        answer = _request(f"{hub}/sync/v1/pull?after={pulled_id}", auth=auth)
        down = answer.get("entries")
        if not isinstance(down, list):
            raise SyncFailure("the hub's answer to a pull has no entries")
        if not down:
            break
        top = _apply_pulled(app, sid, down, pulled_id)
        pulled += len(down)
        pulled_id = max(top, pulled_id)
        if not answer.get("more"):
            break
    return pushed, pulled


#: A batch's body stays under this many bytes (the hub refuses more than 2 MiB):
#: a few offline petitions with photos must not make every retry too large.
MAX_BATCH_BYTES = 1536 * 1024


def _fit(entries: list[dict]) -> list[dict]:
    """The longest head of ``entries`` whose JSON fits :data:`MAX_BATCH_BYTES` (at least one entry)."""
    total = 0
    for count, entry in enumerate(entries):
        total += len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()) + 1
        if total > MAX_BATCH_BYTES and count > 0:
            return entries[:count]
    return entries


def _apply_pulled(app, sid: int, down: list, pulled_id: int) -> int:
    """Apply a pulled page in one transaction; if it fails, again entry by entry, parking what fails."""
    if not all(isinstance(e, dict) and isinstance(e.get("id"), int) and isinstance(e.get("kind"), str) for e in down):
        raise SyncFailure("the hub's answer to a pull has malformed entries")
    for isolate in (False, True):
        with session_for(app, write=True) as session:
            session.info["kiosk_app"] = app
            station = session.get(Station, sid)
            try:
                top = sync.apply_down(app, session, station, down, isolate=isolate)
                sync.state(session, sid).pulled_id = max(top, pulled_id)
                session.commit()
                return top
            except Exception as exc:
                session.rollback()
                if isolate or unavailable(exc):
                    raise
                log.warning("entries from the hub failed here (%s); applying them one by one", type(exc).__name__)
    raise AssertionError("not reached")


#: ``app.extensions`` key: this process has looked for the mark of a restore (:func:`mark_restored`).
#: A restore is done with the kiosk stopped, so one look per process is enough.
POSITION_CHECKED = "kiosk_sync_hub_position_checked"


def restored_mark(code: str) -> str:
    """The ``job_run`` row that says the station's database was restored from a backup."""
    return f"kiosk.sync.restored@{code}"[:100]


def mark_restored(app) -> None:
    """Mark the database as restored from a backup (``kiosk restore``, ``kiosk sync restored``).

    The next pass of the station's pusher then asks the hub where it is and
    renumbers every entry the hub has not acknowledged past the hub's number
    before it pushes (:func:`_after_restore`).
    """
    sid = app.extensions["kiosk_station_id"]
    with session_for(app, write=True) as session:
        station = session.get(Station, sid)
        if station is None:
            raise LookupError(f"no station {sid} in this database")
        name = restored_mark(station.code)
        row = session.get(JobRun, name)
        if row is None:
            session.add(JobRun(name=name, last_run_at=utcnow(), last_error=""))
        else:
            row.last_run_at = utcnow()
        session.commit()
    app.extensions.pop(POSITION_CHECKED, None)


def _after_restore(app, sid: int, hub: str, auth: str, acked: int) -> int:
    """If the database is marked restored, put our unacknowledged entries after the hub's number; returns acked.

    The restored outbox numbers from where the backup was, and the hub skips
    numbers it has applied as replays. Without the mark a station cannot tell
    that from an answer lost after a crash (the hub then rightly has our numbers).
    An empty push answers where the hub is; the mark goes in the same
    transaction as the renumbering, so a crash before it leaves the mark for the
    next pass, which asks again.
    """
    with session_for(app) as session:
        station = session.get(Station, sid)
        name = restored_mark(station.code) if station is not None else None
        if name is None or session.get(JobRun, name) is None:
            return acked
    try:
        answer = _request(
            hub + "/sync/v1/push",
            method="POST",
            body={"after": acked, "entries": [], "sent_at": utcnow().isoformat()},
            auth=auth,
        )
        upto = answer.get("last_seq")
    except SyncFailure as exc:
        if exc.status != 409 or not isinstance(exc.body.get("last_seq"), int):
            raise
        upto = exc.body["last_seq"]  # the hub is behind us (restored too): resend from where it is
    if not isinstance(upto, int):
        raise SyncFailure("the hub's answer to a push has no last_seq")
    if upto > acked:
        _renumber_past(app, sid, acked, upto, restored=name)
        return upto
    with session_for(app, write=True) as session:
        sync.state(session, sid).acked_seq = upto
        session.execute(delete(JobRun).where(JobRun.name == name))
        session.commit()
    log.info("restored from a backup: the hub has our entries up to %s, resending from there", upto)
    return upto


def _renumber_past(app, sid: int, acked: int, hub_seq: int, restored: str | None = None) -> bool:
    """The hub has numbers this station never gave: move our entries after ``acked`` past them.

    That happens to a station restored from its backup (docs/deploy.md): its outbox
    numbers from where the backup was, and the hub, which already applied those
    numbers from before the loss, would skip every entry recorded since as a
    replay, and the station mark them sent. Resending the entries the hub may
    already have is harmless (the latest state of a record wins, and the station's
    is the one it has now). Returns False when the station does have ``hub_seq``.

    ``restored`` (the name of the mark of a restore, :func:`mark_restored`):
    renumber whatever the station numbered, and drop the mark in the same
    transaction.
    """
    with session_for(app, write=True) as session:
        top = session.scalar(select(func.coalesce(func.max(SyncOutbox.seq), 0)).where(SyncOutbox.station_id == sid))
        if hub_seq <= (top or 0) and restored is None:
            return False
        log.warning(
            "the hub has our entries up to %s but this station numbered only up to %s%s; "
            "renumbering the entries after %s to follow the hub's",
            hub_seq,
            top,
            " since it was restored from a backup" if restored else " (restored from a backup?)",
            acked,
        )
        if restored is not None:
            session.execute(delete(JobRun).where(JobRun.name == restored))
        later = (SyncOutbox.station_id == sid) & (SyncOutbox.seq > acked)
        # Through negative numbers, so no two rows share a number between the statements.
        session.execute(update(SyncOutbox).where(later).values(seq=-SyncOutbox.seq))
        session.execute(
            update(SyncOutbox)
            .where(SyncOutbox.station_id == sid, SyncOutbox.seq < 0)
            .values(seq=-SyncOutbox.seq + (hub_seq - acked), sent_at=None)
        )
        sync.state(session, sid).acked_seq = hub_seq
        session.commit()
    return True


def _rewind(app, sid: int, last_seq: int) -> int:
    with session_for(app, write=True) as session:
        row = sync.state(session, sid)
        row.acked_seq = last_seq
        session.commit()
    return last_seq


def waiting(app) -> bool:
    """Whether this station has entries the hub has not acknowledged (a cheap local read)."""
    sid = app.extensions["kiosk_station_id"]
    with session_for(app) as session:
        found = session.scalar(
            select(SyncOutbox.id).where(SyncOutbox.station_id == sid, SyncOutbox.sent_at.is_(None)).limit(1)
        )
    return found is not None


def prune(app, now: datetime | None = None) -> int:
    """Delete entries the hub acknowledged more than :data:`KEEP_SENT` ago; returns how many."""
    now = now or utcnow()
    sid = app.extensions["kiosk_station_id"]
    with session_for(app, write=True) as session:
        result = session.execute(
            delete(SyncOutbox).where(
                SyncOutbox.station_id == sid, SyncOutbox.sent_at.is_not(None), SyncOutbox.sent_at < now - KEEP_SENT
            )
        )
        session.commit()
        return getattr(result, "rowcount", 0) or 0


#: On a station that is not enrolled at a hub, entries older than this are dropped: nobody
#: will send them, and a station that enrols later sends what it recorded in this window.
KEEP_UNSENT_STANDALONE = timedelta(days=90)


def prune_outbox(app, now: datetime | None = None) -> int:
    """The daily job: prune sent entries, and on a station with no hub entries nobody will send.

    Without it a standalone station (the demo, a station before its district has a
    hub) would keep every change it ever recorded.
    """
    now = now or utcnow()
    pruned = prune(app, now)
    sid = app.extensions["kiosk_station_id"]
    with session_for(app, write=True) as session:
        row = session.get(SyncState, sid)
        if row is not None and row.hub_url and row.station_key:
            return pruned
        result = session.execute(
            delete(SyncOutbox).where(SyncOutbox.station_id == sid, SyncOutbox.at < now - KEEP_UNSENT_STANDALONE)
        )
        session.commit()
        return pruned + (getattr(result, "rowcount", 0) or 0)


#: The hub keeps what stations pull at least this long, and drops it after
#: :data:`KEEP_DOWN_MAX` even if a station never pulled it (a station silent that
#: long is revoked or rebuilt).
KEEP_DOWN = timedelta(days=7)
KEEP_DOWN_MAX = timedelta(days=180)


def prune_down(app, now: datetime | None = None) -> int:
    """The hub's daily job: drop down-log entries every enrolled station has pulled (and a week old).

    Revoked stations do not hold entries back; entries older than
    :data:`KEEP_DOWN_MAX` go whoever has not pulled them.
    """
    from kiosk.sync.models import SyncDown, SyncPeer

    now = now or utcnow()
    with session_for(app, write=True) as session:
        floor = session.scalar(
            select(func.min(SyncPeer.pulled_id)).where(SyncPeer.revoked_at.is_(None), SyncPeer.enrolled_at.is_not(None))
        )
        pulled_by_all = SyncDown.id <= (floor or 0) if floor is not None else SyncDown.id.is_not(None)
        result = session.execute(
            delete(SyncDown).where(
                (pulled_by_all & (SyncDown.at < now - KEEP_DOWN)) | (SyncDown.at < now - KEEP_DOWN_MAX)
            )
        )
        session.commit()
        return getattr(result, "rowcount", 0) or 0


def status(app) -> dict:
    """What ``kiosk sync status`` and ``/healthz`` say: enrolled?, hub, last ok, last error, entries waiting."""
    sid = app.extensions["kiosk_station_id"]
    with session_for(app) as session:
        row = session.get(SyncState, sid)
        waiting = session.scalar(
            select(func.count(SyncOutbox.id)).where(SyncOutbox.station_id == sid, SyncOutbox.sent_at.is_(None))
        )
        oldest = session.scalar(
            select(func.min(SyncOutbox.at)).where(SyncOutbox.station_id == sid, SyncOutbox.sent_at.is_(None))
        )
    enrolled = row is not None and bool(row.hub_url and row.station_key)
    return {
        "enrolled": enrolled,
        "hub": row.hub_url if enrolled and row is not None else None,
        "hub_public_url": (row.hub_public_url or None) if row is not None else None,
        "tag": (row.tag or None) if row is not None else None,
        "last_ok_at": row.last_ok_at.isoformat() if row is not None and row.last_ok_at else None,
        "last_error": (row.last_error or None) if row is not None else None,
        "waiting": int(waiting or 0),
        "oldest_waiting_at": oldest.isoformat() if oldest else None,
        "acked_seq": row.acked_seq if row is not None else 0,
        "pulled_id": row.pulled_id if row is not None else 0,
    }


# --- the thread ---------------------------------------------------------------------------------


def init_app(app) -> None:
    """Wake the pusher when a transaction that recorded an entry commits (station nodes only)."""
    if sync.is_hub(app):
        return
    wake = threading.Event()
    app.extensions["kiosk_sync_wake"] = wake

    def committed(session):
        if session.info.pop(sync.RECORDED, None):
            wake.set()

    def rolled_back(session):
        session.info.pop(sync.RECORDED, None)

    db = app.extensions["db"]
    for factory in (db.Session, db.WriteSession):
        event.listen(factory, "after_commit", committed)
        event.listen(factory, "after_rollback", rolled_back)


class Pusher:
    """The loop of one station process; only the holder of the lease pushes."""

    def __init__(self, app, idle: float = IDLE_SECONDS, poll: float = POLL_SECONDS):
        self.app = app
        self.idle = idle
        self.poll = poll
        self.last_pull: float | None = None
        self.stop_event = threading.Event()
        self.wake = app.extensions.get("kiosk_sync_wake") or threading.Event()
        self.lease_name = f"kiosk.sync.pusher@{app.config['STATION']['code']}"[:100]
        self.lease_until: datetime | None = None
        self.failures = 0
        #: True while this process may not push (another holds the lease, or the station has not
        #: joined a hub): run() then sleeps through commits' wake-ups, which could not change that.
        self.idle_until_due = False
        self.last_prune: datetime | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> Pusher:
        self.thread = threading.Thread(target=self.run, daemon=True, name="kiosk-sync-pusher")
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
        self._release()

    def _hold_lease(self) -> bool:
        """Take or renew the lease; False while another process of the station holds it."""
        now = utcnow()
        longest = timedelta(seconds=LEASE_SECONDS)
        if self.lease_until is not None and longest / 2 < self.lease_until - now <= longest:
            return True  # ours and still fresh: nobody else can take it before it expires
        with session_for(self.app, write=True) as session:
            row = session.get(JobRun, self.lease_name, with_for_update=True)
            if row is None:
                row = JobRun(name=self.lease_name, last_error="")
                session.add(row)
                session.flush()
            ours = self.lease_until is not None and row.lease_until == self.lease_until
            # A lease ending further ahead than a lease lasts was taken before the clock was set back:
            # its holder renews it by now if it lives, so it is not waited out (for as long as the jump).
            held = row.lease_until is not None and now < row.lease_until <= now + longest
            if not ours and held:
                self.lease_until = None
                return False
            row.lease_until = self.lease_until = now + timedelta(seconds=LEASE_SECONDS)
            row.last_run_at = now
            session.commit()
            return True

    def _release(self) -> None:
        if self.lease_until is None:
            return
        try:
            with session_for(self.app, write=True) as session:
                row = session.get(JobRun, self.lease_name, with_for_update=True)
                if row is not None and row.lease_until == self.lease_until:
                    row.lease_until = None
                    session.commit()
        except Exception:
            log.debug("could not release the pusher's lease", exc_info=True)
        self.lease_until = None

    def _enrolled(self) -> bool:
        sid = self.app.extensions["kiosk_station_id"]
        with session_for(self.app) as session:
            row = session.get(SyncState, sid)
            return row is not None and bool(row.hub_url and row.station_key)

    def step(self) -> float:
        """One turn of the loop; returns how long to wait before the next.

        Pushes as soon as there is something to push (woken by a commit in this
        process, or seen by a cheap local look every :data:`POLL_SECONDS`, for
        entries another process of the station committed); pulls every
        ``idle`` seconds.
        """
        # Every commit of this process sets ``wake``; a turn that pushes nothing must still clear
        # it, or run() never waits and the loop spins (it held the GIL 41% of the time on a
        # station that is not enrolled, issuing tickets, issue 22).
        self.idle_until_due = True
        if not self._hold_lease():
            self.wake.clear()  # the process holding the lease pushes what we commit
            return LEASE_SECONDS / 3
        if not self._enrolled():
            self.wake.clear()
            return 5.0  # `kiosk sync join` may enrol the station at any time
        self.idle_until_due = False
        now = time.monotonic()
        pull_due = self.last_pull is None or now - self.last_pull >= self.idle
        woken = self.wake.is_set()
        self.wake.clear()
        if not (pull_due or woken or self.failures or waiting(self.app)):
            return min(self.poll, self.idle)
        try:
            sync_once(self.app, pull=pull_due or bool(self.failures))
        except SyncFailure as exc:
            self.failures += 1
            delay = min(BACKOFF_CAP, self.idle * 2 ** min(self.failures, 10)) * random.uniform(0.5, 1.0)
            if exc.retry_after is not None:
                delay = max(exc.retry_after, 0.1) if exc.status == 429 else max(delay, exc.retry_after)
            if self.failures == 1 or self.failures % 10 == 0:
                log.warning("sync failed (%s in a row), next try in %.1f s: %s", self.failures, delay, exc)
            return delay
        if pull_due or self.failures:
            self.last_pull = now
        if self.failures:
            log.info("sync works again after %s failure(s)", self.failures)
        self.failures = 0
        moment = utcnow()
        if self.last_prune is None or moment - self.last_prune > PRUNE_EVERY:
            self.last_prune = moment
            prune(self.app, moment)
        return min(self.poll, self.idle)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                delay = self.step()
            except Exception as exc:
                log.exception("sync pusher pass failed; trying again")
                delay = min(BACKOFF_CAP, self.idle * 4)
                # Staff must see that sync is not working, not the last success as if all were well.
                try:
                    _note(self.app, self.app.extensions["kiosk_station_id"], error=f"{type(exc).__name__}: {exc}")
                except Exception:
                    log.debug("could not note the pusher's failure", exc_info=True)
            if self.stop_event.is_set():
                break
            # While failing, a commit must not cut the back-off short (nor a hub's Retry-After).
            # Nor may it wake a pusher that cannot push: on a station with no hub (the demo) every
            # ticket's commit cost a lease check and a look at the enrolment (7% of the worker's
            # GIL time under 4 outside clients, issue 22).
            (self.stop_event if self.failures or self.idle_until_due else self.wake).wait(delay)
        self._release()


def start(app) -> Pusher | None:
    """Start the station's pusher thread (a hub has none); ``app.extensions["kiosk_sync_pusher"]``."""
    if sync.is_hub(app):
        return None
    pusher = Pusher(app).start()
    app.extensions["kiosk_sync_pusher"] = pusher
    # A process that stops cleanly hands the lease on at once (a killed one: when it expires).
    atexit.register(pusher._release)
    return pusher
