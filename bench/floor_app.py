"""The framework floor of ``python -m bench outside``: the take-a-ticket exchange with no kiosk code in it.

A bare Flask app on the same gunicorn worker class (``gthread``, one worker,
16 threads) answers what the outside bench's clients send: ``GET`` of the
take page sets a signed session cookie and puts a CSRF token in the page;
``POST`` reads the form, checks the token against the session, writes one
value into the session and answers ``302`` to the issued page. No database,
no receipt, no log line. Its CPU per request is what Flask, Werkzeug and
gunicorn cost on this machine before any of the kiosk's work, the part of
the 2 ms a ticket that no change in ``kiosk/`` or ``plugins/`` can reach.

With ``BENCH_FLOOR_DATABASE`` set to a file, it is the *stack* floor: the
same app on the brief's base stack, SQLAlchemy (declarative models, Core
statements) on SQLite (WAL, ``synchronous=NORMAL``, as a station), and each
``POST`` also does the least a ticket with a durable receipt needs: in one
write transaction, the day's next number (an index read), the ticket's row
and its print job's row (the receipt as JSON), then the commit. No sync
record, no event, no estimate, no visitor session, no print thread. Its CPU
per request and its worker's memory are what any ticket costs on Flask +
SQLAlchemy + gunicorn here, whatever the kiosk around it does.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import threading

from flask import Flask, abort, redirect, render_template_string, request, session

app = Flask(__name__)
app.secret_key = "bench-floor-secret-0123456789abcdef"  # a bench's own process, never a station's

#: The SQLite file of the stack floor; unset, the floor has no database at all.
DATABASE = os.environ.get("BENCH_FLOOR_DATABASE")

PAGE = (
    '<!doctype html><html><head><meta name="csrf-token" content="{{ token }}"></head>'
    '<body><form method="post"><input name="phone"><button>取号</button></form></body></html>'
)


@app.route("/k/legal/take/consultation", methods=["GET", "POST"])
def take():
    if request.method == "POST":
        if not secrets.compare_digest(request.form.get("csrf_token", ""), session.get("csrf", "")):
            abort(400)
        token = secrets.token_urlsafe(18)
        if DATABASE:
            issue(token)
        session["issued"] = token
        return redirect("/k/legal/issued")
    session.setdefault("csrf", secrets.token_urlsafe(32))
    return render_template_string(PAGE, token=session["csrf"])


if DATABASE:
    from sqlalchemy import ForeignKey, Index, String, Text, bindparam, create_engine, event, func, insert, select
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class Ticket(Base):
        __tablename__ = "ticket"
        __table_args__ = (Index("ix_ticket_day_number", "day", "number", unique=True),)
        id: Mapped[int] = mapped_column(primary_key=True)
        day: Mapped[str] = mapped_column(String(10))
        number: Mapped[int]
        code: Mapped[str] = mapped_column(String(8))
        token: Mapped[str] = mapped_column(String(32), unique=True)
        status: Mapped[str] = mapped_column(String(16))
        issued_at: Mapped[datetime.datetime]

    class PrintJob(Base):
        __tablename__ = "print_job"
        id: Mapped[str] = mapped_column(String(32), primary_key=True)
        ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
        receipt: Mapped[str] = mapped_column(Text)
        state: Mapped[str] = mapped_column(String(16))
        created_at: Mapped[datetime.datetime]

    engine = create_engine("sqlite:///" + DATABASE)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    Base.metadata.create_all(engine)
    #: One writer at a time in this process, as a station's writer lock (no SQLITE_BUSY between threads).
    writer = threading.Lock()

    #: Statements built once, as the kiosk's ticket path builds its own (SQLAlchemy caches their compiled form).
    NEXT_NUMBER = select(func.max(Ticket.number)).where(Ticket.day == bindparam("day"))
    INSERT_TICKET = insert(Ticket.__table__)
    INSERT_JOB = insert(PrintJob.__table__)

    def issue(token: str) -> None:
        """The day's next number, the ticket and its print job, in one write transaction.

        Core statements on the ORM's tables, as the kiosk's ticket path sends
        them: the ORM's unit of work (``Session.add`` and a flush) costs about
        four times as much CPU for these three rows, and no hot path here uses it.
        """
        now = datetime.datetime.now()
        day = now.date().isoformat()
        with writer, engine.begin() as conn:
            number = (conn.execute(NEXT_NUMBER, {"day": day}).scalar() or 0) + 1
            code = f"A{number:03d}"
            values = {"day": day, "number": number, "code": code, "token": token, "status": "waiting", "issued_at": now}
            ticket_id = conn.execute(INSERT_TICKET, values).inserted_primary_key[0]
            receipt = {"title": "水贝社区党群服务中心", "code": code, "service": "法律咨询", "at": now.isoformat()}
            job = {"id": secrets.token_hex(16), "ticket_id": ticket_id, "state": "queued", "created_at": now}
            conn.execute(INSERT_JOB, {**job, "receipt": json.dumps(receipt, ensure_ascii=False)})
