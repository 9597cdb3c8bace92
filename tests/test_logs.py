"""Structured logs: one JSON object a line, the station id, no personal data."""

import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from kiosk import logs
from kiosk.testing import TEST_SECRET_KEY, free_port, wait_for


def test_lines_are_json_with_the_station_and_masked_personal_data(app):
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        with app.test_request_context("/"):
            from kiosk.stations import current_station

            current_station()
            logging.getLogger("kiosk.test").warning(
                "rider %s with plate %s and id %s", "13812345678", "粤B12345", "440301199001011234"
            )
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_kiosk", False):
                root.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["station"] == "shuibei" and line["level"] == "WARNING" and line["logger"] == "kiosk.test"
    assert "13812345678" not in line["msg"] and "138****5678" in line["msg"]
    assert "粤B12345" not in line["msg"] and "粤B***45" in line["msg"]
    assert "440301199001011234" not in line["msg"] and "4403**********1234" in line["msg"]


def test_scrub_leaves_ordinary_numbers_alone():
    assert logs.scrub("ticket A012 served in 300 s, job 8d4e84f9") == "ticket A012 served in 300 s, job 8d4e84f9"


def test_printer_library_chatter_stays_out_of_the_station_log_but_its_warnings_do_not():
    import escpos.printer

    stream = io.StringIO()
    logs.configure("INFO", stream)
    root = logging.getLogger()
    try:
        # python-escpos logs on the root logger from its own modules.
        for level, message in (
            (logging.INFO, "Closing Network connection to printer 127.0.0.1"),
            (logging.WARNING, "paper out"),
        ):
            root.handle(logging.LogRecord("root", level, escpos.printer.__file__, 1, message, None, None))
        logging.getLogger("kiosk.test").info("legal.ticket_issued")
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_kiosk", False):
                root.removeHandler(handler)
    messages = [json.loads(line)["msg"] for line in stream.getvalue().splitlines()]
    assert messages == ["paper out", "legal.ticket_issued"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_development_servers_lines_name_no_token_nor_query(app):
    """``kiosk run`` (werkzeug's server, the demo's) logged the raw path: a phone's ticket page has its token."""
    import threading

    from werkzeug.serving import make_server

    token = "G0XfMnRdl1LO5oRc5rz7wxzU"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    stream = io.StringIO()
    logs.configure("INFO", stream)
    thread.start()
    try:
        for path in (f"/m/legal/t/{token}?phone=13812345678", "/k/legal/take/consultation"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10).close()
            except urllib.error.HTTPError:
                pass  # the line is what is checked, whatever the answer
    finally:
        server.shutdown()
        thread.join(10)
        _remove_kiosk_handlers()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line["msg"] for line in lines if line["logger"] == "werkzeug"]
    assert len(requests) == 2, lines
    assert token not in stream.getvalue() and "1381" not in stream.getvalue() and "phone=" not in stream.getvalue()
    assert '"GET /m/legal/t/* HTTP/1.1"' in requests[0] and '"GET /k/legal/take/consultation HTTP/1.1"' in requests[1]
    assert "\x1b" not in stream.getvalue() and "\\u001b" not in stream.getvalue()


# -- request ids and gunicorn's own lines (issue 21 point 8) ------------------------------------
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_request_id_is_on_every_line_of_the_request_and_in_the_response(app):
    app.add_url_rule("/_logs_probe", "logs_probe", lambda: logging.getLogger("kiosk.test").warning("inside") or "ok")
    app.wsgi_app = logs.RequestIds(app.wsgi_app)
    client = app.test_client()
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        answers = []
        for header in ({"X-Request-ID": "nginx-7f3a.2"}, {"X-Request-ID": 'x" , "level": "ERROR'}, {}):
            with client.get("/_logs_probe", headers=header) as answer:  # a server closes each response
                answers.append(answer)
        kept, made, none = answers
        logging.getLogger("kiosk.test").warning("after")
    finally:
        _remove_kiosk_handlers()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    inside = [line["request_id"] for line in lines if line["msg"] == "inside"]
    assert kept.headers["X-Request-ID"] == "nginx-7f3a.2"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"]), "a malformed id is replaced, not echoed"
    assert re.fullmatch(r"[0-9a-f]{32}", none.headers["X-Request-ID"]) != made.headers["X-Request-ID"]
    assert inside == [kept.headers["X-Request-ID"], made.headers["X-Request-ID"], none.headers["X-Request-ID"]]
    assert [line["request_id"] for line in lines if line["msg"] == "after"] == [None]
    assert all(tuple(line)[: len(logs.FIELDS)] == logs.FIELDS for line in lines)


