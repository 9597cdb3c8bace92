"""``request_service(kind="civic_request")``: another plugin files a request for a resident or rider.

The courier station's 小蜜蜂巡查 (rider patrol) hazard reports arrive this way.
Photos are files the other plugin stored under the app's uploads folder; they
are re-encoded here like any other photo (the other plugin's file is left alone).
An unusable payload answers ``None``, so the caller keeps the report itself.
"""

from __future__ import annotations

import logging

from flask import current_app

from kiosk.photos import PhotoRefused, clean_photo
from kiosk_plugins.petitions import intake, photos
from kiosk_plugins.petitions.settings import get_settings
from kiosk_plugins.petitions.vocabulary import TYPES

log = logging.getLogger("kiosk_plugins.petitions.service")


def _photos(paths, settings) -> list:
    cleaned = []
    instance = current_app.instance_path
    for path in list(paths or [])[: settings.photos.max_count]:
        if not isinstance(path, str) or not photos.inside_uploads(instance, path):
            log.warning("civic_request photo outside the uploads folder was ignored")
            continue
        with open(path, "rb") as fh:
            data = fh.read(settings.photos.max_bytes + 1)
        try:
            cleaned.append(
                clean_photo(
                    data,
                    max_bytes=settings.photos.max_bytes,
                    max_pixels=settings.photos.max_pixels,
                    max_side=settings.photos.max_side,
                )
            )
        except PhotoRefused:
            log.warning("civic_request photo was refused (not a usable picture)")
    return cleaned


def civic_request(payload, station) -> dict | None:
    """File the request; ``{"tracking_no", "status_url"}`` or None when the payload is unusable."""
    if not isinstance(payload, dict) or payload.get("type") not in TYPES:
        return None
    settings = get_settings()
    category = str(payload.get("category") or "")
    if settings.category(category) is None:
        # A category this station does not list still reaches staff, as "other".
        category = "other" if settings.category("other") else settings.categories[0].key
    description = intake.clean_text(payload.get("description"), settings.description_max)
    if len(description) < 2:
        return None
    source = intake.clean_text(payload.get("source"), 32) or "plugin"
    draft = intake.Draft(
        type=payload["type"],
        category=category,
        description=description,
        place=intake.clean_text(payload.get("place"), 200),
    )
    petition = intake.submit(
        draft, station, source, clean_photos=_photos(payload.get("photos"), settings), settings=settings
    )
    path = current_app.url_map.bind("").build("petitions_mobile.status", {"token": petition.token})
    return {"tracking_no": petition.tracking_no, "status_url": path}
