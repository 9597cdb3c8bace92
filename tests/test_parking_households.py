"""The whitelist of households and plates: CSV import (all or nothing), search, switching off."""

from __future__ import annotations

import io

from sqlalchemy import func, select
from test_parking_support import add_household, identify, text_of

from kiosk_plugins.parking.models import Household, Plate

GOOD = (
    "unit,name,phone,plates,card\n"
    "贝丽花园3栋1201,王建国,13800138001,粤B12345,04:A1:B2:C3\n"
    "深华丽园B座502,李秀英,139-0013-9003,粤BD12345;粤B6K7P8,\n"
    "贝丽花园5栋0803,陈淑芬,+8613800138002,粤b23456d,\n"
)


def _count(app, model):
    with app.app_context():
        session = app.extensions["db"].Session()
        n = session.scalar(select(func.count()).select_from(model))
        session.close()
    return n


def _upload(client, csrf, data: bytes, name="households.csv"):
    return client.post(
        "/staff/parking/households/import",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), name), "csrf_token": csrf(client)},
    )


def test_good_file_is_imported_and_the_residents_can_identify(app, client, auth, csrf):
    auth.login("staff")
    response = _upload(client, csrf, ("\ufeff" + GOOD).encode("utf-8"))
    assert response.status_code == 302
    page = client.get("/staff/parking/households")
    assert "新增 3 户" in text_of(page) and "登记车牌 4 个" in text_of(page)
    # Staff pages show the full data.
    assert "13900139003" in text_of(page) and "粤B6K7P8" in text_of(page) and "04A1B2C3" in text_of(page)
    assert _count(app, Household) == 3 and _count(app, Plate) == 4
    resident = app.test_client()
    assert identify(resident, "13800138002").status_code == 302


def test_excel_gb18030_file_and_chinese_headers(app, client, auth, csrf):
    auth.login("staff")
    text = "房号,联系人,手机号,车牌\n贝丽花园3栋1201,王建国,13800138001,粤B12345\n"
    assert _upload(client, csrf, text.encode("gb18030")).status_code == 302
    assert _count(app, Household) == 1


def test_bad_rows_import_nothing_and_are_listed_by_line(app, client, auth, csrf):
    add_household(app, "深华丽园A座1105", "黄志强", "13900139004", ["粤BF26888"])
    auth.login("staff")
    bad = GOOD + (
        "贝丽花园6栋0101,周丽华,12345,粤B1234,\n"  # line 5: phone and plate
        ",张伟,13800138005,粤B55555,\n"  # line 6: no unit
        "贝丽花园7栋0202,刘洋,13800138006,粤BF26888,\n"  # line 7: plate of another household
        "贝丽花园8栋0303,赵敏,13800138001,粤B77777,\n"  # line 8: phone already on line 2
        "贝丽花园9栋0404,孙强,13800138009,粤B88888,XYZ\n"
    )  # line 9: card
    response = _upload(client, csrf, bad.encode("utf-8"))
    assert response.status_code == 400
    text = text_of(response)
    assert "未导入任何数据" in text
    for line, words in [(5, "12345"), (5, "粤B1234"), (6, "房号"), (7, "深华丽园A座1105"), (8, "第 2 行"), (9, "XYZ")]:
        assert f"第 {line} 行" in text and words in text, (line, words)
    assert "第 2 行：" not in text and "第 3 行：" not in text, "good lines are not reported"
    assert _count(app, Household) == 1 and _count(app, Plate) == 1, "nothing partial was written"


def test_reimport_updates_units_and_replaces_their_plates(app, client, auth, csrf):
    auth.login("staff")
    assert _upload(client, csrf, GOOD.encode()).status_code == 302
    # A car moves from one household to another, and a phone number changes.
    again = (
        "unit,name,phone,plates\n"
        "深华丽园B座502,李秀英,13900139003,粤BD12345\n"
        "贝丽花园5栋0803,陈淑芬,13800138012,粤B23456D;粤B6K7P8\n"
    )
    assert (
        client.post("/staff/parking/households/import", data={"text": again, "csrf_token": csrf(client)}).status_code
        == 302
    )
    assert "更新 2 户" in text_of(client.get("/staff/parking/households"))
    with app.app_context():
        session = app.extensions["db"].Session()
        owner = session.scalar(
            select(Household.unit).join(Plate, Plate.household_id == Household.id).where(Plate.plate == "粤B6K7P8")
        )
        phone = session.scalar(select(Household.phone).where(Household.unit == "贝丽花园5栋0803"))
        session.close()
    assert owner == "贝丽花园5栋0803" and phone == "13800138012"
    assert _count(app, Household) == 3 and _count(app, Plate) == 4


def test_duplicates_inside_the_file_and_missing_columns(app, client, auth, csrf):
    auth.login("staff")
    dup = GOOD + "贝丽花园3栋1201,王建国,13800138011,粤B99999,\n"
    response = _upload(client, csrf, dup.encode())
    assert response.status_code == 400 and "第 5 行" in text_of(response) and "第 2 行出现" in text_of(response)
    missing = _upload(client, csrf, "unit,name\n贝丽花园,王\n".encode())
    assert missing.status_code == 400 and "phone" in text_of(missing) and "plates" in text_of(missing)
    empty = client.post("/staff/parking/households/import", data={"text": "  ", "csrf_token": csrf(client)})
    assert empty.status_code == 400 and "CSV" in text_of(empty)
    assert _count(app, Household) == 0


def test_search_and_switching_a_household_off(app, client, auth, csrf):
    hid = add_household(app, "贝丽花园3栋1201", "王建国", "13800138001", ["粤B12345"])
    add_household(app, "深华丽园B座502", "李秀英", "13900139003", ["粤BD12345"])
    auth.login("staff")
    found = text_of(client.get("/staff/parking/households?q=BD123"))
    assert "深华丽园B座502" in found and "贝丽花园3栋1201" not in found
    assert client.post(f"/staff/parking/households/{hid}/toggle", data={"csrf_token": csrf(client)}).status_code == 302
    resident = app.test_client()
    assert identify(resident, "13800138001").status_code == 404, "off the list: cannot identify"
    client.post(f"/staff/parking/households/{hid}/toggle", data={"csrf_token": csrf(client)})
    assert identify(resident, "13800138001").status_code == 302
    missing = client.post("/staff/parking/households/999999/toggle", data={"csrf_token": csrf(client)})
    assert missing.status_code == 302


def test_template_and_access(app, client, auth):
    assert client.get("/staff/parking/households").status_code == 302, "staff login required"
    auth.login("staff")
    sample = client.get("/staff/parking/households/template.csv")
    assert sample.status_code == 200 and sample.mimetype == "text/csv"
    body = sample.get_data(as_text=True)
    assert body.startswith("\ufeffunit,name,phone,plates,card")
    from kiosk_plugins.parking.households import import_csv

    with app.app_context():
        session = app.extensions["db"].Session()
        report = import_csv(session, app.extensions["kiosk_station_id"], body.lstrip("\ufeff"))
        session.rollback()
        session.close()
    assert report.ok and report.added == 2, "the example file itself imports"
