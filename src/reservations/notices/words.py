"""How calendars and emails name a slot's state for any reader (visitors' and farmers' feeds,
the morning email): its status, and why it was called off, as its visitors were told."""

from __future__ import annotations

from reservations import i18n
from reservations.base.models import CancelReason, SlotStatus
from reservations.i18n import N_

#: Why a visit was called off, in a word (forms, the back office).
CANCEL_REASON = {
    CancelReason.UNDER_MINIMUM: N_("Not enough people booked"),
    CancelReason.PROVIDER: N_("Called off by the farm"),
    CancelReason.STAFF: N_("Called off by the tourist office"),
    CancelReason.ILLNESS: N_("Illness"),
    CancelReason.WEATHER: N_("Weather"),
    CancelReason.FIRE_RISK: N_("Fire risk"),
    CancelReason.OTHER: N_("Other reason"),
}

#: Why a visit was called off, in plain words.
REASONS = {
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

STATUS_WORDS = {
    SlotStatus.SCHEDULED: N_("Not decided yet"),
    SlotStatus.CONFIRMED: N_("Goes ahead"),
    SlotStatus.HELD: N_("Took place"),
    SlotStatus.CANCELLED: N_("Cancelled"),
}


def status_words(status: SlotStatus) -> str:
    return i18n.gettext(STATUS_WORDS[status])


def reason_words(reason: CancelReason | None) -> str:
    """Why a cancelled slot is off."""
    return i18n.gettext(REASONS.get(reason or CancelReason.OTHER, REASONS[CancelReason.OTHER]))


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
