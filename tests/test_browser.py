"""A visitor books a farm visit in real Chromium on a phone-sized window, against a real server
process, on each database: in German (from the browser's language), French (the language
switcher) and Dutch (``?lang=``); reads the confirmation mail from a loopback SMTP server (with
its .ics), cancels from the manage link, and sees the places come back. Another joins the
waiting list of a full visit, gets the offer mail from ``reservations tick`` when places free
up, and claims them from the link. Every touch target of the pages measures 44px at least.

Expected texts are written here from the catalogues' translations, and figures from the data the
tests create, never asked of the code under test."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import time, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from icalendar import Calendar

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.infra.mailer import SmtpTransport, deliver_due
from reservations.base.models import Activity, ActivityKind, Provider, Slot
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.planning import new_slot
from tests.factories import fetch_slot, make_slot
from tests.live_server import LiveServer, server_environment
from tests.smtp_server import SmtpServer

#: Playwright waits for each action and assertion at most this long (milliseconds).
TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}
CAPACITY = 20
ADULT_CENTS, CHILD_CENTS = 800, 400
TITLES = {
    "fr": "Visite de la chèvrerie",
    "en": "Visit of the goat farm",
    "de": "Besuch der Ziegenfarm",
    "nl": "Bezoek aan de geitenboerderij",
}
SCREENSHOT = "/tmp/browser-de.png"


@dataclass(frozen=True)
class Texts:
    """What a visitor reads in one language (from that catalogue's translations)."""

    places_left: str  # with {num}
    book: str
    confirmed_title: str
    greeting: str  # with {name}
    confirmed: str
    subject: str  # with {title}
    cancel_box: str
    cancel_button: str
    cancelled_done: str
    cancelled_notice: str
    total: str  # 2 adults + 1 child at 8 € and 4 €


GERMAN = Texts(
    places_left="Noch {num} Plätze frei",
    book="Buchen",
    confirmed_title="Ihre Buchung ist bestätigt",
    greeting="Guten Tag {name},",
    confirmed="Ihre Buchung ist bestätigt.",
    subject="Buchung bestätigt: {title}, ",
    cancel_box="Ja, ich storniere diese Buchung",
    cancel_button="Meine Buchung stornieren",
    cancelled_done="Ihre Buchung ist storniert. Ihre Plätze sind wieder frei",
    cancelled_notice="Diese Buchung ist storniert.",
    total="20,00 €",
)
FRENCH = Texts(
    places_left="{num} places restantes",
    book="Réserver",
    confirmed_title="Votre réservation est confirmée",
    greeting="Bonjour {name},",
    confirmed="Votre réservation est confirmée.",
    subject="Réservation confirmée : {title}, ",
    cancel_box="Oui, j'annule cette réservation",
    cancel_button="Annuler ma réservation",
    cancelled_done="Votre réservation est annulée. Vos places sont à nouveau libres",
    cancelled_notice="Cette réservation est annulée.",
    total="20,00 €",
)
DUTCH = Texts(
    places_left="Nog {num} plaatsen vrij",
    book="Boeken",
    confirmed_title="Uw boeking is bevestigd",
    greeting="Beste {name},",
    confirmed="Uw boeking is bevestigd.",
    subject="Boeking bevestigd: {title}, ",
    cancel_box="Ja, ik annuleer deze boeking",
    cancel_button="Mijn boeking annuleren",
    cancelled_done="Uw boeking is geannuleerd. Uw plaatsen zijn weer vrij",
    cancelled_notice="Deze boeking is geannuleerd.",
    total="€ 20,00",
)


def plain(text: str) -> str:
    """Babel writes non-breaking and narrow spaces; compare with ordinary ones."""
    return re.sub(r"[\xa0\u202f]", " ", text)


# --- what the tests run against --------------------------------------------------------------


@asynccontextmanager
async def phone(browser: Any, locale: str) -> AsyncIterator[Any]:
    """A page in a phone-sized, touch browser context whose language is ``locale``."""
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale=locale
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def goat_farm_visit(db: Database, capacity: int = CAPACITY) -> Slot:
    """A priced farm visit in three days at 10:00 (Paris), titled in the four languages."""
    async with db.writing() as session:
        provider = Provider(
            name="Chèvrerie du Mas", village="Vialas", sector="Mont Lozère", languages=["fr", "de"]
        )
        session.add(provider)
        await session.flush()
        activity = Activity(
            provider_id=provider.id,
            kind=ActivityKind.FARM_VISIT,
            name=TITLES["fr"],
            title=TITLES,
            description={"fr": "Traite des chèvres.", "de": "Melken der Ziegen."},
            accessibility={},
            default_capacity=capacity,
            price_adult_cents=ADULT_CENTS,
            price_child_cents=CHILD_CENTS,
        )
        session.add(activity)
        await session.flush()
        starts_at = clock.local_datetime(clock.today() + timedelta(days=3), time(10, 0))
        slot = new_slot(activity, starts_at, capacity=capacity, min_participants=0)
        session.add(slot)
    return slot


async def remaining_in_api(site: LiveServer, slot: Slot) -> int:
    day = slot.starts_on.isoformat()
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(site.url("/api/v1/availability"), params={"from": day})
    response.raise_for_status()
    [entry] = [entry for entry in response.json() if entry["id"] == slot.id]
    return int(entry["remaining"])


# --- the visitor's steps ---------------------------------------------------------------------


async def book_from_slot_page(page: Any, texts: Texts, lang: str, name: str, email: str) -> str:
    """Book 2 adults and 1 child on the slot page shown; the manage token of the booking."""
    await page.get_by_label(re.compile("^(Erwachsene|Adultes|Volwassenen)$")).fill("2")
    await page.get_by_label(re.compile("^(Kinder|Enfants|Kinderen)$")).fill("1")
    await page.locator("#name").fill(name)
    await page.locator("#email").fill(email)
    await page.get_by_role("button", name=texts.book, exact=True).click()
    await page.wait_for_url(re.compile(r"/manage/[^/]+/confirmation$"))
    assert await page.get_attribute("html", "lang") == lang
    heading = plain(await page.locator("h1").inner_text())
    assert heading == texts.confirmed_title
    return page.url.rsplit("/", 2)[-2]


async def deliver(db: Database, smtp: SmtpServer) -> EmailMessage:
    report = await deliver_due(db, SmtpTransport(smtp.settings()))
    assert (report.sent, report.failed) == (1, 0)
    [message] = smtp.handler.messages()
    return message


def check_email(
    message: EmailMessage, texts: Texts, lang: str, slot: Slot, to: str, name: str, manage: str
) -> str:
    """Check the confirmation mail; the manage link it gives."""
    assert message["To"].addresses[0].addr_spec == to
    assert plain(str(message["Subject"])).startswith(texts.subject.format(title=TITLES[lang]))
    text = plain(message.get_body(("plain",)).get_content())
    html = plain(message.get_body(("html",)).get_content())
    for body in (text, html):
        assert texts.greeting.format(name=name) in body
        assert texts.confirmed in body
        assert TITLES[lang] in body
        assert texts.total in body
        assert manage in body
    assert f'<html lang="{lang}">' in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    calendar = Calendar.from_ical(attachment.get_payload(decode=True))
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == slot.starts_at
    assert event.decoded("DTEND") == slot.ends_at
    assert str(event["SUMMARY"]) == TITLES[lang]
    [link] = set(re.findall(r"https?://\S+/manage/[\w-]+", text))
    return link


async def cancel_from_manage_link(page: Any, texts: Texts, manage: str) -> None:
    await page.goto(manage)
    await page.get_by_label(texts.cancel_box).check()
    await page.get_by_role("button", name=texts.cancel_button).click()
    await page.wait_for_url(re.compile(r"\?done=cancelled$"))
    assert texts.cancelled_done in plain(await page.get_by_role("status").inner_text())
    assert texts.cancelled_notice in plain(await page.locator("main").inner_text())


async def places_left_on_page(page: Any, site: LiveServer, slot: Slot) -> str:
    await page.goto(site.url(f"/visits/{slot.id}"))
    return plain(await page.locator(".facts .places").inner_text())


async def book_mail_cancel(
    page: Any, site: LiveServer, db: Database, smtp: SmtpServer, slot: Slot, texts: Texts, lang: str
) -> None:
    """From the slot page shown: book, read the mail, cancel, see the places come back."""
    name, to = "Erika Mustermann", f"erika.{lang}@example.org"
    token = await book_from_slot_page(page, texts, lang, name, to)
    assert (await fetch_slot(db, slot.id)).booked == 3
    assert await remaining_in_api(site, slot) == CAPACITY - 3
    if lang == "de":
        await page.screenshot(path=SCREENSHOT, full_page=True)

    manage = site.url(f"/manage/{token}")
    link = check_email(await deliver(db, smtp), texts, lang, slot, to, name, manage)
    assert link == manage

    await cancel_from_manage_link(page, texts, link)
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert await remaining_in_api(site, slot) == CAPACITY
    left = await places_left_on_page(page, site, slot)
    assert left == texts.places_left.format(num=CAPACITY)


# --- the tests -------------------------------------------------------------------------------


async def test_german_from_the_browser_language(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer
) -> None:
    slot = await goat_farm_visit(db)
    async with phone(browser, "de-DE") as page:
        await page.goto(site.url("/"))
        assert await page.get_attribute("html", "lang") == "de"
        link = page.locator(f'a[href="/visits/{slot.id}"]')
        assert await link.inner_text() == TITLES["de"]
        entry = page.locator("li.slot", has=link)
        assert GERMAN.places_left.format(num=CAPACITY) in plain(await entry.inner_text())
        await link.click()
        await page.wait_for_url(site.url(f"/visits/{slot.id}"))
        assert await page.locator("h1").inner_text() == TITLES["de"]
        await book_mail_cancel(page, site, db, smtp, slot, GERMAN, "de")


async def test_french_from_the_language_switcher(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer
) -> None:
    slot = await goat_farm_visit(db)
    async with phone(browser, "en-GB") as page:
        await page.goto(site.url(f"/visits/{slot.id}"))
        assert await page.get_attribute("html", "lang") == "en"
        await page.get_by_role("navigation").get_by_role("link", name="Français").click()
        # Waiting for the new page's address, not polling the DOM (null while it navigates).
        await page.wait_for_url(re.compile(r"[?&]lang=fr(&|$)"))
        assert await page.get_attribute("html", "lang") == "fr"
        await page.goto(site.url(f"/visits/{slot.id}"))  # the cookie keeps the choice
        assert await page.get_attribute("html", "lang") == "fr"
        assert await page.locator("h1").inner_text() == TITLES["fr"]
        await book_mail_cancel(page, site, db, smtp, slot, FRENCH, "fr")


async def test_dutch_from_the_lang_parameter(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer
) -> None:
    slot = await goat_farm_visit(db)
    async with phone(browser, "en-US") as page:
        await page.goto(site.url(f"/visits/{slot.id}?lang=nl"))
        assert await page.get_attribute("html", "lang") == "nl"
        assert await page.locator("h1").inner_text() == TITLES["nl"]
        await book_mail_cancel(page, site, db, smtp, slot, DUTCH, "nl")


async def test_a_party_too_large_is_shown_beside_the_field_with_the_values_kept(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer
) -> None:
    slot = await goat_farm_visit(db)
    async with phone(browser, "de-DE") as page:
        await page.goto(site.url(f"/visits/{slot.id}"))
        await page.locator("#adults").fill("12")
        await page.locator("#children").fill("4")  # 16 > 15, the most in one booking
        await page.locator("#name").fill("Große Familie")
        await page.locator("#email").fill("familie@example.org")
        await page.get_by_role("button", name="Buchen", exact=True).click()

        error = page.locator("#party-error")
        await error.wait_for()
        assert plain(await error.inner_text()) == (
            "Eine Buchung umfasst höchstens 15 Personen. Für eine größere Gruppe rufen Sie "
            "bitte das Fremdenverkehrsamt an."
        )
        party = page.locator("fieldset", has=error)
        assert await party.locator("#adults").count() == 1, "the error is in the party's fieldset"
        assert await page.locator("#adults").get_attribute("aria-invalid") == "true"
        assert "party-error" in (
            await page.locator("#adults").get_attribute("aria-describedby") or ""
        )
        assert await page.get_by_role("alert").is_visible()
        # The summary of the errors has the focus: a screen reader reads it first.
        focused = await page.evaluate("document.activeElement.getAttribute('role')")
        assert focused == "alert"
        kept = {
            field: await page.locator(f"#{field}").input_value()
            for field in ("adults", "children", "name", "email")
        }
        assert kept == {
            "adults": "12",
            "children": "4",
            "name": "Große Familie",
            "email": "familie@example.org",
        }
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert smtp.handler.envelopes == []


# --- the waiting list ------------------------------------------------------------------------

POLICY = BookingPolicy(secret_key="test", max_party_size=15)


@dataclass(frozen=True)
class WaitlistTexts:
    """What a visitor on the waiting list reads (from the catalogue's translations)."""

    full: str
    join: str
    joined: str
    joined_subject: str  # with {title}
    offer_subject: str  # with {title}
    greeting: str  # with {name}
    good_news: str
    claim: str
    confirmed_title: str
    confirmed_subject: str  # with {title}
    full_link: str


DUTCH_WAITLIST = WaitlistTexts(
    full="Dit bezoek is vol",
    join="Inschrijven op de wachtlijst",
    joined="U staat op de wachtlijst",
    joined_subject="Op de wachtlijst: {title}, ",
    offer_subject="Plaatsen vrij voor u: {title}, ",
    greeting="Beste {name},",
    good_news="Goed nieuws: er zijn plaatsen vrijgekomen voor uw groep bij dit bezoek.",
    claim="Deze plaatsen boeken",
    confirmed_title="Uw boeking is bevestigd",
    confirmed_subject="Boeking bevestigd: {title}, ",
    full_link="Vol — schrijf u in op de wachtlijst",
)


async def book_adults(db: Database, slot_id: int, adults: int, email: str) -> BookingReceipt:
    request = BookingRequest(
        slot_id=slot_id, adults=adults, children=0, name="Jean Dupont", email=email, locale="fr"
    )
    return await booking_service.book(db, request, POLICY, actor="test")


async def deliver_one_more(db: Database, smtp: SmtpServer) -> EmailMessage:
    """Send what the outbox holds (one message) and return it as the SMTP server got it."""
    before = len(smtp.handler.envelopes)
    report = await deliver_due(db, SmtpTransport(smtp.settings()))
    assert (report.sent, report.failed) == (1, 0)
    [message] = smtp.handler.messages()[before:]
    return message


def run_tick(database_url: str, site: LiveServer, smtp: SmtpServer) -> None:
    """``reservations tick`` as cron runs it: offers, then the mail, to ``smtp``."""
    extra = {**smtp.environment(), "RESERVATIONS_PUBLIC_URL": site.base_url}
    done = subprocess.run(
        [sys.executable, "-m", "reservations", "tick"],
        env=server_environment(database_url, extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def subject_of(message: EmailMessage) -> str:
    """The subject as a mail program shows it: a long one is folded onto the next line, and the
    parser keeps the space that starts it."""
    return plain(str(message["Subject"])).strip()


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = plain(message.get_body(("plain",)).get_content())
    return text, plain(message.get_body(("html",)).get_content())


async def test_a_waiting_party_gets_the_freed_places_from_the_offer_link(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer, database_url: str
) -> None:
    capacity = 6
    slot = await goat_farm_visit(db, capacity=capacity)
    await book_adults(db, slot.id, 4, "jean@example.fr")
    leaving = await book_adults(db, slot.id, 2, "marie@example.fr")
    assert await remaining_in_api(site, slot) == 0
    texts, name, to = DUTCH_WAITLIST, "Els Peeters", "els@example.be"

    async with phone(browser, "nl-BE") as page:
        await page.goto(site.url(f"/visits/{slot.id}"))
        assert await page.get_attribute("html", "lang") == "nl"
        assert await page.locator("#waitlist-title").inner_text() == texts.full
        await page.locator("#wl-adults").fill("2")
        await page.locator("#wl-children").fill("0")
        await page.locator("#wl-name").fill(name)
        await page.locator("#wl-email").fill(to)
        await page.get_by_role("button", name=texts.join).click()
        await page.wait_for_url(re.compile(r"/waitlist/[^/?]+\?done=joined$"))
        assert texts.joined in plain(await page.get_by_role("status").inner_text())

        joined = await deliver_one_more(db, smtp)
        assert joined["To"].addresses[0].addr_spec == to
        subject = subject_of(joined)
        assert subject.startswith(texts.joined_subject.format(title=TITLES["nl"]))

        # Someone cancels: 2 places free up, and the next tick offers them by mail.
        await booking_service.cancel_by_visitor(db, leaving.manage_token)
        assert await remaining_in_api(site, slot) == 2
        before = len(smtp.handler.envelopes)
        run_tick(database_url, site, smtp)
        [offer] = smtp.handler.messages()[before:]
        assert offer["To"].addresses[0].addr_spec == to
        subject = subject_of(offer)
        assert subject.startswith(texts.offer_subject.format(title=TITLES["nl"]))
        text, html = bodies(offer)
        for body in (text, html):
            assert texts.greeting.format(name=name) in body and texts.good_news in body
        [link] = set(re.findall(re.escape(site.base_url) + r"/waitlist/[\w-]+", text))
        assert link in html

        await page.goto(link)
        assert (await fetch_slot(db, slot.id)).booked == capacity - 2  # opening it books nothing
        await page.get_by_role("button", name=texts.claim).click()
        await page.wait_for_url(re.compile(r"/manage/[^/]+/confirmation$"))
        assert plain(await page.locator("h1").inner_text()) == texts.confirmed_title
        token = page.url.rsplit("/", 2)[-2]

        booking = await booking_service.find_by_token(db, token)
        assert (booking.adults, booking.children, booking.name, booking.email, booking.locale) == (
            2,
            0,
            name,
            to,
            "nl",
        )
        assert (await fetch_slot(db, slot.id)).booked == capacity
        assert await remaining_in_api(site, slot) == 0
        assert await places_left_on_page(page, site, slot) == texts.full_link

    confirmation = await deliver_one_more(db, smtp)
    assert confirmation["To"].addresses[0].addr_spec == to
    subject = subject_of(confirmation)
    assert subject.startswith(texts.confirmed_subject.format(title=TITLES["nl"]))
    assert all(site.url(f"/manage/{token}") in body for body in bodies(confirmation))


# --- touch targets ---------------------------------------------------------------------------

TARGET_MIN = 44
#: The size of each thing a finger can tap, measured by asking the browser what is under each
#: pixel of a vertical and a horizontal line through it (a link's target may be larger than its
#: text; a control's label is part of its target).
SMALL_TARGETS_JS = """
(minimum) => {
  const reach = minimum + 40;
  const small = [];
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  for (const el of document.querySelectorAll(selector)) {
    const parts = [el, ...(el.labels ? [...el.labels] : [])];
    const hits = (x, y) => {
      const under = document.elementFromPoint(x, y);
      return under !== null && parts.some((part) => part.contains(under));
    };
    let height = 0, width = 0;
    for (const part of parts) {
      part.scrollIntoView({block: 'center', inline: 'nearest'});
      const r = part.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || r.right <= 0 || r.bottom <= 0) continue;
      const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
      let h = 0, w = 0;
      for (let d = -reach; d <= reach; d++) {
        if (hits(cx, cy + d)) h++;
        if (hits(cx + d, cy)) w++;
      }
      height = Math.max(height, h);
      width = Math.max(width, w);
    }
    // Not shown (in a closed <details>), or off-screen (the skip link, until focused).
    const hidden = !el.checkVisibility({visibilityProperty: true})
      || el.getBoundingClientRect().right <= 0;
    if (!hidden && (height < minimum || width < minimum)) {
      const text = (el.innerText || el.value || el.name || '').trim().slice(0, 40);
      small.push(`${el.tagName.toLowerCase()} "${text}": ${width}x${height}`);
    }
  }
  return small;
}
"""


async def small_targets(page: Any) -> list[str]:
    return list(await page.evaluate(SMALL_TARGETS_JS, TARGET_MIN))


async def test_every_touch_target_is_44px_at_least(
    browser: Any, site: LiveServer, db: Database
) -> None:
    slot = await goat_farm_visit(db, capacity=8)
    booked = await book_adults(db, slot.id, 2, "jean@example.fr")
    full = await make_slot(db, capacity=2, starts_at=slot.starts_at + timedelta(hours=4))
    await book_adults(db, full.id, 2, "marie@example.fr")
    token = booked.manage_token
    pages = [
        "/",
        "/?kind=farm_visit",  # the filters open
        f"/visits/{slot.id}",
        f"/visits/{full.id}",
        f"/manage/{token}/confirmation",
        f"/manage/{token}",
        "/kiosk",
        "/embed",
        "/no/such/page",
    ]
    found = {}
    async with phone(browser, "en-GB") as page:
        for path in pages:
            await page.goto(site.url(path))
            found[path] = await small_targets(page)

        # A refused form: its error summary (links to the fields) and the waiting-list form.
        await page.goto(site.url(f"/visits/{slot.id}"))
        await page.locator("#adults").fill("9")
        await page.locator("#name").fill("Anne Martin")
        await page.locator("#email").fill("anne@example.org")
        await page.get_by_role("button", name="Book", exact=True).click()
        await page.locator("#party-error").wait_for()
        found["refused booking"] = await small_targets(page)

        # The skip link: the first thing the keyboard reaches, shown in full when it is.
        await page.goto(site.url("/"))
        await page.keyboard.press("Tab")
        skip = await page.evaluate(
            "(() => { const r = document.activeElement.getBoundingClientRect();"
            " return [document.activeElement.getAttribute('href'), r.left, r.height]; })()"
        )
    assert {path: small for path, small in found.items() if small} == {}
    href, left, height = skip
    assert href == "#main" and left >= 0 and height >= TARGET_MIN
