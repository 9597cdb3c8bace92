"""Personal data never appears in the logs, on public pages or on the calling display.

One full run per database: a real ``kiosk serve`` (gunicorn, the JSON log lines
at INFO that ``kiosk`` sets up, stdout and stderr into a file, as a service
manager would keep them; it keeps no access log) with a fake network receipt printer, and residents,
a rider and the staff going through the main path of every built-in plugin
over HTTP with distinctive personal data, bad input and a failing print
included. Then every public page, JSON answer and pushed event of the run, and
the log file, are searched for each personal value in the spellings people use.

Staff pages behind the login may show personal data (that is what they are
for); they are visited, so their code paths log, but not searched.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from test_parking_support import add_lot

from kiosk.testing import IME_CACHE_DIR
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

SHENZHEN = ZoneInfo("Asia/Shanghai")

RESIDENT = "王秀英"
RESIDENT_PHONE = "13912345678"
#: An 18-digit resident ID number of Luohu district; the check character (X) is valid.
RESIDENT_ID = "44030319650824006X"
PLATES = ("粤B12345", "粤BD12345")
RIDER = "欧阳志明"
RIDER_PHONE = "13765432198"
LAWYER = "林晓峰"
STAFF = ("desk1", "pii-test-staff-pass")
OPEN311_KEY = "pii-test-open311-key"

PETITION_TEXT = (
    f"我叫{RESIDENT}，身份证号{RESIDENT_ID}，电话139 1234 5678。楼下烧烤店每晚营业到凌晨两点，噪音扰民，请尽快处理。"
)


def spellings(value: str) -> list[str]:
    """The value and the ways people write it: grouped phone digits, an ID without its letter, a plate without 粤."""
    if re.fullmatch(r"1\d{10}", value):
        groups = (value[:3], value[3:7], value[7:])
        return [value, " ".join(groups), "-".join(groups), "+86" + value]
    if re.fullmatch(r"\d{17}[\dX]", value):
        return [value, value.lower(), value[:17], f"{value[:6]} {value[6:14]} {value[14:]}"]
    if value.startswith("粤"):
        return [value, value[1:], f"{value[:2]} {value[2:]}"]
    return [value]


SECRETS = [
    s
    for value in (RESIDENT, RESIDENT_PHONE, RESIDENT_ID, *PLATES, RIDER, RIDER_PHONE, LAWYER)
    for s in spellings(value)
]


# -- a browser over real HTTP -------------------------------------------------------
@dataclass
class Page:
    """An answer as the browser ends up with it (after redirects); ``json`` when it is JSON."""

    status: int
    url: str
    body: str
    json: object = None


class Visitor:
    """One person's browser: cookies kept, redirects followed, the page's CSRF token sent with forms."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path, headers={"Accept": "text/html,application/json"}))

    def post(self, path: str, files: dict | None = None, **form) -> Page:
        if not self.csrf:
            self.get("/")  # a browser has a page open before it sends a form
        form.setdefault("csrf_token", self.csrf)
        if files:
            boundary = uuid.uuid4().hex
            body, kind = _multipart(boundary, form, files), f"multipart/form-data; boundary={boundary}"
        else:
            body, kind = urllib.parse.urlencode(form, doseq=True).encode(), "application/x-www-form-urlencoded"
        return self._open(urllib.request.Request(self.base + path, data=body, headers={"Content-Type": kind}))

    def post_json(self, path: str, data: dict) -> Page:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(data).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": self.csrf},
        )
        return self._open(request)

    def _open(self, request) -> Page:
        try:
            with self.opener.open(request, timeout=20) as response:
                page = Page(response.status, response.geturl(), response.read().decode())
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            page = Page(exc.code, exc.geturl(), exc.read().decode())
            kind = exc.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            page.json = json.loads(page.body)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.body)
        if found:
            self.csrf = found.group(1)
        return page

    def login(self, username: str, password: str) -> None:
        self.get("/staff/login")
        page = self.post("/staff/login", username=username, password=password)
        assert "/staff/logout" in page.body, page.body[:500]


def _multipart(boundary: str, form: dict, files: dict) -> bytes:
    parts = []
    for name, value in form.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, kind) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {kind}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@dataclass
