"""Rate limits of public write routes and login back-off (issue 17, point 7).

Behind a reverse proxy every phone comes from the proxy's address: with
``trusted_proxy_hops`` the client's own address (from X-Forwarded-For) is what
quotas and the login back-off count; without it the header is never believed.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint
from sqlalchemy import select

from kiosk import clock, ratelimit
from kiosk.models import AuditLog
from kiosk.testing import FixedClock, count_rows, create_account, csrf_of, enrol_terminal
from kiosk_plugins.courier_rest.models import Hazard

#: Anonymous POST routes of plugins that carry no ``@limited``, and why (the core's are in ratelimit.NOT_LIMITED).
PLUGIN_NOT_LIMITED: dict[str, str] = {}
#: What an anonymous POST to a route for staff only gets: the login page, 401, 403 or 404.
REFUSED_ANONYMOUS = (302, 401, 403, 404)


def _proxied(make_app, database_url, hops: int, **config):
    return make_app(database_url, SECURITY={"trusted_proxy_hops": hops}, **config)


def _add_test_route(app, count: int, seconds: int = 600):
    """A limited POST route of a throwaway blueprint: the limiter alone, without any plugin's work."""
    bp = Blueprint("ratelimit_probe", __name__)

    @bp.route("/probe", methods=["POST"])
    @ratelimit.limited(count, seconds)
    def probe():
        return "ok"

    app.register_blueprint(bp, url_prefix="/test-ratelimit")


#: A phone's address: the test client's default, 127.0.0.1, is the station PC's own kiosk browser.
PHONE = "198.51.100.77"


