"""close_app stops every thread the app started, so none outlives it (or the test database it used)."""

from __future__ import annotations

from kiosk.app import close_app


def test_close_app_stops_the_job_scheduler_and_the_sync_pusher(make_app, database_url):
    app = make_app(database_url, RUN_JOBS=True)
    pusher = app.extensions["kiosk_sync_pusher"]
    scheduler = app.extensions["kiosk_jobs_stop"]
    assert pusher.thread.is_alive() and not scheduler.is_set()
    close_app(app)
    # A pusher left running asked a dropped database and logged tracebacks into a later test's output.
    assert not pusher.thread.is_alive()
    assert scheduler.is_set()
