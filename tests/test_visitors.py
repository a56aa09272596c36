"""The visitors' site end to end in-process (Litestar's test client), on each database: every page
in each language, booking through the form with its CSRF token, the confirmation email in the
outbox, the manage link (calendar, party size, cancel), friendly error pages."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta

import icalendar
import pytest
from babel.dates import format_date
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import (
    Activity,
    ActivityKind,
    Booking,
    BookingStatus,
    Channel,
    OutboxMessage,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.reads import catalogue
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.seeding.demo import load_demo
from reservations.settings import Settings
from reservations.visitors.programme import PAGE_VISITS
from tests.factories import fetch_slot, make_activity, make_slot
from tests.outbox_support import as_sent

PUBLIC_URL = "http://visites.example"
MAX_PARTY = 10
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
LOCALES = ("fr", "en", "de", "nl")


def site_settings(db, **changes: object) -> Settings:  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "database_url": db.url,
        "secret_key": "test",
        "max_party_size": MAX_PARTY,
        "booking_rate_limit": 0,
        "public_url": PUBLIC_URL,
    }
    return Settings(**{**options, **changes})  # type: ignore[arg-type]


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """The page as a person reads it: entities decoded, Babel's narrow spaces made plain."""
    return html.unescape(response.text).replace("\u202f", " ").replace("\xa0", " ")


def html_lang(response) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'<html lang="([a-z]+)">', response.text)
    assert found, response.text[:300]
    return found.group(1)


def upcoming(days: int = 3, at: time = time(10, 0)) -> datetime:
    return clock.local_datetime(clock.today() + timedelta(days=days), at)


async def form_token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def post_booking(client, slot_id: int, lang: str = "fr", **fields: str):  # type: ignore[no-untyped-def]
    token = await form_token(client, f"/visits/{slot_id}?lang={lang}")
    data = {
        "adults": "2",
        "children": "1",
        "name": "Anne Martin",
        "email": "anne@example.org",
        "phone": "",
        **fields,
        "_csrf_token": token,
    }
    return await client.post(f"/visits/{slot_id}", data=data, follow_redirects=False)


def manage_token_of(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, text_of(response)
    found = re.fullmatch(r"/manage/([^/]+)/confirmation", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


async def book_directly(db, slot_id: int, *, locale: str = "fr", now=None):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=2,
        children=1,
        name="Jan de Vries",
        email="jan@example.nl",
        locale=locale,
    )
    policy = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)
    return await booking_service.book(db, request, policy, actor="test", now=now)


async def set_activity(db, activity_id: int, **values: object) -> None:  # type: ignore[no-untyped-def]
    async with db.writing() as session:
        await session.execute(update(Activity).where(Activity.id == activity_id).values(**values))


