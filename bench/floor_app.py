"""The framework floor of ``python -m bench outside``: the take-a-ticket exchange with no kiosk code in it.

A bare Flask app on the same gunicorn worker class (``gthread``, one worker,
16 threads) answers what the outside bench's clients send: ``GET`` of the
take page sets a signed session cookie and puts a CSRF token in the page;
``POST`` reads the form, checks the token against the session, writes one
value into the session and answers ``302`` to the issued page. No database,
no receipt, no log line. Its CPU per request is what Flask, Werkzeug and
gunicorn cost on this machine before any of the kiosk's work, the part of
the 2 ms a ticket that no change in ``kiosk/`` or ``plugins/`` can reach.
"""

from __future__ import annotations

import secrets

from flask import Flask, abort, redirect, render_template_string, request, session

app = Flask(__name__)
app.secret_key = "bench-floor-secret-0123456789abcdef"  # a bench's own process, never a station's

PAGE = (
    '<!doctype html><html><head><meta name="csrf-token" content="{{ token }}"></head>'
    '<body><form method="post"><input name="phone"><button>取号</button></form></body></html>'
)


@app.route("/k/legal/take/consultation", methods=["GET", "POST"])
def take():
    if request.method == "POST":
        if not secrets.compare_digest(request.form.get("csrf_token", ""), session.get("csrf", "")):
            abort(400)
        session["issued"] = secrets.token_urlsafe(18)
        return redirect("/k/legal/issued")
    session.setdefault("csrf", secrets.token_urlsafe(32))
    return render_template_string(PAGE, token=session["csrf"])
