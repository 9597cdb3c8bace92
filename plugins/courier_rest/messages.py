"""What riders read when something cannot be done: each message says what to do next.

Views keep only a code (and numbers) in the session and translate at display
time, so switching the language shows the same message in the new language.
"""

from __future__ import annotations

from kiosk.i18n import N_, _
from kiosk.reader_hints import CARD, CODE, reader_inputs

KIND_LABELS = {"seat": N_("Seat"), "phone": N_("Phone charging"), "battery": N_("E-bike battery charging")}

MESSAGES = {
    "full_seat": N_("All seats are taken right now. You can still use water, the toilet and the other services."),
    "full_charge": N_(
        "All charging slots of this kind are in use. Join the waiting list and we will keep the next free slot for you."
    ),
    "already_seat": N_("You already have seat %(slot)s. Each rider can hold one seat."),
    "already_charging": N_("You already have charging slot %(slot)s. Give it back before taking another one."),
    "take_held": N_("A charging slot is being kept for you. Tap “Take my slot” to start charging."),
    "no_offer": N_("The slot kept for you has gone to the next rider. Please join the waiting list again."),
    "slot_free": N_("A charging slot is free now. Tap the charging button to take it."),
    # The check-in screen below the notice shows the ways this kiosk has (card and scanner only where there are).
    "not_identified": N_("Please check in first, in one of the ways shown on the check-in screen."),
    "phone_invalid": N_("Please type an 11-digit mobile number, for example 13812345678."),
    "code": N_(
        "This QR code is not a rider code. Show the code from your rider receipt or phone, or type your phone number."
    ),
    "card_uid": N_(
        "This card cannot be recognised by a fixed card number (a phone's NFC gives a new number at every tap). "
        "Please scan your rider code or type your phone number."
    ),
    "not_checked_in": N_("You are not checked in at the moment. Tap “Check in” first."),
    "expired": N_("That took too long. Please tap your card or scan your code again."),
    "unknown": N_("This is not offered here. Please pick one from the list."),
    "phone_taken": N_("This phone number is already registered. Go back and type it on the check-in screen."),
    "card_taken": N_("This card already belongs to another rider. Please use your own card or ask the staff."),
    "card_linked": N_("Your card is linked. Next time just tap it on the reader."),
    "checked_in": N_("Welcome! You are checked in."),
    "released": N_("Thank you. The place is free again."),
    "nothing": N_("There was nothing to give back."),
    "no_slot": N_("You have no charging slot right now, so there is nothing to print. Take a slot first."),
    "not_found": N_("This page has expired. Please start again at the kiosk."),
}


#: Messages that name a way to check in, worded by the readers this kiosk has: (card reader?, scanner?) → text.
#: The one in MESSAGES is the wording for a kiosk with both.
BY_READERS = {
    "expired": {
        (True, False): N_("That took too long. Please tap your card again."),
        (False, True): N_("That took too long. Please scan your code again."),
        (False, False): N_("That took too long. Please try again."),
    },
    "card_uid": {
        (True, False): N_(
            "This card cannot be recognised by a fixed card number (a phone's NFC gives a new number at every tap). "
            "Please type your phone number."
        ),
    },
}


def _for_readers(code: str) -> str | None:
    variants = BY_READERS.get(code)
    if not variants:
        return MESSAGES.get(code)
    inputs = reader_inputs()
    return variants.get((CARD in inputs, CODE in inputs), MESSAGES.get(code))


def text(code: str, **info) -> str:
    """The rider's message for ``code`` in the request's language (and for this kiosk's readers)."""
    message = _for_readers(code)
    if message is None:
        return _("Something went wrong. Please try again or ask the staff.")
    try:
        return _(message, **info) if info else _(message)
    except (KeyError, ValueError, TypeError):
        return _(message)


def kind_label(kind: str) -> str:
    """The translated name of a kind of place (seat, phone or battery charging)."""
    return _(KIND_LABELS.get(kind, kind))