class Public:
    """What anyone at the kiosk, the display or a phone could see during the run."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def add(self, page: Page, label: str = "") -> Page:
        assert page.status < 500, (page.url, page.body[:500])
        assert "/staff/" not in urllib.parse.urlsplit(page.url).path, f"{page.url} is a staff page"
        text = json.dumps(page.json, ensure_ascii=False) if page.json is not None else html.unescape(page.body)
        self.seen.append((label or page.url, text))
        return page


# -- the station: a database, a printer, a production server ---------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STATION_FILE = """
[station]
code = "shuibei"
name = "水贝社区党群服务中心"
kind = "party_service"

[plugins.petitions.webhook]
url = "http://127.0.0.1:{dispatch_port}/dispatch"
secret = "pii-test-webhook-secret"
timeout = 1

[plugins.petitions.open311]
api_keys = ["{open311_key}"]

[devices.printer]
type = "network"
host = "127.0.0.1"
port = {printer_port}
timeout = 2.0
status_timeout = 0.3
max_attempts = 2
retry_delay = 0.2
"""


@dataclass
class Station:
    url: str
    log_path: str
    printer: FakeNetworkPrinter
    app: object  # the set-up app on the same database, for looking up tokens


def _seed(app) -> None:
    """A staff account and a car park open around the clock (so a voucher is valid at once)."""
    from kiosk.auth import create_user

    with app.app_context():
        session = app.extensions["db"].Session()
        create_user(session, STAFF[0], STAFF[1], role="staff", station_id=app.extensions["kiosk_station_id"])
        session.commit()
        session.close()
    add_lot(app, spaces=5, windows=(("全天", "00:00", "00:00", "0123456"),))


def _wait_ready(proc, url: str, log_path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                raise AssertionError("kiosk serve died: " + fh.read()[-3000:])
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; a device it worries about still means it serves
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"kiosk serve did not answer within {timeout} s")


@pytest.fixture
def station(make_app, database_url, tmp_path):
    with FakeNetworkPrinter() as printer:
        setup = make_app(database_url)
        _seed(setup)
        instance = tmp_path / "server"
        instance.mkdir()
        station_file = instance / "station.toml"
        station_file.write_text(
            STATION_FILE.format(dispatch_port=_free_port(), open311_key=OPEN311_KEY, printer_port=printer.port),
            encoding="utf-8",
        )
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
        env.update(
            KIOSK_DATABASE_URL=database_url,
            KIOSK_SECRET_KEY="pii-test-secret-" + "x" * 32,
            KIOSK_INSTANCE_PATH=str(instance),
            KIOSK_STATION_FILE=str(station_file),
            KIOSK_LOG_LEVEL="INFO",
            KIOSK_IME_PRELOAD="false",
            KIOSK_IME_CACHE_DIR=IME_CACHE_DIR,
            KIOSK_SSE_MAX_SECONDS="2",
        )
        log_path = str(tmp_path / "kiosk.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk.cli", "serve", "--port", str(port), "--threads", "8"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(proc, url, log_path)
            yield Station(url, log_path, printer, setup)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


def _lookup(station: Station, query):
    with station.app.app_context():
        session = station.app.extensions["db"].Session()
        try:
            return session.scalar(query)
        finally:
            session.close()


def _printed(visitor: Visitor, public: Public, job: str, timeout: float = 20) -> str:
    """Wait for a receipt the way the page does (GET /print-jobs/<id>); returns its last state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = public.add(visitor.get(f"/print-jobs/{job}")).json["state"]
        if state in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"print job {job} did not finish")


def _print_job(page: Page) -> str:
    found = re.search(r'data-print-job="([^"]+)"', page.body)
    assert found, page.body[:1500]
    return found.group(1)


