"""The back office's booking forms: a booking taken at the counter or on the phone, moving a
booking, the booking search and the slot picker. Values are kept as typed (a refused form comes
back as it was sent) and problems are put beside their field; the domain has the last word on
every booking rule (``booking.check_request``).

Each new-booking form carries a random key drawn when it is shown: the booking is made with it
as its idempotency key, so a double click or a resent form books once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reservations import i18n
from reservations.base.errors import MissingName
from reservations.base.infra import tokens
from reservations.base.models import Channel
from reservations.base.rules.booking import BookingRequest
from reservations.i18n import N_
from reservations.settings import SUPPORTED_LOCALES
from reservations.staff.labels import STAFF_CHANNELS
from reservations.web import forms
from reservations.web.forms import Form
from reservations.web.inputs import whole_number

BOOKING_FIELDS = (
    "slot_id",
    "form_key",
    "channel",
    "adults",
    "children",
    "name",
    "phone",
    "email",
    "locale",
    "notes",
)
NOTES_MAX = 2000

CHOOSE_CHANNEL = N_("Please choose how the booking came in: at the counter or on the phone.")
CHOOSE_LANGUAGE = N_("Please choose the language of the emails.")
NOTES_TOO_LONG = N_("The notes are too long: at most {maximum} characters.")
CHOOSE_TARGET = N_("Please choose the visit to move the booking to.")
NOT_A_VISIT_NUMBER = N_("Please enter the number of a visit, such as 42.")


def idempotency_key(form_key: str) -> str:
    """The booking's idempotency key: distinct from any key an API client may send."""
    return f"staff-form:{form_key}"


def blank_booking_form(slot_id: int, locale: str) -> Form:
    return Form(
        {
            "slot_id": str(slot_id),
            "form_key": tokens.new_token(),
            "channel": Channel.COUNTER.value,
            "adults": "1",
            "children": "0",
            "name": "",
            "phone": "",
            "email": "",
            "locale": locale,
            "notes": "",
        }
    )


def renew_key(form: Form) -> Form:
    """A fresh key, for a form to be sent again as a new booking."""
    forms.renew_key(form)
    return form


def booking_request(
    submitted: Mapping[str, Any], slot_id: int
) -> tuple[Form, BookingRequest | None]:
    """The form as typed and the request it makes (None while the form has problems)."""
    form = Form({name: str(submitted.get(name) or "").strip() for name in BOOKING_FIELDS})
    form.values["slot_id"] = str(slot_id)
    forms.form_key(form)
    adults = form.whole_number("adults", "party")
    children = form.whole_number("children", "party")
    name, email, phone = form.text("name"), form.text("email"), form.text("phone")
    notes = form.values["notes"]
    if not name:
        form.refused(MissingName(field="name"))
    channel = form.values["channel"]
    if channel not in {c.value for c in STAFF_CHANNELS}:
        form.add_error("channel", i18n.gettext(CHOOSE_CHANNEL))
    if form.values["locale"] not in SUPPORTED_LOCALES:
        form.add_error("locale", i18n.gettext(CHOOSE_LANGUAGE))
    if len(notes) > NOTES_MAX:
        form.add_error("notes", i18n.gettext(NOTES_TOO_LONG).format(maximum=NOTES_MAX))
    if not form.valid:
        return form, None
    return form, BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name=name,
        email=email or None,
        phone=phone or None,
        locale=form.values["locale"],
        channel=Channel(channel),
        notes=notes or None,
    )


def move_form() -> Form:
    return Form({"target": "", "target_number": ""})


def move_target(submitted: Mapping[str, Any]) -> tuple[Form, int | None]:
    """The slot chosen in the list, or the number typed (which wins when both are given)."""
    form = Form(
        {name: str(submitted.get(name) or "").strip() for name in ("target", "target_number")}
    )
    chosen = form.values["target_number"] or form.values["target"]
    if not chosen:
        form.add_error("target", i18n.gettext(CHOOSE_TARGET))
        return form, None
    target = whole_number(chosen)
    if target is None:
        form.add_error("target", i18n.gettext(NOT_A_VISIT_NUMBER))
    return form, target
