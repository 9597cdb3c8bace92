"""The home screen's tiles: what every enabled plugin offers a resident, in order.

Its own module because the shell (the home screen) and the calls for staff
(which name the service a resident was using) both need it.
"""

from __future__ import annotations

from flask import current_app, url_for

from kiosk.i18n import localized
from kiosk.plugins import PluginError, Tile

ICONS = {"legal", "courier", "parking", "petition", "default"}


def tiles_for(station) -> list[Tile]:
    """The home tiles of ``station``, from every enabled plugin, in order."""
    plugins = current_app.extensions["kiosk_plugins"]
    collected: list[Tile] = []

    def per_plugin(name):
        def register(key, label, endpoint, icon="", order=100, **url_values):
            if not key or not endpoint or not label:
                raise PluginError("a tile needs key, label and endpoint")
            collected.append(
                Tile(
                    plugin=name,
                    key=f"{name}.{key}",
                    label=label,
                    endpoint=endpoint,
                    icon=icon,
                    order=int(order),
                    url_values=url_values,
                )
            )

        return {"register": register}

    plugins.call("register_tiles", station=station, per_plugin=per_plugin)
    good = []
    for tile in collected:
        try:
            tile.url = url_for(tile.endpoint, **tile.url_values)
        except Exception as exc:  # a tile pointing nowhere is the plugin's fault
            plugins.record_fault(tile.plugin, "register_tiles", exc)
            continue
        tile.text = localized(tile.label, domain=tile.plugin)
        tile.icon_url = _icon_url(tile)
        good.append(tile)
    return sorted(good, key=lambda t: (t.order, t.key))


def _icon_url(tile: Tile) -> str:
    if tile.icon in ICONS or not tile.icon:
        return url_for("static", filename=f"icons/{tile.icon or 'default'}.svg")
    return url_for("plugin_static", plugin=tile.plugin, filename=tile.icon)
