"""The gunicorn settings `kiosk serve` runs with (kiosk.server.run_server), without serving."""

from __future__ import annotations

from kiosk import logs, server


def test_serve_starts_no_gunicorn_control_socket(monkeypatch):
    # gunicorn >= 25.1 opens a control socket by default (~/.gunicorn/gunicorn.ctl, one path
    # for every gunicorn of the user) in an asyncio thread of the master: the kiosk has no use for it.
    started = []
    monkeypatch.setattr(server.KioskServer, "run", lambda self: started.append(self))
    monkeypatch.setattr(server, "metrics_folder", lambda: "")
    monkeypatch.setattr(server, "limit_malloc_arenas", lambda count=2: None)
    monkeypatch.setattr(logs, "set_process_station", lambda code: None)
    for name in ("KIOSK_DATABASE_CONNECTIONS", "KIOSK_START_DEVICES"):
        monkeypatch.delenv(name, raising=False)  # run_server sets them; put back as they were
    server.run_server(port=0, workers=1, threads=4)
    (app,) = started
    assert app.cfg.control_socket_disable is True
    assert app.cfg.threads == 4
