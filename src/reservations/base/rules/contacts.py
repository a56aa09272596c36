"""What counts as an email address or a phone number, for every form and the API alike."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Digits with the usual separators, an optional leading +: "+33 6 12 34 56 78", "04.66.45.01.14".
_PHONE = re.compile(r"^\+?[\d\s.()/-]+$")
MIN_PHONE_DIGITS = 6


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text))


def is_phone(text: str) -> bool:
    return bool(_PHONE.match(text)) and sum(c.isdigit() for c in text) >= MIN_PHONE_DIGITS
