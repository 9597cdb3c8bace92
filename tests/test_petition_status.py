"""Issue 19 point 6: a request's status by its typed tracking number, and reader hints only where a reader is.

The demo station has no scanner: a resident types the number on the receipt on
the kiosk, as a Chinese input method types it (full-width digits, ideographic
spaces, long dashes), and guessing numbers is limited per kiosk. A screen tells
a resident to tap a card or hold a code under the scanner only when the kiosk in
front of them (or, for a browser that is no terminal, the station) has one.
"""

from __future__ import annotations

import re

import pytest
from test_petitions_receipt import file_request

from kiosk.testing import enrol_terminal

FULL_WIDTH = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ－",
)
#: Each hint, as the resident reads it, and the kiosk screen that shows it.
CARD_HINTS = {"/k/courier_rest/": "在读卡器上刷卡", "/k/parking/": "请在读卡器上刷居民卡"}
SCANNER_HINTS = {
    "/k/courier_rest/": "或把骑手码放在扫码器下",
    "/k/petitions/": "把回执上的二维码对准扫码器",
    "/k/legal/checkin": "将预约单二维码对准扫描口",
}


def text_of(response) -> str:
    page = re.sub(r"<script.*?</script>|<style.*?</style>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_a_typed_number_finds_the_request_however_the_keyboard_typed_it(make_app, database_url, csrf):
    app = make_app(database_url, PLUGINS={"petitions": {"rate_limit": {"kiosk": [3, 600]}}})
    client = app.test_client()
    token, _job = file_request(client, csrf)
    done = client.get(f"/k/petitions/done/{token}").get_data(as_text=True)
    number = re.search(r"P\d{6}-[A-Z0-9]{2,6}-\d{4}", done).group(0)

    index = client.get("/k/petitions/").get_data(as_text=True)
    assert 'name="no"' in index and 'data-osk="code"' in index  # the field is on the first screen

    # Full-width, as a Chinese input method types it, with ideographic spaces around.
    typed = "\u3000" + number.translate(FULL_WIDTH) + "\u3000"
    found = client.get("/k/petitions/find", query_string={"no": typed})
    assert found.status_code == 200 and number in text_of(found)
    assert "已受理" in text_of(found) and "碧波小学" not in text_of(found)  # where it stands, not what it says
    # Spaces and long dashes instead of "-", lower case.
    spaced = number.lower().replace("-", "\u2014", 1).replace("-", " ")
    assert number in text_of(client.get("/k/petitions/find", query_string={"no": spaced}))

    unknown = client.get("/k/petitions/find", query_string={"no": "P000000-ZZZZ-0001"})
    assert unknown.status_code == 404 and "这里没有这个编号的诉求" in text_of(unknown)
    nonsense = client.get("/k/petitions/find", query_string={"no": "路灯不亮"})
    assert nonsense.status_code == 400 and "请输入回执上的受理编号" in text_of(nonsense)

    # Three numbers per kiosk in ten minutes (set above; an impossible one is not counted): the fourth is refused.
    refused = client.get("/k/petitions/find", query_string={"no": number})
    assert refused.status_code == 429 and "查询的次数较多" in text_of(refused) and "已受理" not in text_of(refused)


def _hints(client) -> tuple[set, set]:
    pages = {path: text_of(client.get(path)) for path in {*CARD_HINTS, *SCANNER_HINTS}}
    cards = {path for path, hint in CARD_HINTS.items() if hint in pages[path]}
    scanners = {path for path, hint in SCANNER_HINTS.items() if hint in pages[path]}
    return cards, scanners


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # configuration and templates, no query of note
def test_card_and_scanner_hints_show_only_where_a_reader_is(make_app, database_url):
    # The demo's station: no readers at all. Nothing tells residents to tap or scan.
    bare = make_app(database_url)
    client = bare.test_client()
    assert _hints(client) == (set(), set())
    petitions = text_of(client.get("/k/petitions/"))
    assert "输入回执上的受理编号" in petitions  # the typed way is offered instead
    courier = client.get("/k/courier_rest/").get_data(as_text=True)
    assert 'data-testid="hint-card"' not in courier and "输入手机号码" in text_of(client.get("/k/courier_rest/"))

    # A station with a card reader and a scanner at its own kiosk (kiosk-1).
    readers = {"card": {"type": "test", "kind": "card"}, "scan": {"type": "test", "kind": "code"}}
    equipped = make_app(database_url, DEVICES={"readers": readers})
    at_kiosk = equipped.test_client()
    enrol_terminal(at_kiosk, equipped, "kiosk-1")
    assert _hints(at_kiosk) == (set(CARD_HINTS), set(SCANNER_HINTS))
    # A browser that is no terminal is told what the station has.
    assert _hints(equipped.test_client()) == (set(CARD_HINTS), set(SCANNER_HINTS))
    # Another kiosk of the same station, with no reader of its own: its reads would never come.
    hall = equipped.test_client()
    enrol_terminal(hall, equipped, "hall-2")
    assert _hints(hall) == (set(), set())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_terminal_of_the_station_file_has_its_own_readers(make_app, database_url):
    """``[terminals.hall-3.readers]``: only a scanner there, so only scanner hints on that kiosk."""
    terminals = {"hall-3": {"kind": "kiosk", "readers": {"scan": {"type": "test", "kind": "code"}}}}
    app = make_app(database_url, TERMINALS=terminals)
    client = app.test_client()
    enrol_terminal(client, app, "hall-3")
    assert _hints(client) == (set(), set(SCANNER_HINTS))
