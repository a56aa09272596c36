"""What counts as an email address or a phone number, for every form and the API alike."""

from __future__ import annotations

import re

#: One address, local@domain.tld, that a mail server takes as it is: no list (",", ";"), no
#: display name ("<>", quotes), no space or control character, no empty label in the domain.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\u00a1-\uffff-]+"  # RFC 5322's atext, dots, RFC 6531's UTF-8
    r"@"
    r"(?:[A-Za-z0-9\u00a1-\uffff](?:[A-Za-z0-9\u00a1-\uffff-]*[A-Za-z0-9\u00a1-\uffff])?\.)+"
    r"[A-Za-z\u00a1-\uffff]{2,}"
)
#: RFC 5321's limit on a forward path.
MAX_EMAIL_LENGTH = 254
#: Digits with the usual separators, an optional leading +: "+33 6 12 34 56 78", "04.66.45.01.14".
_PHONE = re.compile(r"^\+?[\d\s.()/-]+$")
MIN_PHONE_DIGITS = 6


def is_email(text: str) -> bool:
    """One deliverable-looking address: ``a,victim@evil.example`` (two recipients) and NULs are
    not."""
    return len(text) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(text) is not None


def is_phone(text: str) -> bool:
    return bool(_PHONE.match(text)) and sum(c.isdigit() for c in text) >= MIN_PHONE_DIGITS
