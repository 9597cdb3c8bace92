"""Where the plugin's pages are mounted."""

from kiosk import hookimpl


@hookimpl
def register_blueprints(register):
    """Kiosk screens at /k/venue/ (no login); the slots page at /staff/venue/ (staff login)."""
    from kiosk_venue import kiosk_views, staff_views

    register(kiosk_views.bp, "kiosk")
    register(staff_views.bp, "staff")
