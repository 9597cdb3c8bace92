"""How long the plugin keeps each kind of personal data, declared to the kiosk's retention job.

The core's daily job ``kiosk.retention`` (:mod:`kiosk.retention`, on the
stations and the hub) is the one place that decides: periods come from
``[retention.petitions]`` of the station file, else the defaults below
(contacts: ``[plugins.petitions] retention_days``). A closed request keeps its
category, coarse place, dates and rating (the district counts them); what
identifies or describes a person goes, with the delivered dispatch messages
that may repeat it.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update

from kiosk import hookimpl
from kiosk_plugins.petitions.models import OutboxMessage, Petition
from kiosk_plugins.petitions.settings import get_settings

# --- what the kiosk's retention job purges (kiosk.retention; periods in docs/retention.md) -----------
#
# A request still being handled keeps everything: the department needs it. The
# clocks start when it is closed (after the resident's feedback or the follow-up
# visit), which is when the purpose of each piece ends.


def _closed_before(sweep):
    return (Petition.status == "closed", Petition.closed_at < sweep.cutoff, sweep.mine(Petition.station_id))


def purge_descriptions(sweep) -> int:
    """The text of closed requests (and what repeats it: step notes, the rating's comment, sent messages)."""
    from kiosk_plugins.petitions.models import PetitionRating, PetitionStep

    rows = sweep.session.scalars(
        select(Petition).where(*_closed_before(sweep), or_(Petition.description != "", Petition.place != ""))
    ).all()
    ids = [p.id for p in rows]
    for petition in rows:
        petition.description, petition.place, petition.media_url = "", "", ""
    if ids:
        sweep.session.execute(update(PetitionStep).where(PetitionStep.request_id.in_(ids)).values(note=""))
        sweep.session.execute(update(PetitionRating).where(PetitionRating.request_id.in_(ids)).values(comment=""))
        sweep.session.execute(
            delete(OutboxMessage).where(OutboxMessage.request_id.in_(ids), OutboxMessage.delivered_at.is_not(None))
        )
    return len(rows)


def purge_photos(sweep) -> int:
    """Photos (their files) and GPS positions of closed requests; how many photos and positions went."""
    from kiosk_plugins.petitions import photos
    from kiosk_plugins.petitions.models import PetitionPhoto

    closed = select(Petition.id).where(*_closed_before(sweep))
    gone = sweep.session.scalars(select(PetitionPhoto).where(PetitionPhoto.request_id.in_(closed))).all()
    for photo in gone:
        sweep.remove_file(photos.path_of(sweep.app.instance_path, photo.station_id, photo.filename))
        sweep.session.delete(photo)
    placed = sweep.session.execute(
        update(Petition)
        .where(Petition.id.in_(closed), or_(Petition.lat.is_not(None), Petition.lon.is_not(None)))
        .values(lat=None, lon=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return len(gone) + int(placed or 0)


def purge_contacts(sweep) -> int:
    """Name, phone and e-mail of closed requests, and the delivered dispatch messages that may repeat them."""
    rows = sweep.session.scalars(
        select(Petition).where(
            *_closed_before(sweep),
            or_(Petition.contact_name != "", Petition.contact_phone != "", Petition.contact_email != ""),
        )
    ).all()
    for petition in rows:
        petition.contact_name = petition.contact_phone = petition.contact_email = ""
        petition.contact_erased_at = sweep.now
    if rows:
        sweep.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.request_id.in_([p.id for p in rows]), OutboxMessage.delivered_at.is_not(None)
            )
        )
    return len(rows)


def purge_rate_hits(sweep) -> int:
    """Intake counts per phone or address (the limits look back an hour at most)."""
    from kiosk_plugins.petitions.models import RateHit

    return int(sweep.session.execute(delete(RateHit).where(RateHit.at < sweep.cutoff)).rowcount or 0)


@hookimpl
def register_retention(register):
    """Descriptions, photos and positions, contacts of closed requests; intake counts."""
    register(
        "descriptions",
        days=365,
        purge=purge_descriptions,
        label={"zh_Hans": "诉求内容", "zh_Hant": "訴求內容", "en": "Request descriptions"},
        reason="a closed request may be reopened or asked about for a year; the category, coarse place and dates "
        "stay for the district's figures",
    )
    register(
        "photos",
        days=90,
        purge=purge_photos,
        label={"zh_Hans": "诉求照片和位置", "zh_Hant": "訴求照片和位置", "en": "Request photos and positions"},
        reason="photos and positions show the department where to go; once closed they serve only a dispute over "
        "the follow-up visit, settled within three months",
    )
    register(
        "contacts",
        days=lambda app: get_settings(app).retention_days,
        purge=purge_contacts,
        label={"zh_Hans": "诉求人联系方式", "zh_Hant": "訴求人聯繫方式", "en": "Contact details of requests"},
        reason="the contact is for the feedback and the follow-up visit; [plugins.petitions] retention_days (180)",
    )
    register(
        "rate_hits",
        days=1,
        purge=purge_rate_hits,
        label={"zh_Hans": "提交次数计数", "zh_Hant": "提交次數計數", "en": "Intake counts"},
        reason="the intake limits look back an hour",
    )
