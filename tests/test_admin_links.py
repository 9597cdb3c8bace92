"""Issue 19 point 9: every admin and staff page is linked from another, and none shows raw status keys.

A district administrator (who may open every admin and staff page) walks the
demo station from the staff console and the admin page, following every link,
picture and GET form on every page it reaches. Every GET route under /admin and
/staff in the URL map must be among the addresses found, and no page reached
may show the keys the code uses for states (``enabled``, ``in=8 seats_free=7``,
``calling voice ready``, ``(kiosk)``, ``created``) where people read words.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from kiosk.demo import load_demo


@pytest.fixture(params=["sqlite"])
def backend(request):
    """SQLite only: this is about pages and words; the views' queries run on PostgreSQL in their own tests."""
    return request.param


#: Routes no page links to, and why: each is reached another way.
REACHED_OTHERWISE = {
    "auth.login": "the page everyone is sent to before logging in",
    "legal_staff.counter": "opened by the counter page's 'Work at this counter' button (a POST that takes the counter)",
    "staff.preview": "the picture of a receipt that did not print (the demo has none)",
    "courier_rest_staff.hazard_photo": "the photo of a rider's hazard report (the demo has none)",
    "notices.notice_edit": "a station notice's page, linked from the notices list once there is one (demo: none)",
}

#: What the code calls a state, shown instead of words (each matched as a whole word, case-sensitive).
RAW_WORDS = (
    "enabled",
    "disabled",
    "incompatible",
    "failed",
    "unknown",
    "disconnected",
    "offline",
    "stopped",
    "created",
    "pending",
    "delivered",
    "kiosk",
    "display",
    "counter",
    "calling voice ready",
    "not checked yet",
    "forwarding off",
    "party_service",
    "courier_station",
    "in_progress",
)
#: ``in=8 seats_free=7``: a key and its value, as /healthz gives them to monitors.
KEY_VALUE = re.compile(r"\b[a-z_]+=\w+")
#: ``(kiosk)``: a key in brackets after a value.
BRACKETED_KEY = re.compile(r"\((?:kiosk|mobile|demo|open311|petitions|courier_rest)\)")

#: A link, a picture, or an address a page's script fetches (``data-poll="/staff/…"``).
LINK = re.compile(r"""<(?:a|link)\b[^>]*\bhref="([^"#]*)|\b(?:src|data-[\w-]+)="(/(?:admin|staff)\b[^"]*)""")
GET_FORM = re.compile(r"""<form\b(?![^>]*method="post")[^>]*\baction="([^"]*)""", re.I)
#: Text not meant as words for people: scripts, styles, code (a plugin's name in the station file), and a
#: device's own technical detail (marked ``class="technical"``), which is shown only when something is wrong.
NOT_WORDS = re.compile(
    r"<(script|style|code|textarea)\b.*?</\1>|<(\w+)\b[^>]*class=\"[^\"]*\btechnical\b[^\"]*\"[^>]*>.*?</\2>", re.S
)


def visible_text(page: str) -> str:
    page = NOT_WORDS.sub(" ", page)
    page = re.sub(r"<option\b[^>]*>", " ", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def raw_words(text: str) -> list[str]:
    found = [w for w in RAW_WORDS if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    return found + KEY_VALUE.findall(text) + BRACKETED_KEY.findall(text)


def crawl(client, starts) -> dict[str, str]:
    """Address → HTML of every admin and staff page reachable from ``starts``; links found go in ``linked``."""
    pages: dict[str, str] = {}
    linked: set[str] = set()
    todo = list(starts)
    while todo:
        path = todo.pop()
        if path in pages:
            continue
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        pages[path] = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        for match in LINK.finditer(pages[path]):
            found = urlsplit(html.unescape(match.group(1) or match.group(2))).path
            if found.startswith(("/admin", "/staff")):
                linked.add(found)
                if not found.endswith((".png", ".jpg")):
                    todo.append(found)
        for action in GET_FORM.findall(pages[path]):
            linked.add(urlsplit(html.unescape(action)).path or path)
    crawl.linked = linked  # type: ignore[attr-defined]
    return pages


def test_every_admin_and_staff_page_is_linked_and_worded_for_people(app, client, auth):
    load_demo(app, [])
    auth.login("district")
    pages = crawl(client, ["/staff/", "/admin/"])
    adapter = app.url_map.bind("localhost")
    endpoints = set()
    for path in crawl.linked:  # type: ignore[attr-defined]
        try:
            endpoints.add(adapter.match(path, method="GET")[0])
        except (NotFound, MethodNotAllowed):
            continue
    routes = {
        rule.endpoint: rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/admin", "/staff")) and "GET" in (rule.methods or ())
    }
    unlinked = {endpoint: rule for endpoint, rule in routes.items() if endpoint not in endpoints}
    assert set(unlinked) <= set(REACHED_OTHERWISE), unlinked
    # The two pages the issue found linked from nowhere, and what each is linked as.
    assert "legal_admin.overview" in endpoints and "petitions_admin.place_list" in endpoints
    assert "统计" in pages["/staff/"].split('data-testid="legal-stats-link"', 1)[1].split("</a>", 1)[0]
    assert len(pages) >= 20

    shown = {path: raw_words(visible_text(page)) for path, page in pages.items() if page}
    assert {path: words for path, words in shown.items() if words} == {}
    admin = visible_text(pages["/admin/"])
    # The health figures in words: the courier station's riders and places, the calling voice.
    assert "站内骑手 3 人" in admin and "叫号屏正常显示并语音播报" in admin
    assert "暖蜂驿站" in admin and "已开启" in admin and "小票打印机" in admin
    assert "党群服务中心" in visible_text(pages["/admin/stations"])
    detail = next(page for path, page in pages.items() if re.fullmatch(r"/staff/petitions/\d+", path))
    assert "演示数据" in visible_text(detail)  # where the request came in, not "(demo)"


def test_the_raw_word_check_can_fail():
    """The words the crawl looks for are found where the issue saw them."""
    seen = visible_text(
        "<td>enabled</td><div>in=8 seats_free=7</div><p>calling voice ready</p><dd>2026-12-04 16:08 (kiosk)</dd>"
        '<td>created</td><code>courier_rest</code><div class="technical">not checked yet</div>'
    )
    assert raw_words(seen) == ["enabled", "created", "kiosk", "calling voice ready", "in=8", "seats_free=7", "(kiosk)"]
    assert raw_words(visible_text("<p>工作台 · 水贝社区 shuibei · test-district</p>")) == []
