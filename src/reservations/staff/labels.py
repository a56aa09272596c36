"""How the back office names the words stored in the database (statuses, channels, audit
actions), marked for translation, and how it writes an audit entry's values for a reader."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reservations import i18n
from reservations.base.models import (
    BookingStatus,
    Channel,
    SlotStatus,
    WaitlistStatus,
)
from reservations.farmers.forms import REASON_LABELS
from reservations.i18n import N_

SLOT_STATUS = {
    SlotStatus.SCHEDULED: N_("Not decided yet"),
    SlotStatus.CONFIRMED: N_("Confirmed"),
    SlotStatus.HELD: N_("Held"),
    SlotStatus.CANCELLED: N_("Cancelled"),
}
BOOKING_STATUS = {
    BookingStatus.CONFIRMED: N_("Confirmed"),
    BookingStatus.CANCELLED: N_("Cancelled"),
    BookingStatus.PENDING_PAYMENT: N_("Awaiting payment"),
    BookingStatus.EXPIRED: N_("Expired"),
}
CHANNEL = {
    Channel.WEB: N_("Online"),
    Channel.COUNTER: N_("At the counter"),
    Channel.PHONE: N_("On the phone"),
    Channel.RESELLER: N_("Reseller"),
    Channel.HISTORY: N_("Imported"),
}
#: The channels staff book through.
STAFF_CHANNELS = (Channel.COUNTER, Channel.PHONE)
WAITLIST_STATUS = {
    WaitlistStatus.WAITING: N_("Waiting"),
    WaitlistStatus.OFFERED: N_("Places offered"),
    WaitlistStatus.CLAIMED: N_("Booked"),
    WaitlistStatus.EXPIRED: N_("Offer expired"),
    WaitlistStatus.WITHDRAWN: N_("Left the list"),
}
AUDIT_ACTION = {
    "booking.created": N_("Booking made"),
    "booking.changed": N_("Party changed"),
    "booking.cancelled": N_("Booking cancelled"),
    "booking.moved_out": N_("Booking moved to another visit"),
    "booking.moved_in": N_("Booking moved here"),
    "slot.created": N_("Visit planned"),
    "slot.imported": N_("Visit imported"),
    "slot.updated": N_("Visit changed"),
    "slot.decided": N_("Go/no-go decided"),
    "slot.cancelled": N_("Visit cancelled"),
    "slot.attendance_recorded": N_("Attendance recorded"),
    "waitlist.joined": N_("Joined the waiting list"),
    "waitlist.offered": N_("Places offered from the waiting list"),
    "waitlist.claiming": N_("Offer being claimed"),
    "waitlist.claimed": N_("Offer booked"),
    "waitlist.claim_refused": N_("Offer claim refused"),
    "waitlist.expired": N_("Offer expired"),
    "waitlist.withdrawn": N_("Left the waiting list"),
    "waitlist.removed": N_("Removed from the waiting list"),
}
CANCEL_REASON = REASON_LABELS


def label(labels: dict[Any, str], value: Any) -> str:
    """The translated name of ``value``, or the value itself when it has none."""
    name = labels.get(value)
    return i18n.gettext(name) if name else str(value)


def audit_value(value: Any) -> str:
    """A value recorded in an audit entry, as a person reads it: times in Paris time."""
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value
        return i18n.moment(instant) if instant.tzinfo is not None else value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def template_globals() -> dict[str, Any]:
    """What the templates of bookings and slots use to name things."""
    return {
        "label": label,
        "audit_value": audit_value,
        "slot_status": SLOT_STATUS,
        "booking_status": BOOKING_STATUS,
        "channels": CHANNEL,
        "waitlist_status": WAITLIST_STATUS,
        "audit_action": AUDIT_ACTION,
        "cancel_reason": CANCEL_REASON,
    }
