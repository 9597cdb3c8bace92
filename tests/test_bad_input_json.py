"""Bad input on every JSON endpoint that takes input: a clear 4xx or an answer, never a 5xx, nothing stored.

Hypothesis sends hostile values through each endpoint's query string, path and
body: oversized text, control characters (NUL included, which PostgreSQL
cannot hold), invalid UTF-8 bytes, script tags and SQL fragments. An endpoint
may answer (the value happened to be acceptable) or refuse with a 4xx whose
JSON body says why: ``{"error": ...}`` in the user's language where a person
reads it, Open311's ``[{"code", "description"}]`` on the Open311 endpoints.
Refused requests leave every table as it was (counted before and after).
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select, text
from test_courier_rest_support import Kiosk, courier_config

API = "/api/petitions/open311/v2"
OPEN311_KEY = "open311-key-bad-input"
TOKEN = "district-token-bad-input"
FUZZ = settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(min_size=1000, max_size=4000),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=12),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "'; DROP TABLE petitions_request; --",
            "1' OR '1'='1",
            "\x00",
            "a\x00b",
            "%00",
            "../../etc/passwd",
            "\u202e",
            "😀" * 50,
            "９９９９-１２",
            "9999-12",
            "9999-12-31",
            "0001-01-01",
            "1e309",
            "nan",
            "-1",
            "0",
            "99999999999999999999",
            "null",
            "[]",
            "{}",
            "",
            " ",
            "open,closed,",
            "2024-05-12T08:00:00+08:00",
            "2024-02-30",
            "P240501-0001",
        ]
    ),
)
INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe4\xb8", b"a\x80b"])
#: A value for a query string or a path: text, or bytes that are not UTF-8.
HOSTILE = st.one_of(HOSTILE_TEXT, INVALID_UTF8)
JSON_VALUE = st.one_of(
    HOSTILE_TEXT,
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


def encode(value: str | bytes) -> str:
    """Percent-encode a value (bytes as they are, so invalid UTF-8 reaches the server)."""
    return quote_from_bytes(value, safe="") if isinstance(value, bytes) else quote(value, safe="")


def query(**values) -> str:
    return "&".join(f"{name}={encode(value)}" for name, value in values.items() if value is not None)


#: Tables that count the attempt itself, refused or not: a rate limit counts before it reads the body.
ATTEMPT_COUNTERS = {"kiosk_rate_hit"}


def row_counts(app) -> dict[str, int]:
    """Rows in every table of the app's database but the attempt counters."""
    engine = app.extensions["db"].engine
    names = sorted(set(inspect(engine).get_table_names()) - ATTEMPT_COUNTERS)
    with engine.connect() as conn:
        return {name: conn.scalar(text(f'SELECT count(*) FROM "{name}"')) for name in names}