# -- the plugins' main paths ------------------------------------------------------------------
def legal_queue(station: Station, public: Public, staff: Visitor) -> None:
    """A ticket with a phone number (after a mistyped one), a booking with the duty lawyer, the counter's calls."""
    from kiosk_plugins.legal.models import Ticket

    resident = Visitor(station.url)
    public.add(resident.get("/"))
    public.add(resident.get("/k/legal/"))
    public.add(resident.get("/k/legal/take/consultation"))
    public.add(resident.get("/k/legal/book"))
    wrong = resident.post("/k/legal/take/consultation", phone="139 1234 567", priority="")
    assert wrong.status == 400
    issued = public.add(resident.post("/k/legal/take/consultation", phone="139 1234 5678", priority=""))
    assert issued.url.endswith("/k/legal/issued") and "139****5678" in issued.body
    assert _printed(resident, public, _print_job(issued)) == "done"
    token = _lookup(station, select(Ticket.token).order_by(Ticket.id.desc()).limit(1))
    public.add(resident.get(f"/m/legal/t/{token}"))
    public.add(resident.get(f"/m/legal/t/{token}.json"))

    tomorrow = (datetime.now(SHENZHEN) + timedelta(days=1)).date().isoformat()
    added = staff.post(
        "/staff/legal/schedule",
        service="consultation",
        day=tomorrow,
        start="10:00",
        end="11:00",
        lawyer=LAWYER,
        organisation="区司法局公共法律服务律师",
        capacity="2",
    )
    assert added.status == 200 and LAWYER in added.body, added.body[:800]
    slots = public.add(resident.get("/k/legal/book/consultation"))
    slot = re.search(r'data-slot="(\d+)"', slots.body).group(1)
    booked = public.add(resident.post(f"/k/legal/book/slot/{slot}", phone=RESIDENT_PHONE))
    code = re.search(r'data-testid="booking-code">(\d{8})<', booked.body).group(1)
    assert _printed(resident, public, _print_job(booked)) == "done"
    early = public.add(Visitor(station.url).post("/k/legal/checkin", code=code))
    assert early.status == 400 and "10:00" in early.body, "a booking for tomorrow cannot check in today"
    public.add(resident.post("/reset"))
    public.add(resident.get("/k/legal/issued"))

    for action in ("take", "call", "recall", "served"):
        assert staff.post(f"/staff/legal/counter/1/{action}").status == 200
    assert RESIDENT_PHONE in staff.get("/staff/legal/schedule").body, "staff see the booking's number in full"
    called = public.add(Visitor(station.url).get(f"/m/legal/t/{token}.json")).json
    assert called["status"] == "served", called
    display = Visitor(station.url)
    public.add(display.get("/k/legal/display"))
    state = public.add(display.get("/k/legal/display/state.json")).json
    assert state["calls"] and state["calls"][0]["ticket"] == "A001"


def courier_station(station: Station, public: Public, staff: Visitor) -> None:
    """A rider registers by phone, takes a charging slot, prints a note (the printer is out of paper), asks
    for legal aid, checks out; comes back and is checked out by the staff."""
    from kiosk_plugins.courier_rest.models import Rider

    rider = Visitor(station.url)
    public.add(rider.get("/k/courier_rest/"))
    rider.post("/k/courier_rest/phone", phone="1376543")
    public.add(rider.get("/k/courier_rest/"))
    form = rider.post("/k/courier_rest/phone", phone=RIDER_PHONE)
    assert form.url.endswith("/k/courier_rest/register")  # the form holds the number just typed: not searched
    assert (
        rider.post("/k/courier_rest/register", name=RIDER, phone=RIDER_PHONE, platform="eleme", vehicle="").status
        == 400
    )
    public.add(rider.post("/k/courier_rest/register", name=RIDER, phone=RIDER_PHONE, platform="eleme", vehicle="ebike"))
    public.add(rider.get("/k/courier_rest/menu"))
    public.add(rider.post("/k/courier_rest/take/phone"))

    station.printer.state = "paper_out"
    job = rider.post_json("/k/courier_rest/print/slot", {}).json
    assert _printed(rider, public, job["job_id"]) == "failed"
    station.printer.state = "ok"

    public.add(rider.post("/k/courier_rest/advanced/legal_aid"))
    public.add(rider.get("/k/courier_rest/my-code"))
    public.add(rider.get("/k/courier_rest/board.json"))
    token = _lookup(station, select(Rider.pass_token).where(Rider.phone == RIDER_PHONE))
    public.add(Visitor(station.url).get(f"/m/courier_rest/r/{token}"))
    public.add(rider.post("/k/courier_rest/checkout"))
    public.add(rider.get("/k/courier_rest/menu"))

    again = Visitor(station.url)
    public.add(again.post("/k/courier_rest/phone", phone=RIDER_PHONE))
    page = staff.get("/staff/courier_rest/")
    assert RIDER in page.body
    visit = re.search(r'data-visit="(\d+)"', page.body).group(1)
    assert staff.post(f"/staff/courier_rest/visits/{visit}/checkout").status == 200
    public.add(again.post("/k/courier_rest/finish"))
    public.add(again.get("/k/courier_rest/menu"))


