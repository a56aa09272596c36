"""The words for the values the database stores (slot and booking statuses, channels, reasons,
waiting-list states), each marked for translation once, in one dict per enum and purpose; and
the words a price is written in.

The back office's pages show the short labels (``SLOT_STATUS``, ``CANCEL_REASON``...); where
another reader is told the same value in other words, it has its own dict beside them: calendars
and emails (``SLOT_STATUS_PHRASE``, ``CANCEL_REASON_SENTENCE``), the farmer's day sheet
(``SLOT_STATUS_BADGE``), the season report's tables and charts (``..._IN_REPORT``)."""

from __future__ import annotations

from typing import Any

from reservations import i18n
from reservations.base.models import (
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    SlotStatus,
    WaitlistStatus,
)
from reservations.i18n import N_

#: A slot's state, in the back office.
SLOT_STATUS = {
    SlotStatus.SCHEDULED: N_("Not decided yet"),
    SlotStatus.CONFIRMED: N_("Confirmed"),
    SlotStatus.HELD: N_("Held"),
    SlotStatus.CANCELLED: N_("Cancelled"),
}
#: A slot's state as calendars and emails tell it to any reader (visitors' and farmers' feeds,
#: the morning email): whether it goes ahead, or took place.
SLOT_STATUS_PHRASE = {
    **SLOT_STATUS,
    SlotStatus.CONFIRMED: N_("Goes ahead"),
    SlotStatus.HELD: N_("Took place"),
}
#: A slot's state on the farmer's day sheet: not confirmed yet, confirmed, took place (as
#: calendars say) or cancelled.
SLOT_STATUS_BADGE = {
    **SLOT_STATUS,
    SlotStatus.SCHEDULED: N_("Not confirmed yet"),
    SlotStatus.HELD: SLOT_STATUS_PHRASE[SlotStatus.HELD],
}
BOOKING_STATUS = {
    BookingStatus.CONFIRMED: N_("Confirmed"),
    BookingStatus.CANCELLED: N_("Cancelled"),
    BookingStatus.PENDING_PAYMENT: N_("Awaiting payment"),
    BookingStatus.EXPIRED: N_("Expired"),
    BookingStatus.ON_HOLD: N_("Held by a reseller"),
}
#: Who ended a booking, as the end of "Cancelled by ...".
CANCELLED_BY = {
    CancelledBy.VISITOR: N_("the visitor"),
    CancelledBy.STAFF: N_("the tourist office"),
    CancelledBy.SLOT: N_("with the visit"),
}
CHANNEL = {
    Channel.WEB: N_("Online"),
    Channel.COUNTER: N_("At the counter"),
    Channel.PHONE: N_("On the phone"),
    Channel.RESELLER: N_("Reseller"),
    Channel.HISTORY: N_("Imported"),
}
#: The season report's rows and chart categories say more of two channels.
CHANNEL_IN_REPORT = {
    **CHANNEL,
    Channel.PHONE: N_("By phone"),
    Channel.HISTORY: N_("Imported from a spreadsheet"),
}
WAITLIST_STATUS = {
    WaitlistStatus.WAITING: N_("Waiting"),
    WaitlistStatus.OFFERED: N_("Places offered"),
    WaitlistStatus.CLAIMED: N_("Booked"),
    WaitlistStatus.EXPIRED: N_("Offer expired"),
    WaitlistStatus.WITHDRAWN: N_("Left the list"),
}
#: Why a visit was called off, in a word (the forms, the back office, the day sheet).
CANCEL_REASON = {
    CancelReason.UNDER_MINIMUM: N_("Not enough people booked"),
    CancelReason.PROVIDER: N_("Called off by the farm"),
    CancelReason.STAFF: N_("Called off by the tourist office"),
    CancelReason.ILLNESS: N_("Illness"),
    CancelReason.WEATHER: N_("Weather"),
    CancelReason.FIRE_RISK: N_("Fire risk"),
    CancelReason.OTHER: N_("Other reason"),
}
#: The season report's tables and chart legends word two reasons more shortly.
CANCEL_REASON_IN_REPORT = {
    **CANCEL_REASON,
    CancelReason.UNDER_MINIMUM: N_("Too few people booked"),
    CancelReason.STAFF: N_("Called off by the office"),
}
#: Why a visit was called off, in the sentence its visitors (and feeds, emails) are told.
CANCEL_REASON_SENTENCE = {
    CancelReason.UNDER_MINIMUM: N_(
        "Not enough people had booked for the visit to go ahead on that day."
    ),
    CancelReason.PROVIDER: N_("The farmer cannot welcome visitors on that day."),
    CancelReason.ILLNESS: N_("The farmer is ill and cannot welcome visitors on that day."),
    CancelReason.WEATHER: N_("The weather forecast does not allow the visit to go ahead safely."),
    CancelReason.FIRE_RISK: N_(
        "Because of the fire risk, access to the land is restricted on that day."
    ),
    CancelReason.STAFF: N_("The tourist office had to cancel the visit."),
    CancelReason.OTHER: N_("The visit cannot take place as planned."),
}


def label(labels: dict[Any, str], value: Any) -> str:
    """The translated name of ``value``, or the value itself when it has none."""
    name = labels.get(value)
    return i18n.gettext(name) if name else str(value)


def status_words(status: SlotStatus) -> str:
    return i18n.gettext(SLOT_STATUS_PHRASE[status])


def reason_words(reason: CancelReason | None) -> str:
    """Why a cancelled slot is off."""
    sentences = CANCEL_REASON_SENTENCE
    return i18n.gettext(sentences.get(reason or CancelReason.OTHER, sentences[CancelReason.OTHER]))


def price_text(adult_cents: int, child_cents: int) -> str:
    """ "Adults €8.00, children €5.00", "Free"..., in the current language."""
    adult, child = i18n.money(adult_cents), i18n.money(child_cents)
    if not adult_cents and not child_cents:
        return i18n.gettext("Free")
    if not child_cents:
        return i18n.gettext("Adults %(adult)s, children free") % {"adult": adult}
    if not adult_cents:
        return i18n.gettext("Adults free, children %(child)s") % {"child": child}
    return i18n.gettext("Adults %(adult)s, children %(child)s") % {"adult": adult, "child": child}
