"""A third-party plugin written only against the documented hooks: a greeting book."""

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from kiosk import hookimpl
from kiosk.db import Base, get_session
from kiosk.stations import current_station

KIOSK_API = ">=1,<2"
__version__ = "1.2.0"


class Greeting(Base):
    __tablename__ = "hello_greeting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(100))


bp = Blueprint("hello", __name__)


@bp.route("/", methods=["GET", "POST"])
def index():
    session = get_session()
    station = current_station()
    if request.method == "POST":
        session.add(Greeting(station_id=station.id, text=request.form.get("text", "")[:100]))
        session.commit()
        return redirect(url_for("hello.index"))
    rows = session.scalars(select(Greeting).where(Greeting.station_id == station.id)).all()
    return render_template("hello/index.html", greetings=rows, screen="hello.index")


@hookimpl
def register_blueprints(register):
    register(bp, "kiosk")


@hookimpl
def register_tiles(register):
    register(key="hello", label="Say hello", endpoint="hello.index", icon="hello.svg", order=900)