def _phone(app):
    """A test client that comes from a phone's address, not from this machine."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = PHONE
    return client


def _post(client, path, ip=None, **data):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return client.post(path, data={"csrf_token": csrf_of(client), **data}, headers=headers)


def _url(rule) -> str:
    """A path for ``rule`` with a made-up value for each variable (ids 1, words "x")."""
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if type(converter).__name__ in ("IntegerConverter", "NumberConverter") else "x"
    return rule.build(values)[1]


def test_every_anonymous_post_route_is_limited(app, client):
    """Each POST route is ``@limited``, listed with the reason it needs no limit, or refuses anonymous callers."""
    unguarded = []
    listed = {**ratelimit.NOT_LIMITED, **PLUGIN_NOT_LIMITED}
    covered = 0
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        view = app.view_functions[rule.endpoint]
        if ratelimit.limit_of(view) is not None:
            covered += 1
            continue
        if rule.endpoint in listed:
            assert listed[rule.endpoint].strip()
            continue
        response = client.post(_url(rule), data={"csrf_token": csrf_of(client)})
        if response.status_code not in REFUSED_ANONYMOUS or (
            response.status_code == 302 and "/staff/login" not in response.headers["Location"]
        ):
            unguarded.append(f"{rule.endpoint} {rule.rule}: {response.status_code}")
    assert not unguarded, "anonymous POST routes without @limited:\n" + "\n".join(unguarded)
    assert covered >= 30  # the kiosk and phone pages of every built-in plugin, and the staff login
    endpoints = set(app.view_functions)
    stale = sorted(set(listed) - endpoints)
    assert not stale, f"listed as needing no limit but no longer a route: {stale}"


def test_a_spoofed_forwarded_for_is_ignored_and_a_kiosk_terminal_gets_far_more(app):
    """Without trusted proxies X-Forwarded-For changes nothing; an enrolled terminal has its own, larger allowance."""
    _add_test_route(app, 2)
    client = _phone(app)
    assert [_post(client, "/test-ratelimit/probe", ip=f"10.0.0.{i}").status_code for i in range(3)] == [200, 200, 429]
    # The audit trail records the socket's address, not what the header claims.
    _post(client, "/staff/login", ip="203.0.113.9", username="nobody", password="wrong-password")
    with app.app_context():
        addresses = set(app.extensions["db"].Session().scalars(select(AuditLog.address)))
    assert addresses == {PHONE}
    terminal = _phone(app)
    enrol_terminal(terminal, app)
    # The terminal shares the phone's address here, and has its own, larger allowance.
    codes = [_post(terminal, "/test-ratelimit/probe").status_code for _ in range(2 * ratelimit.TERMINAL_FACTOR + 1)]
    assert codes[:-1] == [200] * (2 * ratelimit.TERMINAL_FACTOR) and codes[-1] == 429


def test_clients_behind_a_trusted_proxy_get_their_own_quotas_and_cannot_lock_the_admin_out(make_app, database_url):
    app = _proxied(make_app, database_url, 1, LOGIN_MAX_FAILURES=2)  # two free tries: fewer slow password checks
    _add_test_route(app, 2)
    alice, bob = app.test_client(), app.test_client()
    assert [_post(alice, "/test-ratelimit/probe", ip="198.51.100.1").status_code for _ in range(3)] == [200, 200, 429]
    # Bob is behind the same proxy (same socket address) and still has his own two.
    assert [_post(bob, "/test-ratelimit/probe", ip="198.51.100.2").status_code for _ in range(2)] == [200, 200]
    # With one trusted hop only the entry the proxy added counts: what the client wrote before it does not.
    refused = _post(alice, "/test-ratelimit/probe", ip="10.9.9.9, 198.51.100.1")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    page = refused.get_data(as_text=True)
    assert "请求过于频繁" in page and "分钟后再试" in page
    answer = alice.post(
        "/test-ratelimit/probe",
        json={},
        headers={"X-Forwarded-For": "198.51.100.1", "Accept": "application/json", "X-CSRF-Token": csrf_of(alice)},
    )
    assert answer.status_code == 429 and answer.get_json()["retry_after"] >= 1
    assert "请求过于频繁" in answer.get_json()["error"]
    _post(bob, "/staff/login", ip="198.51.100.2", username="nobody", password="wrong-password")
    with app.app_context():
        addresses = set(app.extensions["db"].Session().scalars(select(AuditLog.address)))
    assert addresses == {"198.51.100.2"}

    stopped = FixedClock(clock.now())
    clock.set_clock(app, stopped)
    create_account(app, "admin", "admin", password="right-password-1")
    attacker, admin = app.test_client(), app.test_client()
    attacker.get("/staff/login")
    refusals = [
        _post(attacker, "/staff/login", ip="198.51.100.66", username="admin", password=f"guess-{i}") for i in range(4)
    ]
    texts = [r.get_data(as_text=True) for r in refusals]
    assert all(r.status_code == 400 for r in refusals)
    assert "失败次数过多" in texts[-1] and "Retry-After" in refusals[-1].headers
    # The admin, behind the same proxy at another address, logs in at once.
    admin.get("/staff/login")
    ok = _post(admin, "/staff/login", ip="198.51.100.7", username="admin", password="right-password-1")
    assert ok.status_code == 302 and "/staff/login" not in ok.headers["Location"]
    # The guesser waits a doubling time: even the right password is not checked meanwhile…
    held = _post(attacker, "/staff/login", ip="198.51.100.66", username="ADMIN", password="right-password-1")
    assert held.status_code == 400 and "失败次数过多" in held.get_data(as_text=True)
    wait = int(held.headers["Retry-After"])
    assert 1 <= wait <= 600
    # …and is let through once the wait is over (no lockout of the account, only back-off).
    stopped.advance(seconds=wait)
    after = _post(attacker, "/staff/login", ip="198.51.100.66", username="admin", password="right-password-1")
    assert after.status_code == 302


def test_the_hazard_report_route_is_limited_and_a_refusal_changes_nothing(app):
    client = _phone(app)
    client.get("/k/courier_rest/hazard")
    for _ in range(10):
        assert _post(client, "/k/courier_rest/hazard", category="", note="").status_code == 400
    refused = _post(client, "/k/courier_rest/hazard", category="traffic", note="路口井盖松动")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert count_rows(app, Hazard) == 0
    # The table holds HMACs, never an address; hits older than any window go at the next clean-up.
    with app.app_context():
        keys = set(app.extensions["db"].Session().scalars(select(ratelimit.RateHit.key)))
    assert keys and all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys)
    stopped = FixedClock(clock.now())
    clock.set_clock(app, stopped)
    stopped.advance(timedelta(seconds=ratelimit.KEEP_SECONDS + 60))
    app.extensions["kiosk_ratelimit"] = {"pruned": -1e12}
    assert _post(client, "/k/courier_rest/hazard", category="", note="").status_code == 400
    assert count_rows(app, ratelimit.RateHit) == 1


def test_login_back_off_doubles_and_is_capped():
    assert [ratelimit.backoff_seconds(n, 5, cap=600) for n in range(4, 15)] == [
        0,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        600,
    ]


def test_workers_share_one_count_and_limits_can_be_switched_off_for_a_load_bench(make_app, database_url):
    """Two workers (two apps on one database) draw on one allowance; ``rate_limits = false`` lifts it."""
    first, second = make_app(database_url), make_app(database_url)
    for worker in (first, second):
        _add_test_route(worker, 2)
    one, other = _phone(first), _phone(second)
    assert _post(one, "/test-ratelimit/probe").status_code == 200
    assert _post(other, "/test-ratelimit/probe").status_code == 200
    assert _post(one, "/test-ratelimit/probe").status_code == 429
    assert _post(other, "/test-ratelimit/probe").status_code == 429
    off = make_app(database_url, SECURITY={"rate_limits": False})
    _add_test_route(off, 2)
    client = _phone(off)
    assert {_post(client, "/test-ratelimit/probe").status_code for _ in range(3)} == {200}


def test_the_station_pcs_own_kiosk_browser_counts_as_a_kiosk_but_not_on_the_hub(make_app, database_url):
    # 127.0.0.1 at a station is its own kiosk screen (the demo's, one not enrolled yet): residents
    # queue at it, so it gets a terminal's allowance. The hub has no kiosk screen on its PC.
    station = make_app(database_url)
    _add_test_route(station, 2)
    local = station.test_client()
    codes = [_post(local, "/test-ratelimit/probe").status_code for _ in range(2 * ratelimit.TERMINAL_FACTOR + 1)]
    assert codes[:-1] == [200] * (2 * ratelimit.TERMINAL_FACTOR) and codes[-1] == 429
    with station.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert ratelimit.client()[0] == "t:local"
    with station.test_request_context("/", environ_base={"REMOTE_ADDR": PHONE}):
        assert ratelimit.client()[0] == f"a:{PHONE}"


def test_this_machines_addresses_are_told_apart_from_clients_by_one_helper():
    # Rate limits, /healthz and /metrics all ask kiosk.urls.is_loopback_address.
    from kiosk.urls import is_loopback_address

    assert all(is_loopback_address(a) for a in ("127.0.0.1", "127.0.0.5", "::1", "::ffff:127.0.0.1"))
    assert not any(is_loopback_address(a) for a in (PHONE, "::ffff:198.51.100.7", "", None, "localhost", "-"))