async def titles(db, activity_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        activity = await session.get(Activity, activity_id)
    assert activity is not None
    return activity.title


async def only_booking(db) -> Booking:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        (booking,) = (await session.scalars(select(Booking))).all()
    return booking


async def outbox(db) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


# A text of each page in each language, as the catalogs translate it.
PAGE_TEXTS = {
    "fr": {
        "programme": "Visites de ferme et animations",
        "visit": "Votre nom",
        "confirmation": "Votre réservation est confirmée",
        "manage": "Modifier le nombre de personnes",
        "not_found": "Page introuvable",
        "unknown_booking": "Réservation inconnue",
    },
    "en": {
        "programme": "Farm visits and activities",
        "visit": "Your name",
        "confirmation": "Your booking is confirmed",
        "manage": "Change the number of people",
        "not_found": "Page not found",
        "unknown_booking": "Unknown booking",
    },
    "de": {
        "programme": "Hofbesuche und Aktivitäten",
        "visit": "Ihr Name",
        "confirmation": "Ihre Buchung ist bestätigt",
        "manage": "Personenzahl ändern",
        "not_found": "Seite nicht gefunden",
        "unknown_booking": "Unbekannte Buchung",
    },
    "nl": {
        "programme": "Boerderijbezoeken en activiteiten",
        "visit": "Uw naam",
        "confirmation": "Uw boeking is bevestigd",
        "manage": "Het aantal personen wijzigen",
        "not_found": "Pagina niet gevonden",
        "unknown_booking": "Onbekende boeking",
    },
}


@pytest.mark.parametrize("lang", LOCALES)
async def test_every_page_renders_in_each_language(client, db, lang):
    slot = await make_slot(db, capacity=8, min_participants=3, starts_at=upcoming())
    receipt = await book_directly(db, slot.id)
    token = receipt.manage_token
    pages = {
        "programme": ("/", 200),
        "visit": (f"/visits/{slot.id}", 200),
        "confirmation": (f"/manage/{token}/confirmation", 200),
        "manage": (f"/manage/{token}", 200),
        "not_found": ("/no/such/page", 404),
        "unknown_booking": ("/manage/not-a-token", 404),
    }
    for page, (path, status) in pages.items():
        response = await client.get(f"{path}?lang={lang}")
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert html_lang(response) == lang, path
        assert PAGE_TEXTS[lang][page] in text_of(response), (lang, page)
        # The switcher offers every language, from every page.
        for code in LOCALES:
            assert f'hreflang="{code}"' in response.text
    # The start time in the visitor's language (Europe/Paris wall clock).
    visit = text_of(await client.get(f"/visits/{slot.id}?lang={lang}"))
    assert ("10:00 AM" if lang == "en" else "10:00") in visit


async def test_booking_through_the_form_in_german(client, db):
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    answer = await post_booking(client, slot.id, "de", name="Lena Vogel", email="lena@example.de")
    token = manage_token_of(answer)

    confirmation = await client.get(answer.headers["location"])
    assert confirmation.status_code == 200 and html_lang(confirmation) == "de"
    booking = await only_booking(db)
    assert (booking.adults, booking.children, booking.locale) == (2, 1, "de")
    assert booking.channel == Channel.WEB and booking.status == BookingStatus.CONFIRMED
    page = text_of(confirmation)
    assert booking.reference in page and f"{PUBLIC_URL}/manage/{token}" in page
    assert "2 Erwachsene" in page and "1 Kind" in page
    assert (await fetch_slot(db, slot.id)).booked == 3

    (message,) = await outbox(db)
    assert message.dedup_key == f"booking-confirmed:{booking.id}"
    assert message.to_address == "lena@example.de"
    day = format_date(clock.local_date(slot.starts_at), "EEEE, d. MMMM", locale="de")
    title = (await titles(db, slot.activity_id))["fr"]  # no German title: the French one
    assert message.subject == f"Buchung bestätigt: {title}, {day}"
    manage_link = f"{PUBLIC_URL}/manage/{token}"
    assert token not in message.text_body + (message.html_body or "")  # sealed at rest
    sent = as_sent(message)
    assert manage_link in sent.text and manage_link in sent.html
    assert "Guten Tag Lena Vogel," in message.text_body
    assert "2 Erwachsene, 1 Kind" in message.text_body
    assert token not in message.attachments[0]["content"].replace("\r\n ", "")  # sealed too
    (attachment,) = sent.attachments  # the calendar file as sent, its folded lines intact
    assert attachment["content_type"].startswith("text/calendar")
    (event,) = icalendar.Calendar.from_ical(attachment["content"]).walk("VEVENT")
    assert str(event["UID"]) == f"booking-{booking.reference}@reservations"
    assert event.decoded("DTSTART") == slot.starts_at
    assert manage_link in str(event["DESCRIPTION"]) and str(event["STATUS"]) == "CONFIRMED"


async def test_booking_in_french_and_dutch_mails_in_that_language(client, db):
    slot = await make_slot(db, capacity=10, starts_at=upcoming())
    for lang, email in (("fr", "anne@example.org"), ("nl", "jan@example.nl")):
        manage_token_of(await post_booking(client, slot.id, lang, email=email))
    subjects = {m.to_address: m.subject for m in await outbox(db)}
    assert subjects["anne@example.org"].startswith("Réservation confirmée\xa0: ")
    assert subjects["jan@example.nl"].startswith("Boeking bevestigd: ")
    async with db.reading() as session:
        locales = dict((await session.execute(select(Booking.email, Booking.locale))).all())
    assert locales == {"anne@example.org": "fr", "jan@example.nl": "nl"}


async def test_a_post_without_csrf_token_is_refused(client, db):
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    fields = {"adults": "1", "children": "0", "name": "Anne Martin", "email": "anne@example.org"}
    no_cookie = await client.post(f"/visits/{slot.id}", data=fields)
    await form_token(client, f"/visits/{slot.id}")  # now the client holds the CSRF cookie
    no_field = await client.post(f"/visits/{slot.id}", data=fields)
    forged = await client.post(f"/visits/{slot.id}", data={**fields, "_csrf_token": "0" * 128})
    for refused in (no_cookie, no_field, forged):
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "Ce formulaire a expiré" in text_of(refused)
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert await outbox(db) == []


async def test_a_bad_form_keeps_the_values_and_says_what_is_wrong(client, db):
    slot = await make_slot(db, capacity=8, starts_at=upcoming())
    typed = '<b>Anne</b> "Martin"'
    answer = await post_booking(client, slot.id, "fr", adults="deux", name=typed, email="")
    assert answer.status_code == 422
    page = text_of(answer)
    assert "Saisissez un nombre entier, 0 ou plus." in page
    assert "Indiquez votre adresse e-mail" in page
    # What was typed is shown again, escaped.
    assert 'value="&lt;b&gt;Anne&lt;/b&gt; &#34;Martin&#34;"' in answer.text
    assert "<b>Anne</b>" not in answer.text
    assert 'value="deux"' in answer.text

    too_many = await post_booking(client, slot.id, "en", adults=str(MAX_PARTY + 1), children="0")
    assert too_many.status_code == 422
    assert f"One booking can hold at most {MAX_PARTY} people." in text_of(too_many)
    assert f'value="{MAX_PARTY + 1}"' in too_many.text and 'value="Anne Martin"' in too_many.text

    wrong_email = await post_booking(client, slot.id, "de", email="anne(at)example.org")
    assert wrong_email.status_code == 422
    assert "„anne(at)example.org“ sieht nicht wie eine E-Mail-Adresse aus." in text_of(wrong_email)
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_more_people_than_places_left_is_a_422_naming_what_is_left(client, db):
    slot = await make_slot(db, capacity=4, starts_at=upcoming())
    await book_directly(db, slot.id)  # 3 of 4 taken
    answer = await post_booking(client, slot.id, "nl", adults="2", children="0")
    assert answer.status_code == 422
    page = text_of(answer)
    assert "Er is nog maar 1 plaats voor dit bezoek; u vraagt er 2." in page
    assert "Traceback" not in page
    assert (await fetch_slot(db, slot.id)).booked == 3


async def test_a_slot_that_filled_up_meanwhile_says_so(client, db):
    slot = await make_slot(db, capacity=3, starts_at=upcoming())
    token = await form_token(client, f"/visits/{slot.id}?lang=nl")
    await book_directly(db, slot.id)  # someone else takes the last 3 places
    fields = {"adults": "1", "name": "Anne Martin", "email": "anne@example.org"}
    answer = await client.post(f"/visits/{slot.id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 422
    page = text_of(answer)
    assert "Dit bezoek is vol: er is geen plaats meer." in page
    assert "Dit bezoek is vol" in page and 'action="/visits/' not in answer.text  # no form


async def test_a_booking_stays_manageable_when_its_activity_is_archived(client, db):
    slot = await make_slot(db, capacity=3, starts_at=upcoming())
    receipt = await book_directly(db, slot.id)
    await set_activity(db, slot.activity_id, archived_at=clock.now())
    assert (await client.get(f"/visits/{slot.id}")).status_code == 404
    manage = await client.get(f"/manage/{receipt.manage_token}")
    assert manage.status_code == 200 and receipt.booking.reference in manage.text


async def test_booking_closed_says_when_in_the_visitors_language(client, db):
    slot = await make_slot(db, capacity=4, starts_at=upcoming(days=3))
    token = await form_token(client, f"/visits/{slot.id}?lang=en")
    cutoff = clock.now() - timedelta(minutes=1)  # closed after the page was shown
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == slot.id).values(booking_cutoff_at=cutoff)
        )
    fields = {"adults": "1", "name": "Anne Martin", "email": "anne@example.org"}
    answer = await client.post(f"/visits/{slot.id}", data={**fields, "_csrf_token": token})
    assert answer.status_code == 422
    local = cutoff.astimezone(clock.OFFICE_TZ)
    expected_day = format_date(local.date(), "full", locale="en")
    assert f"Bookings for this visit closed at {expected_day}" in text_of(answer)


