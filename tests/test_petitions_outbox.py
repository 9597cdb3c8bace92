"""Forwarding to the dispatch system: signed, retried while it is down, never lost, not even by a crash.

The dispatch system is a real HTTP server on 127.0.0.1 (port 0) that checks the
HMAC-SHA256 signature of every body and its timestamp (``tests/test_webhook_receiver.py``
runs the shipped example receiver). Crashes and concurrent kiosks are real
processes on the same SQLite file or PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from kiosk.testing import app_config, free_port

SECRET = "district-shared-secret-水贝"
PHONE = "13700001111"


class Receiver:
    """The district's event-dispatch system, as far as the kiosk can tell."""

    def __init__(self, secret=SECRET, port=0, answers=(200,)):
        self.secret = secret.encode()
        self.got: list[tuple[dict, bytes]] = []
        self.rejected = 0
        self.answers = list(answers)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers.get("X-Petition-Timestamp", "")
                signed = stamp.encode() + b"." + body
                expected = "v1=" + hmac.new(receiver.secret, signed, hashlib.sha256).hexdigest()
                fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300
                if not (hmac.compare_digest(self.headers.get("X-Petition-Signature", ""), expected) and fresh):
                    receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.got.append((dict(self.headers), body))
                code = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """An endpoint that accepts the connection and never answers (a hung dispatch system)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.connected.set()

    def stop(self):
        for conn in self.held:
            conn.close()
        self.sock.close()


def webhook(url, timeout=2, immediately=True):
    return {
        "PLUGINS": {
            "petitions": {
                "webhook": {"url": url, "secret": SECRET, "timeout": timeout},
                "deliver_immediately": immediately,
            }
        }
    }


def file_request(client, csrf, **fields):
    client.get("/k/petitions/new")
    data = {
        "csrf_token": csrf(client),
        "step": "4",
        "go": "submit",
        "type": "complaint",
        "category": "safety_hazard",
        "place": "other",
        "description": "小区外墙瓷片脱落，楼下有人经过",
        "anonymous": "0",
        "phone": PHONE,
        "name": "陈大文",
    }
    data.update(fields)
    response = client.post("/k/petitions/new", data=data)
    assert response.status_code == 302
    location = response.headers["Location"]
    # Let the receipt's print job finish first, so its writes never race the test's own.
    job = location.split("job=")[1]
    wait_until(lambda: client.get(f"/print-jobs/{job}").get_json()["state"] in ("done", "failed"))
    return location.split("/done/")[1].split("?")[0]


def outbox_rows(app):
    from kiosk_plugins.petitions.models import OutboxMessage

    with app.extensions["db"].Session() as s:
        return s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def petition(app, token):
    from kiosk_plugins.petitions.models import Petition

    with app.extensions["db"].Session() as s:
        return s.scalar(select(Petition).where(Petition.token == token))


def wait_until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_outbox_retries_while_the_endpoint_is_down_then_delivers(make_app, database_url, csrf):
    from kiosk_plugins.petitions import outbox

    port = free_port()  # nothing listens here yet: the dispatch system is down
    app = make_app(database_url, **webhook(f"http://127.0.0.1:{port}/api/events"))
    client = app.test_client()
    started = time.monotonic()
    token = file_request(client, csrf)
    assert time.monotonic() - started < 5, "the resident never waits for the dispatch system"
    row = wait_until(lambda: next((r for r in outbox_rows(app) if r.attempts >= 1), None))
    assert row.delivered_at is None and "Connection refused" in row.last_error
    first_wait = (row.next_attempt_at - row.created_at).total_seconds()
    assert 4 <= first_wait <= 8, "first retry after about 5 seconds"
    assert outbox.deliver_due(app) == {"delivered": 0, "failed": 0}, "not due yet"

    later = row.next_attempt_at + timedelta(seconds=1)
    assert outbox.deliver_due(app, now=later) == {"delivered": 0, "failed": 1}
    row = outbox_rows(app)[0]
    assert row.attempts == 2 and (row.next_attempt_at - later).total_seconds() >= 9, "the wait doubles"

    receiver = Receiver(port=port)  # the dispatch system is back
    try:
        assert outbox.deliver_due(app, now=row.next_attempt_at + timedelta(seconds=1)) == {"delivered": 1, "failed": 0}
        assert outbox.deliver_due(app, now=row.next_attempt_at + timedelta(days=1)) == {"delivered": 0, "failed": 0}, (
            "an acknowledged message is not sent again"
        )
    finally:
        receiver.stop()
    assert receiver.rejected == 0 and len(receiver.got) == 1
    headers, raw = receiver.got[0]
    body = json.loads(raw)
    filed = petition(app, token)
    assert headers["X-Petition-Id"] == body["request_id"] == filed.uid
    assert headers["X-Petition-Message-Id"] == body["message_id"] == row.message_id
    assert headers["X-Petition-Attempt"] == "3"
    assert (body["event"], body["tracking_no"], body["category"], body["category_name"]) == (
        "created",
        filed.tracking_no,
        "safety_hazard",
        "安全隐患",
    )
    assert body["station"]["code"] == "shuibei" and body["status"] == "received"
    assert PHONE not in raw.decode() and "陈大文" not in raw.decode() and "contact" not in body
    done = outbox_rows(app)[0]
    assert done.delivered_at is not None and done.last_error == ""


def test_staff_send_waiting_messages_at_once(make_app, database_url, csrf):
    from kiosk.testing import Auth

    port = free_port()
    app = make_app(database_url, **webhook(f"http://127.0.0.1:{port}/api/events"))
    client = app.test_client()
    file_request(client, csrf)
    wait_until(lambda: next((r for r in outbox_rows(app) if r.attempts >= 1), None))
    Auth(app, client).login("staff")
    assert "1 条消息正在等待发送到事件分拨系统" in client.get("/staff/").get_data(as_text=True)
    receiver = Receiver(port=port)
    try:
        sent = client.post("/staff/petitions/outbox/retry", data={"csrf_token": csrf(client)})
        assert sent.status_code == 303
        wait_until(lambda: receiver.got)  # well before the 5-second retry was due
    finally:
        receiver.stop()
    wait_until(lambda: outbox_rows(app)[0].delivered_at is not None)
    assert "所有诉求均已送达事件分拨系统" in client.get("/staff/").get_data(as_text=True)


def test_a_wrong_signature_is_refused_and_retried(make_app, database_url, csrf):
    from kiosk_plugins.petitions import outbox

    receiver = Receiver(secret="another-secret")
    app = make_app(database_url, **webhook(receiver.url, immediately=False))
    try:
        file_request(app.test_client(), csrf)
        assert outbox.deliver_due(app) == {"delivered": 0, "failed": 1}
    finally:
        receiver.stop()
    assert receiver.rejected == 1 and receiver.got == []
    row = outbox_rows(app)[0]
    assert row.delivered_at is None and row.last_error == "HTTP 401"


def test_every_retry_sends_the_same_signed_bytes(make_app, database_url, csrf, auth):
    from kiosk_plugins.petitions import outbox

    receiver = Receiver(answers=(500, 200))  # the first answer is lost in the district's own failure
    app = make_app(database_url, **webhook(receiver.url, immediately=False))
    try:
        token = file_request(app.test_client(), csrf)
        assert outbox.deliver_due(app) == {"delivered": 0, "failed": 1}
        row = outbox_rows(app)[0]
        assert outbox.deliver_due(app, now=row.next_attempt_at + timedelta(seconds=1))["delivered"] == 1
    finally:
        receiver.stop()
    (first_headers, first), (second_headers, second) = receiver.got
    assert first == second, "identical bytes: the receiver drops the duplicate by its ids"
    assert first_headers["X-Petition-Message-Id"] == second_headers["X-Petition-Message-Id"]
    assert first_headers["X-Petition-Id"] == second_headers["X-Petition-Id"] == petition(app, token).uid


def test_status_changes_are_forwarded_by_the_scheduled_job(make_app, database_url, csrf):
    from kiosk import jobs
    from kiosk.models import Station
    from kiosk_plugins.petitions import lifecycle

    receiver = Receiver()
    app = make_app(database_url, **webhook(receiver.url, immediately=False))
    try:
        token = file_request(app.test_client(), csrf)
        with app.test_request_context("/"), app.extensions["db"].Session() as db:
            station = db.get(Station, app.extensions["kiosk_station_id"])
            lifecycle.change_status(
                station, petition(app, token).id, "dispatched", "已转应急管理办公室。", department="emergency"
            )
        assert "petitions.deliver" in jobs.run_due(app)
    finally:
        receiver.stop()
    events = [
        (json.loads(raw)["event"], json.loads(raw)["status"], json.loads(raw)["note"]) for _h, raw in receiver.got
    ]
    assert events == [("created", "received", ""), ("dispatched", "dispatched", "已转应急管理办公室。")]
    assert all(r.delivered_at is not None for r in outbox_rows(app))


CHILD = r"""
import json, sys
from kiosk.app import create_app

