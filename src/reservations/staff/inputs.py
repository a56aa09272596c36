"""Reading the back office's typed form values (numbers, dates, times, ticked boxes) into
Python values, with a message beside the field when one cannot be read. The ``Form`` keeps the
text as typed, so a refused form comes back as it was sent. Domain rules are the domain's: these
only turn text into values."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

from reservations import i18n
from reservations.base.errors import DomainError
from reservations.i18n import N_
from reservations.web import inputs
from reservations.web.forms import NOT_A_NUMBER, Form

NOT_A_DATE = N_("Please enter a date (day, month and year).")
NOT_A_TIME = N_("Please enter a time such as 10:00.")
NOT_A_DECIMAL = N_("Please enter a number such as 44.35 or -3,87.")
NOT_AN_AMOUNT = N_("Please enter an amount in euros, such as 12,50 or 12.50.")
REQUIRED = N_("Please fill in this field.")

#: ASCII digits only (``\d`` is any script's digits).
_TIME = re.compile(r"^([0-9]{1,2})[:hH.]([0-9]{2})$")
_DECIMAL = re.compile(r"^-?[0-9]{1,3}(?:[.,][0-9]{1,8})?$")
#: Euros as typed: "12", "12,5", "12.50" (ASCII digits, at most a million euros, no sign).
_EUROS = re.compile(r"^([0-9]{1,7})(?:[.,]([0-9]{1,2}))?$")


def form_of(submitted: Any, names: tuple[str, ...], multi: tuple[str, ...] = ()) -> Form:
    """The submitted values as typed; boxes ticked under one name are kept comma-joined."""
    values = {name: str(submitted.get(name) or "").strip() for name in names}
    for name in multi:
        values[name] = ",".join(str(v) for v in submitted.getall(name, []) if str(v).strip())
    return Form(values)


def required(form: Form, name: str) -> bool:
    if form.values.get(name, ""):
        return True
    form.add_error(name, i18n.gettext(REQUIRED))
    return False


def whole(form: Form, name: str, *, optional: bool = False) -> int | None:
    """A whole number 0 or more; empty is None when ``optional``, an error otherwise."""
    text = form.values.get(name, "")
    if text == "":
        if not optional:
            required(form, name)
        return None
    number = inputs.whole_number(text)
    if number is None:
        form.add_error(name, i18n.gettext(NOT_A_NUMBER))
    return number


def decimal(form: Form, name: str) -> float | None:
    """An optional decimal number, with a point or a comma (coordinates)."""
    text = form.values.get(name, "")
    if text == "":
        return None
    if not _DECIMAL.match(text):
        form.add_error(name, i18n.gettext(NOT_A_DECIMAL))
        return None
    return float(text.replace(",", "."))


def euros(form: Form, name: str) -> int | None:
    """An amount typed in euros ("12,50", "12.50", "12 €") as integer cents; empty is None
    (the caller's default), anything else unreadable an error beside the field."""
    text = form.values.get(name, "").replace("€", "").replace("\u00a0", "").replace(" ", "")
    if text == "":
        return None
    found = _EUROS.match(text)
    if found is None:
        form.add_error(name, i18n.gettext(NOT_AN_AMOUNT))
        return None
    whole_euros, cents = found.group(1), (found.group(2) or "0").ljust(2, "0")
    amount = int(whole_euros) * 100 + int(cents)
    if amount > inputs.MAX_INTEGER:  # pragma: no cover - seven digits stay far below
        form.add_error(name, i18n.gettext(NOT_AN_AMOUNT))
        return None
    return amount


def euros_text(cents: int) -> str:
    """Cents as a form shows them again: "12,50"."""
    return f"{cents // 100},{cents % 100:02d}"


def day(form: Form, name: str, *, optional: bool = False) -> date | None:
    """A date as a date input sends it (YYYY-MM-DD), within the calendar the application reads
    (``inputs.day``: 9999-12-31 is refused here, not overflowed later)."""
    text = form.values.get(name, "")
    if text == "":
        if not optional:
            required(form, name)
        return None
    found = inputs.day(text)
    if found is None:
        form.add_error(name, i18n.gettext(NOT_A_DATE))
    return found


def clock_time(form: Form, name: str) -> time | None:
    """A time of day, "10:00" (a time input), "10h00" or "9.30"."""
    found = _TIME.match(form.values.get(name, ""))
    if found is None:
        form.add_error(name, i18n.gettext(NOT_A_TIME))
        return None
    hours, minutes = int(found.group(1)), int(found.group(2))
    if hours > 23 or minutes > 59:
        form.add_error(name, i18n.gettext(NOT_A_TIME))
        return None
    return time(hours, minutes)


def ticked(form: Form, name: str) -> list[str]:
    """The values of the boxes ticked under ``name`` (see ``form_of``)."""
    return [v for v in form.values.get(name, "").split(",") if v]


def refused(form: Form, exc: DomainError) -> Form:
    """A domain refusal beside its field (or above the form); a form's refusal with several
    problems (``problems``) puts each beside its own field."""
    for problem in getattr(exc, "problems", None) or [exc]:
        form.add_error(problem.field or "", i18n.error_text(problem))
    return form
