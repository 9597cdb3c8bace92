"""Petition intake: the kiosk's four steps, the phone form with photos, limits, other plugins' requests."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import func, select

PHONE = "13812345678"


def session_of(app):
    return app.extensions["db"].Session()


def count(app, model):
    with session_of(app) as s:
        return s.scalar(select(func.count()).select_from(model))


def kiosk_post(client, csrf, step, go="next", **fields):
    data = {
        "csrf_token": csrf(client),
        "step": str(step),
        "go": go,
        "type": "complaint",
        "category": "environment",
        "place": "other",
        "description": "楼道垃圾堆放，气味很大",
        "anonymous": "1",
    }
    data.update(fields)
    return client.post("/k/petitions/new", data=data)


def jpeg_with_gps(lat=(22, 33, 36.0), lon=(114, 7, 12.0), size=(640, 480), orientation=None) -> bytes:
    """A real camera-like JPEG: EXIF with make, model, time and a GPS position (Shuibei, Luohu)."""
    image = Image.new("RGB", size, (200, 120, 40))
    for x in range(0, size[0], 40):
        image.paste((20, 60, 160), (x, 0, x + 20, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X 12"  # Model
    exif[0x0132] = "2024:05:12 09:30:00"  # DateTime
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", lat
    gps[3], gps[4] = "E", lon
    gps[6] = 35.0  # altitude: never kept
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def mobile_post(client, csrf, files=(), **fields):
    data = {
        "csrf_token": csrf(client),
        "type": "help",
        "category": "safety_hazard",
        "place": "other",
        "description": "路灯坏了，晚上很黑",
        "anonymous": "1",
    }
    data.update(fields)
    data["photos"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/m/petitions/", data=data, content_type="multipart/form-data")


# -- the kiosk -------------------------------------------------------------------------------
def test_tile_on_home_screen_in_three_languages(client, csrf):
    home = client.get("/").get_data(as_text=True)
    assert 'data-tile="petitions.report"' in home
    assert "扫码反映诉求" in home and "/static/icons/petition.svg" in home
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf(client)})
    assert "掃碼反映訴求" in client.get("/").get_data(as_text=True)
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    assert "Report a problem" in client.get("/").get_data(as_text=True)


def test_kiosk_steps_lead_to_a_tracking_number(app, client, csrf):
    from kiosk_plugins.petitions.models import OutboxMessage, Petition, PetitionStep

    client.get("/k/petitions/new")
    page = kiosk_post(client, csrf, 1)
    assert page.status_code == 200 and 'name="step" value="2"' in page.get_data(as_text=True)
    assert 'name="step" value="3"' in kiosk_post(client, csrf, 2).get_data(as_text=True)
    page = kiosk_post(client, csrf, 3)
    assert 'name="step" value="4"' in page.get_data(as_text=True)
    assert "楼道垃圾堆放" in page.get_data(as_text=True), "the review shows what will be sent"
    back = kiosk_post(client, csrf, 4, go="back")
    assert 'name="step" value="3"' in back.get_data(as_text=True)
    done = kiosk_post(client, csrf, 4, go="submit")
    assert done.status_code == 302 and "/k/petitions/done/" in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    tracking = re.search(r'data-testid="tracking-no">([^<]+)<', page).group(1)
    assert re.fullmatch(r"P\d{6}-[A-Z2-9]{4}-0001", tracking), "date, the station's tag, the day's first"
    assert "<svg" in page and "您的诉求已受理" in page
    with session_of(app) as s:
        petition = s.scalar(select(Petition))
        assert (petition.tracking_no, petition.type, petition.category, petition.channel) == (
            tracking,
            "complaint",
            "environment",
            "kiosk",
        )
        assert petition.anonymous and petition.contact_phone == ""
        assert [st.action for st in s.scalars(select(PetitionStep))] == ["received"]
        assert s.scalar(select(OutboxMessage.event)) == "created", "the dispatch message is written with it"


def test_each_step_refuses_what_is_missing_and_keeps_the_rest(app, client, csrf):
    from kiosk_plugins.petitions.models import Petition

    client.get("/k/petitions/new")
    page = kiosk_post(client, csrf, 1, type="", category="environment")
    assert page.status_code == 400
    assert "请选择诉求类型" in page.get_data(as_text=True)
    assert 'data-value="environment"\n            aria-pressed="true"' in page.get_data(as_text=True)
    page = kiosk_post(client, csrf, 3, description=" ")
    assert page.status_code == 400 and "请用几句话描述问题" in page.get_data(as_text=True)
    assert 'name="step" value="3"' in page.get_data(as_text=True)
    page = kiosk_post(client, csrf, 4, go="submit", anonymous="0", phone="1381234")
    assert page.status_code == 400 and "请输入11位手机号码" in page.get_data(as_text=True)
    page = kiosk_post(client, csrf, 2, place="somewhere-else")
    assert page.status_code == 400 and "请从列表中选择地点" in page.get_data(as_text=True)
    # Tampering with an earlier step's field shows that step again.
    page = kiosk_post(client, csrf, 4, go="submit", category="no-such-category")
    assert 'name="step" value="1"' in page.get_data(as_text=True)
    assert count(app, Petition) == 0


def test_error_messages_follow_the_language(client, csrf):
    client.get("/k/petitions/new")
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    assert "Please describe the problem" in kiosk_post(client, csrf, 3, description="").get_data(as_text=True)
    client.post("/lang", data={"lang": "zh_Hant", "csrf_token": csrf(client)})
    assert "請用幾句話描述問題" in kiosk_post(client, csrf, 3, description="").get_data(as_text=True)


def test_descriptions_are_escaped_everywhere(app, client, csrf):
    client.get("/k/petitions/new")
    evil = '<script>alert("x")</script><img src=x onerror=1>'
    review = kiosk_post(client, csrf, 3, description=evil).get_data(as_text=True)
    assert "<script>alert" not in review and "&lt;script&gt;" in review
    done = kiosk_post(client, csrf, 4, go="submit", description=evil)
    token = done.headers["Location"].split("/done/")[1].split("?")[0]
    status = client.get(f"/m/petitions/s/{token}").get_data(as_text=True)
    assert "<script>alert" not in status and "<img src=x" not in status
    assert "&lt;script&gt;alert" in status


def test_places_come_from_the_station_list(app, client, csrf):
    from kiosk.demo import load_demo
    from kiosk_plugins.petitions.models import Petition

    load_demo(app, [])
    client.get("/k/petitions/new")
    page = kiosk_post(client, csrf, 1).get_data(as_text=True)
    assert "贝丽花园" in page and "水贝万山珠宝产业园" in page
    done = kiosk_post(client, csrf, 4, go="submit", place="beili_garden")
    assert done.status_code == 302
    with session_of(app) as s:
        petition = s.scalar(select(Petition).where(Petition.channel == "kiosk"))
        assert (petition.place_key, petition.place) == ("beili_garden", "贝丽花园")
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Beili Garden" in page


def test_kiosk_rate_limit_holds_across_workers(make_app, database_url, csrf):
    from kiosk_plugins.petitions.models import Petition

    config = {"PLUGINS": {"petitions": {"rate_limit": {"kiosk": [2, 600]}}}}
    first, second = make_app(database_url, **config), make_app(database_url, **config)
    for app in (first, first):
        client = app.test_client()
        client.get("/k/petitions/new")
        assert kiosk_post(client, csrf, 4, go="submit").status_code == 302
    other_worker = second.test_client()
    other_worker.get("/k/petitions/new")
    refused = kiosk_post(other_worker, csrf, 4, go="submit")
    assert refused.status_code == 429
    assert "请稍等几分钟再试" in refused.get_data(as_text=True)
    assert 'name="step" value="4"' in refused.get_data(as_text=True), "what was typed is kept"
    assert count(first, Petition) == 2


def test_scanning_a_receipt_opens_its_status_at_the_kiosk(app, client, csrf):
    from kiosk_hardware.readers import ReaderEvent

    client.get("/k/petitions/new")
    token = kiosk_post(client, csrf, 4, go="submit").headers["Location"].split("/done/")[1].split("?")[0]
    hub = app.extensions["reader_hub"]
    page = hub.subscribe("petitions.index")
    read = ReaderEvent(
        source="scanner", kind="code", value=f"https://kiosk.example/m/petitions/s/{token}", at=datetime.now(UTC)
    )
    assert hub.publish(read) == 1
    assert page.get_nowait() == {"redirect": f"/k/petitions/status/{token}"}
    unknown = ReaderEvent(
        source="scanner", kind="code", value="https://kiosk.example/m/petitions/s/" + "x" * 32, at=datetime.now(UTC)
    )
    assert hub.publish(unknown) == 0, "a code of no request here is dropped"
    hub.unsubscribe(page)
    status = client.get(f"/k/petitions/status/{token}").get_data(as_text=True)
    assert "已受理" in status and "楼道垃圾堆放" in status


# -- the phone -------------------------------------------------------------------------------
def test_phone_form_with_a_photo_strips_every_tag(app, client, csrf, login):
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    client.get("/m/petitions/")
    original = jpeg_with_gps(orientation=6)
    assert b"PhoneMaker" in original
    response = mobile_post(client, csrf, files=[("lamp.jpg", original)])
    assert response.status_code == 302 and "/m/petitions/s/" in response.headers["Location"]
    with session_of(app) as s:
        petition = s.scalar(select(Petition))
        photo = s.scalar(select(PetitionPhoto))
    assert petition.channel == "mobile" and (petition.lat, petition.lon) == (None, None)
    assert (photo.lat, photo.lon) == (None, None)
    assert client.get(f"/m/petitions/media/{photo.token}.jpg").status_code == 404, "photos are for staff"
    login("staff")
    stored = client.get(f"/m/petitions/media/{photo.token}.jpg")
    assert stored.status_code == 200 and stored.mimetype == "image/jpeg"
    data = stored.data
    assert b"Exif" not in data and b"PhoneMaker" not in data and b"Model X" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert dict(image.getexif()) == {}
        assert image.getexif().get_ifd(0x8825) == {}
        # Orientation 6 means "rotate 90°": the stored pixels are upright.
        assert image.size == (480, 640)
    path = os.path.join(app.instance_path, "uploads", "petitions", str(petition.station_id), photo.filename)
    assert os.path.isfile(path)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert petition.tracking_no in page and "<svg" in page, "tracking number and QR shown on the phone"


def test_sharing_the_place_keeps_only_a_rounded_position(app, client, csrf, login):
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    client.get("/m/petitions/")
    response = mobile_post(client, csrf, files=[("lamp.jpg", jpeg_with_gps())], share_location="1")
    assert response.status_code == 302
    with session_of(app) as s:
        petition, photo = s.scalar(select(Petition)), s.scalar(select(PetitionPhoto))
    # 22°33'36" N, 114°07'12" E → 22.56, 114.12, to 4 decimals.
    assert (photo.lat, photo.lon) == (22.56, 114.12)
    assert (petition.lat, petition.lon) == (22.56, 114.12)
    login("staff")
    data = client.get(f"/m/petitions/media/{photo.token}.jpg").data
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif().get_ifd(0x8825) == {}, "the position is kept in the database, not the file"


def photo_error(page: str) -> str:
    found = re.findall(r'class="pt-m-error" role="alert">([^<]*)<', page)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.jpg", b"%PDF-1.4 not a picture at all" * 10),
        ("empty.png", b"\x89PNG\r\n\x1a\n"),
        ("icon.gif", None),
    ],
)
def test_phone_form_refuses_files_that_are_not_photos(app, client, csrf, name, content):
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    if content is None:
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, format="GIF")
        content = out.getvalue()
    client.get("/m/petitions/")
    response = mobile_post(client, csrf, files=[(name, content)])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    # The wording may come from another plugin's catalog (message ids are shared); it names the types.
    assert "JPEG" in photo_error(page) and "照片" in photo_error(page)
    assert "路灯坏了" in page, "the description is kept for a second try"
    assert count(app, Petition) == 0 and count(app, PetitionPhoto) == 0
    assert stored_files(app) == [], "a refused photo leaves nothing on disk"


def stored_files(app):
    found = []
    for folder, _dirs, files in os.walk(os.path.join(app.instance_path, "uploads", "petitions")):
        found += [os.path.join(folder, f) for f in files]
    return found


def test_phone_form_refuses_oversized_photos(make_app, database_url, csrf):
    from kiosk_plugins.petitions.models import Petition

    app = make_app(database_url, PLUGINS={"petitions": {"photos": {"max_bytes": 50_000, "max_pixels": 1_000_000}}})
    client = app.test_client()
    client.get("/m/petitions/")
    noise = Image.effect_noise((400, 400), 80).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=95)
    assert len(out.getvalue()) > 50_000
    big = mobile_post(client, csrf, files=[("big.jpg", out.getvalue())])
    assert big.status_code == 400
    assert "照片太大，请选择较小的照片（不超过 0.05 MB）" in big.get_data(as_text=True)
    # Small on disk, huge in pixels: refused before it is decoded.
    wide = io.BytesIO()
    Image.new("RGB", (2000, 1000), (255, 255, 255)).save(wide, format="PNG")
    assert len(wide.getvalue()) < 50_000
    huge = mobile_post(client, csrf, files=[("wide.png", wide.getvalue())])
    assert huge.status_code == 400 and "照片太大" in huge.get_data(as_text=True)
    too_many = mobile_post(client, csrf, files=[(f"{i}.jpg", jpeg_with_gps()) for i in range(4)])
    assert too_many.status_code == 400 and "最多只能上传 3 张照片" in too_many.get_data(as_text=True)
    assert count(app, Petition) == 0 and stored_files(app) == []


def test_a_body_over_the_core_limit_gets_a_message_not_an_error(make_app, database_url, csrf):
    app = make_app(database_url, MAX_CONTENT_LENGTH=200_000)
    client = app.test_client()
    client.get("/m/petitions/")
    response = mobile_post(client, csrf, files=[("a.jpg", b"\xff\xd8" + os.urandom(300_000))])
    assert response.status_code == 413
    assert "照片总共太大" in response.get_data(as_text=True)


def test_phone_form_with_contact_details(app, client, csrf):
    from kiosk_plugins.petitions.models import Petition

    client.get("/m/petitions/")
    response = mobile_post(client, csrf, anonymous="0", phone="+86 138-1234-5678", name="王小明")
    assert response.status_code == 302
    with session_of(app) as s:
        petition = s.scalar(select(Petition))
    assert (petition.contact_phone, petition.contact_name, petition.anonymous) == (PHONE, "王小明", False)
    status = client.get(response.headers["Location"]).get_data(as_text=True)
    assert PHONE not in status and "王小明" not in status and "5678" not in status


# -- other plugins ---------------------------------------------------------------------------
def test_civic_request_from_another_plugin(app):
    from kiosk.models import Station
    from kiosk_plugins.petitions.models import Petition, PetitionPhoto

    uploads = os.path.join(app.instance_path, "uploads", "courier_rest")
    os.makedirs(uploads, exist_ok=True)
    photo_path = os.path.join(uploads, "hazard.jpg")
    with open(photo_path, "wb") as fh:
        fh.write(jpeg_with_gps())
    outside = os.path.join(os.path.dirname(app.instance_path), "elsewhere.jpg")
    with open(outside, "wb") as fh:
        fh.write(jpeg_with_gps())
    plugins = app.extensions["kiosk_plugins"]
    with app.test_request_context("/"), session_of(app) as db:
        station = db.get(Station, app.extensions["kiosk_station_id"])
        answer = plugins.call(
            "request_service",
            firstresult=True,
            kind="civic_request",
            station=station,
            payload={
                "type": "complaint",
                "category": "safety_hazard",
                "description": "电动车在楼道里充电，有火灾隐患",
                "place": "笋岗街道宝安北路快递集中点",
                "photos": [photo_path, outside],
                "source": "courier_rest",
            },
        )
        assert set(answer) == {"tracking_no", "status_url"}
        assert answer["status_url"].startswith("/m/petitions/s/")
        odd = plugins.call(
            "request_service",
            firstresult=True,
            kind="civic_request",
            station=station,
            payload={
                "type": "help",
                "category": "broken_bike_lane",
                "description": "非机动车道被占用",
                "place": "",
                "photos": [],
                "source": "courier_rest",
            },
        )
        assert odd is not None
        assert (
            plugins.call(
                "request_service",
                firstresult=True,
                kind="civic_request",
                station=station,
                payload={"type": "nonsense", "description": "x"},
            )
            is None
        )
        assert (
            plugins.call(
                "request_service",
                firstresult=True,
                kind="civic_request",
                station=station,
                payload={"type": "help", "category": "other", "description": ""},
            )
            is None
        )
    with session_of(app) as s:
        rows = s.scalars(select(Petition).order_by(Petition.id)).all()
        assert [(p.channel, p.category) for p in rows] == [("courier_rest", "safety_hazard"), ("courier_rest", "other")]
        assert rows[0].place == "笋岗街道宝安北路快递集中点"
        assert s.scalar(select(func.count()).select_from(PetitionPhoto)) == 1, "only the photo inside uploads"
    assert os.path.exists(photo_path), "the other plugin's file is left alone"
    client = app.test_client()
    assert "电动车在楼道里充电" in client.get(answer["status_url"]).get_data(as_text=True)


def test_tracking_numbers_restart_each_local_day(app):
    from kiosk.models import Station
    from kiosk.stations import station_tag
    from kiosk_plugins.petitions import numbering

    with app.app_context():
        with app.extensions["db"].WriteSession() as s:
            station = s.get(Station, app.extensions["kiosk_station_id"])
            late = datetime(2024, 5, 12, 15, 59, tzinfo=UTC)  # 23:59 in Shenzhen
            early = datetime(2024, 5, 12, 16, 1, tzinfo=UTC)  # 00:01 the next day
            got = [numbering.next_tracking_no(s, station, t) for t in (late, late, early)]
            tag = station_tag(station)
            s.commit()
    assert got == [f"P240512-{tag}-0001", f"P240512-{tag}-0002", f"P240513-{tag}-0001"]