def parking(station: Station, public: Public, staff: Visitor) -> None:
    """The staff import the households; a resident gets a voucher for a plate; the attendant redeems it."""
    households = (
        f"unit,name,phone,plates,card\n贝丽花园3栋1201,{RESIDENT},{RESIDENT_PHONE},{PLATES[0]};{PLATES[1]},\n"
    ).encode()
    imported = staff.post(
        "/staff/parking/households/import", files={"file": ("households.csv", households, "text/csv")}
    )
    assert imported.status == 200 and RESIDENT in imported.body, imported.body[:800]

    resident = Visitor(station.url)
    public.add(resident.get("/k/parking/"))
    assert resident.post("/k/parking/identify", phone="12345").status == 400
    public.add(resident.post("/k/parking/identify", phone=RESIDENT_PHONE))
    public.add(resident.post("/k/parking/plate", plate="粤bd 12345"))
    lots = public.add(resident.get("/k/parking/lots"))
    window = re.search(r'data-key="(\d+):', lots.body).group(1)
    today = datetime.now(SHENZHEN).date().isoformat()
    public.add(resident.get(f"/k/parking/confirm?window={window}&day={today}"))
    voucher = public.add(resident.post("/k/parking/issue", window=window, day=today))
    assert "/k/parking/voucher/" in voucher.url, voucher.body[:800]
    assert _printed(resident, public, _print_job(voucher)) == "done"
    code = re.search(r'data-testid="parking-code">([^<]+)<', voucher.body).group(1)
    public.add(resident.get("/k/parking/mine"))
    public.add(resident.post("/k/parking/done"))
    public.add(resident.get("/k/parking/plate"))

    lot = re.search(r'name="lot" value="(\d+)"|<option value="(\d+)"', staff.get("/staff/parking/redeem").body)
    checked = staff.post("/staff/parking/redeem", lot=lot.group(1) or lot.group(2), code=code)
    assert checked.status == 200 and "核验通过" in checked.body, checked.body[:800]
    assert staff.post("/staff/parking/redeem", lot=lot.group(1) or lot.group(2), code=code).status == 409


def petitions(station: Station, public: Public, staff: Visitor) -> str:
    """A request with the resident's name, phone and ID number in its text; staff handle it; Open311."""
    from kiosk_plugins.petitions.models import Petition

    resident = Visitor(station.url)
    public.add(resident.get("/k/petitions/"))
    resident.get("/k/petitions/new")
    fields = {
        "type": "complaint",
        "category": "noise",
        "place": "other",
        "description": PETITION_TEXT,
        "anonymous": "0",
        "phone": RESIDENT_PHONE,
        "name": RESIDENT,
    }
    assert resident.post("/k/petitions/new", step="4", go="submit", **{**fields, "phone": "1391234"}).status == 400
    for step in ("1", "2", "3"):  # each step's page shows back what is being typed: not searched
        assert resident.post("/k/petitions/new", step=step, go="next", **fields).status == 200
    done = public.add(resident.post("/k/petitions/new", step="4", go="submit", **fields))
    assert "/k/petitions/done/" in done.url, done.body[:800]
    token = done.url.split("/done/")[1].split("?")[0]
    assert _printed(resident, public, _print_job(done)) == "done"
    public.add(resident.get(f"/k/petitions/status/{token}"))
    public.add(resident.post("/reset"))

    petition_id = _lookup(station, select(Petition.id).where(Petition.token == token))
    tracking = _lookup(station, select(Petition.tracking_no).where(Petition.token == token))
    detail = staff.get(f"/staff/petitions/{petition_id}").body
    assert RESIDENT_PHONE in detail and PETITION_TEXT in detail, "staff read the request as it was written"
    # Staff write the resident's details into a note, which the resident (and Open311) read.
    for action, note, department in (
        ("dispatched", "已转城管执法队处理。", "city_management"),
        ("in_progress", "执法队员已约谈店主。", ""),
        ("resolved", f"已电话联系{RESIDENT}（{RESIDENT_PHONE}），店主已调整营业时间。", ""),
    ):
        assert (
            staff.post(f"/staff/petitions/{petition_id}/update", action=action, note=note, department=department).status
            == 200
        )
    phone = Visitor(station.url)
    public.add(phone.get(f"/m/petitions/s/{token}"))
    public.add(phone.post(f"/m/petitions/s/{token}", score="satisfied", comment="处理得很及时"))

    api = Visitor(station.url)
    created = api.post(
        "/api/petitions/open311/v2/requests.json",
        api_key=OPEN311_KEY,
        service_code="environment",
        address_string="贝丽花园南门",
        first_name=RESIDENT,
        phone=RESIDENT_PHONE,
        description=f"垃圾桶满了没人清。联系人{RESIDENT}，身份证{RESIDENT_ID}",
    )
    assert created.status == 201, created.body
    for path in (
        "discovery.json",
        "services.json",
        "requests.json",
        f"requests/{tracking}.json",
        f"requests/{created.json[0]['service_request_id']}.json",
    ):
        public.add(api.get(f"/api/petitions/open311/v2/{path}"))
    assert f"已电话联系{RESIDENT}（{RESIDENT_PHONE}）" in staff.get(f"/staff/petitions/{petition_id}").body
    return tracking


