"""What is the back office's own in naming things: how an audit entry's action, fields, actors
and values read (the words for statuses, channels and reasons are ``notices.words``'), the
channels staff book through, and the names the templates of bookings and slots use."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reservations import i18n
from reservations.base.models import HOLD_STATUSES, Channel, PaymentMethod
from reservations.i18n import N_
from reservations.notices import words

#: The channels staff book through.
STAFF_CHANNELS = (Channel.COUNTER, Channel.PHONE)
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
    "booking.expired": N_("Hold ran out unpaid"),
    "payment.recorded": N_("Payment recorded"),
    "payment.link_sent": N_("Payment link sent"),
    "payment.paid": N_("Paid online"),
    "payment.mismatch": N_("Online payment with a wrong amount"),
    "refund.requested": N_("Refund requested"),
    "slot.merge_invited_out": N_("Its visitors invited to move to another date"),
    "slot.merge_invited_in": N_("Visitors of another date invited here"),
    "move_invitation.accepted": N_("Moved by accepting an invitation"),
}
#: How a booking was paid, or is to be paid (the new-booking form's "link" too).
PAYMENT_METHOD = {
    PaymentMethod.CASH: N_("Cash"),
    PaymentMethod.CHEQUE: N_("Cheque"),
    PaymentMethod.CARD_TERMINAL: N_("Card terminal"),
    PaymentMethod.ON_SITE: N_("To pay on site, on the day"),
    PaymentMethod.STRIPE: N_("Online, by card"),
    "link": N_("Send a payment link by email"),
}
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
    "method": N_("Payment method"),
    "amount_cents": N_("Amount"),
    "paid": N_("Paid"),
    "target_slot_id": N_("Visit proposed"),
    "source_slot_id": N_("Invited from the visit"),
    "bookings": N_("Bookings"),
    "invitation_id": N_("Invitation"),
}
#: How values of these facts are named (statuses of slots and bookings share their words).
_VALUES_OF_FIELD: dict[str, dict[Any, str]] = {
    "status": {**words.BOOKING_STATUS, **words.SLOT_STATUS},
    "channel": words.CHANNEL,
    "reason": words.CANCEL_REASON,
    "cancelled_by": words.CANCELLED_BY,
    "method": PAYMENT_METHOD,
}
YES, NO = N_("yes"), N_("no")
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


def audit_field(key: str) -> str:
    return words.label(AUDIT_FIELD, key)


def audit_actor(actor: str) -> str:
    """ "staff:anne@…" is Anne's email; "provider:2" a farm through its private link."""
    kind, _, who = actor.partition(":")
    if kind == "staff" and who:
        return who
    if kind == "provider" and who:
        return i18n.gettext("The farm (private link)")
    return words.label(_ACTORS, actor)


def audit_value(value: Any, key: str | None = None) -> str:
    """A value recorded in an audit entry, as a person reads it: words for statuses, channels
    and reasons, times in Paris time."""
    if value is None:
        return "–"
    if (key or "").endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return i18n.money(value)
    if isinstance(value, bool):
        return i18n.gettext(YES if value else NO)
    names = _VALUES_OF_FIELD.get(key or "")
    if names and isinstance(value, str) and value in names:
        return i18n.gettext(names[value])
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value
        return i18n.moment(instant) if instant.tzinfo is not None else value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)  # booking references
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def template_globals() -> dict[str, Any]:
    """What the templates of bookings and slots use to name things."""
    return {
        "label": words.label,
        "audit_value": audit_value,
        "audit_field": audit_field,
        "audit_actor": audit_actor,
        "slot_status": words.SLOT_STATUS,
        "booking_status": words.BOOKING_STATUS,
        "channels": words.CHANNEL,
        "waitlist_status": words.WAITLIST_STATUS,
        "audit_action": AUDIT_ACTION,
        "cancel_reason": words.CANCEL_REASON,
        "payment_method": PAYMENT_METHOD,
        "hold_statuses": HOLD_STATUSES,
    }
