"""Outside check (H6): requests an attacker or a careless operator sends get a clear refusal, never a 500."""

from __future__ import annotations

from kiosk.testing import csrf_of


def test_an_account_id_beyond_any_row_is_not_found_not_a_500(app, client, auth):
    # A forged form naming a user id larger than the database's integers overflowed SQLite's
    # parameter binding (OverflowError) and answered 500.
    auth.login("admin", username="boss")
    token = csrf_of(client)
    for user in ("99999999999999999999", "-99999999999999999999", "1e9", "１"):
        response = client.post("/admin/accounts", data={"action": "disable", "user": user, "csrf_token": token})
        assert response.status_code == 404, (user, response.status_code)
