"""The petition webhook's signature: timestamped, never absent, and checked by the shipped example receiver.

``examples/webhook_receiver.py`` runs as a real process on a free port: the kiosk
forwards a petition to it and it accepts; a tampered body, an old timestamp (a
replay) and a missing signature are refused by the same script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from test_petitions_outbox import Receiver, file_request, outbox_rows, petition, webhook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "webhook_receiver.py")
SECRET = "district-shared-secret-水贝"


@pytest.fixture
def example_receiver():
    """The example receiver, started as its README says; yields (url, process)."""
    env = dict(os.environ, PETITIONS_WEBHOOK_SECRET=SECRET)
    proc = subprocess.Popen(
        [sys.executable, EXAMPLE, "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield f"http://127.0.0.1:{int(line.split()[-1])}/petitions", proc
    finally:
        proc.terminate()
        proc.wait(10)


def _post(url, body: bytes, headers: dict) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_example_receiver_accepts_a_forwarded_petition_and_refuses_forgeries(
    make_app, database_url, csrf, example_receiver
):
    from kiosk_plugins.petitions import outbox

    url, proc = example_receiver
    app = make_app(database_url, **webhook(url, immediately=False))
    token = file_request(app.test_client(), csrf)
    assert outbox.deliver_due(app) == {"delivered": 1, "failed": 0}
    accepted = json.loads(proc.stdout.readline())
    (row,) = outbox_rows(app)
    assert accepted == {"accepted": row.message_id, "event": "created", "tracking_no": petition(app, token).tracking_no}
    assert row.delivered_at is not None

    # What an attacker who captured that request could try, against the same script.
    body = row.body.encode()
    ids = {"X-Petition-Message-Id": "forged-1"}
    good = outbox.signed_headers(SECRET, body)
    assert _post(url, body.replace(b'"created"', b'"closed"'), {**good, **ids}) == (401, "bad signature")
    later = {**good, "X-Petition-Timestamp": str(int(time.time()) + 3600)}
    assert _post(url, body, {**later, **ids}) == (401, "bad signature"), "the timestamp is part of what is signed"
    old = outbox.signed_headers(SECRET, body, now=time.time() - 301)
    assert _post(url, body, {**old, **ids}) == (401, "timestamp too old or in the future")
    assert _post(url, body, ids)[0] == 401, "unsigned"
    assert _post(url, body, {**outbox.signed_headers("another-secret", body), **ids}) == (401, "bad signature")
    # A fresh, correctly signed retry of the delivered message is acknowledged but not filed twice.
    retry = {**outbox.signed_headers(SECRET, body), "X-Petition-Message-Id": row.message_id}
    assert _post(url, body, retry) == (200, "duplicate")


def test_signature_covers_timestamp_and_body():
    from kiosk_plugins.petitions import outbox

    body = b'{"event":"created"}'
    headers = outbox.signed_headers("s3cret", body, now=1_796_536_483)
    assert headers["X-Petition-Timestamp"] == "1796536483"
    assert headers["X-Petition-Signature"] == outbox.sign("s3cret", 1_796_536_483, body)
    assert headers["X-Petition-Signature"].startswith("v1=") and len(headers["X-Petition-Signature"]) == 67
    assert outbox.sign("s3cret", 1_796_536_484, body) != headers["X-Petition-Signature"]
    assert outbox.sign("s3cret", 1_796_536_483, body + b" ") != headers["X-Petition-Signature"]
    with pytest.raises(outbox.SecretMissing):
        outbox.sign("", 1_796_536_483, body)


def test_no_secret_sends_nothing_and_says_why(make_app, database_url, csrf):
    from kiosk import jobs
    from kiosk.testing import Auth
    from kiosk_plugins.petitions import outbox
    from kiosk_plugins.petitions.settings import get_settings

    receiver = Receiver(secret="")  # accepts nothing, counts whatever arrives
    try:
        config = webhook(receiver.url, immediately=True)
        config["PLUGINS"]["petitions"]["webhook"]["secret"] = ""
        app = make_app(database_url, **config)
        assert "secret is empty" in get_settings(app).webhook.problem
        file_request(app.test_client(), csrf)  # the immediate attempt is skipped, not sent unsigned
        with pytest.raises(outbox.SecretMissing):
            outbox.deliver_due(app)
        # Only the forwarding job: the others have nothing to say here and cost a second.
        app.extensions["kiosk_jobs"] = [j for j in app.extensions["kiosk_jobs"] if j["name"] == "petitions.deliver"]
        assert jobs.run_due(app) == ["petitions.deliver"]
    finally:
        receiver.stop()
    assert receiver.got == [] and receiver.rejected == 0, "not one request left the kiosk"
    (row,) = outbox_rows(app)
    assert row.delivered_at is None and row.attempts == 0 and row.last_error == outbox.NO_SECRET
    staff = Auth(app, app.test_client())
    staff.login("staff")
    page = staff.client.get(f"/staff/petitions/{row.request_id}").get_data(as_text=True)
    assert "未设置事件分拨系统的签名密钥" in page and "webhook.secret is empty" in page
    fault = app.extensions["kiosk_plugins"].infos["petitions"].last_fault
    assert "SecretMissing" in fault and "webhook.secret is empty" in fault, fault
    # The operator's check says so too, as a line to fix.
    from kiosk.cli import cli

    doctor = app.test_cli_runner().invoke(cli, ["doctor"])
    assert "[FIX] plugin petitions: plugins.petitions.webhook.secret is empty" in doctor.output, doctor.output