def assert_clear(response, *, open311: bool = False) -> None:
    """An answer, or a 4xx whose JSON body says what was wrong; never a 5xx."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code < 400:
        return
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    if open311:
        assert isinstance(body, list) and len(body) == 1
        assert body[0]["code"] == response.status_code and body[0]["description"].strip()
    else:
        assert isinstance(body, dict) and body["error"].strip()


# -- query strings and paths: nothing is ever stored by looking ---------------------
def test_pinyin_candidates_take_any_query(app):
    client = app.test_client()
    before = row_counts(app)

    @FUZZ
    @given(q=HOSTILE, limit=st.one_of(st.none(), HOSTILE, st.integers(-5, 500).map(str)))
    def look_up(q, limit):
        response = client.get("/ime/candidates?" + query(q=q, limit=limit))
        assert_clear(response)
        if response.status_code == 200:
            assert isinstance(q, str) and (q == "" or (q.isascii() and q.isalpha()))

    look_up()
    assert row_counts(app) == before


@pytest.mark.parametrize(
    "template, open311",
    [
        ("/print-jobs/{}", False),
        ("/m/legal/t/{}.json", False),
        (API + "/requests/{}.json", True),
        (API + "/services/{}.json", True),
    ],
)
def test_lookups_by_path_answer_404_for_anything_unknown(app, template, open311):
    client = app.test_client()
    before = row_counts(app)

    @FUZZ
    @given(value=HOSTILE)
    def look_up(value):
        # A slash or nothing makes another URL (one no route matches): not this endpoint's input.
        assume(value and "/" not in (value if isinstance(value, str) else value.decode("latin-1")))
        assume(value not in ("environment", "safety_hazard", "parking", "noise", ".", ".."))
        response = client.get(template.format(encode(value)))
        assert response.status_code == 404
        assert_clear(response, open311=open311)

    look_up()
    assert row_counts(app) == before


def test_open311_filters_take_any_query(app):
    client = app.test_client()
    before = row_counts(app)

    @FUZZ
    @given(
        st.fixed_dictionaries(
            {},
            optional={
                name: HOSTILE for name in ("service_request_id", "service_code", "start_date", "end_date", "status")
            },
        )
    )
    def list_requests(filters):
        response = client.get(f"{API}/requests.json?" + query(**filters))
        assert_clear(response, open311=True)
        if response.status_code == 200:
            assert isinstance(response.get_json(), list)

    list_requests()
    assert row_counts(app) == before


def test_district_figures_take_any_query_and_token(make_app, database_url):
    # The district hub reads ?station=<code>, so the station's code is input too.
    app = make_app(database_url, ROLE="hub", PLUGINS={"courier_rest": {"api_token": TOKEN}})
    client = app.test_client()
    # The first call sets up the station's places and services; counted from there.
    assert client.get("/api/courier_rest/stats", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    before = row_counts(app)

    @FUZZ
    @given(
        period=st.one_of(st.none(), st.sampled_from(["day", "month"]), HOSTILE),
        date=st.one_of(st.none(), HOSTILE),
        station=st.one_of(st.none(), HOSTILE),
        token=st.one_of(st.just(TOKEN), st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E))),
    )
    def figures(period, date, station, token):
        response = client.get(
            "/api/courier_rest/stats?" + query(period=period, date=date, station=station),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert_clear(response)
        if token != TOKEN:
            assert response.status_code == 401
        if response.status_code == 200:
            assert response.get_json()["period"] in ("day", "month")

    figures()
    assert row_counts(app) == before


# -- bodies: what is refused leaves no trace -----------------------------------------
@pytest.fixture
def open311_app(make_app, database_url):
    return make_app(
        database_url,
        PLUGINS={"petitions": {"open311": {"api_keys": [OPEN311_KEY]}, "rate_limit": {"api": [100000, 60]}}},
    )


FIELDS = (
    "service_code",
    "description",
    "lat",
    "long",
    "address_string",
    "address_id",
    "attribute[type]",
    "first_name",
    "last_name",
    "phone",
    "email",
    "media_url",
)
GOOD = {
    "api_key": OPEN311_KEY,
    "service_code": "environment",
    "description": "贝丽北路人行道垃圾堆积",
    "lat": "22.5580",
    "long": "114.1302",
}


def _filed_as_sent_or_not_at_all(app, response, before: dict) -> None:
    """A 201 stored one request, clean; anything else stored nothing at all."""
    assert_clear(response, open311=True)
    after = row_counts(app)
    if response.status_code != 201:
        assert after == before
        return
    assert after["petitions_request"] == before["petitions_request"] + 1
    from kiosk_plugins.petitions.intake import CONTROL_RE
    from kiosk_plugins.petitions.models import Petition
    from kiosk_plugins.petitions.open311 import URL_RE

    number = response.get_json()[0]["service_request_id"]
    with app.extensions["db"].Session() as s:
        stored = s.scalar(select(Petition).where(Petition.tracking_no == number))
    for value in (stored.description, stored.place, stored.contact_name, stored.contact_email):
        assert not CONTROL_RE.search(value or "")
    assert 2 <= len(stored.description) <= 500
    assert not stored.media_url or URL_RE.match(stored.media_url)
    assert re.fullmatch(r"\d{5,20}|", stored.contact_phone or "")


def test_open311_form_posts_are_filed_clean_or_refused(open311_app):
    client = open311_app.test_client()

    @FUZZ
    @given(st.dictionaries(st.sampled_from(FIELDS), HOSTILE_TEXT, max_size=4), st.booleans())
    def file(hostile, with_key):
        form = dict(GOOD, **hostile) if with_key else dict(hostile)
        before = row_counts(open311_app)
        response = client.post(f"{API}/requests.json", data=form)
        _filed_as_sent_or_not_at_all(open311_app, response, before)

    file()


def test_open311_json_posts_are_filed_clean_or_refused(open311_app):
    client = open311_app.test_client()

    @FUZZ
    @given(st.dictionaries(st.sampled_from((*FIELDS, "attribute")), JSON_VALUE, max_size=4))
    def file(hostile):
        before = row_counts(open311_app)
        response = client.post(f"{API}/requests.json", json=dict(GOOD, **hostile))
        _filed_as_sent_or_not_at_all(open311_app, response, before)
        typed = {k: v for k, v in hostile.items() if k != "attribute"}
        if any(v is None or isinstance(v, (bool, list, dict)) for v in typed.values()):
            assert response.status_code == 400  # a field of the wrong type is refused, not dropped

    file()


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"],
)
def test_open311_raw_bodies_with_invalid_utf8_are_refused(open311_app, content_type):
    client = open311_app.test_client()

    @FUZZ
    @given(
        st.one_of(
            INVALID_UTF8,
            st.binary(max_size=300),
            INVALID_UTF8.map(lambda b: b"api_key=" + OPEN311_KEY.encode() + b"&description=" + b),
        )
    )
    def file(body):
        before = row_counts(open311_app)
        response = client.post(f"{API}/requests.json", data=body, content_type=content_type)
        _filed_as_sent_or_not_at_all(open311_app, response, before)

    file()


def test_open311_oversized_body_gets_413_in_open311_form(open311_app):
    client = open311_app.test_client()
    before = row_counts(open311_app)
    response = client.post(f"{API}/requests.json", data=dict(GOOD, description="长" * (9 * 1024 * 1024)))
    assert response.status_code == 413
    assert_clear(response, open311=True)
    assert row_counts(open311_app) == before


def _print_jobs(app) -> int:
    from kiosk.models import PrintJob

    with app.extensions["db"].Session() as s:
        return s.scalar(select(func.count()).select_from(PrintJob))


def test_courier_print_button_refuses_what_it_cannot_print(make_app, database_url, csrf):
    app = make_app(database_url, **courier_config())
    client = app.test_client()
    kiosk = Kiosk(client)
    # Nobody identified yet: the rider reads why, in the kiosk's language.
    response = client.post("/k/courier_rest/print/pass", headers={"X-CSRF-Token": csrf(client)})
    assert response.status_code == 400 and response.get_json()["error"].startswith("请先签到")
    client.post("/lang", data={"lang": "en", "csrf_token": csrf(client)})
    response = client.post("/k/courier_rest/print/pass", headers={"X-CSRF-Token": csrf(client)})
    assert response.status_code == 400 and response.get_json()["error"].startswith("Please check in first")
    client.post("/lang", data={"lang": "zh_Hans", "csrf_token": csrf(client)})
    kiosk.signup(name="张三明", phone="13812345678")
    token = csrf(client)

    @FUZZ
    @given(
        what=st.one_of(st.sampled_from(["pass", "slot"]), HOSTILE),
        body=st.one_of(st.none(), INVALID_UTF8, st.binary(max_size=200)),
        content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
    )
    def press(what, body, content_type):
        assume(what and "/" not in (what if isinstance(what, str) else what.decode("latin-1")))
        assume(what not in (".", ".."))
        before = _print_jobs(app)
        response = client.post(
            f"/k/courier_rest/print/{encode(what)}",
            data=body,
            content_type=content_type,
            headers={"X-CSRF-Token": token},
        )
        assert_clear(response)
        printed = response.status_code == 200
        assert printed == (what == "pass")  # the rider holds no slot, so only the rider code prints
        assert _print_jobs(app) == before + printed
        if not printed:
            assert re.search(r"[\u4e00-\u9fff]", response.get_json()["error"])  # the rider reads it

    press()
