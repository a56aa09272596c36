"""The visitor's language: which one a request gets, the translations, and Babel formatting.

One Jinja environment serves every request, so the language is not baked into it: gettext
callables installed once read the current locale from a ``ContextVar`` that is set per request
(``use_locale``). The catalogs are ``locale/<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo``
with ``pybabel compile`` (``dev.py`` does it); msgids are English, French is the default.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

from reservations.base.clock import OFFICE_TZ
from reservations.base.errors import DomainError
from reservations.settings import SUPPORTED_LOCALES

logger = logging.getLogger(__name__)

DEFAULT_LOCALE = "fr"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
#: The cookie that remembers a language chosen with ``?lang=``.
COOKIE = "lang"
CURRENCY = "EUR"

#: Each language's name in that language, for the switcher.
LANGUAGE_NAMES = {"fr": "Français", "en": "English", "de": "Deutsch", "nl": "Nederlands"}

_current: ContextVar[str] = ContextVar("reservations_locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


# --- which language ------------------------------------------------------------------------


def supported(code: str | None) -> str | None:
    """``code`` if it is one of the site's languages (case-insensitive), else None."""
    code = (code or "").strip().lower()
    return code if code in SUPPORTED_LOCALES else None


def accept_language_preferences(header: str | None) -> list[str]:
    """The language tags of an ``Accept-Language`` header, best first (q=0 means "not this")."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def from_accept_language(header: str | None) -> str | None:
    preferences = accept_language_preferences(header)
    if not preferences:
        return None
    locale = Locale.negotiate(preferences, SUPPORTED_LOCALES, sep="-")
    return locale.language if locale else None


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """``?lang=``, then the cookie, then the browser's preferences, then French."""
    return (
        supported(query)
        or supported(cookie)
        or from_accept_language(accept_language)
        or DEFAULT_LOCALE
    )


def current() -> str:
    return _current.get()


@contextmanager
def use_locale(locale: str) -> Iterator[str]:
    """Translate and format in ``locale`` inside the block (a request, an email)."""
    token = _current.set(supported(locale) or DEFAULT_LOCALE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# --- translations --------------------------------------------------------------------------


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale``; compiled in memory from the .po when the .mo is
    missing or older (a checkout where ``pybabel compile`` has not run yet)."""
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        return Translations.load(str(LOCALE_DIR), [locale], DOMAIN)
    if not po.exists():
        logger.warning("no message catalog for %r: its pages show the English texts", locale)
        return NullTranslations()
    logger.warning("%s is missing or stale: compiling %s in memory (run dev.py)", mo, po)
    with po.open("rb") as stream:
        catalog = read_po(stream, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def error_text(exc: DomainError, **overrides: Any) -> str:
    """A domain refusal in the current language; ``overrides`` replace its parameters (e.g. a
    time formatted for the reader instead of the message's neutral one)."""
    if isinstance(exc.message, tuple):
        said = ngettext(*exc.message, exc.count)
    else:
        said = gettext(exc.message)
    return said.format(**{**exc.params, **overrides})


# --- formatting ----------------------------------------------------------------------------


def babel_locale() -> Locale:
    return _babel_locale(current())


@cache
def _babel_locale(code: str) -> Locale:
    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):  # pragma: no cover - codes are ours
        return Locale.parse(DEFAULT_LOCALE)


def _local(instant: datetime) -> datetime:
    return instant.astimezone(OFFICE_TZ)


def day(value: date | datetime) -> str:
    """The weekday, day and month: "mercredi 12 août", "Wednesday, August 12"."""
    if isinstance(value, datetime):
        value = _local(value).date()
    return format_date(value, _day_pattern(current()), locale=babel_locale())


@cache
def _day_pattern(code: str) -> str:
    """The locale's pattern for weekday + day + month, with the weekday written in full (CLDR's
    skeleton gives it abbreviated)."""
    pattern = _babel_locale(code).datetime_skeletons["MMMMEd"].pattern
    return re.sub(r"E{1,4}", "EEEE", pattern)


def full_day(value: date | datetime) -> str:
    """With the year, for emails and calendars kept for later."""
    if isinstance(value, datetime):
        value = _local(value).date()
    return format_date(value, "full", locale=babel_locale())


def clock_time(instant: datetime) -> str:
    """The wall-clock time in Europe/Paris: "10:00", "10:00 AM"."""
    return format_time(instant, "short", tzinfo=OFFICE_TZ, locale=babel_locale())


def moment(instant: datetime) -> str:
    """Day and time, e.g. for cut-offs: "mardi 11 août 2026, 18:00"."""
    return f"{full_day(instant)}, {clock_time(instant)}"


def month_year(value: date) -> str:
    """A month as a calendar's caption: "août 2026", "August 2026"."""
    return format_date(value, "LLLL y", locale=babel_locale())


def weekday_initials() -> list[tuple[str, str]]:
    """Monday to Sunday: (short name, full name) in the current language."""
    names = babel_locale().days
    return [
        (names["stand-alone"]["abbreviated"][day], names["stand-alone"]["wide"][day])
        for day in range(7)
    ]


def money(cents: int) -> str:
    return format_currency(Decimal(cents) / 100, CURRENCY, locale=babel_locale())


def language_name(code: str) -> str:
    """A language's name in the current language ("anglais", "Englisch")."""
    return babel_locale().languages.get(code, code)


def language_list(codes: list[str]) -> str:
    return format_list([language_name(code) for code in codes], locale=babel_locale())


def localized(texts: Mapping[str, str] | None, fallback: str = "") -> str:
    """The current language's version of a per-language text, else the French one."""
    texts = texts or {}
    return texts.get(current()) or texts.get(DEFAULT_LOCALE) or fallback


def colon(label: str) -> str:
    """A label followed by its colon as the language writes it: "Référence :" with a
    non-breaking space in French, "Reference:" elsewhere."""
    return f"{label}\u00a0:" if current() == "fr" else f"{label}:"


FILTERS = {
    "colon": colon,
    "day": day,
    "full_day": full_day,
    "clock": clock_time,
    "moment": moment,
    "month_year": month_year,
    "money": money,
    "language_list": language_list,
    "localized": localized,
}


def install(environment: Any) -> None:
    """Give a Jinja environment the gettext callables and the formatting filters."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)
    environment.filters.update(FILTERS)
    environment.globals.update(
        current_locale=current,
        weekday_initials=weekday_initials,
        language_names=LANGUAGE_NAMES,
        supported_locales=SUPPORTED_LOCALES,
    )


def provider_locale(languages: list[str] | None, requested: str | None = None) -> str:
    """The language a provider reads (its calendar feed, its morning email): ``requested`` if
    the site has it, else the first of the provider's languages that it has, else French."""
    for code in [requested, *(languages or [])]:
        found = supported(code)
        if found:
            return found
    return DEFAULT_LOCALE
