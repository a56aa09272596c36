"""The four languages: every text of the code and the templates is in every catalog and
translated, the compiled catalogs load (Babel falls back silently when they do not), the
language is negotiated as documented, and dates, times and money are formatted by Babel."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime
from gettext import GNUTranslations
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from babel.support import Translations

from reservations import i18n
from reservations.base.errors import NotEnoughPlaces, PartyTooLarge
from reservations.settings import PROJECT_ROOT, SUPPORTED_LOCALES

LOCALE_DIR = PROJECT_ROOT / "src" / "reservations" / "locale"
PERCENT = re.compile(r"%\((\w+)\)[sd]")
BRACES = re.compile(r"\{(\w+)\}")

# A few texts and their translations, written here independently of the catalogs.
KNOWN = {
    "Book": {"fr": "Réserver", "en": "Book", "de": "Buchen", "nl": "Boeken"},
    "Page not found": {
        "fr": "Page introuvable",
        "en": "Page not found",
        "de": "Seite nicht gefunden",
        "nl": "Pagina niet gevonden",
    },
}


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What pybabel extracts today from src/ and templates/ (babel.cfg)."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    previous = Path.cwd()
    os.chdir(PROJECT_ROOT)  # babel.cfg's patterns are relative to the checkout
    try:
        pybabel(
            "extract", "-F", "babel.cfg", "-k", "N_plural:1,2", "-o", str(pot), "--no-location", "."
        )
    finally:
        os.chdir(previous)
    with pot.open("rb") as stream:
        return read_po(stream)


def catalog_of(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as stream:
        return read_po(stream, locale=locale)


def strings(message: Message) -> list[str]:
    value = message.string
    return list(value) if isinstance(value, tuple) else [value]


def placeholders(text: str) -> set[str]:
    return set(PERCENT.findall(text)) | set(BRACES.findall(text))


def test_extraction_finds_the_templates_and_the_error_catalogue(extracted):
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    assert "Your booking is confirmed" in ids  # templates/visitors/confirmation.html
    assert "Hello %(name)s," in ids  # templates/emails/booking_confirmed.txt
    assert "This visit is full: there is no place left." in ids  # base/errors.py, N_()
    assert "Please enter a whole number, 0 or more." in ids  # web/forms.py, N_()


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_text_is_in_the_catalog_and_translated(extracted, locale):
    catalog = catalog_of(locale)
    missing = [m.id for m in extracted if m.id and m.id not in catalog]
    assert not missing, f"run `python3 dev.py translations`, then translate: {missing}"
    problems = []
    for message in extracted:
        if not message.id:
            continue
        translated = catalog[message.id]
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if translated.fuzzy:
            problems.append(("fuzzy", message.id))
        if isinstance(message.id, tuple) and len(strings(translated)) != catalog.num_plurals:
            problems.append(("plural forms", message.id))
        for text in strings(translated):
            if not text.strip():
                problems.append(("empty", message.id))
            elif placeholders(text) != placeholders(ids[-1]):
                problems.append(("placeholders", message.id, text))
    assert not problems, problems
    assert not catalog.fuzzy


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_compiled_catalogs_load_and_translate(locale, tmp_path):
    target = tmp_path / locale / "LC_MESSAGES"
    target.mkdir(parents=True)
    source = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    pybabel("compile", "-i", str(source), "-o", str(target / "messages.mo"), "-l", locale)
    loaded = Translations.load(str(tmp_path), [locale], "messages")
    assert isinstance(loaded, GNUTranslations), "fell back to no translation"
    for text, translations in KNOWN.items():
        assert loaded.gettext(text) == translations[locale]
    # What the application itself loads (the .mo that dev.py compiles, or the .po).
    for text, translations in KNOWN.items():
        with i18n.use_locale(locale):
            assert i18n.gettext(text) == translations[locale]


def test_french_plurals_follow_cldr():
    with i18n.use_locale("fr"):
        one = i18n.ngettext("%(num)d place left", "%(num)d places left", 1) % {"num": 1}
        many = i18n.ngettext("%(num)d place left", "%(num)d places left", 3) % {"num": 3}
        zero = i18n.ngettext("%(num)d place left", "%(num)d places left", 0) % {"num": 0}
    assert (one, many, zero) == ("1 place restante", "3 places restantes", "0 place restante")


def test_accept_language_is_sorted_by_quality():
    header = "da, en-GB;q=0.8, en;q=0.7, de;q=0, nl;q=0.8, fr;q=bad"
    assert i18n.accept_language_preferences(header) == ["da", "en-gb", "nl", "en"]
    assert i18n.accept_language_preferences(None) == []
    assert i18n.accept_language_preferences("*") == []


@pytest.mark.parametrize(
    ("query", "cookie", "header", "expected"),
    [
        (None, None, None, "fr"),
        ("de", "nl", "en", "de"),
        ("DE", None, None, "de"),
        ("xx", "nl", "en", "nl"),
        (None, "xx", "en-US,en;q=0.9", "en"),
        (None, None, "de-AT, de;q=0.9, en;q=0.8", "de"),
        (None, None, "it, nl-BE;q=0.5", "nl"),
        (None, None, "it, es;q=0.5", "fr"),
    ],
)
def test_negotiation_order(query, cookie, header, expected):
    assert i18n.negotiate(query, cookie, header) == expected


@pytest.mark.parametrize(
    ("locale", "money", "day", "clock"),
    [
        ("fr", "5,00\xa0€", "lundi 13 juillet", "00:30"),
        ("en", "€5.00", "Monday, July 13", "12:30\u202fAM"),
        ("de", "5,00\xa0€", "Montag, 13. Juli", "00:30"),
        ("nl", "€\xa05,00", "maandag 13 juli", "00:30"),
    ],
)
def test_formatting_is_babels_in_paris_time(locale, money, day, clock):
    # 22:30 UTC on 12 July is 00:30 on 13 July in Paris (summer time, UTC+2).
    instant = datetime(2026, 7, 12, 22, 30, tzinfo=UTC)
    with i18n.use_locale(locale):
        assert i18n.money(500) == money
        assert i18n.day(instant) == day
        assert i18n.clock_time(instant) == clock


def test_domain_errors_are_translated_with_their_parameters():
    with i18n.use_locale("de"):
        assert i18n.error_text(PartyTooLarge(maximum=12)).startswith(
            "Eine Buchung umfasst höchstens 12 Personen."
        )
    with i18n.use_locale("de"):  # one place, two places: the number chooses the words
        assert i18n.error_text(NotEnoughPlaces(remaining=1, requested=3)) == (
            "Für diesen Besuch ist nur noch 1 Platz frei; Sie haben 3 angefragt."
        )
        assert i18n.error_text(NotEnoughPlaces(remaining=2, requested=3)) == (
            "Für diesen Besuch sind nur noch 2 Plätze frei; Sie haben 3 angefragt."
        )
    assert NotEnoughPlaces(remaining=1, requested=3).text.startswith("Only 1 place left")
    with i18n.use_locale("nl"):
        assert i18n.error_text(NotEnoughPlaces(remaining=2, requested=5)) == (
            "Er zijn nog maar 2 plaatsen voor dit bezoek; u vraagt er 5."
        )


async def test_each_task_keeps_its_own_language():
    """One Jinja environment serves every request: the language is per task, never shared."""

    async def page_in(locale: str) -> list[str]:
        seen = []
        with i18n.use_locale(locale):
            for _ in range(5):
                await asyncio.sleep(0)
                seen.append(i18n.gettext("Book"))
        return seen

    results = await asyncio.gather(*(page_in(code) for code in SUPPORTED_LOCALES))
    for code, seen in zip(SUPPORTED_LOCALES, results, strict=True):
        assert seen == [KNOWN["Book"][code]] * 5
    assert i18n.current() == i18n.DEFAULT_LOCALE


def test_a_missing_compiled_catalog_is_compiled_from_the_po(tmp_path, monkeypatch):
    """A checkout where pybabel compile has not run still serves translated pages."""
    folder = tmp_path / "nl" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = LOCALE_DIR / "nl" / "LC_MESSAGES" / "messages.po"
    (folder / "messages.po").write_bytes(po.read_bytes())
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert i18n.translations("nl").gettext("Book") == "Boeken"
    finally:
        i18n.translations.cache_clear()
