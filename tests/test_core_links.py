"""Links that leave the kiosk: one public URL for every plugin's QR codes, one QR renderer.

Every built-in plugin issues its paper for real (ticket, petition, parking
voucher, rider code) on a fake network printer; the QR code is read back from
the printed raster with zxing-cpp and must open the station's public address,
set once under ``[station]`` in a real station file. The screens' own QR codes
are decoded too.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import time

import pytest
import zxingcpp
from PIL import Image
from test_courier_rest_support import OTHER_SERVICES, Kiosk, courier_config, switch_off
from test_legal_support import take_ticket
from test_parking_support import add_lot, add_people, get_voucher, next_occurrence
from test_petitions_receipt import file_request

from kiosk.config import ConfigError
from kiosk.qr import QUIET_ZONE, qr_data_uri, qr_png, qr_svg
from kiosk.urls import public_url
from kiosk_hardware.testing.fake_printer import FakeNetworkPrinter

PUBLIC = "https://shuibei.example.gov.cn"


def station_file(tmp_path, body: str) -> str:
    path = tmp_path / "station.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def printed_qr(job) -> list[str]:
    """The QR codes on one printed receipt, read from the raster the printer received."""
    return [r.text for r in zxingcpp.read_barcodes(job.parse().raster().convert("L")) if r.format.name == "QRCode"]


def wait_printed(client, job_id: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = client.get(f"/print-jobs/{job_id}").get_json()["state"]
        if state in ("done", "failed"):
            assert state == "done"
            return
        time.sleep(0.05)
    raise AssertionError(f"print job {job_id} never finished")


def qr_svgs(page: str) -> list[str]:
    """The inline QR codes of ``page`` (kiosk.qr draws them as runs ``M<x> <y>h<w>v1``), not its icons."""
    return [svg for svg in re.findall(r"<svg.*?</svg>", page, re.S) if re.search(r"M\d+ \d+h\d+v1", svg)]


def svg_text(svg: str) -> str:
    """Decode an inline ``<svg>`` QR code of kiosk.qr by drawing its runs and reading them back."""
    n = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    image = Image.new("L", (n, n), 255)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1", svg):
        for dx in range(int(w)):
            image.putpixel((int(x) + dx, int(y)), 0)
    (result,) = zxingcpp.read_barcodes(image.resize((n * 8, n * 8), Image.Resampling.NEAREST))
    return result.text


def png_uri_text(uri: str) -> str:
    (result,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    return result.text


# --- the public URL ---------------------------------------------------------------------------


def test_party_service_papers_open_the_station_public_url(make_app, database_url, tmp_path, csrf):
    """Legal ticket, petition receipt and parking voucher, on paper and on screen."""
    with FakeNetworkPrinter() as printer:
        app = make_app(
            database_url,
            DEVICES={"printer": printer.printer_config(profile="80mm"), "readers": {}},
            STATION_FILE=station_file(tmp_path, f'[station]\npublic_url = "{PUBLIC}/"\n'),
        )
        assert app.config["PUBLIC_URL"] == PUBLIC  # the trailing slash is dropped once, at start

        ticket = take_ticket(app.test_client(), "consultation")
        screen = re.search(r'src="(data:image/png;base64,[^"]+)"', ticket["html"]).group(1)
        assert png_uri_text(screen) == f"{PUBLIC}/m/legal/t/{ticket['token']}"

        client = app.test_client()
        token, job = file_request(client, csrf)
        wait_printed(client, job)
        done = client.get(f"/k/petitions/done/{token}").get_data(as_text=True)
        assert svg_text(qr_svgs(done)[0]) == f"{PUBLIC}/m/petitions/s/{token}"
        form = client.get("/k/petitions/").get_data(as_text=True)
        assert svg_text(qr_svgs(form)[0]).startswith(f"{PUBLIC}/m/petitions/")

        ids = add_lot(app)
        add_people(app)
        occ = next_occurrence(app, ids["windows"][0])
        resident = app.test_client()
        response = get_voucher(resident, "13800138001", "粤B12345", occ.window_id, occ.day)
        voucher_job = re.search(r"job=([0-9a-f]+)", response.headers["Location"]).group(1)
        wait_printed(resident, voucher_job)

        papers = printer.wait_for_jobs(3, timeout=15)
    codes = [text for job in papers for text in printed_qr(job)]
    assert f"{PUBLIC}/m/legal/t/{ticket['token']}" in codes
    assert f"{PUBLIC}/m/petitions/s/{token}" in codes
    assert any(c.startswith(f"{PUBLIC}/staff/parking/redeem?code=") for c in codes)
    assert len(codes) == 3 and all(c.startswith(PUBLIC + "/") for c in codes)


def test_courier_rider_code_opens_the_public_url_from_the_environment(make_app, database_url, monkeypatch):
    monkeypatch.setenv("KIOSK_PUBLIC_URL", "https://nf.sungang.example.cn")
    with FakeNetworkPrinter() as printer:
        app = make_app(
            database_url, DEVICES={"printer": printer.printer_config(profile="80mm"), "readers": {}}, **courier_config()
        )
        switch_off(app, *OTHER_SERVICES)
        kiosk = Kiosk(app.test_client())
        page = kiosk.signup(name="张三明", phone="13812345678")
        job = kiosk.post("/k/courier_rest/print/pass").get_json()
        wait_printed(kiosk.client, job["job_id"])
        (paper,) = printer.wait_for_jobs(1, timeout=10)
    (code,) = printed_qr(paper)
    assert re.fullmatch(r"https://nf\.sungang\.example\.cn/m/courier_rest/r/[A-Za-z0-9_-]+", code)
    on_screen = [svg_text(svg) for svg in qr_svgs(page.get_data(as_text=True))]
    assert on_screen and all(text.startswith("https://nf.sungang.example.cn/") for text in on_screen)


@pytest.mark.parametrize(
    "bad", ["kiosk.local", "ftp://kiosk.example.cn", "https://", "https://a b.cn", "https://kiosk.example.cn/?x=1", 42]
)
def test_a_bad_public_url_is_refused_at_start(make_app, tmp_path, bad):
    value = f'"{bad}"' if isinstance(bad, str) else str(bad)
    with pytest.raises(ConfigError, match=r"station\.public_url .*https://"):
        make_app(
            "sqlite:///" + str(tmp_path / "k.db"),
            STATION_FILE=station_file(tmp_path, f"[station]\npublic_url = {value}\n"),
        )


def test_a_bad_environment_public_url_names_the_variable(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_PUBLIC_URL", "kiosk.local")
    with pytest.raises(ConfigError, match="KIOSK_PUBLIC_URL"):
        make_app("sqlite:///" + str(tmp_path / "k.db"))


def test_loopback_fallback_warns_once_and_doctor_says_so(make_app, tmp_path, caplog):
    app = make_app("sqlite:///" + str(tmp_path / "k.db"))
    caplog.set_level(logging.WARNING, logger="kiosk.urls")
    with app.test_request_context("/k/legal/", base_url="http://127.0.0.1:5000"):
        first = public_url("legal_mobile.status", token="abc")
        public_url("legal_mobile.status", token="def")
    assert first == "http://127.0.0.1:5000/m/legal/t/abc"  # the documented fallback: the request's host
    warnings = [r for r in caplog.records if r.name == "kiosk.urls"]
    assert len(warnings) == 1 and "[station]" in warnings[0].getMessage()

    caplog.clear()
    with app.test_request_context("/", base_url="http://192.168.1.20:5000"):
        assert public_url("legal_mobile.status", token="abc") == "http://192.168.1.20:5000/m/legal/t/abc"
    with app.app_context():  # a job: no request, no public address
        assert public_url("legal_mobile.status", token="abc") == "http://localhost/m/legal/t/abc"

    from kiosk.cli import cli

    result = app.test_cli_runner().invoke(cli, ["doctor"])
    assert "[FIX] public URL: not set" in result.output and "phones cannot open" in result.output
    assert result.exit_code != 0  # a station printing codes no phone can open is not fit to run


def test_public_url_in_a_job_and_on_the_hub(make_app, tmp_path):
    app = make_app("sqlite:///" + str(tmp_path / "k.db"), PUBLIC_URL=PUBLIC + "/kiosk", ROLE="hub")

    class Station:
        id = 0
        code = "shuibei-002"

    with app.app_context():  # no request: a scheduled job sending a link
        url = public_url("legal_mobile.status", token="abc", station=Station())
        assert url == f"{PUBLIC}/kiosk/m/legal/t/abc?station=shuibei-002"
        assert (
            public_url(path="/m/petitions/s/xyz", station=Station())
            == f"{PUBLIC}/kiosk/m/petitions/s/xyz?station=shuibei-002"
        )
    with app.test_request_context("/", base_url="http://127.0.0.1:5000"):
        assert public_url("legal_mobile.status", token="abc").startswith(PUBLIC + "/kiosk/m/legal/t/abc")
    from kiosk.cli import cli

    assert f"[ok ] public URL: QR codes open {PUBLIC}/kiosk" in app.test_cli_runner().invoke(cli, ["doctor"]).output


def test_a_leftover_plugin_public_url_is_moved_with_a_warning(make_app, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="kiosk.config")
    app = make_app(
        "sqlite:///" + str(tmp_path / "k.db"),
        STATION_FILE=station_file(tmp_path, '[plugins.legal]\npublic_url = "https://old.example.cn"\nmax_skips = 2\n'),
    )
    assert app.config["PUBLIC_URL"] == "https://old.example.cn"
    assert "public_url" not in app.config["PLUGINS"]["legal"]
    assert app.config["PLUGINS"]["legal"]["max_skips"] == 2
    assert app.extensions["kiosk_plugins"].infos["legal"].state not in ("failed", "incompatible")
    assert "plugins.legal.public_url is deprecated" in caplog.text and "[station]" in caplog.text

    caplog.clear()
    app = make_app(
        "sqlite:///" + str(tmp_path / "k2.db"),
        PUBLIC_URL=PUBLIC,
        PLUGINS={"parking": {"public_url": "not a url"}, "petitions": {"public_url": PUBLIC + "/x"}},
    )
    assert app.config["PUBLIC_URL"] == PUBLIC
    assert "plugins.parking.public_url" in caplog.text and "plugins.petitions.public_url" in caplog.text


# --- the QR images ------------------------------------------------------------------------------


def test_qr_images_share_one_policy_and_are_cached():
    data = f"{PUBLIC}/m/legal/t/Zx9_abc-123"
    svg = qr_svg(data, "二维码 <label>", size=240)
    assert svg_text(svg) == data and qr_svg(data, "二维码 <label>", size=240) is svg
    assert 'width="240"' in svg and 'aria-label="二维码 &lt;label&gt;"' in svg and "<script" not in svg
    image = Image.open(io.BytesIO(qr_png(data, scale=4)))
    (decoded,) = zxingcpp.read_barcodes(image)
    assert decoded.text == data and decoded.ec_level == "M"
    # The quiet zone: the first QUIET_ZONE modules on every side are white.
    assert image.getpixel((QUIET_ZONE * 4 - 1, QUIET_ZONE * 4 - 1)) == 255
    assert image.getpixel((QUIET_ZONE * 4, QUIET_ZONE * 4)) == 0
    assert png_uri_text(qr_data_uri(data)) == data
    with pytest.raises(ValueError, match="too large"):
        qr_svg("x" * 8000)


# --- phone pages and displays ---------------------------------------------------------------------


def phone_page_shape(html: str) -> None:
    """What every phone page must be: the core's page, one language switcher, nothing of the kiosk."""
    assert html.count("<html") == 1 and html.count("<body") == 1
    body = re.search(r"<body[^>]*>", html).group(0)
    assert re.search(r'class="phone kind-\w+', body), body
    assert 'data-idle="0"' in body, "a phone is its owner's: no idle reset"
    assert html.count('class="lang-switch"') == 1, "one language switcher, the core's"
    assert 'name="viewport" content="width=device-width' in html and "css/pages.css" in html
    for kiosk_only in ('id="idle-overlay"', 'id="osk"', "js/osk.js", 'class="kiosk'):
        assert kiosk_only not in html, kiosk_only
    assert "<script>" not in html and "<script " not in html.replace('<script src="', ""), "CSP: no inline script"


