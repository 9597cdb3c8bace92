"""kiosk.photos: one set of rules for every photo a phone uploads, and every plugin's upload path uses it."""

from __future__ import annotations

import ast
import functools
import io
import os

import pytest
from PIL import Image, PngImagePlugin

from kiosk.photos import DEFAULT_MAX_PIXELS, CleanPhoto, PhotoRefused, clean_photo, open_photo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RED, BLUE = (220, 20, 20), (20, 20, 220)


def camera_jpeg(size=(60, 40), orientation=None, gps=((22, 33, 36.0), (114, 7, 12.0))) -> bytes:
    """A camera-like JPEG: left half red, right half blue, EXIF make/model/time, GPS, XMP and ICC."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X 12"
    exif[0x0132] = "2024:05:12 09:30:00"
    if orientation:
        exif[0x0112] = orientation
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2], ifd[3], ifd[4] = "N", gps[0], "E", gps[1]
        ifd[6] = 35.0
    out = io.BytesIO()
    image.save(
        out,
        format="JPEG",
        exif=exif,
        quality=95,
        icc_profile=b"FAKE-ICC-PROFILE-SECRET",
        xmp=b"<x:xmpmeta>SecretPlace</x:xmpmeta>",
    )
    return out.getvalue()


def no_metadata(data: bytes) -> None:
    """Fail unless the file holds pixels only: no EXIF (GPS included), XMP, ICC or text."""
    for secret in (b"Exif", b"PhoneMaker", b"Model X", b"2024:05:12", b"FAKE-ICC", b"SecretPlace", b"xmpmeta"):
        assert secret not in data, secret
    with Image.open(io.BytesIO(data)) as image:
        assert dict(image.getexif()) == {}
        assert image.getexif().get_ifd(0x8825) == {}
        assert "icc_profile" not in image.info and "exif" not in image.info and "xmp" not in image.info


@functools.cache
def pixel_bomb() -> bytes:
    """A PNG of a few dozen KB that decodes to more pixels than any phone takes."""
    side = int(DEFAULT_MAX_PIXELS**0.5) + 10
    out = io.BytesIO()
    Image.new("L", (side, side)).save(out, format="PNG")
    return out.getvalue()


def png(mode="RGBA", size=(30, 20), color=(0, 128, 0, 0), text=None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


# -- what is kept, what is dropped --------------------------------------------------------
def test_every_tag_is_stripped_gps_included():
    original = camera_jpeg()
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(0x8825), "the test photo really carries a GPS position"
    photo = clean_photo(original)
    assert isinstance(photo, CleanPhoto) and photo.mime == "image/jpeg" and photo.extension == ".jpg"
    assert (photo.width, photo.height) == (60, 40) and photo.location is None
    no_metadata(photo.data)


@pytest.mark.parametrize("output, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_each_output_format_holds_pixels_only(output, mime):
    photo = clean_photo(camera_jpeg(), output=output)
    assert photo.mime == mime
    no_metadata(photo.data)
    with Image.open(io.BytesIO(photo.data)) as image:
        assert image.format == output


def test_png_text_chunks_are_dropped_and_transparency_laid_on_white_for_jpeg():
    original = png(text="home address: 水贝二路 8 号")
    as_jpeg = clean_photo(original)
    assert "水贝".encode() not in as_jpeg.data
    with Image.open(io.BytesIO(as_jpeg.data)) as image:
        assert image.mode == "RGB" and image.getpixel((5, 5)) == (255, 255, 255)
    as_png = clean_photo(original, output="PNG")
    with Image.open(io.BytesIO(as_png.data)) as image:
        assert image.mode == "RGBA" and image.getpixel((5, 5))[3] == 0 and "Comment" not in image.info


def test_exif_orientation_is_applied_before_the_tag_goes():
    # Orientation 6: the camera was turned; the viewer rotates 90° clockwise, so the left (red) goes on top.
    photo = clean_photo(camera_jpeg(orientation=6))
    assert (photo.width, photo.height) == (40, 60)
    with Image.open(io.BytesIO(photo.data)) as image:
        top, bottom = image.getpixel((20, 5)), image.getpixel((20, 55))
    assert top[0] > 150 and top[2] < 100, top
    assert bottom[2] > 150 and bottom[0] < 100, bottom
    upright = open_photo(camera_jpeg(orientation=6))
    assert upright.size == (40, 60) and not upright.info and dict(upright.getexif()) == {}


def test_long_side_is_shrunk_to_max_side():
    photo = clean_photo(camera_jpeg(size=(400, 100)), max_side=200)
    assert (photo.width, photo.height) == (200, 50)


def test_location_only_when_asked_and_rounded():
    assert clean_photo(camera_jpeg()).location is None
    photo = clean_photo(camera_jpeg(), keep_location=True)
    # 22°33'36" N, 114°07'12" E → 22.56, 114.12 (4 decimals, about 11 m).
    assert photo.location == (22.56, 114.12) and (photo.lat, photo.lon) == (22.56, 114.12)
    no_metadata(photo.data)
    nowhere = clean_photo(camera_jpeg(gps=((0, 0, 0.0), (0, 0, 0.0))), keep_location=True)
    assert nowhere.location is None and nowhere.lat is None
    assert clean_photo(camera_jpeg(gps=None), keep_location=True).location is None


def test_an_mpo_from_a_phone_is_taken_as_its_first_picture():
    first = Image.new("RGB", (32, 24), RED)
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[Image.new("RGB", (32, 24), BLUE)])
    with Image.open(io.BytesIO(out.getvalue())) as probe:
        assert probe.format == "MPO"
    photo = clean_photo(out.getvalue())
    with Image.open(io.BytesIO(photo.data)) as image:
        assert image.format == "JPEG" and image.getpixel((10, 10))[0] > 150


# -- what is refused, with a message in the visitor's language ------------------------------
def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, format="GIF")
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (SVG, "not_a_photo"),
        (b"%PDF-1.4 not a picture at all" * 10, "not_a_photo"),
        (b"\x89PNG\r\n\x1a\n", "not_a_photo"),
        (None, "not_a_photo"),  # a GIF: a picture, but not a photo format we take
        ("truncated", "damaged"),
        ("bad-crc", "damaged"),
        ("bomb", "too_many_pixels"),
    ],
)
def test_refused_uploads_say_why(data, reason):
    if data is None:
        data = gif()
    elif data == "truncated":
        data = camera_jpeg(size=(300, 200))[:1500]
    elif data == "bad-crc":
        good = bytearray(png(mode="RGB", size=(40, 40), color=(1, 2, 3)))
        idat = good.index(b"IDAT")
        good[idat + 6] ^= 0xFF  # one flipped byte inside the picture data: its checksum no longer matches
        data = bytes(good)
    elif data == "bomb":
        data = pixel_bomb()
        assert len(data) < 200_000
    with pytest.raises(PhotoRefused) as refused:
        clean_photo(data)
    assert refused.value.reason == reason
    with pytest.raises(PhotoRefused):
        open_photo(data)


def test_oversize_upload_is_refused_before_decoding():
    data = camera_jpeg(size=(300, 200))
    with pytest.raises(PhotoRefused) as refused:
        clean_photo(data, max_bytes=len(data) - 1)
    assert refused.value.reason == "too_large" and refused.value.params == {"mb": "0"}
    with pytest.raises(PhotoRefused) as refused:
        clean_photo(data, max_pixels=300 * 200 - 1)
    assert refused.value.reason == "too_many_pixels"
    assert clean_photo(data, max_bytes=len(data), max_pixels=300 * 200).width == 300


@pytest.mark.parametrize(
    "lang, expected",
    [
        (
            "zh_Hans",
            {
                "not_a_photo": "这个文件不是照片",
                "too_large": "照片太大，请选择较小的照片（不超过 5 MB）",
                "too_many_pixels": "照片太大，无法处理",
                "empty": "照片是空的",
                "damaged": "照片无法读取",
            },
        ),
        (
            "zh_Hant",
            {
                "not_a_photo": "這個檔案不是照片",
                "too_large": "照片太大，請選擇較小的照片（不超過 5 MB）",
                "too_many_pixels": "照片太大，無法處理",
                "empty": "照片是空的",
                "damaged": "照片無法讀取",
            },
        ),
        (
            "en",
            {
                "not_a_photo": "This file is not a photo",
                "too_large": "(at most 5 MB)",
                "too_many_pixels": "too large to process",
                "empty": "The photo is empty",
                "damaged": "could not be read",
            },
        ),
    ],
)
def test_messages_follow_the_visitors_language(app, lang, expected):
    five_mb = 5 * 1024 * 1024
    uploads = {
        "not_a_photo": SVG,
        "too_large": b"\xff\xd8" + b"0" * five_mb,
        "too_many_pixels": pixel_bomb(),
        "empty": b"",
        "damaged": camera_jpeg(size=(300, 200))[:1500],
    }
    with app.test_request_context("/"):
        from flask import g

        g.locale = lang
        for reason, data in uploads.items():
            with pytest.raises(PhotoRefused) as refused:
                clean_photo(data, max_bytes=five_mb)
            assert refused.value.reason == reason
            assert expected[reason] in refused.value.text, (reason, refused.value.text)
    assert str(refused.value).startswith("The photo could not be read"), "str() is English, for logs"


def test_bad_output_format_is_a_programming_error():
    with pytest.raises(ValueError, match="output"):
        clean_photo(camera_jpeg(), output="GIF")


# -- every plugin's upload path goes through the core --------------------------------------
PLUGIN_DIRS = [os.path.join(ROOT, "plugins"), os.path.join(ROOT, "examples")]
FORBIDDEN_CALLS = {"getexif", "exif_transpose", "URLSafeTimedSerializer", "TimestampSigner"}


def _python_files():
    for top in PLUGIN_DIRS:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "build", "__pycache__")]
            yield from (os.path.join(folder, f) for f in files if f.endswith(".py"))


def test_no_plugin_keeps_its_own_photo_cleaner_or_token_signer():
    found = []
    for path in _python_files():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if name in FORBIDDEN_CALLS:
                found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {name}")
            if isinstance(node, ast.ImportFrom) and node.module == "PIL":
                names = {a.name for a in node.names}
                if "ImageOps" in names:
                    found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} PIL.ImageOps")
    assert found == [], "use kiosk.photos / kiosk.visitors instead: " + ", ".join(found)


def _core_only_message(page: str) -> bool:
    """The wording only kiosk.photos has: the pixel-count refusal."""
    return "照片太大，无法处理" in page


def test_petitions_phone_form_uses_the_core_cleaner(app, client, csrf):
    client.get("/m/petitions/")
    data = {
        "csrf_token": csrf(client),
        "type": "help",
        "category": "safety_hazard",
        "place": "other",
        "description": "路灯坏了，晚上很黑",
        "anonymous": "1",
        "photos": [(io.BytesIO(pixel_bomb()), "wide.png")],
    }
    response = client.post("/m/petitions/", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and _core_only_message(response.get_data(as_text=True))


def test_courier_hazard_upload_uses_the_core_cleaner(make_app, database_url):
    from sqlalchemy import select
    from test_courier_rest_support import OTHER_SERVICES, Kiosk, courier_config, db, switch_off

    from kiosk.testing import csrf_of
    from kiosk_plugins.courier_rest.models import Hazard

    app = make_app(database_url, **courier_config())
    switch_off(app, *OTHER_SERVICES)
    kiosk = Kiosk(app.test_client())
    kiosk.get("/k/courier_rest/hazard")
    kiosk.post("/k/courier_rest/hazard", category="safety_hazard", note="笋岗路井盖松动", action="photo")
    with db(app) as s:
        token = s.scalar(select(Hazard.upload_token))
    phone = app.test_client()
    phone.get(f"/m/courier_rest/hazard/{token}")
    response = phone.post(
        f"/m/courier_rest/hazard/{token}",
        content_type="multipart/form-data",
        data={"csrf_token": csrf_of(phone), "photo": (io.BytesIO(pixel_bomb()), "wide.png")},
    )
    assert response.status_code == 400 and _core_only_message(response.get_data(as_text=True))
    with db(app) as s:
        assert s.scalar(select(Hazard.photos)) in (None, [])
    ok = phone.post(
        f"/m/courier_rest/hazard/{token}",
        content_type="multipart/form-data",
        data={"csrf_token": csrf_of(phone), "photo": (io.BytesIO(camera_jpeg(orientation=6)), "a.jpg")},
    )
    assert ok.status_code == 302
    with db(app) as s:
        (name,) = s.scalar(select(Hazard.photos))
        station_id = s.scalar(select(Hazard.station_id))
    with open(os.path.join(app.instance_path, "uploads", "courier_rest", str(station_id), name), "rb") as fh:
        stored = fh.read()
    no_metadata(stored)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (40, 60)


def test_parking_attendant_photo_uses_the_core_checks(app, client, auth, csrf):
    from test_parking_support import add_lot

    ids = add_lot(app)
    auth.login("staff")
    client.get("/staff/parking/redeem")
    response = client.post(
        "/staff/parking/redeem",
        content_type="multipart/form-data",
        data={
            "csrf_token": csrf(client),
            "lot": str(ids["lot"]),
            "code": "",
            "photo": (io.BytesIO(pixel_bomb()), "qr.png"),
        },
    )
    assert response.status_code == 400 and _core_only_message(response.get_data(as_text=True))
