"""Venue booking (场地预约) at a party-mass service centre: an example kiosk plugin.

Staff put the centre's rooms up in time slots; a resident books one on the
kiosk by tapping, gets a six-digit booking code and a printed slip, and can
look the booking up (or cancel it) with the code or by scanning the slip. The
staff console lists today's bookings.

Written only against the API in docs/plugins.md. The kiosk registers this
module (the ``kiosk.plugins`` entry point) and finds the hooks among its
attributes; each lives in the module named after what it contributes.
"""

from kiosk_venue.demo import register_demo_data
from kiosk_venue.panels import register_staff_panels
from kiosk_venue.reader import handle_reader_event
from kiosk_venue.receipts import register_receipt_layouts
from kiosk_venue.routes import register_blueprints
from kiosk_venue.settings import register_settings
from kiosk_venue.tiles import register_tiles

KIOSK_API = ">=1,<2"
__version__ = "1.0.0"

__all__ = [
    "handle_reader_event",
    "register_blueprints",
    "register_demo_data",
    "register_receipt_layouts",
    "register_settings",
    "register_staff_panels",
    "register_tiles",
]