def test_a_real_kiosk_serve_writes_only_json_lines_in_one_format(tmp_path, sqlite_template):
    db = tmp_path / "kiosk.db"
    shutil.copy(sqlite_template, db)
    port = free_port()
    env = dict(
        os.environ,
        KIOSK_INSTANCE_PATH=str(tmp_path / "instance"),
        KIOSK_DATABASE_URL=f"sqlite:///{db}",
        KIOSK_SECRET_KEY=TEST_SECRET_KEY,
        KIOSK_START_DEVICES="false",
        KIOSK_RUN_JOBS="false",
        KIOSK_IME_PRELOAD="false",
    )
    env.pop("KIOSK_STATION_FILE", None)
    err = tmp_path / "stderr.log"
    with open(err, "wb") as fh:
        server = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(port), "--threads", "4"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/healthz"), 30, "kiosk serve")
        checked = _get(base + "/healthz", {"X-Request-ID": "ops-check-1"})
        private = _get(base + "/m/legal/t/A1b2C3d4E5f6G7h8.json?phone=13812345678", {"X-Request-ID": "bad id"})
        wait_for(lambda: err.read_text().count('"gunicorn.access"') >= 3, 10, "the access lines")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    text = err.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON, or this fails
    assert all(tuple(line)[: len(logs.FIELDS)] == logs.FIELDS for line in lines), text[:2000]
    assert all(line["ts"].endswith("+00:00") for line in lines)
    assert {line["station"] for line in lines} == {"default"}, "gunicorn's master lines name the station too"
    said = [line["msg"] for line in lines if line["logger"] == "gunicorn.error"]
    assert any(m.startswith("Starting gunicorn") for m in said) and any(m.startswith("Listening at") for m in said)
    access = {line["request_id"]: line for line in lines if line["logger"] == "gunicorn.access"}
    assert checked == "ops-check-1" and access["ops-check-1"]["route"] == "/healthz"
    assert access["ops-check-1"]["status"] == 200 and access["ops-check-1"]["method"] == "GET"
    assert isinstance(access["ops-check-1"]["duration_ms"], float)
    assert re.fullmatch(r"[0-9a-f]{32}", private)
    assert access[private]["route"] == "/m/legal/t/<token>.json" and access[private]["status"] == 404
    assert tuple(access[private])[len(logs.FIELDS) :] == logs.ACCESS_FIELDS
    for secret in ("13812345678", "phone=", "A1b2C3d4E5f6G7h8", "bad id"):
        assert secret not in text


def _answers(url):
    try:
        return _get(url, {}) is not None
    except OSError:
        return False


def _get(url, headers):
    """The X-Request-ID the server answered with (any status)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.headers["X-Request-ID"]
    except urllib.error.HTTPError as exc:
        return exc.headers["X-Request-ID"]


def _remove_kiosk_handlers():
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiosk", False):
            root.removeHandler(handler)


def test_gunicorns_access_record_carries_only_what_the_kiosk_line_writes():
    """kiosk serve's logger class builds the access record from the few atoms the line keeps: not every
    header and environ entry (gunicorn's own built some 60 per request), the session cookie among them."""
    from datetime import timedelta
    from types import SimpleNamespace

    from kiosk.server import AccessLogger

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/k/legal/take/consultation",
        "RAW_URI": "/k/legal/take/consultation?phone=13812345678",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_COOKIE": "session=very-secret",
        "kiosk.route": "/k/legal/take/<service_key>",
        "kiosk.request_id": "r-1",
    }
    response = SimpleNamespace(status="302 FOUND", headers=[("Set-Cookie", "session=very-secret")], sent=0)
    atoms = AccessLogger.atoms(None, response, None, environ, timedelta(milliseconds=12, microseconds=300))
    assert "very-secret" not in repr(atoms) and "13812345678" not in repr(atoms)
    assert set(atoms) == {"m", "U", "s", "D", "{kiosk.route}e", "{kiosk.request_id}e"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(s)s', (atoms,), None)
    assert logs.ScrubFilter().filter(record)
    assert record.http == {"method": "POST", "route": "/k/legal/take/<service_key>", "status": 302, "duration_ms": 12.3}
    assert record.request_id == "r-1" and record.getMessage() == "POST /k/legal/take/<service_key> 302"
