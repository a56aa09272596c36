"""The visitors' forms: the booking request a booking form makes, and the party a manage page
changes. The domain has the last word on every rule; these only turn text into numbers and check
what the domain does not (a web booking needs an email)."""

from __future__ import annotations

from collections.abc import Mapping

from reservations import i18n
from reservations.base.errors import MissingName
from reservations.base.models import Channel
from reservations.base.rules.booking import BookingRequest
from reservations.i18n import N_
from reservations.web import forms
from reservations.web.forms import Form, values_of

EMAIL_NEEDED = N_(
    "Please give your email address: your confirmation and the link to change or cancel "
    "your booking are sent there."
)


BOOKING_FIELDS = ("adults", "children", "name", "email", "phone", "form_key", "shared")


def blank_booking_form(*, shared: bool = False) -> Form:
    """The form as a visit's page shows it, with a fresh key (``web.forms.form_key``);
    ``shared`` when the visitor came from a link another visitor shared."""
    form = Form(
        {
            "adults": "1",
            "children": "0",
            "name": "",
            "email": "",
            "phone": "",
            "shared": "1" if shared else "",
        }
    )
    forms.renew_key(form)
    return form


def idempotency_key(form: Form) -> str:
    """The booking's idempotency key: distinct from the office's forms and any API client's."""
    return f"visit-form:{forms.form_key(form)}"


def booking_request(
    submitted: Mapping[str, str], slot_id: int, locale: str
) -> tuple[Form, BookingRequest | None]:
    """The form as typed, and the request it makes (None while the form has errors)."""
    form = Form(values_of(submitted, BOOKING_FIELDS))
    forms.form_key(form)  # a hidden field: an unusable key is renewed, never shown as an error
    adults = form.whole_number("adults", "party")
    children = form.whole_number("children", "party")
    name, email, phone = form.text("name"), form.text("email"), form.text("phone")
    if not name:
        form.refused(MissingName(field="name"))
    if not email:
        form.add_error("email", i18n.gettext(EMAIL_NEEDED))
    if not form.valid:
        return form, None
    return form, BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name=name,
        email=email,
        phone=phone or None,
        locale=locale,
        channel=Channel.WEB,
        via_share_link=form.values["shared"] == "1",
    )


PARTY_FIELDS = ("adults", "children")


def party_form(adults: int, children: int) -> Form:
    return Form({"adults": str(adults), "children": str(children)})


def party_change(submitted: Mapping[str, str]) -> Form:
    form = Form(values_of(submitted, PARTY_FIELDS))
    form.cleaned["adults"] = form.whole_number("adults", "party")
    form.cleaned["children"] = form.whole_number("children", "party")
    return form
