"""How the back office names the words stored in the database (statuses, channels, audit
actions), marked for translation, and how it writes an audit entry's values for a reader."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reservations import i18n
from reservations.base.models import (
    BookingStatus,
    CancelledBy,
    Channel,
    SlotStatus,
    WaitlistStatus,
)
from reservations.i18n import N_
from reservations.notices import words

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
CANCEL_REASON = words.CANCEL_REASON
#: The names of the facts an audit entry records.
AUDIT_FIELD = {
    "status": N_("Status"),
    "booked": N_("Places booked"),
    "capacity": N_("Capacity"),
    "min_participants": N_("Minimum"),
    "adults": N_("Adults"),
    "children": N_("Children"),
    "people": N_("People"),
    "channel": N_("Channel"),
    "starts_at": N_("Start"),
    "slot_id": N_("Visit"),
    "activity_id": N_("Activity"),
    "provider_id": N_("Farm"),
    "reason": N_("Reason"),
    "message": N_("Message"),
    "note": N_("Note"),
    "cancelled_by": N_("Cancelled by"),
    "present": N_("Came"),
    "attended": N_("Came"),
    "slot_booked_after": N_("Places booked afterwards"),
    "email": N_("Email"),
    "role": N_("Role"),
    "rule": N_("Rule"),
    "line": N_("Spreadsheet line"),
    "days": N_("Days"),
}
CANCELLED_BY = {
    CancelledBy.VISITOR: N_("the visitor"),
    CancelledBy.STAFF: N_("the tourist office"),
    CancelledBy.SLOT: N_("with the visit"),
}
#: How values of these facts are named (statuses of slots and bookings share their words).
_VALUES_OF_FIELD: dict[str, dict[Any, str]] = {
    "status": {**BOOKING_STATUS, **SLOT_STATUS},
    "channel": CHANNEL,
    "reason": words.CANCEL_REASON,
    "cancelled_by": CANCELLED_BY,
}
#: Who acted, when it is not a person of the office or a farm.
_ACTORS = {
    "visitor": N_("The visitor"),
    "system": N_("Automatic"),
    "tick": N_("Automatic"),
    "demo": N_("Demo data"),
    "cli": N_("Command line"),
    "api": N_("API"),
    "history": N_("Imported history"),
}


def label(labels: dict[Any, str], value: Any) -> str:
    """The translated name of ``value``, or the value itself when it has none."""
    name = labels.get(value)
    return i18n.gettext(name) if name else str(value)


def audit_field(key: str) -> str:
    return label(AUDIT_FIELD, key)


def audit_actor(actor: str) -> str:
    """"staff:anne@…" is Anne's email; "provider:2" a farm through its private link."""
    kind, _, who = actor.partition(":")
    if kind == "staff" and who:
        return who
    if kind == "provider" and who:
        return i18n.gettext("The farm (private link)")
    return label(_ACTORS, actor)


def audit_value(value: Any, key: str | None = None) -> str:
    """A value recorded in an audit entry, as a person reads it: words for statuses, channels
    and reasons, times in Paris time."""
    if value is None:
        return "–"
    words = _VALUES_OF_FIELD.get(key or "")
    if words and isinstance(value, str) and value in words:
        return i18n.gettext(words[value])
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
        "audit_field": audit_field,
        "audit_actor": audit_actor,
        "slot_status": SLOT_STATUS,
        "booking_status": BOOKING_STATUS,
        "channels": CHANNEL,
        "waitlist_status": WAITLIST_STATUS,
        "audit_action": AUDIT_ACTION,
        "cancel_reason": CANCEL_REASON,
    }
