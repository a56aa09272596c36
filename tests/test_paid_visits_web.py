"""The visitors' side of paid visits, in-process (Litestar's test client) against the fake Stripe
on loopback (``tests/fake_stripe.py``, the real ``stripe`` library talking to it), on each
database: the visit page says how a paid visit is paid; booking it holds the places and sends
the visitor to the checkout; the page Stripe sends them back to tells the truth (waiting,
confirmed once the signed event arrived, the hold ran out, refunded because paid too late);
the manage link shows the money and "pay now"; a free visit and a site without Stripe book as
before; the booking and manage pages may send their forms on to the checkout's origin (CSP).

The webhook is posted to the application here, signed by the fake exactly as Stripe signs. The
figures are written from the data the tests create (5 € an adult, 3 € a child), never asked of
the code under test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from reservations.app import create_app
from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.infra.mailer import FolderTransport, deliver_due
from reservations.base.infra.stripe_gateway import StripeGateway
from reservations.base.models import Booking, BookingStatus
from reservations.base.rules import booking as booking_service
from reservations.base.rules import refunds
from reservations.base.rules.booking import BookingRequest
from reservations.settings import Settings
from reservations.visitors import visits
from tests.factories import fetch_slot, make_slot
from tests.fake_stripe import TEST_SECRET_KEY, FakeStripe
from tests.payment_support import (
    ADULT_CENTS,
    CHILD_CENTS,
    POLICY,
    lapsed_hold,
    pay,
    priced_slot,
    return_path,
    session_of,
    stripe_settings,
)
from tests.test_accessibility import Document
from tests.test_visitors import (
    PUBLIC_URL,
    form_token,
    site_settings,
    text_of,
    upcoming,
)

#: 2 adults and 1 child at those prices, as each language writes it.
TOTAL_EN = "€13.00"
PARIS = ZoneInfo("Europe/Paris")
PARTY = {"adults": "2", "children": "1", "name": "Anne Martin", "email": "anne@example.org"}

ONLINE_TERMS = (
    "Paid online by card when you book: your places are held for 15 minutes while you pay."
)
ON_SITE_TERMS = "Paid on site, on the day of the visit."
WAITING = "Stripe has not confirmed your payment to us yet."
CONFIRMED = "Thank you: your payment is received and your booking is confirmed."
ENDED = "Your payment was not received in time, so your places were released"
REFUNDED = "Your payment arrived after the time to pay had run out"
MANAGE_LINK = "See or manage my booking"


@pytest.fixture
async def paying(db, fake_stripe) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    """The site with Stripe configured (the fake), in English."""
    app = create_app(stripe_settings(db, fake_stripe), database=db)
    async with AsyncTestClient(app=app) as client:
        client.cookies.set("lang", "en")
        yield client


@pytest.fixture
async def on_site(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    """The site without Stripe: paid visits are paid on site."""
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        client.cookies.set("lang", "en")
        yield client


async def post_booking(client: AsyncTestClient, slot_id: int, **fields: str) -> Any:
    token = await form_token(client, f"/visits/{slot_id}?lang=en")
    data = {**PARTY, "phone": "", **fields, "_csrf_token": token}
    return await client.post(f"/visits/{slot_id}", data=data, follow_redirects=False)


async def the_booking(db: Database, slot_id: int) -> Booking:
    async with db.reading() as session:
        [booking] = (await session.scalars(select(Booking).where(Booking.slot_id == slot_id))).all()
    return booking


async def emails_sent(db: Database, folder: Path) -> list[str]:
    """Deliver what is due; the names of every message written so far."""
    await deliver_due(db, FolderTransport(folder))
    return sorted(path.name for path in folder.glob("*.eml"))


def main_text(response: Any) -> str:
    """The text of the page's main part, as read (tags out, spaces plain)."""
    main = Document(response.text).by_id()["main"]
    return main.text.replace("\u202f", " ").replace("\xa0", " ")


def form_action(response: Any) -> list[str]:
    header = response.headers["content-security-policy"]
    [directive] = [d.split() for d in header.split(";") if d.split()[0] == "form-action"]
    return directive[1:]