async def test_manage_link_changes_the_party_then_cancels_and_the_places_return(client, db):
    slot = await make_slot(db, capacity=6, starts_at=upcoming())
    token = manage_token_of(await post_booking(client, slot.id, "fr"))  # 2 adults, 1 child
    csrf = await form_token(client, f"/manage/{token}")

    grown = await client.post(
        f"/manage/{token}",
        data={"action": "party", "adults": "3", "children": "2", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert grown.status_code == 303 and grown.headers["location"] == f"/manage/{token}?done=changed"
    assert (await fetch_slot(db, slot.id)).booked == 5
    assert "Votre réservation compte maintenant 5 personnes." in text_of(
        await client.get(grown.headers["location"])
    )

    too_big = await client.post(
        f"/manage/{token}",
        data={"action": "party", "adults": "5", "children": "2", "_csrf_token": csrf},
    )
    assert too_big.status_code == 409
    assert (
        "Il ne reste que 1 place de plus pour cette visite : votre réservation peut compter "
        "au plus 6 personnes." in text_of(too_big)
    )
    assert 'value="5"' in too_big.text  # the values typed are kept
    assert (await fetch_slot(db, slot.id)).booked == 5

    unticked = await client.post(f"/manage/{token}", data={"action": "cancel", "_csrf_token": csrf})
    assert unticked.status_code == 422
    assert "Cochez la case pour confirmer que vous voulez annuler." in text_of(unticked)
    assert (await fetch_slot(db, slot.id)).booked == 5

    cancelled = await client.post(
        f"/manage/{token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert cancelled.headers["location"] == f"/manage/{token}?done=cancelled"
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert (await only_booking(db)).status == BookingStatus.CANCELLED
    after = text_of(await client.get(cancelled.headers["location"]))
    assert "Votre réservation est annulée." in after and "Cette réservation est annulée." in after

    again = await client.post(
        f"/manage/{token}", data={"action": "cancel", "confirm": "yes", "_csrf_token": csrf}
    )
    assert again.status_code == 409
    assert "Cette réservation est déjà annulée." in text_of(again)


async def test_calendar_file_of_a_booking_follows_its_status(client, db):
    slot = await make_slot(db, capacity=6, starts_at=upcoming())
    receipt = await book_directly(db, slot.id, locale="en")
    answer = await client.get(f"/manage/{receipt.manage_token}/calendar.ics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.headers["cache-control"] == "no-store"
    (event,) = icalendar.Calendar.from_ical(answer.content).walk("VEVENT")
    assert event.decoded("DTSTART") == slot.starts_at and event.decoded("DTEND") == slot.ends_at
    assert str(event["STATUS"]) == "CONFIRMED"
    first_sequence = int(event["SEQUENCE"])

    await booking_service.cancel_by_visitor(db, receipt.manage_token)
    answer = await client.get(f"/manage/{receipt.manage_token}/calendar.ics")
    (event,) = icalendar.Calendar.from_ical(answer.content).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) > first_sequence


async def test_after_the_cutoff_the_manage_page_says_whom_to_call(client, db):
    slot = await make_slot(db, capacity=6, starts_at=upcoming(days=0, at=time(23, 59)))
    async with db.writing() as session:
        await session.execute(
            update(Slot)
            .where(Slot.id == slot.id)
            .values(
                starts_at=clock.now() + timedelta(hours=1),
                ends_at=clock.now() + timedelta(hours=2),
                booking_cutoff_at=clock.now() - timedelta(hours=1),
            )
        )
        provider_id = await session.scalar(
            select(Activity.provider_id).where(Activity.id == slot.activity_id)
        )
        await session.execute(
            update(Provider).where(Provider.id == provider_id).values(phone="+33 4 66 00 00 07")
        )
    receipt = await book_directly(db, slot.id, now=clock.now() - timedelta(hours=3))
    token = receipt.manage_token
    page = await client.get(f"/manage/{token}?lang=de")
    text = text_of(page)
    assert "Zu spät für eine Online-Änderung" in text
    assert "+33 4 66 00 00 07" in text and "Fremdenverkehrsamt" in text
    assert 'name="action"' not in page.text  # no forms any more

    # A page still open from before the cut-off posts anyway (the cookie holds a valid token).
    csrf = client.cookies["csrftoken"]
    late = await client.post(
        f"/manage/{token}", data={"action": "cancel", "confirm": "yes", "_csrf_token": csrf}
    )
    assert late.status_code == 409
    assert "Die Online-Stornierung war bis" in text_of(late)
    assert (await only_booking(db)).status == BookingStatus.CONFIRMED


async def test_programme_lists_places_and_prices_and_filters(client, db):
    soon = upcoming(days=2)
    family = await make_slot(db, capacity=5, starts_at=soon, sector="Mont Lozère")
    await set_activity(db, family.activity_id, price_adult_cents=500, price_child_cents=300)
    await book_directly(db, family.id)  # 3 of 5: 2 left
    evening = await make_slot(
        db,
        capacity=3,
        starts_at=soon + timedelta(hours=8),
        sector="Vallée Française",
        kind=ActivityKind.ANIMATION,
    )
    await set_activity(db, evening.activity_id, min_age=6)
    await book_directly(db, evening.id)  # full
    later = await make_slot(db, capacity=5, starts_at=upcoming(days=40))

    family_title = (await titles(db, family.activity_id))["en"]
    evening_title = (await titles(db, evening.activity_id))["en"]
    later_title = (await titles(db, later.activity_id))["en"]
    page = text_of(await client.get("/?lang=en"))
    assert family_title in page and evening_title in page
    assert "2 places left" in page and "Full — join the waiting list" in page
    assert "Adults €5.00, children €3.00" in page and "Free" in page
    assert "From 6 years old" in page
    assert later_title not in page  # beyond the default 30 days
    far = (clock.today() + timedelta(days=45)).isoformat()
    assert later_title in text_of(await client.get(f"/?lang=en&to={far}"))

    async def listed(query: str) -> set[int]:
        text = (await client.get(f"/?{query}")).text
        return {int(n) for n in re.findall(r'href="/visits/(\d+)"', text)}

    assert await listed("sector=Vallée Française") == {evening.id}
    assert await listed("kind=farm_visit") == {family.id}
    async with db.reading() as session:
        provider_id = await session.scalar(
            select(Activity.provider_id).where(Activity.id == family.activity_id)
        )
    assert await listed(f"provider={provider_id}") == {family.id}
    assert await listed("age=4") == {family.id}
    assert await listed("age=6") == {family.id, evening.id}
    assert await listed("from=not-a-date&kind=nonsense&age=-1") == {family.id, evening.id}


async def test_programme_with_the_demo_is_under_100_kb(client, db):
    await load_demo(db)
    last = (clock.today() + timedelta(days=60)).isoformat()
    answer = await client.get(f"/?to={last}")
    assert answer.status_code == 200
    entries = len(re.findall(r'<li class="slot', answer.text))
    async with db.reading() as session:
        listed = select(Slot.id).where(
            Slot.starts_at > clock.now(), Slot.status != SlotStatus.CANCELLED
        )
        upcoming_slots = len((await session.scalars(listed)).all())
    assert entries == upcoming_slots > 40  # the visit called off for the weather is not listed
    assert len(answer.content) < 100_000


async def test_a_busy_programme_is_cut_in_pages_of_whole_days(client, db):
    """7 visits a day for 30 days: each page lists at most ``PAGE_VISITS`` visits in whole days
    (14 days, 98 visits), and "Later dates" goes on from the next day to the same end."""
    activity = await make_activity(db)
    for number in range(7 * 30):
        day = clock.today() + timedelta(days=1 + number // 7)
        starts_at = clock.local_datetime(day, time(9 + number % 7))
        await make_slot(db, activity=activity, starts_at=starts_at)
    address: str | None = f"/?to={(clock.today() + timedelta(days=30)).isoformat()}"
    pages = []
    while address:
        answer = await client.get(address)
        assert answer.status_code == 200
        pages.append(len(re.findall(r'<li class="slot', answer.text)))
        later = re.search(r'<a href="([^"]+)" rel="next">Dates suivantes', answer.text)
        address = html.unescape(later.group(1)) if later else None
        if address:
            following = clock.today() + timedelta(days=1 + sum(pages) // 7)
            assert f"from={following.isoformat()}" in address
    assert pages == [98, 98, 14] and PAGE_VISITS // 7 * 7 == 98


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", "fr"),
        ({"accept-language": "en-GB,en;q=0.9"}, "", "en"),
        ({"accept-language": "de-CH;q=0.5, nl;q=0.9, en;q=0.1"}, "", "nl"),
        ({"accept-language": "es, it;q=0.8, de;q=0.2"}, "", "de"),
        ({"accept-language": "es, it;q=0.8"}, "", "fr"),
        ({"accept-language": "nl, de;q=0"}, "", "nl"),
        ({"accept-language": "de"}, "?lang=en", "en"),
        ({"accept-language": "de"}, "?lang=xx", "de"),
    ],
)
async def test_language_is_negotiated(client, headers, query, expected):
    answer = await client.get(f"/{query}", headers=headers)
    assert html_lang(answer) == expected


async def test_a_chosen_language_is_remembered_in_a_cookie(client):
    chosen = await client.get("/?lang=nl", headers={"accept-language": "de"})
    assert html_lang(chosen) == "nl"
    assert "lang=nl" in chosen.headers["set-cookie"]
    # Later pages, without ?lang=: the cookie wins over the browser's preferences.
    later = await client.get("/visits/12345", headers={"accept-language": "de"})
    assert later.status_code == 404 and html_lang(later) == "nl"
    assert html_lang(await client.get("/", headers={"accept-language": "de"})) == "nl"


async def test_an_unexpected_failure_is_a_friendly_500_page(client, db, monkeypatch):
    slot = await make_slot(db, capacity=4, starts_at=upcoming())

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(catalogue, "slot_detail", broken)
    answer = await client.get(f"/visits/{slot.id}?lang=de")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert html_lang(answer) == "de" and "Etwas ist schiefgelaufen" in text_of(answer)
    assert "database on fire" not in answer.text and "Traceback" not in answer.text


async def test_the_api_keeps_its_problem_details_and_needs_no_csrf(client, db):
    slot = await make_slot(db, capacity=4, starts_at=upcoming())
    missing = await client.get("/api/v1/bookings/not-a-token")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    booked = await client.post(
        "/api/v1/bookings",
        json={"slot_id": slot.id, "adults": 1, "name": "Anne", "email": "anne@example.org"},
    )
    assert booked.status_code == 201, booked.text


async def test_booking_posts_are_rate_limited_with_a_page_in_the_visitors_language(db):
    slot = await make_slot(db, capacity=20, starts_at=upcoming())
    app = create_app(site_settings(db, booking_rate_limit=2), database=db)
    async with AsyncTestClient(app=app) as limited:
        answers = [
            await post_booking(limited, slot.id, "nl", adults="1", children="0") for _ in range(3)
        ]
    assert [a.status_code for a in answers] == [303, 303, 429]
    assert "Te veel pogingen" in text_of(answers[2]) and html_lang(answers[2]) == "nl"
    assert (await fetch_slot(db, slot.id)).booked == 2


async def test_the_email_escapes_what_visitors_type(client, db):
    slot = await make_slot(db, capacity=4, starts_at=upcoming())
    manage_token_of(await post_booking(client, slot.id, "en", name="<i>Anne</i> & co"))
    (message,) = await outbox(db)
    assert "Hello <i>Anne</i> & co," in message.text_body  # plain text stays as typed
    assert "&lt;i&gt;Anne&lt;/i&gt; &amp; co" in (message.html_body or "")
    assert "<i>Anne</i>" not in (message.html_body or "")
