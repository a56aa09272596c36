"""The back office's booking forms: a booking taken at the counter or on the phone, moving a
booking, the booking search and the slot picker. Values are kept as typed (a refused form comes
back as it was sent) and problems are put beside their field; the domain has the last word on
every booking rule (``booking.check_request``).

Each new-booking form carries a random key drawn when it is shown: the booking is made with it
as its idempotency key, so a double click or a resent form books once.

A paid visit's form also asks how the booking is paid (cash, cheque, card terminal, on site on
the day, or a payment link emailed to the visitor when Stripe is configured) and the amount,
in euros; left empty, the amount is the party's price, which the form shows as the amount to
collect (computed for the party typed, and again in the page as it changes).
The booking page's forms record a payment and refund part of what was paid online."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reservations import i18n
from reservations.base.errors import MissingName
from reservations.base.infra import tokens
from reservations.base.models import Channel, PaymentMethod
from reservations.base.rules.booking import BookingRequest
from reservations.i18n import N_
from reservations.settings import SUPPORTED_LOCALES
from reservations.staff import inputs
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
    "payment",
    "amount",
)
NOTES_MAX = 2000
#: How staff record a payment by hand (online card payments are Stripe's to record).
COUNTER_METHODS = (
    PaymentMethod.CASH,
    PaymentMethod.CHEQUE,
    PaymentMethod.CARD_TERMINAL,
    PaymentMethod.ON_SITE,
)
#: The new-booking form's choice for "email the visitor a payment link".
LINK = "link"

CHOOSE_CHANNEL = N_("Please choose how the booking came in: at the counter or on the phone.")
CHOOSE_LANGUAGE = N_("Please choose the language of the emails.")
NOTES_TOO_LONG = N_("The notes are too long: at most {maximum} characters.")
CHOOSE_TARGET = N_("Please choose the visit to move the booking to.")
NOT_A_VISIT_NUMBER = N_("Please enter the number of a visit, such as 42.")
CHOOSE_PAYMENT = N_("Please choose how the booking is paid.")
LINK_NEEDS_EMAIL = N_("A payment link is sent by email: please give the visitor's email address.")


def idempotency_key(form_key: str) -> str:
    """The booking's idempotency key: distinct from any key an API client may send."""
    return f"staff-form:{form_key}"


@dataclass(frozen=True)
class CounterPayment:
    """How a counter or phone booking is paid: a method recorded by hand with its amount, or
    ``method`` None for a payment link (the link charges the party's price)."""

    method: PaymentMethod | None
    amount_cents: int

    @property
    def by_link(self) -> bool:
        return self.method is None


def payment_choices(online: bool) -> list[str]:
    """The payment choices of the new-booking form: the link only when Stripe is configured."""
    return [method.value for method in COUNTER_METHODS] + ([LINK] if online else [])


def blank_booking_form(slot_id: int, locale: str) -> Form:
    """A new booking's form, for one adult. Its amount is left empty (the party's price): a
    prefilled one would stay one adult's price when the party grows."""
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
            "payment": "",
            "amount": "",
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


def counter_payment(form: Form, due_cents: int, online: bool) -> CounterPayment | None:
    """How the booking of ``form`` is paid, for a party whose price is ``due_cents`` (None
    when it owes nothing: no question asked). Problems go beside their field."""
    if due_cents <= 0:
        return None
    choice = form.values.get("payment", "")
    if choice not in payment_choices(online):
        form.add_error("payment", i18n.gettext(CHOOSE_PAYMENT))
        return None
    if choice == LINK:
        if not form.values.get("email"):
            form.add_error("email", i18n.gettext(LINK_NEEDS_EMAIL))
        return CounterPayment(None, due_cents)
    amount = inputs.euros(form, "amount")
    return CounterPayment(PaymentMethod(choice), due_cents if amount is None else amount)


def payment_form(amount_cents: int = 0) -> Form:
    """The booking page's "record a payment" form, prefilled with what is left to pay."""
    return Form(
        {"method": "", "amount": inputs.euros_text(amount_cents) if amount_cents > 0 else ""}
    )


def recorded_payment(submitted: Mapping[str, Any]) -> tuple[Form, CounterPayment | None]:
    """A payment recorded by hand on the booking page: its method and amount (required)."""
    form = inputs.form_of(submitted, ("method", "amount"))
    method = form.values["method"]
    if method not in {m.value for m in COUNTER_METHODS}:
        form.add_error("method", i18n.gettext(CHOOSE_PAYMENT))
    amount = inputs.euros(form, "amount") if inputs.required(form, "amount") else None
    if not form.valid or amount is None:
        return form, None
    return form, CounterPayment(PaymentMethod(method), amount)


def refund_form() -> Form:
    return Form({"amount": ""})


def refund_amount(submitted: Mapping[str, Any]) -> tuple[Form, int | None]:
    """The amount of a partial refund, in cents (the domain bounds it)."""
    form = inputs.form_of(submitted, ("amount",))
    amount = inputs.euros(form, "amount") if inputs.required(form, "amount") else None
    return form, amount if form.valid else None


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
