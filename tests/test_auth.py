"""Staff and admin access: login, roles, rate limiting, and a walk of the URL map."""

from sqlalchemy import select

from kiosk.models import AuditLog, User


def test_login_and_logout(client, auth, app, csrf):
    response = auth.login("staff")
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    client.post("/staff/logout", data={"csrf_token": csrf(client)})
    assert client.get("/staff/").status_code == 302
    with app.app_context():
        actions = [a.action for a in app.extensions["db"].Session().scalars(select(AuditLog))]
    assert actions == ["staff.login", "staff.logout"]


def test_passwords_are_hashed_with_scrypt(app, auth):
    auth.create("clerk", "s3cret-password")
    with app.app_context():
        user = app.extensions["db"].Session().scalar(select(User).where(User.username == "clerk"))
    assert user.password_hash.startswith("scrypt:") and "s3cret-password" not in user.password_hash


def test_wrong_password_is_refused_in_chinese(client, auth, csrf):
    auth.create("clerk", "right-password")
    client.get("/staff/login")
    response = client.post(
        "/staff/login", data={"username": "clerk", "password": "nope-nope", "csrf_token": csrf(client)}
    )
    assert response.status_code == 400
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_login_is_rate_limited(client, auth, csrf):
    auth.create("clerk", "right-password")
    client.get("/staff/login")
    for _ in range(5):
        client.post("/staff/login", data={"username": "clerk", "password": "wrong-one", "csrf_token": csrf(client)})
    response = client.post(
        "/staff/login", data={"username": "clerk", "password": "right-password", "csrf_token": csrf(client)}
    )
    assert response.status_code == 400
    assert "失败次数过多" in response.get_data(as_text=True)


def test_open_redirect_after_login_is_refused(client, auth, csrf):
    auth.create("clerk", "right-password")
    client.get("/staff/login")
    response = client.post(
        "/staff/login?next=//evil.example/",
        data={"username": "clerk", "password": "right-password", "csrf_token": csrf(client)},
    )
    assert response.headers["Location"].endswith("/staff/")


def _routes(app):
    for rule in app.url_map.iter_rules():
        if "<" in rule.rule or rule.endpoint == "static":
            continue
        yield rule


def test_every_staff_and_admin_route_refuses_anonymous_requests(app, client):
    checked = 0
    for rule in _routes(app):
        if not (rule.rule.startswith("/staff") or rule.rule.startswith("/admin")):
            continue
        if rule.endpoint == "auth.login":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(rule.rule, method=method)
            assert response.status_code in (302, 400, 401, 403), (rule.rule, method, response.status_code)
            if method == "GET":
                assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
            checked += 1
    assert checked >= 3


def test_admin_routes_refuse_staff(app, client, auth):
    auth.login("staff")
    checked = 0
    for rule in _routes(app):
        if rule.rule.startswith("/admin") and "GET" in rule.methods:
            assert client.get(rule.rule).status_code == 403, rule.rule
            checked += 1
    assert checked >= 1


def test_every_state_changing_route_needs_a_csrf_token(app, client, auth):
    auth.login("admin")
    checked = 0
    exempt = app.extensions["csrf_exempt_blueprints"]
    for rule in app.url_map.iter_rules():
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            if rule.endpoint.split(".")[0] in exempt:
                continue
            url = rule.rule.replace("<job_id>", "1").replace("<name>", "x")
            url = url.replace("<path:filename>", "x").replace("<plugin>", "x")
            response = client.open(url, method=method, data={})
            assert response.status_code == 400, (url, method, response.status_code)
            checked += 1
    assert checked >= 5


def test_district_admin_sees_every_station(app, client, auth):
    from kiosk.models import Station

    with app.app_context():
        session = app.extensions["db"].Session()
        session.add(
            Station(
                code="gangxia",
                name="岗厦社区党群服务中心",
                kind="party_service",
                timezone="Asia/Shanghai",
                disabled_plugins=[],
            )
        )
        session.commit()
        session.close()
    auth.login("staff")
    assert client.get("/admin/stations").status_code == 403
    other = app.test_client()
    from kiosk.testing import Auth

    Auth(app, other).login("district", username="district1")
    html = other.get("/admin/stations").get_data(as_text=True)
    assert "岗厦社区党群服务中心" in html and "水贝社区党群服务中心" in html


def test_logout_revokes_a_copied_session_cookie(app, client, auth, csrf):
    from kiosk.auth import RevokedSession
    from kiosk.testing import count_rows

    auth.login("staff")
    name = app.config["SESSION_COOKIE_NAME"]
    copied = client.get_cookie(name).value
    thief = app.test_client()
    thief.set_cookie(name, copied)
    assert thief.get("/staff/").status_code == 200
    client.post("/staff/logout", data={"csrf_token": csrf(client)})
    assert thief.get("/staff/").status_code == 302  # the copy opened nothing after the logout
    assert count_rows(app, RevokedSession) == 1
    auth.client.get("/staff/login")
    again = auth.client.post(
        "/staff/login", data={"username": "staff1", "password": "correct-horse", "csrf_token": csrf(client)}
    )
    assert again.status_code == 302 and client.get("/staff/").status_code == 200  # a new login works


def test_an_unknown_user_name_costs_a_password_check_too(client, auth, csrf, monkeypatch):
    """So the time a refusal takes does not tell which user names exist."""
    from kiosk import auth as auth_module

    checked = []
    real = auth_module.check_password_hash

    def counting(pwhash, password):
        checked.append(pwhash.split(":")[0])
        return real(pwhash, password)

    monkeypatch.setattr(auth_module, "check_password_hash", counting)
    auth.create("clerk", "right-password")
    client.get("/staff/login")
    for name in ("clerk", "nobody-here"):
        response = client.post(
            "/staff/login", data={"username": name, "password": "wrong-one", "csrf_token": csrf(client)}
        )
        assert response.status_code == 400
    assert checked == ["scrypt", "scrypt"]


def test_only_a_test_run_hashes_passwords_cheaply():
    # kiosk.testing lowers scrypt's cost for the suite's hundreds of logins; a kiosk process
    # (no pytest) must hash at Werkzeug's full cost.
    import subprocess
    import sys

    from kiosk import auth
    from kiosk.testing import TEST_HASH_METHOD

    assert auth.HASH_METHOD == TEST_HASH_METHOD and auth.hash_password("x").startswith("scrypt:1024:8:1$")
    made = subprocess.run(
        [sys.executable, "-c", "from kiosk.auth import hash_password; print(hash_password('x'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout.startswith("scrypt:32768:8:1$"), made.stdout
