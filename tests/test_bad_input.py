"""Bad input never causes a 500: every form found on every page, fuzzed with hypothesis.

The pages are discovered from the URL map (as an admin, so staff forms are
included) and each ``<form method="post">`` is submitted with hostile values:
oversized text, control characters, lone surrogates' replacement, script tags,
SQL fragments. The answer must be a page or a clear 4xx, never a 5xx; and a
submission that was refused (anything but the redirect that follows a
success) must have stored nothing: no table gained or lost a row.
"""

from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=5000),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "'; DROP TABLE station; --",
            "\x00\x01\x02",
            "1' OR '1'='1",
            "../../etc/passwd",
            "９９９９９９９９９９９",
            "-1",
            "0",
            "99999999999999999999999",
            "1e309",
            "13800138000",
            "粤B12345",
            "",
            " ",
            "\u202e",
            "😀" * 50,
            "null",
            "[]",
            "{}",
        ]
    ),
)


class FormFinder(HTMLParser):
    """Collects post forms: action and field names (hidden values kept)."""

    def __init__(self):
        super().__init__()
        self.forms, self._current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self._current = {"action": attrs.get("action") or "", "fields": {}, "hidden": {}}
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "textarea", "select", "button") and attrs.get("name"):
            if attrs.get("type") == "hidden":
                self._current["hidden"][attrs["name"]] = attrs.get("value") or ""
            elif attrs.get("type") != "file":
                self._current["fields"].setdefault(attrs["name"], attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _pages(app):
    for rule in app.url_map.iter_rules():
        if (
            "GET" in rule.methods
            and "<" not in rule.rule
            and not rule.rule.startswith(("/static", "/events", "/healthz", "/ime"))
            and not rule.rule.endswith((".csv", ".json", ".wav", ".png"))
        ):
            yield rule.rule


def _forms(app, client):
    seen = {}
    for path in _pages(app):
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        finder = FormFinder()
        finder.feed(response.get_data(as_text=True))
        for form in finder.forms:
            action = form["action"] or path
            if action.endswith(("/logout", "/reset")):
                continue
            seen.setdefault((action, tuple(sorted(form["fields"]))), form | {"page": path})
    return list(seen.values())


#: Tables that record the attempt itself, refused or not (who tried to sign in, when; rate-limit hits).
ATTEMPT_LOGS = {"login_attempt", "alembic_version", "kiosk_rate_hit"}


def _row_counts(app) -> dict[str, int]:
    """Every table's row count, in one statement."""
    from sqlalchemy import inspect, text

    engine = app.extensions["db"].engine
    tables = sorted(set(inspect(engine).get_table_names()) - ATTEMPT_LOGS)
    query = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{name}")' for name in tables)
    with engine.connect() as conn:
        return dict(zip(tables, conn.execute(text(query)).one(), strict=True))


def _fuzz_form(app, client, form: dict, failures: list) -> None:
    """Post hostile values into every field of ``form``; what went wrong is added to ``failures``."""
    names = list(form["fields"]) or ["value"]

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.fixed_dictionaries({name: HOSTILE for name in names}))
    def submit(values):
        data = dict(form["hidden"], **values)
        before = _row_counts(app)
        response = client.post(form["action"], data=data)
        if response.status_code >= 500:
            failures.append((form["action"], values, response.status_code))
        elif response.status_code not in (302, 303):
            after = _row_counts(app)
            changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
            if changed:
                failures.append((form["action"], values, response.status_code, "stored", changed))
        assert not failures

    try:
        submit()
    except AssertionError:
        pass


def test_every_post_form_survives_hostile_input(app):
    """On both databases: PostgreSQL refuses what SQLite stores (a NUL byte in text)."""
    from kiosk.testing import Auth

    client = app.test_client()
    Auth(app, client).login("admin")
    forms = _forms(app, client)
    assert len(forms) >= 3, forms
    failures = []
    for form in forms:
        _fuzz_form(app, client, form, failures)
    assert not failures, failures[:5]


@pytest.mark.parametrize("query", ["q=%00", "q=" + "a" * 5000, "limit=-1&q=zh", "q=<script>", "q=%ff%fe"])
def test_query_strings_never_500(client, query):
    for path in ("/", "/ime/candidates", "/healthz", "/staff/login"):
        assert client.get(f"{path}?{query}").status_code < 500


def test_invalid_utf8_in_a_form_is_refused_cleanly(client, csrf):
    token = csrf(client)
    response = client.post(
        "/lang", data=b"lang=%ff%fe&csrf_token=" + token.encode(), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code < 500


def test_oversized_body_gets_413(client, csrf):
    response = client.post("/lang", data={"csrf_token": csrf(client), "lang": "x" * (9 * 1024 * 1024)})
    assert response.status_code == 413
