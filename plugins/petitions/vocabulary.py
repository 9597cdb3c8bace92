"""The words of petition intake: types, categories, departments, places, statuses, ratings.

Message ids are English and translated through the plugin's catalogs; labels
from the station file may instead be tables of ``zh_Hans``/``zh_Hant``/``en``.
The defaults follow the source documents: 投诉、建议、咨询、求助; received →
dispatched → in progress → resolved → closed (民有所呼,我有所应).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import has_app_context

from kiosk.i18n import DEFAULT_LOCALE, N_, current_locale, localized

#: Request types, in the order the kiosk shows them.
TYPES: dict[str, str] = {
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
    "consultation": N_("Consultation"),
    "help": N_("Request for help"),
}

#: The life cycle; each step's label as the resident reads it on the status page.
STATUSES: dict[str, str] = {
    "received": N_("Received"),
    "dispatched": N_("Dispatched"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
}
OPEN_STATUSES = ("received", "dispatched", "in_progress")

#: Which status staff may move a request to from each status.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("dispatched", "in_progress", "resolved", "closed"),
    "dispatched": ("in_progress", "resolved", "closed"),
    "in_progress": ("resolved", "closed"),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}

#: What each step in a request's history is called (actions, not only statuses).
ACTIONS: dict[str, str] = {
    "received": N_("Request received"),
    "dispatched": N_("Assigned to a department"),
    "in_progress": N_("Being handled"),
    "resolved": N_("Handling finished"),
    "closed": N_("Closed"),
    "note": N_("Update"),
    "rated": N_("Resident's rating"),
    "reopened": N_("Reopened after the resident's rating"),
}

#: Where a request came in (``Petition.channel``), as staff read it; another plugin's name is a request it passed on.
CHANNELS: dict[str, str] = {
    "kiosk": N_("at the kiosk"),
    "mobile": N_("on a phone"),
    "open311": N_("through the Open311 interface"),
    "demo": N_("demo data"),
}
#: A message to the dispatch system (``OutboxMessage.event``): the new request, or one of ``ACTIONS``.
OUTBOX_EVENTS: dict[str, str] = {"created": N_("New request"), **ACTIONS}


def channel_text(channel: str) -> str:
    """Where a request came in, in words; a plugin that passed it on is named as such."""
    if channel in CHANNELS:
        return text(CHANNELS[channel])
    return text(N_("passed on by another service of the station"))


def event_text(event: str) -> str:
    """A dispatch-system message's kind, in words (an unknown kind as it is)."""
    return text(OUTBOX_EVENTS[event]) if event in OUTBOX_EVENTS else event


RATINGS: dict[str, str] = {
    "satisfied": N_("Satisfied"),
    "basically_satisfied": N_("Basically satisfied"),
    "dissatisfied": N_("Dissatisfied"),
}


@dataclass(frozen=True)
class Category:
    """A kind of problem, with the days allowed to handle it and the department it usually goes to."""

    key: str
    label: object
    deadline_days: int
    department: str


@dataclass(frozen=True)
class Department:
    """Who handles a request (a street office section, a district bureau, a committee)."""

    key: str
    label: object


@dataclass(frozen=True)
class Place:
    """A community, housing estate, building or road residents can pick."""

    key: str
    label: object


DEFAULT_DEPARTMENTS = [
    Department("city_management", N_("City management and law enforcement team")),
    Department("emergency", N_("Emergency management office")),
    Department("housing", N_("Housing and construction department")),
    Department("traffic_police", N_("Traffic police brigade")),
    Department("mediation", N_("People's mediation committee")),
    Department("community", N_("Community work station")),
]

DEFAULT_CATEGORIES = [
    Category("environment", N_("Environment and sanitation"), 3, "city_management"),
    Category("safety_hazard", N_("Safety hazard"), 1, "emergency"),
    Category("property_management", N_("Property management"), 5, "housing"),
    Category("parking", N_("Parking"), 3, "traffic_police"),
    Category("noise", N_("Noise nuisance"), 2, "city_management"),
    Category("neighbourhood_dispute", N_("Neighbourhood dispute"), 7, "mediation"),
    Category("public_facilities", N_("Roads and public facilities"), 5, "city_management"),
    Category("other", N_("Other"), 5, "community"),
]


#: Common phrases per category: big chips on the kiosk's description screen that type the words for
#: a resident (tap, not type). ``[plugins.petitions.phrases]`` adds or replaces a category's list.
DEFAULT_PHRASES: dict[str, tuple] = {
    "environment": (
        N_("Rubbish not collected"),
        N_("Fumes from a barbecue or restaurant"),
        N_("Dirty water on the road"),
    ),
    "safety_hazard": (
        N_("Tiles falling from an outside wall"),
        N_("E-bikes charged in the stairwell"),
        N_("Manhole cover missing or broken"),
    ),
    "property_management": (
        N_("Lift out of order"),
        N_("Stairwell light out"),
        N_("Water leaking"),
    ),
    "parking": (
        N_("Cars parked where they block the way"),
        N_("Fire lane blocked"),
        N_("Parking space taken"),
    ),
    "noise": (
        N_("Noise nuisance"),
        N_("Building work at night"),
        N_("Loud music late in the evening"),
    ),
    "neighbourhood_dispute": (
        N_("Water leaking from upstairs"),
        N_("Shared space taken over"),
        N_("Noise from the neighbours"),
    ),
    "public_facilities": (
        N_("Street light out"),
        N_("Stalls blocking the pavement"),
        N_("Road surface broken"),
        N_("Water pools after rain"),
    ),
}


def categories_from(raw, routing: dict) -> list[Category]:
    """The station's categories: its own list or the defaults, with routing overrides applied."""
    if raw:
        out = []
        for item in raw:
            key = str(item["key"])
            out.append(
                Category(
                    key,
                    item.get("label", key),
                    int(item.get("deadline_days", 5)),
                    str(item.get("department", "community")),
                )
            )
    else:
        out = list(DEFAULT_CATEGORIES)
    return [Category(c.key, c.label, c.deadline_days, str(routing.get(c.key, c.department))) for c in out]


def departments_from(raw) -> list[Department]:
    if not raw:
        return list(DEFAULT_DEPARTMENTS)
    return [Department(str(item["key"]), item.get("label", item["key"])) for item in raw]


def places_from(raw) -> list[Place]:
    """Places from the station file: plain names or ``{key, label}`` tables."""
    out = []
    for index, item in enumerate(raw or []):
        if isinstance(item, str):
            out.append(Place(f"p{index + 1}", {"zh_Hans": item, "zh_Hant": item, "en": item}))
        else:
            out.append(Place(str(item["key"]), item.get("label", item["key"])))
    return out


def text(label, locale: str | None = None) -> str:
    """A label in ``locale`` (default: the request's), also outside a request.

    ``kiosk.i18n.localized`` translates message ids only into the request's
    language; receipts and webhook bodies need a fixed one.
    """
    locale = locale or current_locale()
    if isinstance(label, dict):
        return label.get(locale) or label.get(DEFAULT_LOCALE) or next(iter(label.values()), "")
    label = str(label)
    if has_app_context():
        return localized(label, locale)
    return label
