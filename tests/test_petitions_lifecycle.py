"""A request's life: staff handling, the resident's status page, rating and reopening, privacy, retention."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import func, select

PHONE = "13912348765"
NAME = "李秀英"


def session_of(app):
    return app.extensions["db"].Session()


def file_request(client, csrf, **fields):
    """A resident files a request at the kiosk; returns the status page token."""
    client.get("/k/petitions/new")
    data = {
        "csrf_token": csrf(client),
        "step": "4",
        "go": "submit",
        "type": "complaint",
        "category": "noise",
        "place": "other",
        "description": "楼下烧烤店每晚营业到凌晨两点，噪音扰民",
        "anonymous": "0",
        "phone": PHONE,
        "name": NAME,
    }
    data.update(fields)
    response = client.post("/k/petitions/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    wait_for_receipt(client, response.headers["Location"])
    return response.headers["Location"].split("/done/")[1].split("?")[0]


def wait_for_receipt(client, location, timeout=10.0):
    """Let the print queue finish the receipt, as the done page does, before the next step.

    The queue writes the job's state from its own thread; waiting keeps each
    test's database writes in a known order.
    """
    import time

    job = re.search(r"[?&]job=([A-Za-z0-9_-]+)", location)
    assert job, "the kiosk queued a receipt"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/print-jobs/{job.group(1)}").get_json()
        if state["state"] in ("done", "failed"):
            assert state["state"] == "done", state
            return
        time.sleep(0.05)
    raise AssertionError("the receipt did not finish printing")


def petition_of(app, token):
    from kiosk_plugins.petitions.models import Petition

    with session_of(app) as s:
        return s.scalar(select(Petition).where(Petition.token == token))


def staff_update(client, csrf, petition_id, action, note, department=""):
    return client.post(
        f"/staff/petitions/{petition_id}/update",
        data={"csrf_token": csrf(client), "action": action, "note": note, "department": department},
    )


def history_titles(page: str) -> list[str]:
    return re.findall(r'class="pt-step-title">([^<]+)<', page)


def test_whole_life_cycle_seen_on_the_status_page(app, client, auth, csrf):
    from kiosk_plugins.petitions.models import OutboxMessage

    token = file_request(client, csrf)
    resident = app.test_client()
    status = resident.get(f"/m/petitions/s/{token}").get_data(as_text=True)
    assert "已受理" in status and history_titles(status) == ["诉求已受理"]
    petition = petition_of(app, token)

    auth.login("staff")
    listing = client.get("/staff/petitions/?show=new").get_data(as_text=True)
    assert petition.tracking_no in listing
    detail = client.get(f"/staff/petitions/{petition.id}").get_data(as_text=True)
    assert PHONE in detail and NAME in detail, "staff see the contact details in full"
    assert 'value="city_management" selected' in detail, "the routing rule suggests a department"

    refused = staff_update(client, csrf, petition.id, "dispatched", "", "city_management")
    assert refused.status_code == 303
    assert "请填写简短的办理说明" in client.get(f"/staff/petitions/{petition.id}").get_data(as_text=True)
    assert petition_of(app, token).status == "received"

    steps = [
        ("dispatched", "已转城管执法队处理。", "city_management"),
        ("in_progress", "执法队员已约谈店主，要求晚上十点后停止营业。", ""),
        ("resolved", "店主已调整营业时间，十点后不再外摆。", ""),
    ]
    for action, note, department in steps:
        assert staff_update(client, csrf, petition.id, action, note, department).status_code == 303
    page = resident.get(f"/m/petitions/s/{token}").get_data(as_text=True)
    assert history_titles(page) == ["诉求已受理", "已分派至承办部门", "正在办理", "已办结"]
    for _action, note, _d in steps:
        assert note in page
    assert "城市管理和综合执法队" in page
    assert 'data-testid="status">已办结<' in page
    assert 'name="score"' in page, "a resolved request can be rated"

    rated = resident.post(
        f"/m/petitions/s/{token}", data={"csrf_token": csrf(resident), "score": "satisfied", "comment": "处理得很及时"}
    )
    assert rated.status_code == 302
    page = resident.get(rated.headers["Location"]).get_data(as_text=True)
    assert "感谢您的评价" in page and "满意" in page and 'name="score"' not in page
    again = resident.post(
        f"/m/petitions/s/{token}", data={"csrf_token": csrf(resident), "score": "dissatisfied", "comment": "还是吵"}
    )
    assert again.status_code == 400 and "该诉求现在不能评价" in again.get_data(as_text=True)

    assert staff_update(client, csrf, petition.id, "closed", "电话回访，居民表示满意，结案。").status_code == 303
    final = petition_of(app, token)
    assert final.status == "closed" and final.closed_at is not None
    page = resident.get(f"/m/petitions/s/{token}").get_data(as_text=True)
    assert history_titles(page)[-2:] == ["居民评价", "已结案"]
    assert staff_update(client, csrf, petition.id, "in_progress", "试图重开").status_code == 303
    assert petition_of(app, token).status == "closed", "a closed request stays closed"
    with session_of(app) as s:
        events = list(
            s.scalars(
                select(OutboxMessage.event).where(OutboxMessage.request_id == petition.id).order_by(OutboxMessage.id)
            )
        )
    assert events == ["created", "dispatched", "in_progress", "resolved", "rated", "closed"]


def test_dissatisfied_rating_reopens_with_a_new_deadline(app, client, auth, csrf):
    from kiosk.db import utcnow
    from kiosk_plugins.petitions.models import Petition

    token = file_request(client, csrf)
    petition = petition_of(app, token)
    with session_of(app) as s:
        row = s.get(Petition, petition.id)
        row.due_at = utcnow() - timedelta(days=3)
        s.commit()
    auth.login("staff")
    staff_update(client, csrf, petition.id, "resolved", "已要求店主十点后停止营业。")

    resident = app.test_client()
    resident.get(f"/m/petitions/s/{token}")
    missing = resident.post(f"/m/petitions/s/{token}", data={"csrf_token": csrf(resident), "score": "dissatisfied"})
    assert missing.status_code == 400 and "请简单说明还有什么问题没有解决" in missing.get_data(as_text=True)
    assert petition_of(app, token).status == "resolved"
    wrong = resident.post(f"/m/petitions/s/{token}", data={"csrf_token": csrf(resident), "score": "great"})
    assert wrong.status_code == 400 and "请选择您的满意程度" in wrong.get_data(as_text=True)

    reopen = resident.post(
        f"/m/petitions/s/{token}",
        data={"csrf_token": csrf(resident), "score": "dissatisfied", "comment": "昨晚一点还在营业"},
    )
    assert reopen.status_code == 302
    after = petition_of(app, token)
    assert (after.status, after.reopened, after.resolved_at) == ("in_progress", 1, None)
    assert after.due_at > utcnow() + timedelta(days=1), "the category's deadline starts again"
    page = resident.get(f"/m/petitions/s/{token}").get_data(as_text=True)
    assert history_titles(page)[-2:] == ["居民评价", "居民评价不满意，重新办理"]
    assert "昨晚一点还在营业" in page and "不满意" in page and 'name="score"' not in page

    staff_update(client, csrf, after.id, "resolved", "联合执法，已查封违规外摆。")
    page = resident.get(f"/m/petitions/s/{token}").get_data(as_text=True)
    assert 'name="score"' in page, "each resolution can be rated once"


def test_overdue_requests_are_flagged_for_staff(app, client, auth, csrf):
    from kiosk.db import utcnow
    from kiosk_plugins.petitions.models import Petition

    late = petition_of(app, file_request(client, csrf, category="safety_hazard"))
    fresh = petition_of(app, file_request(client, csrf, category="neighbourhood_dispute"))
    assert (late.due_at - late.created_at) == timedelta(days=1)
    assert (fresh.due_at - fresh.created_at) == timedelta(days=7)
    with session_of(app) as s:
        s.get(Petition, late.id).due_at = utcnow() - timedelta(hours=2)
        s.commit()
    auth.login("staff")
    overdue = client.get("/staff/petitions/?show=overdue").get_data(as_text=True)
    assert late.tracking_no in overdue and fresh.tracking_no not in overdue
    assert "pt-overdue-row" in overdue
    console = client.get("/staff/").get_data(as_text=True)
    assert "群众诉求" in console and re.search(r"已超时: <strong class=\"error\">1</strong>", console)
    status = app.test_client().get(f"/m/petitions/s/{late.token}").get_data(as_text=True)
    assert "已超过办理时限" in status


def test_staff_pages_need_a_login(app, client, csrf):
    token = file_request(client, csrf)
    petition = petition_of(app, token)
    assert client.get("/staff/petitions/").status_code == 302
    assert client.get(f"/staff/petitions/{petition.id}").status_code == 302
    attempt = staff_update(client, csrf, petition.id, "closed", "不该成功")
    assert attempt.status_code == 302 and "/staff/login" in attempt.headers["Location"]
    assert petition_of(app, token).status == "received"
    assert client.get("/admin/petitions/places").status_code == 302


def test_unknown_status_pages_answer_a_phone_page(client):
    response = client.get("/m/petitions/s/" + "A" * 32)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "找不到该诉求" in body and "mobile.css" in body
    assert client.get("/k/petitions/status/" + "A" * 32).status_code == 404


def test_contact_details_never_on_public_pages_events_or_logs(app, client, auth, csrf, caplog):
    from kiosk.models import KioskEvent
    from kiosk_plugins.petitions.models import OutboxMessage

    caplog.set_level(logging.DEBUG)
    token = file_request(client, csrf)
    petition = petition_of(app, token)
    done = client.get(f"/k/petitions/done/{token}").get_data(as_text=True)
    kiosk_status = client.get(f"/k/petitions/status/{token}").get_data(as_text=True)
    resident = app.test_client()
    public = [done, kiosk_status, resident.get(f"/m/petitions/s/{token}").get_data(as_text=True)]
    # Open311 answers anonymous readers under an opaque id: sequential tracking numbers are not listed.
    listing = resident.get("/api/petitions/open311/v2/requests.json").get_data(as_text=True)
    assert petition.tracking_no not in listing
    api = [
        listing,
        resident.get(f"/api/petitions/open311/v2/requests/{petition.tracking_no}.json").get_data(as_text=True),
    ]
    assert "工作人员可能会按您留下的号码回电" in done
    for page in public + api:
        assert page in api or petition.tracking_no in page
        for secret in (PHONE, NAME, PHONE[-4:], "139****8765", "李*英"):
            assert secret not in page
    auth.login("staff")
    staff_update(client, csrf, petition.id, "dispatched", "已转城管执法队。", "city_management")
    assert PHONE in client.get(f"/staff/petitions/{petition.id}").get_data(as_text=True)
    with session_of(app) as s:
        payloads = [str(e.payload) for e in s.scalars(select(KioskEvent))]
        bodies = list(s.scalars(select(OutboxMessage.body)))
    assert payloads and bodies
    for text in payloads + bodies + [caplog.text]:
        assert PHONE not in text and NAME not in text
    assert "received" in caplog.text or petition.tracking_no in caplog.text, "the flow did log"


def test_contact_details_go_to_the_dispatch_system_only_when_configured(make_app, database_url, csrf):
    from kiosk_plugins.petitions.models import OutboxMessage

    app = make_app(database_url, PLUGINS={"petitions": {"webhook": {"include_contact": True}}})
    client = app.test_client()
    file_request(client, csrf)
    with session_of(app) as s:
        body = s.scalar(select(OutboxMessage.body))
    assert PHONE in body and NAME in body


def test_retention_job_erases_contact_details_of_old_closed_requests(app, client, csrf):
    from kiosk import retention
    from kiosk.db import utcnow
    from kiosk_plugins.petitions import outbox
    from kiosk_plugins.petitions.models import OutboxMessage, Petition

    old, recent, still_open = (petition_of(app, file_request(client, csrf)) for _ in range(3))
    with session_of(app) as s:
        for row, days in ((s.get(Petition, old.id), 200), (s.get(Petition, recent.id), 10)):
            row.status, row.closed_at = "closed", utcnow() - timedelta(days=days)
        s.execute(OutboxMessage.__table__.update().values(delivered_at=utcnow()))
        s.commit()
    # The kiosk's retention job, with the contacts' default period ([plugins.petitions] retention_days, 180).
    [contacts] = retention.purge(app, only="petitions.contacts")
    assert (contacts.days, contacts.records, contacts.error) == (180, 1, "")
    assert retention.purge(app, only="petitions.contacts")[0].records == 0, "nothing left to erase"
    erased, kept, untouched = (petition_of(app, p.token) for p in (old, recent, still_open))
    assert (erased.contact_name, erased.contact_phone, erased.contact_email) == ("", "", "")
    assert erased.contact_erased_at is not None and erased.description.startswith("楼下烧烤店")
    assert kept.contact_phone == PHONE and untouched.contact_phone == PHONE
    with session_of(app) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.request_id == old.id)) == 0
    assert outbox.pending_summary(app)["pending"] == 0


def test_jobs_and_health_are_registered(app):
    jobs = {j["name"]: j for j in app.extensions["kiosk_jobs"]}
    assert jobs["petitions.deliver"]["every"] == 5
    # Erasing contact details is the kiosk's retention job (03:20, stations and hub), not a job of the plugin's.
    assert jobs["kiosk.retention"]["at"] == "03:20" and jobs["kiosk.retention"]["scope"] == "any"
    assert not {"petitions.erase_contacts", "petitions.prune_rate_hits"} & set(jobs)
    health = app.test_client().get("/healthz").get_json()
    assert health["plugins"]["petitions"]["ok"] is True
    assert "forwarding off" in health["plugins"]["petitions"]["detail"]


def test_demo_data_is_added_once(app):
    from kiosk.demo import load_demo
    from kiosk_plugins.petitions.models import Petition, PetitionPlace, PetitionRating

    load_demo(app, [])
    load_demo(app, [])
    with session_of(app) as s:
        assert s.scalar(select(func.count()).select_from(PetitionPlace)) == 6
        rows = s.scalars(select(Petition).order_by(Petition.id)).all()
        assert len(rows) == 5 and {p.channel for p in rows} == {"demo"}
        assert {p.status for p in rows} == {"closed", "resolved", "in_progress", "received", "dispatched"}
        assert s.scalar(select(func.count()).select_from(PetitionRating)) == 2
    closed = next(p for p in rows if p.status == "closed")
    page = app.test_client().get(f"/m/petitions/s/{closed.token}").get_data(as_text=True)
    assert "泊林花园门口由单向通行改为双向通行" in page


def test_admin_keeps_the_place_list(app, client, auth, csrf):
    auth.login("admin")
    client.get("/admin/petitions/places")
    bad = client.post(
        "/admin/petitions/places", data={"csrf_token": csrf(client), "key": "Bad Key!", "zh_hans": "石厦东村"}
    )
    assert bad.status_code == 400 and "代码只能包含" in bad.get_data(as_text=True)
    saved = client.post(
        "/admin/petitions/places",
        data={
            "csrf_token": csrf(client),
            "key": "shixia_east",
            "zh_hans": "石厦东村",
            "zh_hant": "石廈東村",
            "en": "Shixia East Village",
        },
    )
    assert saved.status_code == 303
    form = client.get("/k/petitions/new")
    step2 = client.post(
        "/k/petitions/new",
        data={"csrf_token": csrf(client), "step": "1", "go": "next", "type": "help", "category": "other"},
    )
    assert "石厦东村" in step2.get_data(as_text=True) and form.status_code == 200
    from kiosk_plugins.petitions.models import PetitionPlace

    with session_of(app) as s:
        place_id = s.scalar(select(PetitionPlace.id))
    client.post(f"/admin/petitions/places/{place_id}/toggle", data={"csrf_token": csrf(client)})
    step2 = client.post(
        "/k/petitions/new",
        data={"csrf_token": csrf(client), "step": "1", "go": "next", "type": "help", "category": "other"},
    )
    assert "石厦东村" not in step2.get_data(as_text=True)
