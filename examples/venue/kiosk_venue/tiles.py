"""The home-screen tile, at party-mass service centres only (courier stations have no rooms to book)."""

from kiosk import hookimpl
from kiosk.i18n import N_

#: The service's name, as the source documents call it (党群服务中心场地预约).
TITLE = N_("Venue booking")


@hookimpl
def register_tiles(register, station):
    """One tile opening the room list."""
    if station.kind != "party_service":
        return
    register(key="booking", label=TITLE, endpoint="venue.rooms", icon="venue.svg", order=50)
