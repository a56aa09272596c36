"""The pages for partners and terminals, on each database: ``/embed`` (an iframe list filtered by
provider, sector or kind, framable by the office's origins, small) and ``/kiosk`` (today's and
tomorrow's visits with places left and a QR code of each booking page); and the availability
JSON's CORS for the office's origins."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta

import pytest
import segno
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import Activity, ActivityKind, Slot, SlotStatus
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.settings import Settings
from tests.factories import make_activity, make_slot

PUBLIC_URL = "http://visites.example"
OFFICE = "https://www.example-office.fr"
VISIT_LINK = re.compile(r'<a\b[^>]*href="/visits/(\d+)[^"]*"[^>]*>')


def site_settings(db, **changes: object) -> Settings:  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "database_url": db.url,
        "secret_key": "test",
        "booking_rate_limit": 0,
        "public_url": PUBLIC_URL,
    }
    return Settings(**{**options, **changes})  # type: ignore[arg-type]


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


def local(days: int, at: time = time(10, 0), today: date | None = None) -> datetime:
    return clock.local_datetime((today or clock.today()) + timedelta(days=days), at)


def linked_slots(page: str) -> list[int]:
    return [int(found.group(1)) for found in VISIT_LINK.finditer(page)]


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text).replace("\u202f", " ").replace("\xa0", " ")


# --- /embed ----------------------------------------------------------------------------------


async def test_embed_filters_by_provider_and_sector(db, client) -> None:
    lozere = await make_slot(db, starts_at=local(2), provider_name="Mas de Grizac")
    vallee = await make_slot(db, starts_at=local(3), sector="Vallée Française")

    provider_id = await provider_of(db, lozere.activity_id)

    everything = await client.get("/embed", params={"lang": "en"})
    by_provider = await client.get("/embed", params={"provider": str(provider_id)})
    by_name = await client.get("/embed", params={"provider": "Mas de Grizac"})
    by_sector = await client.get("/embed", params={"sector": "Vallée Française"})
    assert everything.status_code == 200
    assert linked_slots(everything.text) == [lozere.id, vallee.id]
    assert linked_slots(by_provider.text) == [lozere.id]
    assert linked_slots(by_name.text) == [lozere.id]
    assert linked_slots(by_sector.text) == [vallee.id]


async def provider_of(db, activity_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        activity = await session.get(Activity, activity_id)
    assert activity is not None
    return activity.provider_id


async def test_embed_filters_by_kind(db, client) -> None:
    visit = await make_slot(db, starts_at=local(2))
    animation = await make_slot(db, starts_at=local(2, time(15)), kind=ActivityKind.ANIMATION)

    response = await client.get("/embed", params={"kind": "animation"})

    assert linked_slots(response.text) == [animation.id]
    assert visit.id not in linked_slots(response.text)


async def test_embed_links_open_the_booking_page_outside_the_frame(db, client) -> None:
    slot = await make_slot(db, starts_at=local(2), capacity=12)

    response = await client.get("/embed", params={"lang": "de"})

    links = VISIT_LINK.findall(response.text)
    assert links == [str(slot.id)]
    anchors = re.findall(r"<a\b[^>]*>", response.text)
    assert anchors and all('target="_top"' in anchor for anchor in anchors)
    assert f'href="/visits/{slot.id}?lang=de"' in response.text
    assert "<script" not in response.text.lower()


async def test_embed_shows_places_left_full_and_price(db, client) -> None:
    open_slot = await make_slot(db, starts_at=local(2), capacity=12)
    full_slot = await make_slot(db, starts_at=local(3), capacity=3)
    await book(db, full_slot.id, adults=2, children=1, now=clock.now())
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == open_slot.activity_id)
            .values(price_adult_cents=1250, price_child_cents=600)
        )

    text = text_of(await client.get("/embed", params={"lang": "en"}))

    assert linked_slots(text) == [open_slot.id, full_slot.id]
    assert "12 places left" in text
    assert "Adults €12.50, children €6.00" in text
    assert "Full" in text
    assert "places left" not in text.split(f"/visits/{full_slot.id}")[1]


async def test_unknown_provider_or_sector_gives_an_empty_list(db, client) -> None:
    await make_slot(db, starts_at=local(2))

    for params in ({"provider": "999999"}, {"provider": "Nobody"}, {"sector": "Atlantis"}):
        response = await client.get("/embed", params={**params, "lang": "en"})
        assert response.status_code == 200, params
        assert linked_slots(response.text) == [], params
        assert "No visits are planned here" in text_of(response), params


async def test_embed_period_defaults_to_a_month_and_is_bounded(db, client) -> None:
    activity = await make_activity(db)
    in_month = await make_slot(db, activity=activity, starts_at=local(20))
    in_six_weeks = await make_slot(db, activity=activity, starts_at=local(40))
    in_four_months = await make_slot(db, activity=activity, starts_at=local(120))

    default = linked_slots((await client.get("/embed")).text)
    longer = linked_slots((await client.get("/embed", params={"days": "45"})).text)
    too_long = linked_slots((await client.get("/embed", params={"days": "400"})).text)
    unreadable = linked_slots((await client.get("/embed", params={"days": "soon"})).text)

    assert default == unreadable == [in_month.id]
    assert longer == [in_month.id, in_six_weeks.id]
    assert too_long == [in_month.id, in_six_weeks.id]
    assert in_four_months.id not in too_long


async def test_embed_lists_only_slots_to_come(db, client, fixed_now) -> None:
    today = clock.local_date(fixed_now)
    started = await make_slot(db, starts_at=local(0, time(7, 30), today))
    to_come = await make_slot(db, starts_at=local(0, time(14, 0), today))
    cancelled = await make_slot(db, starts_at=local(1, time(10, 0), today))
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == cancelled.id).values(status=SlotStatus.CANCELLED)
        )

    response = await client.get("/embed", params={"lang": "en"})

    # A cancelled slot has left the programme, as it leaves the visitors' site.
    assert linked_slots(response.text) == [to_come.id]
    assert started.id not in linked_slots(response.text)


def directive(response, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The sources of one directive of the response's Content-Security-Policy."""
    policy = response.headers["content-security-policy"]
    [found] = [d.split()[1:] for d in policy.split(";") if d.split()[:1] == [name]]
    return found