def test_phone_pages_are_the_core_phone_page(make_app, database_url, csrf):
    app = make_app(database_url)
    ticket = take_ticket(app.test_client(), "consultation")
    phone = app.test_client()
    legal = phone.get(f"/m/legal/t/{ticket['token']}").get_data(as_text=True)
    phone_page_shape(legal)
    assert 'class="phone kind-party_service' in legal and "legal-mobile" in legal and ticket["ticket"] in legal

    form = phone.get("/m/petitions/").get_data(as_text=True)
    phone_page_shape(form)
    assert "pt-mobile" in form and 'class="pt-m-foot"' in form

    # The core's switcher works from a phone page and brings the resident back to it.
    response = phone.post("/lang", data={"lang": "en", "csrf_token": csrf(phone), "next": "/m/petitions/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/m/petitions/")
    english = phone.get("/m/petitions/").get_data(as_text=True)
    assert '<html lang="en">' in english and re.search(r'value="en"\s+lang="en"\s+aria-pressed="true"', english)


def test_courier_phone_pages_are_the_core_phone_page(make_app, database_url):
    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    page = kiosk.signup(name="张三明", phone="13812345678").get_data(as_text=True)
    (pass_url,) = {svg_text(svg) for svg in qr_svgs(page)}
    rider = app.test_client().get(pass_url.removeprefix("http://localhost")).get_data(as_text=True)
    phone_page_shape(rider)
    assert 'class="phone kind-courier_station' in rider and "courier-mobile" in rider and "<svg" in rider
    gone = app.test_client().get("/m/courier_rest/r/no-such-token").get_data(as_text=True)
    phone_page_shape(gone)


def test_displays_never_reset_and_kiosk_screens_still_do(make_app, database_url):
    app = make_app(database_url)
    board = app.test_client().get("/k/legal/display").get_data(as_text=True)
    body = re.search(r"<body[^>]*>", board).group(0)
    assert re.search(r'class="display kind-party_service legal-display"', body)
    assert 'data-idle="0"' in body and 'data-stream="' in body
    for kiosk_only in ('id="idle-overlay"', 'id="osk"', "js/osk.js", 'class="topbar', 'class="lang-switch"', "tile"):
        assert kiosk_only not in board, kiosk_only
    assert board.count("<main") == 1 and 'id="now-ticket"' in board

    home = app.test_client().get("/k/legal/").get_data(as_text=True)
    assert 'id="idle-overlay"' in home and 'id="osk"' in home and 'class="kiosk kind-party_service' in home
    assert home.count('class="lang-switch"') == 1 and re.search(r'data-idle="[1-9]\d*"', home)


def test_doctor_fails_a_public_url_on_this_machine(make_app, tmp_path):
    from kiosk.cli import cli

    app = make_app("sqlite:///" + str(tmp_path / "k.db"), PUBLIC_URL="http://127.0.0.1:5000")
    result = app.test_cli_runner().invoke(cli, ["doctor"])
    assert "[FIX] public URL: http://127.0.0.1:5000 is this machine's own address" in result.output
    assert result.exit_code != 0
