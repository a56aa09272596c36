"""The farmers' two forms: who came to a visit, and calling a visit off. Each keeps what was
typed so that a refused form comes back as it was sent, with the message beside the field."""

from __future__ import annotations

from collections.abc import Mapping

from reservations import i18n
from reservations.base.models import CancelReason
from reservations.base.reads.day_sheet import SheetSlot
from reservations.base.rules.slots import Presence
from reservations.i18n import N_
from reservations.web.forms import CONFIRM_CANCEL, Form

#: The reasons a farmer can give, in the order the form offers them.
FARMER_REASONS = (
    CancelReason.ILLNESS,
    CancelReason.WEATHER,
    CancelReason.FIRE_RISK,
    CancelReason.OTHER,
)
CHOOSE_REASON = N_("Please choose why the visit is called off.")
MESSAGE_TOO_LONG = N_("The message is too long: at most {maximum} characters.")
MESSAGE_MAX = 1000


def attendance_fields(booking_id: int) -> tuple[str, str, str]:
    """The names of one booking's inputs: came (yes/no), adults, children."""
    return f"came_{booking_id}", f"adults_{booking_id}", f"children_{booking_id}"


def attendance_form(slot: SheetSlot) -> Form:
    """The attendance form as first shown: what was recorded, else everyone booked."""
    values: dict[str, str] = {}
    for booking in slot.live_bookings:
        came, adults, children = attendance_fields(booking.id)
        present = booking.present or (booking.adults, booking.children)
        values[came] = "no" if present == (0, 0) and booking.present is not None else "yes"
        values[adults], values[children] = str(present[0]), str(present[1])
    return Form(values)


def attendance_submitted(
    slot: SheetSlot, submitted: Mapping[str, str]
) -> tuple[Form, dict[int, Presence] | None]:
    """Who came, per booking of the slot (None while the form has errors). "Everyone came" is
    the button named ``everyone``: every booking present as booked."""
    if submitted.get("everyone"):
        form = attendance_form(slot)
        return form, {b.id: Presence(b.adults, b.children) for b in slot.live_bookings}
    form = Form({})
    present: dict[int, Presence] = {}
    for booking in slot.live_bookings:
        came, adults, children = attendance_fields(booking.id)
        for name in (came, adults, children):
            form.check(name, str(submitted.get(name) or "").strip())
        if form.values[came] == "no":
            present[booking.id] = Presence(0, 0)
            continue
        counts = Presence(form.whole_number(adults, adults), form.whole_number(children, adults))
        present[booking.id] = counts
    return form, (present if form.valid else None)


def cancel_form() -> Form:
    return Form({"reason": "", "message": "", "confirm": ""})


def cancel_submitted(submitted: Mapping[str, str]) -> tuple[Form, CancelReason | None]:
    form = Form({name: str(submitted.get(name) or "").strip() for name in cancel_form().values})
    reason = next((r for r in FARMER_REASONS if r.value == form.values["reason"]), None)
    if reason is None:
        form.add_error("reason", i18n.gettext(CHOOSE_REASON))
    if len(form.values["message"]) > MESSAGE_MAX:
        form.add_error("message", i18n.gettext(MESSAGE_TOO_LONG).format(maximum=MESSAGE_MAX))
    if form.values["confirm"] != "yes":
        form.add_error("confirm", i18n.gettext(CONFIRM_CANCEL))
    return form, (reason if form.valid else None)