async def test_embed_is_framable_by_anyone_without_configured_origins(client) -> None:
    response = await client.get("/embed")

    assert directive(response, "frame-ancestors") == ["*"]
    assert "x-frame-options" not in response.headers


async def test_embed_is_framable_by_the_offices_origins(db) -> None:
    settings = site_settings(db, cors_origins=(OFFICE, "https://lodging.example"))
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        response = await client.get("/embed")

    sources = directive(response, "frame-ancestors")
    assert set(sources) == {"'self'", OFFICE, "https://lodging.example"}
    assert "x-frame-options" not in response.headers


async def test_a_month_of_slots_weighs_under_20_kb(db, client) -> None:
    """A busy month: two visits a day (the demo has about 45 a month)."""
    activity = await make_activity(db)
    for day in range(1, 30):
        for at in (time(10, 0), time(14, 30)):
            await make_slot(db, activity=activity, starts_at=local(day, at))

    for lang in ("fr", "en", "de", "nl"):
        response = await client.get("/embed", params={"lang": lang})
        assert len(linked_slots(response.text)) == 58
        assert len(response.content) < 20_000, (lang, len(response.content))


# --- /kiosk ----------------------------------------------------------------------------------


async def book(  # type: ignore[no-untyped-def]
    db, slot_id: int, *, adults: int, children: int, now: datetime
):
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name="Jan de Vries",
        email="jan@example.nl",
        locale="nl",
    )
    policy = BookingPolicy(secret_key="test", max_party_size=15)
    return await booking_service.book(db, request, policy, actor="test", now=now)


def qr_path(svg: str) -> str:
    """The modules of a segno SVG (its dark path), independent of scale, colours and title."""
    found = re.search(r'<path class="qrline"[^>]*\sd="([^"]+)"', svg)
    assert found, svg[:300]
    return found.group(1)


