"""The one way to read what people type or send (forms, query strings, JSON bodies) before it
reaches the domain or a database: whole numbers of ASCII digits within the columns' range, text
without NULs or other control characters, dates within a bounded calendar.

Python's ``str.isdigit()`` is true for ``²`` (which ``int()`` refuses) and ``int()`` takes
Arabic-Indic digits and refuses strings over 4,300 digits; PostgreSQL's ``integer`` is 32-bit
and its text refuses NUL (SQLite stores both); ``date.max + timedelta`` overflows. Every edge
reads through these functions, so none of that reaches a query.
"""

from __future__ import annotations

import re
from datetime import date

#: The largest value of an ``integer`` column on PostgreSQL (ids, counts, cents): SQLite's
#: 64-bit integers are wider, so this one bound holds on both databases.
MAX_INTEGER = 2**31 - 1
#: The calendar the application reads: far beyond any season, far inside ``date``'s range, so
#: that a period of days after the last one cannot overflow.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2199, 12, 31)

_WHOLE = re.compile(r"[0-9]{1,10}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: C0 controls but tab, line feed and carriage return; DEL; lone surrogates (what a decoder
#: leaves of invalid UTF-8 with ``surrogateescape``); U+FFFD, the replacement character (what
#: Litestar's form parser leaves of invalid UTF-8: nobody types it).
_UNUSABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffd]")
#: The same as a JSON-schema pattern for the API's strings (documented in the OpenAPI).
USABLE_TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f\\ufffd]*$"


def whole_number(text: str, *, maximum: int = MAX_INTEGER) -> int | None:
    """``text`` (already stripped) as a whole number from 0 to ``maximum``, or None."""
    if not _WHOLE.fullmatch(text):
        return None
    number = int(text)
    return number if number <= maximum else None


def is_usable_text(text: str) -> bool:
    """No NUL, no control character a person cannot type, no undecodable byte."""
    return _UNUSABLE.search(text) is None


def usable_part(text: str) -> str:
    """``text`` without what ``is_usable_text`` refuses: what a refused form shows again."""
    return _UNUSABLE.sub("", text)


def day(text: str) -> date | None:
    """An ISO date (YYYY-MM-DD) between FIRST_DAY and LAST_DAY, or None."""
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        return None
    return found if FIRST_DAY <= found <= LAST_DAY else None


def within_calendar(found: date) -> bool:
    """A date already parsed (by Litestar, say) is inside the calendar the application reads."""
    return FIRST_DAY <= found <= LAST_DAY


#: Text with at least one character that is neither a space nor a control character, for a
#: required field (a name): what ``str.strip()`` leaves non-empty. Explicit classes rather than
#: ``\s``, whose meaning differs between Python and JSON-schema (ECMA-262) regular expressions.
FILLED_TEXT_PATTERN = (
    "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*"
    "[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200b\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
    "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"
)


def id_or_name(text: str) -> int | str | None:
    """A filter that is either a record's id or its exact name (``?provider=12`` or
    ``?provider=Mas de Grizac``): a whole number within range is an id, other text a name,
    nothing (or spaces) no filter."""
    text = text.strip()
    if not text:
        return None
    number = whole_number(text)
    return text if number is None else number