async def book_paid(client: AsyncTestClient, fake: FakeStripe, db: Database, slot_id: int):  # type: ignore[no-untyped-def]
    """Book 2 adults and 1 child of a paid visit: the answer, the booking and its session."""
    answer = await post_booking(client, slot_id)
    assert answer.status_code == 303, text_of(answer)[:2000]
    booking = await the_booking(db, slot_id)
    return answer, booking, session_of(fake, booking.reference)


# --- the visit page ---------------------------------------------------------------------------


async def test_a_paid_visit_says_its_price_and_that_it_is_paid_online(paying, db) -> None:
    slot = await priced_slot(db)
    page = text_of(await paying.get(f"/visits/{slot.id}?lang=en"))
    assert "Adults €5.00, children €3.00" in page
    assert ONLINE_TERMS in page
    assert ON_SITE_TERMS not in page


async def test_without_stripe_a_paid_visit_is_paid_on_site_and_booked_at_once(
    on_site, db, tmp_path: Path
) -> None:
    slot = await priced_slot(db)
    page = text_of(await on_site.get(f"/visits/{slot.id}?lang=en"))
    assert ON_SITE_TERMS in page and ONLINE_TERMS not in page
    answer = await post_booking(on_site, slot.id)
    assert answer.status_code == 303
    token = re.fullmatch(r"/manage/([^/]+)/confirmation", answer.headers["location"]).group(1)  # type: ignore[union-attr]
    assert "set-cookie" not in answer.headers or "payment_return" not in str(
        answer.headers.get_list("set-cookie")
    )
    booking = await the_booking(db, slot.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert (await fetch_slot(db, slot.id)).booked == 3
    assert len(await emails_sent(db, tmp_path)) == 1  # the confirmation, at once
    manage = text_of(await on_site.get(f"/manage/{token}"))
    assert f"{TOTAL_EN}, on site on the day of the visit" in manage
    assert "Pay now" not in manage


async def test_a_free_visit_books_as_before_with_stripe_configured(
    paying, db, fake_stripe, tmp_path: Path
) -> None:
    slot = await make_slot(db, capacity=10, starts_at=upcoming())
    page = text_of(await paying.get(f"/visits/{slot.id}?lang=en"))
    assert "Free" in page and ONLINE_TERMS not in page and ON_SITE_TERMS not in page
    answer = await post_booking(paying, slot.id)
    assert answer.status_code == 303
    assert re.fullmatch(r"/manage/[^/]+/confirmation", answer.headers["location"])
    assert (await the_booking(db, slot.id)).status == BookingStatus.CONFIRMED
    assert fake_stripe.sessions == {}  # Stripe was never asked
    assert len(await emails_sent(db, tmp_path)) == 1


# --- to the checkout and back -----------------------------------------------------------------


async def test_booking_a_paid_visit_holds_the_places_and_goes_to_the_checkout(
    paying, db, fake_stripe, tmp_path: Path
) -> None:
    slot = await priced_slot(db)
    answer, booking, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    location = answer.headers["location"]
    assert location == f"{fake_stripe.base_url}/pay/{checkout['id']}"
    assert booking.status == BookingStatus.PENDING_PAYMENT
    assert checkout["amount_total"] == 2 * ADULT_CENTS + CHILD_CENTS
    assert checkout["currency"] == "eur" and checkout["status"] == "open"
    assert checkout["success_url"] == (
        f"{PUBLIC_URL}/payments/return/{booking.reference}?session_id={{CHECKOUT_SESSION_ID}}"
    )
    slot_now = await fetch_slot(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (0, 3)
    # The return cookie: the manage token, for the return page only, never for scripts.
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if c.startswith("payment_return=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "path=/payments" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # the site is on http here
    # No confirmation goes out before the payment.
    assert await emails_sent(db, tmp_path) == []


def test_the_return_cookie_is_secure_on_an_https_site() -> None:
    https = Settings(public_url="https://visites.example", secret_key="test")
    cookie = visits.return_cookie("a-token", https)
    assert (cookie.secure, cookie.httponly, cookie.samesite, cookie.path) == (
        True,
        True,
        "lax",
        "/payments",
    )
    assert cookie.max_age is not None and 0 < cookie.max_age <= 24 * 3600


async def test_the_return_page_waits_for_stripe_then_says_confirmed(
    paying, db, fake_stripe, tmp_path: Path
) -> None:
    slot = await priced_slot(db)
    _, booking, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    back = return_path(booking.reference, checkout["id"])

    waiting = await paying.get(back)
    assert waiting.status_code == 200
    assert WAITING in text_of(waiting)
    assert '<meta http-equiv="refresh" content="5">' in waiting.text
    assert f'href="{back}"' in waiting.text.replace("&amp;", "&")  # refresh by hand
    assert waiting.headers["cache-control"] == "no-store"
    assert waiting.headers["referrer-policy"] == "no-referrer"

    await pay(paying, fake_stripe, checkout["id"])
    confirmed = await paying.get(back)
    assert confirmed.status_code == 200
    page = text_of(confirmed)
    assert CONFIRMED in page and WAITING not in page
    assert 'http-equiv="refresh"' not in confirmed.text
    assert booking.reference in page and TOTAL_EN in page
    # The cookie set at booking links to the booking's manage page.
    [manage] = re.findall(r'href="(/manage/[^"]+)"', confirmed.text)
    assert MANAGE_LINK in page
    assert (await booking_service.find_by_token(db, manage.rsplit("/", 1)[1])).id == booking.id
    # Confirmed, places booked, and now the confirmation email.
    slot_now = await fetch_slot(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (3, 0)
    assert (await the_booking(db, slot.id)).status == BookingStatus.CONFIRMED
    assert len(await emails_sent(db, tmp_path)) == 1


async def test_without_the_cookie_or_with_another_bookings_the_page_links_nowhere(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    _, booking, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    other = await booking_service.book(
        db,
        BookingRequest(slot_id=slot.id, adults=1, children=0, name="B", email="b@example.org"),
        POLICY,
        actor="test",
    )
    back = return_path(booking.reference, checkout["id"])
    for cookie in ("", other.manage_token, "not-a-token"):
        paying.cookies.delete("payment_return")
        if cookie:
            paying.cookies.set("payment_return", cookie, path="/payments")
        page = await paying.get(back)
        assert page.status_code == 200
        assert "/manage/" not in page.text and MANAGE_LINK not in text_of(page)


async def test_a_reference_and_session_that_do_not_belong_together_are_not_found(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    _, first, first_checkout = await book_paid(paying, fake_stripe, db, slot.id)
    _, _, second_checkout = await book_paid_again(paying, fake_stripe, db, slot.id)
    for path in (
        return_path(first.reference, second_checkout["id"]),
        return_path("NOPE-NOPE", first_checkout["id"]),
        return_path(first.reference, "cs_test_unknown"),
        "/payments/return/NOPE-NOPE",
        return_path(first.reference, "x" * 5000),
    ):
        answer = await paying.get(path)
        assert answer.status_code == 404, path
        assert "<h1>" in answer.text
        assert answer.headers["cache-control"] == "no-store", path


async def test_back_from_stripe_unpaid_the_page_says_the_places_are_still_held(
    paying, db, fake_stripe
) -> None:
    """Stripe's "back" link carries the reference only (``cancel_url``)."""
    slot = await priced_slot(db)
    _, booking, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    assert checkout["cancel_url"].endswith(f"/payments/return/{booking.reference}")
    page = await paying.get(f"/payments/return/{booking.reference}", params={"lang": "en"})
    assert page.status_code == 200
    assert checkout["url"] in page.text  # back to Stripe's page, while the places are held


async def book_paid_again(paying, fake_stripe, db, slot_id: int):  # type: ignore[no-untyped-def]
    """A second paid booking of the slot (another form, another visitor)."""
    answer = await post_booking(paying, slot_id, name="Bruno", email="bruno@example.org")
    assert answer.status_code == 303
    async with db.reading() as session:
        booking = await session.scalar(
            select(Booking).where(Booking.slot_id == slot_id, Booking.name == "Bruno")
        )
    assert booking is not None
    return answer, booking, session_of(fake_stripe, booking.reference)


async def test_the_return_page_says_when_the_hold_ran_out(paying, db, fake_stripe) -> None:
    slot = await priced_slot(db)
    receipt = await lapsed_hold(db, fake_stripe, slot.id)
    checkout = session_of(fake_stripe, receipt.booking.reference)
    page = await paying.get(return_path(receipt.booking.reference, checkout["id"]))
    assert page.status_code == 200
    text = text_of(page)
    assert ENDED in text and WAITING not in text
    assert f'href="/visits/{slot.id}"' in page.text  # back to the visit, to book again
    assert 'http-equiv="refresh"' not in page.text


async def test_paid_after_the_hold_ran_out_and_the_places_went_the_page_says_refunded(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db, capacity=3)
    receipt = await lapsed_hold(db, fake_stripe, slot.id)
    # Meanwhile someone else booked the places the hold gave back.
    await booking_service.book(
        db,
        BookingRequest(slot_id=slot.id, adults=3, children=0, name="C", email="c@example.org"),
        POLICY,
        actor="test",
    )
    checkout = session_of(fake_stripe, receipt.booking.reference)
    await pay(paying, fake_stripe, checkout["id"])
    page = await paying.get(return_path(receipt.booking.reference, checkout["id"]))
    assert page.status_code == 200
    assert REFUNDED in text_of(page)
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [2 * ADULT_CENTS + CHILD_CENTS]


async def test_stripe_unreachable_shows_the_form_again_and_frees_the_places(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    fake_stripe.fail_next("/v1/checkout/sessions", times=5, status=503)
    answer = await post_booking(paying, slot.id)
    assert answer.status_code == 503
    assert "Online payment cannot be reached right now, so nothing was booked." in text_of(answer)
    document = Document(answer.text)
    assert [e for e in document.elements if e.get("role") == "alert"], "a message is shown"
    kept = {
        e.get("name"): e.get("value")
        for e in document.all("input")
        if e.get("name") in ("adults", "children", "name", "email")
    }
    assert kept == PARTY
    slot_now = await fetch_slot(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (0, 0)


# --- the manage page --------------------------------------------------------------------------


async def test_a_hold_shows_until_when_and_pays_from_the_manage_page(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    _, booking, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    token = paying.cookies.get("payment_return")
    assert token
    page = await paying.get(f"/manage/{token}?lang=fr")
    until = booking.hold_expires_at.astimezone(PARIS).strftime("%H:%M")
    assert f"en attente de paiement jusqu'à {until}" in text_of(page)
    document = Document(page.text)
    # Its party cannot change before it is paid; it can be paid, or cancelled.
    actions = {
        e.get("value")
        for e in document.all("input")
        if e.get("name") == "action" and e.get("type") == "hidden"
    }
    assert actions == {"pay", "cancel"}
    assert not [e for e in document.all("input") if e.get("name") == "adults"]

    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = await paying.post(
        f"/manage/{token}",
        data={"action": "pay", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{fake_stripe.base_url}/pay/{checkout['id']}"
    assert "http://127.0.0.1" in " ".join(form_action(page))


async def test_a_hold_cancelled_from_the_manage_page_frees_its_places_and_owes_nothing(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    _, booking, _ = await book_paid(paying, fake_stripe, db, slot.id)
    token = paying.cookies.get("payment_return")
    csrf = await form_token(paying, f"/manage/{token}")
    cancelled = await paying.post(
        f"/manage/{token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303, text_of(cancelled)[:2000]
    page = main_text(await paying.get(cancelled.headers["location"]))
    assert "This booking is cancelled." in page
    assert "Pay now" not in page and "Refund" not in page and "Paid" not in page
    assert (await the_booking(db, slot.id)).status == BookingStatus.CANCELLED
    slot_now = await fetch_slot(db, slot.id)
    assert (slot_now.booked, slot_now.held) == (0, 0)
    assert fake_stripe.refunds == {}
    assert booking.reference


async def test_paid_then_cancelled_the_manage_page_shows_the_refund(
    paying, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    _, _, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    token = paying.cookies.get("payment_return")
    await pay(paying, fake_stripe, checkout["id"])
    page = text_of(await paying.get(f"/manage/{token}"))
    assert f"{TOTAL_EN}, by card, online" in page
    assert "Pay now" not in page

    csrf = await form_token(paying, f"/manage/{token}")
    # Stripe does not answer the refund the cancellation sends at once: it waits for ``tick``.
    fake_stripe.fail_next("/v1/refunds", times=1, status=503)
    cancelled = await paying.post(
        f"/manage/{token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303, text_of(cancelled)[:2000]
    page = main_text(await paying.get(cancelled.headers["location"]))
    assert "This booking is cancelled." in page
    # Cancelled before the cut-off: all of it back, on its way until it is sent.
    assert f"Paid {TOTAL_EN}, by card, online" in page
    assert f"Refund on its way {TOTAL_EN}, back on your card within a few days" in page
    assert fake_stripe.refunds == {}
    # ``tick``, once the refund's next attempt is due (the longest wait between two is 6 h).
    gateway = StripeGateway(TEST_SECRET_KEY, fake_stripe.base_url)
    assert await refunds.settle(db, gateway, now=clock.now() + timedelta(hours=7)) == 1
    page = main_text(await paying.get(f"/manage/{token}"))
    assert f"Refunded {TOTAL_EN}" in page and "Refund on its way" not in page
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [2 * ADULT_CENTS + CHILD_CENTS]


async def test_a_refund_stripe_takes_at_once_shows_refunded(paying, db, fake_stripe) -> None:
    slot = await priced_slot(db)
    _, _, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    token = paying.cookies.get("payment_return")
    await pay(paying, fake_stripe, checkout["id"])
    csrf = await form_token(paying, f"/manage/{token}")
    cancelled = await paying.post(
        f"/manage/{token}",
        data={"action": "cancel", "confirm": "yes", "_csrf_token": csrf},
        follow_redirects=False,
    )
    page = main_text(await paying.get(cancelled.headers["location"]))
    assert f"Refunded {TOTAL_EN}" in page and "Refund on its way" not in page
    assert [r["amount"] for r in fake_stripe.refunds.values()] == [2 * ADULT_CENTS + CHILD_CENTS]


async def test_nothing_to_pay_goes_back_to_the_page_with_a_message(paying, db, fake_stripe) -> None:
    slot = await priced_slot(db)
    _, _, checkout = await book_paid(paying, fake_stripe, db, slot.id)
    token = paying.cookies.get("payment_return")
    page = await paying.get(f"/manage/{token}")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    await pay(paying, fake_stripe, checkout["id"])  # paid meanwhile, in another tab
    answer = await paying.post(
        f"/manage/{token}", data={"action": "pay", "_csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/manage/{token}?done=nothing_to_pay"
    assert "There is nothing left to pay for this booking." in text_of(
        await paying.get(answer.headers["location"])
    )


# --- the content security policy --------------------------------------------------------------


async def test_the_booking_and_manage_pages_may_send_their_forms_to_the_checkout(
    paying, on_site, db, fake_stripe
) -> None:
    slot = await priced_slot(db)
    origin = f"{urlsplit(fake_stripe.base_url).scheme}://{urlsplit(fake_stripe.base_url).netloc}"
    for path in (f"/visits/{slot.id}", "/manage/not-a-token"):
        assert form_action(await paying.get(path)) == ["'self'", origin], path
        assert form_action(await on_site.get(path)) == ["'self'"], path
    # Elsewhere, forms stay on the site.
    assert form_action(await paying.get("/")) == ["'self'"]


async def test_with_stripes_own_api_the_checkout_origin_is_stripes(db) -> None:
    settings = site_settings(db, stripe_secret_key="sk_test_x")
    async with AsyncTestClient(app=create_app(settings, database=db)) as client:
        slot = await priced_slot(db)
        answer = await client.get(f"/visits/{slot.id}")
    assert form_action(answer) == ["'self'", "https://checkout.stripe.com"]