def kiosk_cards(page: str) -> dict[int, str]:
    """Each slot's card on the kiosk, by slot id."""
    cards = re.findall(r'<li class="slot" data-slot="(\d+)">(.*?)</li>', page, re.S)
    return {int(slot_id): card for slot_id, card in cards}


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The kiosk's clock stopped at 08:00 (Paris) on a day a week ahead, so that "today" has a
    morning left whatever the hour the tests run."""
    now = clock.local_datetime(clock.today() + timedelta(days=7), time(8, 0))
    monkeypatch.setattr(clock, "now", lambda: now)
    return now


async def test_kiosk_shows_today_and_tomorrow_with_places_left(db, client, fixed_now) -> None:
    today = clock.local_date(fixed_now)
    started = await make_slot(db, starts_at=local(0, time(7, 30), today))
    this_afternoon = await make_slot(db, starts_at=local(0, time(14, 0), today), capacity=12)
    tomorrow = await make_slot(db, starts_at=local(1, time(10, 0), today), capacity=8)
    late_tomorrow = await make_slot(db, starts_at=local(1, time(23, 30), today), capacity=5)
    in_three_days = await make_slot(db, starts_at=local(3, time(10, 0), today))
    cancelled = await make_slot(db, starts_at=local(1, time(11, 0), today))
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == cancelled.id).values(status=SlotStatus.CANCELLED)
        )
    await book(db, tomorrow.id, adults=2, children=1, now=fixed_now)
    await book(db, late_tomorrow.id, adults=4, children=1, now=fixed_now)

    response = await client.get("/kiosk", params={"lang": "en"})

    assert response.status_code == 200
    cards = kiosk_cards(response.text)
    assert list(cards) == [this_afternoon.id, tomorrow.id, cancelled.id, late_tomorrow.id]
    assert {started.id, in_three_days.id}.isdisjoint(cards)
    assert "12 places left" in text_of_html(cards[this_afternoon.id])
    assert "5 places left" in text_of_html(cards[tomorrow.id])  # 8 - (2 adults + 1 child)
    # Full, or called off: said so, and no code to scan for a booking page that takes none.
    assert "Full" in text_of_html(cards[late_tomorrow.id])
    assert "Cancelled" in text_of_html(cards[cancelled.id])
    for slot in (late_tomorrow, cancelled):
        assert "<svg" not in cards[slot.id] and "Scan to book" not in cards[slot.id]
    for slot in (this_afternoon, tomorrow):
        assert cards[slot.id].count("<svg") == 1 and "Scan to book" in cards[slot.id]
    assert '<meta http-equiv="refresh" content="300">' in response.text
    assert "<form" not in response.text and "<script" not in response.text.lower()


def text_of_html(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment)).replace("\xa0", " ")


async def test_kiosk_qr_codes_open_each_booking_page(db, client, fixed_now) -> None:
    today = clock.local_date(fixed_now)
    slots = [
        await make_slot(db, starts_at=local(0, time(15, 0), today)),
        await make_slot(db, starts_at=local(1, time(9, 0), today)),
    ]

    response = await client.get("/kiosk")

    cards = kiosk_cards(response.text)
    for slot in slots:
        url = f"{PUBLIC_URL}/visits/{slot.id}"
        expected = qr_path(segno.make(url, error="m").svg_inline())
        card = cards[slot.id]
        assert f'data-url="{url}"' in card
        assert card.count("<svg") == 1
        assert qr_path(card) == expected
    assert qr_path(cards[slots[0].id]) != qr_path(cards[slots[1].id])


@pytest.mark.parametrize(
    ("lang", "full", "cancelled"), [("fr", "Complet", "Annulée"), ("en", "Full", "Cancelled")]
)
async def test_kiosk_marks_full_and_cancelled_visits_in_each_language(
    db, client, fixed_now, lang, full, cancelled
) -> None:
    today = clock.local_date(fixed_now)
    booked_out = await make_slot(db, starts_at=local(0, time(15, 0), today), capacity=2)
    await book(db, booked_out.id, adults=2, children=0, now=fixed_now)
    called_off = await make_slot(db, starts_at=local(1, time(9, 0), today))
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == called_off.id).values(status=SlotStatus.CANCELLED)
        )

    cards = kiosk_cards((await client.get("/kiosk", params={"lang": lang})).text)

    assert full in text_of_html(cards[booked_out.id])
    assert cancelled in text_of_html(cards[called_off.id])
    assert "<svg" not in cards[booked_out.id] + cards[called_off.id]


async def test_kiosk_speaks_the_requested_language(db, client, fixed_now) -> None:
    await make_slot(db, starts_at=local(0, time(15, 0), clock.local_date(fixed_now)))

    for lang in ("fr", "en", "de", "nl"):
        response = await client.get("/kiosk", params={"lang": lang})
        assert response.status_code == 200
        assert f'<html lang="{lang}">' in response.text


async def test_kiosk_with_nothing_on(client, fixed_now) -> None:
    response = await client.get("/kiosk", params={"lang": "en"})

    assert response.status_code == 200
    assert kiosk_cards(response.text) == {}
    assert "<svg" not in response.text


# --- CORS of the availability JSON -----------------------------------------------------------


async def test_availability_json_allows_only_the_offices_origins(
    db, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESERVATIONS_CORS_ORIGINS", OFFICE)
    settings = dataclasses.replace(Settings.from_env(), database_url=db.url, secret_key="test")
    await make_slot(db, starts_at=local(2))

    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        office = await client.get("/api/v1/availability", headers={"Origin": OFFICE})
        other = await client.get(
            "/api/v1/availability", headers={"Origin": "https://elsewhere.example"}
        )
        preflight = await client.options(
            "/api/v1/availability",
            headers={"Origin": OFFICE, "Access-Control-Request-Method": "GET"},
        )

    assert office.status_code == 200 and office.json()
    assert office.headers.get("access-control-allow-origin") == OFFICE
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
    assert preflight.headers.get("access-control-allow-origin") == OFFICE
