"""A form as every audience's pages handle it: what was typed (kept to show again) and what is
wrong with it (beside each field, already translated). The domain has the last word on every
rule; forms only turn text into values and show the domain's refusals beside their field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.base.infra import tokens
from reservations.i18n import N_
from reservations.web import inputs

#: Where a domain refusal is shown: beside its field, or above the form ("").
_FIELD_OF_ERROR = {
    "adults": "party",
    "children": "party",
    "name": "name",
    "email": "email",
    "phone": "phone",
}
#: The largest body a page's form may send (every audience's router): the longest form, an
#: activity in four languages at its maximum lengths, is well under it; more is answered 413
#: (a friendly page) before it is read, let alone parsed.
MAX_FORM_BODY = 512 * 1024
_MAX_LENGTHS = {"name": 200, "email": 320, "phone": 40}

NOT_A_NUMBER = N_("Please enter a whole number, 0 or more.")
TOO_LONG = N_("This is too long: at most {maximum} characters.")
UNUSABLE_TEXT = N_(
    "This contains characters that cannot be used here (invisible control characters or "
    "garbled letters). They have been removed: please check the text and send it again."
)
TOO_MANY_TRIES = N_(
    "Too many tries from your connection in a minute. Wait a minute, then send this form "
    "again: what you typed is kept."
)
FORM_USED = N_(
    "This form was already used for another booking. Check the details and send it again."
)
#: A form key is ours (``tokens.new_token``: 43 characters); anything much longer is not.
FORM_KEY_MAX = 100
CONFIRM_CANCEL = N_("Please tick the box to confirm that you want to cancel.")


@dataclass
class Form:
    """Submitted values as typed, and error messages (already translated) by field.

    Every value is checked once, here, when the form is made (``inputs.is_usable_text``): a
    NUL, a control character or what is left of undecodable bytes is refused beside its field
    and taken out of the value shown again, so none of it reaches the domain or a database."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    #: The values read (numbers as ints), once the form is valid.
    cleaned: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.values.items():
            self.check(name, value)

    def check(self, name: str, value: str) -> str:
        """Keep ``value`` as field ``name`` (what a form adds after it is made goes through here
        too): refused beside the field, without its unusable characters, if it has any."""
        if not inputs.is_usable_text(value):
            self.add_error(name, i18n.gettext(UNUSABLE_TEXT))
            value = inputs.usable_part(value)
        self.values[name] = value
        return value

    @property
    def valid(self) -> bool:
        return not self.errors

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def refused(self, exc: DomainError, **overrides: str) -> Form:
        """Show a domain refusal beside the field it is about."""
        self.add_error(_FIELD_OF_ERROR.get(exc.field or "", ""), i18n.error_text(exc, **overrides))
        return self

    def whole_number(self, name: str, error_field: str) -> int:
        text = self.values.get(name, "").strip()
        if text == "":
            return 0
        number = inputs.whole_number(text)
        if number is None:
            self.add_error(error_field, i18n.gettext(NOT_A_NUMBER))
            return 0
        return number

    def text(self, name: str) -> str:
        value = self.values.get(name, "").strip()
        maximum = _MAX_LENGTHS.get(name)
        if maximum is not None and len(value) > maximum:
            self.add_error(name, i18n.gettext(TOO_LONG).format(maximum=maximum))
        return value


def form_key(form: Form) -> str:
    """The random key a booking form carries (drawn when the page was made), the idempotency
    key of the booking it makes: a form sent twice books once. A form without a usable key
    gets a fresh one (it then books as a new request)."""
    key = form.values.get("form_key", "")
    if not key or len(key) > FORM_KEY_MAX or form.errors.pop("form_key", None):
        key = renew_key(form)
    return key


def renew_key(form: Form) -> str:
    """A fresh key, for a form to be sent again as a new booking."""
    form.values["form_key"] = tokens.new_token()
    return form.values["form_key"]


def values_of(submitted: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The named fields as typed (missing ones empty)."""
    return {name: str(submitted.get(name) or "") for name in names}


def cancel_confirmed(submitted: Mapping[str, str]) -> Form:
    form = Form({"confirm": str(submitted.get("confirm") or "")})
    if form.values["confirm"] != "yes":
        form.add_error("confirm", i18n.gettext(CONFIRM_CANCEL))
    return form