def _log_text(path: str) -> tuple[str, list[dict]]:
    """The log file as written, plus its JSON lines decoded (so an escaped character is searched too)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        raw = fh.read()
    lines = []
    for line in raw.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return raw + "\n" + "\n".join(json.dumps(line, ensure_ascii=False) for line in lines), lines


def _leaks(text: str) -> list[str]:
    found = []
    for secret in SECRETS:
        at = text.find(secret)
        if at >= 0:
            found.append(f"{secret!r}: …{text[max(at - 120, 0) : at + 60]}…")
    return found


def test_a_full_run_leaves_no_personal_data_in_logs_or_on_public_pages(station):
    public = Public()
    staff = Visitor(station.url)
    staff.login(*STAFF)

    legal_queue(station, public, staff)
    courier_station(station, public, staff)
    parking(station, public, staff)
    tracking = petitions(station, public, staff)

    anyone = Visitor(station.url)
    public.add(anyone.get("/"))
    for plugin in ("legal", "courier_rest", "parking", "petitions"):
        public.add(anyone.get(f"/k/{plugin}/"))
    public.add(anyone.get("/healthz"))
    public.add(anyone.get("/m/petitions/"))
    public.add(anyone.get("/k/legal/display/state.json"))
    stream = public.add(anyone.get("/events/stream?after=0"))  # every channel; ends after SSE_MAX_SECONDS
    assert "legal.ticket_called" in stream.body and "parking.voucher_issued" in stream.body

    leaks = [f"{where}: {leak}" for where, text in public.seen for leak in _leaks(text)]
    assert not leaks, "personal data on public pages:\n" + "\n".join(leaks)

    # Let the server write what it still has to say (the dispatch system is unreachable) before reading.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "dispatch delivery" not in _log_text(station.log_path)[0]:
        time.sleep(0.2)
    text, lines = _log_text(station.log_path)
    assert lines and all(line.get("station") == "shuibei" for line in lines), text[-2000:]
    # The log really holds the run: every plugin's events, the failed print and the failed delivery.
    logged = [f"{line['logger']} {line['msg']}" for line in lines]
    for expected in (
        "kiosk.events legal.ticket_called",
        "kiosk.events courier_rest.capacity",
        "kiosk.events parking.voucher_used",
        "kiosk.events petitions.status_changed",
        f"kiosk_plugins.petitions.intake petition {tracking} received",
        f"kiosk_plugins.petitions.lifecycle petition {tracking} moved to resolved",
        "kiosk_hardware.print_queue job",
        "kiosk_plugins.petitions.outbox dispatch delivery",
    ):
        assert any(line.startswith(expected) for line in logged), f"nothing logged like {expected!r}:\n{text[-3000:]}"
    assert any(line["level"] == "ERROR" and "paper out" in line["msg"] for line in lines), text[-3000:]
    leaks = _leaks(text)
    assert not leaks, "personal data in the log:\n" + "\n".join(leaks)


def test_personal_data_in_free_text_is_masked_however_it_is_written():
    from kiosk.privacy import mask_in_text

    text = mask_in_text(
        PETITION_TEXT + "车牌粤b 12345，备用电话+86 137-6543-2198，证件440303 19650824 006x。", names=(RESIDENT, "")
    )
    assert not _leaks(text), text
    assert "王*英" in text and "4403**********006X" in text and "139****5678" in text and "粤B***45" in text
    assert "137****2198" in text and "4403**********006x" in text
    ordinary = "A012 号 2024-05-06 10:30 到 3 号窗口，共 1000 元，job 8d4e84f9"
    assert mask_in_text(ordinary) == ordinary