app = create_app(json.loads(sys.argv[1]))
client = app.test_client()
client.get("/k/petitions/new")
with client.session_transaction() as sess:
    csrf = sess["_csrf"]
mode = sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
if mode == "race":
    import os, time
    while not os.path.exists(sys.argv[4]):
        time.sleep(0.01)
for _ in range(count):
    response = client.post("/k/petitions/new", data={
        "csrf_token": csrf, "step": "4", "go": "submit", "type": "help", "category": "environment",
        "place": "other", "description": "垃圾桶满了没人清理", "anonymous": "1"})
    print("ACK", response.status_code, response.headers.get("Location"), flush=True)
if mode == "crash":
    import time
    time.sleep(120)  # the parent kills us while the delivery thread waits on the hung endpoint
"""


def child_config(tmp_path, database_url, name, **extra):
    instance = tmp_path / name
    instance.mkdir()
    # The ladder's test config; no push listener thread in a short-lived kiosk process.
    return json.dumps(app_config(str(instance), database_url, TESTING_NO_LISTENER=True, **extra))


def test_a_crash_between_acknowledgement_and_delivery_loses_nothing(make_app, database_url, tmp_path):
    from kiosk import jobs
    from kiosk.db import utcnow

    hung = Silent()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            child_config(
                tmp_path, database_url, "kiosk-before", **webhook(f"http://127.0.0.1:{hung.port}/api/events", 1)
            ),
            "crash",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("ACK 302 /k/petitions/done/"), line + child.stderr.read()
        # The resident holds a tracking number; the delivery is under way; the kiosk dies.
        assert hung.connected.wait(10), "the immediate delivery attempt reached the endpoint"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        hung.stop()
    token = line.split("/done/")[1].split("?")[0].strip()

    receiver = Receiver()
    try:
        app = make_app(database_url, **webhook(receiver.url))  # the kiosk starts again
        (row,) = outbox_rows(app)
        assert row.delivered_at is None and row.attempts == 0, "the dead process never recorded an outcome"
        # The dead sender's lease (timeout + 1 s) runs out, then the job sends it.
        assert row.lease_until is not None
        time.sleep(max(0.0, (row.lease_until - utcnow()).total_seconds()) + 0.2)
        assert "petitions.deliver" in jobs.run_due(app)
    finally:
        receiver.stop()
    assert len(receiver.got) == 1 and receiver.rejected == 0
    headers, raw = receiver.got[0]
    assert headers["X-Petition-Id"] == json.loads(raw)["request_id"] == petition(app, token).uid
    assert outbox_rows(app)[0].delivered_at is not None


@pytest.mark.parametrize("workers, each", [(2, 4)])
def test_kiosks_submitting_at_once_get_distinct_numbers(make_app, database_url, tmp_path, workers, each):
    from kiosk_plugins.petitions.models import Petition

    app = make_app(database_url)  # migrated before the kiosks start
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                child_config(tmp_path, database_url, f"kiosk-{i}"),
                "race",
                str(each),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    time.sleep(0.5)
    go.write_text("go")
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        assert out.count("ACK 302") == each, out + err
    with app.extensions["db"].Session() as s:
        numbers = list(s.scalars(select(Petition.tracking_no)))
    assert len(numbers) == len(set(numbers)) == workers * each
    assert sorted(int(n.split("-")[-1]) for n in numbers) == list(range(1, workers * each + 1))
    assert len(outbox_rows(app)) == workers * each, "every acknowledged request has its message"
