"""The staff console: panels from every plugin, and the print jobs that failed.

A failed receipt is reprinted on the printer staff choose: the station's, or
any terminal's (the counter's own, when the resident stands at the counter).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from kiosk import audit
from kiosk.auth import login_required
from kiosk.i18n import _, localized
from kiosk.plugins import PluginError, StaffPanel
from kiosk.stations import current_station

bp = Blueprint("staff", __name__, url_prefix="/staff")


def panels_for(station) -> list[dict]:
    plugins = current_app.extensions["kiosk_plugins"]
    collected: list[StaffPanel] = []

    def per_plugin(name):
        def register(key, title, render, order=100):
            if not callable(render):
                raise PluginError("a staff panel needs a callable render")
            collected.append(StaffPanel(plugin=name, key=f"{name}.{key}", title=title, render=render, order=order))

        return {"register": register}

    plugins.call("register_staff_panels", station=station, per_plugin=per_plugin)
    out = []
    for panel in sorted(collected, key=lambda p: (p.order, p.key)):
        g.i18n_domain = panel.plugin  # the panel's strings come from its plugin's catalog
        try:
            html = Markup(panel.render())
        except Exception as exc:
            plugins.record_fault(panel.plugin, f"staff panel {panel.key}", exc)
            html = None
        finally:
            g.pop("i18n_domain", None)
        out.append(
            {
                "key": panel.key,
                "title": localized(panel.title, domain=panel.plugin),
                "html": html,
                "plugin": panel.plugin,
            }
        )
    return out


def panel_titles(station) -> dict[str, str]:
    """Plugin name → the title of its first staff panel, in the reader's language (no panel is rendered)."""
    plugins = current_app.extensions["kiosk_plugins"]
    titles: list[tuple[int, str, str, object]] = []

    def per_plugin(name):
        def register(key, title, render, order=100):
            titles.append((order, f"{name}.{key}", name, title))

        return {"register": register}

    plugins.call("register_staff_panels", station=station, per_plugin=per_plugin)
    out: dict[str, str] = {}
    for _order, _key, name, title in sorted(titles, key=lambda t: (t[0], t[1])):
        if name not in out:
            out[name] = localized(title, domain=name)
    return out


@bp.route("/")
@login_required("staff")
def console():
    from kiosk import printing

    station = current_station()
    return render_template(
        "staff/console.html",
        panels=panels_for(station),
        station=station,
        failed_jobs=printing.failed_jobs(station.id, station),
        printer=printing.printer_status(),
        printers=printing.printer_choices(),
    )


@bp.route("/print-jobs/<job_id>/preview.png")
@login_required("staff")
def preview(job_id: str):
    """The receipt exactly as the printer gets it, as an image."""
    from kiosk import printing

    png = printing.preview_png(job_id[:32], current_station().id)
    if png is None:
        abort(404)
    return Response(png, mimetype="image/png")


@bp.route("/print-jobs/<job_id>/reprint", methods=["POST"])
@login_required("staff")
def reprint(job_id: str):
    from kiosk import printing

    printer = (request.form.get("printer") or "").strip()[:64] or None
    if printer is not None and printer not in printing.printer_names():
        flash(_("That printer is not one of this station's. Please choose one from the list."))
    elif printing.reprint(job_id[:32], current_station().id, printer):
        # A reprint puts a resident's receipt (name, phone, plate on some layouts) on paper again.
        audit.record("print.reprint", {"job": job_id[:32], "printer": printer or ""})
        flash(_("The receipt was sent to the printer again."))
    else:
        flash(_("That print job was not found."))
    return redirect(url_for("staff.console"))


@bp.route("/print-jobs/<job_id>/printed", methods=["POST"])
@login_required("staff")
def printed(job_id: str):
    """The resident has the receipt after all: a job sent without confirmation (or cut off) leaves the list."""
    from kiosk import printing

    if printing.confirm_printed(job_id[:32], current_station().id):
        flash(_("Marked as printed."))
    else:
        flash(_("That print job was not found."))
    return redirect(url_for("staff.console"))
