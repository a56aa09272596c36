"""The staff and farmers' side of paid visits, on each database: a counter or phone booking of
a paid visit records how it was paid (and the season report counts it), or sends the visitor a
payment link (a checkout at the fake Stripe, and an email); a refused amount keeps the form; a
booking's page shows its money and takes payments and partial refunds (sent to the fake Stripe,
bounded by what was paid online); an activity's late refund share is kept and checked; running
holds are marked on the farmer's day sheet and the staff pages, lapsed ones are not bookings
any more. Every new form refuses anonymous users and posts without their CSRF token.

Expected amounts are worked out here from the prices the test sets (5 € an adult, 3 € a
child), not read back from the code under test."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import time, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from reservations import i18n
from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import (
    Activity,
    AuditEntry,
    Booking,
    BookingStatus,
    Channel,
    OutboxMessage,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Provider,
    Refund,
    RefundStatus,
    Slot,
)
from reservations.base.reads.booking_money import money_of
from reservations.base.reads.revenue import revenue_report
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.provider_links import issue_link
from tests.factories import make_activity, make_slot
from tests.fake_stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, sign
from tests.outbox_support import as_sent
from tests.staff_support import csrf, staff_client
from tests.test_accessibility import problems
from tests.test_visitors import MAX_PARTY, site_settings

POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)
ADULT, CHILD = 500, 300
HOLD_MINUTES = 15


def plain(text: str) -> str:
    """A page's text with Babel's non-breaking spaces as plain ones, entities decoded."""
    return html.unescape(text).replace("\u202f", " ").replace("\xa0", " ")


def field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>([^<]*)</p>', page)
    assert found, f"no message beside {name}"
    return plain(found.group(1))


def hidden(page: str, name: str) -> str:
    """The value of the input named ``name`` (the first one on the page)."""
    found = re.search(rf'<input[^>]*\bname="{name}"[^>]*\bvalue="([^"]*)"', page)
    assert found is not None, name
    return found.group(1)


async def paid_slot(db, *, starts_at=None, **options: Any):  # type: ignore[no-untyped-def]
    activity = await make_activity(db, **options)
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == activity.id)
            .values(price_adult_cents=ADULT, price_child_cents=CHILD)
        )
    return await make_slot(db, activity=activity, starts_at=starts_at)


def stripe_settings(db, fake) -> Any:  # type: ignore[no-untyped-def]
    return site_settings(
        db,
        stripe_secret_key=TEST_SECRET_KEY,
        stripe_webhook_secret=TEST_WEBHOOK_SECRET,
        stripe_api_base=fake.base_url,
    )


@pytest.fixture
async def online(db, fake_stripe) -> AsyncIterator[tuple[AsyncTestClient, Any]]:  # type: ignore[no-untyped-def]
    """A staff member logged in on a site with (the fake) Stripe configured."""
    async with staff_client(db, stripe_settings(db, fake_stripe)) as (client, account):
        yield client, account


async def rows(db, model, *conditions) -> list[Any]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return list(await session.scalars(select(model).where(*conditions).order_by(model.id)))


async def audit_actions(db, booking_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.action for e in await rows(db, AuditEntry, AuditEntry.booking_id == booking_id)]


async def open_form(client, slot_id: int) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    page = await client.get(f"/staff/bookings/new?slot_id={slot_id}&lang=en")
    assert page.status_code == 200, page.text[:2000]
    return page.text, {
        "_csrf_token": csrf(client),
        "slot_id": hidden(page.text, "slot_id"),
        "form_key": hidden(page.text, "form_key"),
    }


FAMILY = {
    "channel": "counter",
    "adults": "2",
    "children": "1",
    "name": "Famille Roux",
    "phone": "06 11 22 33 44",
    "email": "roux@example.org",
    "locale": "fr",
    "notes": "",
}
#: Two adults and a child at 5 € and 3 €.
FAMILY_PRICE = 2 * ADULT + CHILD


# --- counter and phone bookings of a paid visit ----------------------------------------------


async def test_a_cash_counter_booking_records_a_paid_payment_the_report_counts(staff, db):
    client, account = staff
    slot = await paid_slot(db)
    page, form = await open_form(client, slot.id)
    # The payment question and the amount to collect (one adult); no link without Stripe. The
    # amount is left empty, the party's price: prefilled, it would stay one adult's price.
    assert 'name="payment" value="cash"' in page and 'name="payment" value="on_site"' in page
    assert 'value="link"' not in page
    assert hidden(page, "amount") == ""
    assert shown_total(page) == "€5.00"
    assert problems(page, "en") == []

    done = await client.post(
        "/staff/bookings/new",
        data={**form, **FAMILY, "payment": "cash", "amount": "13"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:3000]
    [booking] = await rows(db, Booking, Booking.slot_id == slot.id)
    assert done.headers["location"] == f"/staff/bookings/{booking.id}?done=booked_paid_emailed"
    [payment] = await rows(db, Payment, Payment.booking_id == booking.id)
    assert (payment.method, payment.status, payment.amount_cents) == (
        PaymentMethod.CASH,
        PaymentStatus.PAID,
        FAMILY_PRICE,
    )
    assert payment.recorded_by == f"staff:{account.email}"
    assert "payment.recorded" in await audit_actions(db, booking.id)

    report = await revenue_report(db, clock.local_date(slot.starts_at).year)
    assert json.dumps(report).count(str(FAMILY_PRICE)) >= 1
    assert report["by_channel"]["counter"]["revenue_cents"] == FAMILY_PRICE

    shown = plain((await client.get(done.headers["location"] + "&lang=en")).text)
    assert "Booked, and its payment recorded." in shown
    assert "€13.00 · Cash" in shown
    assert "Payment recorded" in shown  # the audit trail


async def test_a_phone_booking_paid_on_site_is_due_not_paid(staff, db):
    client, _ = staff
    slot = await paid_slot(db)
    _, form = await open_form(client, slot.id)
    done = await client.post(
        "/staff/bookings/new",
        data={**form, **FAMILY, "channel": "phone", "payment": "on_site", "amount": ""},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:3000]
    [booking] = await rows(db, Booking, Booking.slot_id == slot.id)
    [payment] = await rows(db, Payment, Payment.booking_id == booking.id)
    # Left empty, the amount is the party's price; on site, it is due on the day, not paid.
    assert (payment.method, payment.status, payment.amount_cents) == (
        PaymentMethod.ON_SITE,
        PaymentStatus.OPEN,
        FAMILY_PRICE,
    )
    assert (await money_of(db, booking.id)).paid_cents == 0


@pytest.mark.parametrize("typed", ["12,5x", "-3", "1.234", "douze", "٣"])
async def test_a_bad_amount_keeps_the_values_and_books_nothing(staff, db, typed):
    client, _ = staff
    slot = await paid_slot(db)
    _, form = await open_form(client, slot.id)
    refused = await client.post(
        "/staff/bookings/new?lang=en",
        data={**form, **FAMILY, "payment": "cheque", "amount": typed},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "amount in euros" in field_error(refused.text, "amount")
    assert f'value="{html.escape(typed)}"' in refused.text or f'value="{typed}"' in refused.text
    assert 'value="Famille Roux"' in refused.text
    assert re.search(r'id="payment-cheque" name="payment" value="cheque" checked', refused.text)
    assert await rows(db, Booking, Booking.slot_id == slot.id) == []
    assert problems(refused.text, "en") == []


async def test_a_paid_visit_needs_its_payment_chosen(staff, db):
    client, _ = staff
    slot = await paid_slot(db)
    _, form = await open_form(client, slot.id)
    refused = await client.post(
        "/staff/bookings/new?lang=en", data={**form, **FAMILY}, follow_redirects=False
    )
    assert refused.status_code == 422
    assert field_error(refused.text, "payment") == "Please choose how the booking is paid."
    assert await rows(db, Booking, Booking.slot_id == slot.id) == []


def shown_total(page: str) -> str:
    found = re.search(r'<output id="total"[^>]*>([^<]*)</output>', page)
    assert found, "no amount to collect on the page"
    return found.group(1).replace("\xa0", " ").replace("\u202f", " ")


@pytest.mark.parametrize(
    ("lang", "label", "one_adult", "family"),
    [
        ("fr", "Montant à encaisser :", "5,00 €", "13,00 €"),
        ("en", "Amount to collect:", "€5.00", "€13.00"),
    ],
)
async def test_the_counter_form_shows_the_amount_to_collect_for_the_party(
    staff, db, lang, label, one_adult, family
):
    """Computed by the server for the party the form is sent with (a refused form keeps its
    party and its amount), and again in the page by the visitors' form's script."""
    client, _ = staff
    slot = await paid_slot(db)
    page = (await client.get(f"/staff/bookings/new?slot_id={slot.id}&lang={lang}")).text
    assert shown_total(page) == one_adult
    assert label in plain(page)
    assert f'data-adult-cents="{ADULT}" data-child-cents="{CHILD}"' in page
    assert '<script src="/static/booking-total.js" defer></script>' in page
    _, form = await open_form(client, slot.id)
    refused = await client.post(
        f"/staff/bookings/new?lang={lang}",
        data={**form, **FAMILY, "payment": ""},  # no payment chosen: the form comes back
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert shown_total(refused.text) == family  # 2 × 5 € + 3 €
    assert hidden(refused.text, "adults") == "2"


async def test_a_free_visit_asks_no_payment(staff, db):
    client, _ = staff
    slot = await make_slot(db)
    page, form = await open_form(client, slot.id)
    assert 'name="payment" value="cash"' not in page and 'id="amount"' not in page
    assert 'id="total"' not in page
    done = await client.post("/staff/bookings/new", data={**form, **FAMILY}, follow_redirects=False)
    assert done.status_code == 303
    [booking] = await rows(db, Booking, Booking.slot_id == slot.id)
    assert await rows(db, Payment, Payment.booking_id == booking.id) == []
    shown = (await client.get(f"/staff/bookings/{booking.id}?lang=en")).text
    assert 'id="money"' not in shown


async def test_a_payment_link_opens_a_checkout_and_emails_it(online, db, fake_stripe):
    client, _ = online
    slot = await paid_slot(db)
    page, form = await open_form(client, slot.id)
    assert 'name="payment" value="link"' in page
    done = await client.post(
        "/staff/bookings/new",
        data={**form, **FAMILY, "channel": "phone", "payment": "link", "locale": "de"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:3000]
    [booking] = await rows(db, Booking, Booking.slot_id == slot.id)
    assert booking.status == BookingStatus.CONFIRMED
    assert done.headers["location"].endswith("?done=booked_link_emailed")
    [session] = fake_stripe.sessions.values()
    assert session["amount_total"] == FAMILY_PRICE
    assert session["client_reference_id"] == booking.reference
    assert "payment.link_sent" in await audit_actions(db, booking.id)

    [message] = await rows(db, OutboxMessage, OutboxMessage.dedup_key.like("payment-link:%"))
    sent = as_sent(message)
    assert message.to_address == "roux@example.org"
    assert booking.reference in sent.subject and "online bezahlen" in sent.subject
    assert session["url"] in sent.text and session["url"] in sent.html
    assert "13,00" in plain(sent.text)
    assert problems(message.html_body, "de") == []

    shown = plain((await client.get(done.headers["location"] + "&lang=en")).text)
    assert session["url"] in shown  # the open link, for staff to give another way too
    assert "The confirmation and the payment link are on their way by email." in shown


async def test_a_payment_link_needs_an_email_address(online, db, fake_stripe):
    client, _ = online
    slot = await paid_slot(db)
    _, form = await open_form(client, slot.id)
    refused = await client.post(
        "/staff/bookings/new?lang=en",
        data={**form, **FAMILY, "email": "", "payment": "link"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "email address" in field_error(refused.text, "email")
    assert await rows(db, Booking, Booking.slot_id == slot.id) == []
    assert fake_stripe.sessions == {}


async def test_stripe_down_when_booking_with_a_link_keeps_the_booking(online, db, fake_stripe):
    client, _ = online
    slot = await paid_slot(db)
    _, form = await open_form(client, slot.id)
    fake_stripe.fail_next("/v1/checkout/sessions", times=5, status=503)
    done = await client.post(
        "/staff/bookings/new",
        data={**form, **FAMILY, "payment": "link"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith("?done=booked_link_failed")
    [booking] = await rows(db, Booking, Booking.slot_id == slot.id)
    assert booking.status == BookingStatus.CONFIRMED
    # Sent again from the booking's page once Stripe answers.
    page = await client.get(done.headers["location"] + "&lang=en")
    assert "online payment cannot be reached right now" in plain(page.text)
    fake_stripe.failures.clear()
    again = await client.post(
        f"/staff/bookings/{booking.id}/payment-link",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert again.status_code == 303, again.text[:3000]
    assert again.headers["location"].endswith("?done=link_emailed")
    assert len(fake_stripe.sessions) == 1


# --- a booking's page: its money, payments, refunds -----------------------------------------


async def counter_booking(db, slot_id: int, *, email: str | None = "roux@example.org"):  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=2,
        children=1,
        name="Famille Roux",
        email=email,
        phone="06 11 22 33 44",
        channel=Channel.PHONE,
    )
    return (await booking_service.book(db, request, POLICY, actor="test")).booking


async def deliver(client: AsyncTestClient, event: dict[str, Any]) -> Any:
    payload = json.dumps(event).encode()
    return await client.post(
        "/payments/stripe/webhook",
        content=payload,
        headers={
            "Stripe-Signature": sign(payload, TEST_WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )


async def paid_online(client, db, fake_stripe, slot_id: int):  # type: ignore[no-untyped-def]
    """A phone booking paid through the payment link staff sent (the visitor pays on the
    fake's page; its signed event reaches the app's webhook)."""
    booking = await counter_booking(db, slot_id)
    await client.get(f"/staff/bookings/{booking.id}")
    sent = await client.post(
        f"/staff/bookings/{booking.id}/payment-link",
        data={"_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text[:3000]
    session = fake_stripe.session_by_reference(booking.reference)
    completed = fake_stripe.pay(session["id"], deliver=False)
    assert (await deliver(client, completed)).status_code == 200
    assert (await money_of(db, booking.id)).paid_cents == FAMILY_PRICE
    return booking, session


async def test_a_partial_refund_within_what_was_paid_goes_to_stripe(online, db, fake_stripe):
    client, _ = online
    slot = await paid_slot(db)
    booking, session = await paid_online(client, db, fake_stripe, slot.id)
    page = await client.get(f"/staff/bookings/{booking.id}?lang=en")
    assert f'action="/staff/bookings/{booking.id}/refunds"' in page.text
    assert "At most €13.00" in plain(page.text)
    assert problems(page.text, "en") == []

    done = await client.post(
        f"/staff/bookings/{booking.id}/refunds",
        data={"_csrf_token": csrf(client), "amount": "4,50"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:3000]
    assert done.headers["location"].endswith("?done=refund_sent")
    [sent] = fake_stripe.refunds.values()
    assert (sent["amount"], sent["payment_intent"]) == (450, session["payment_intent"])
    [refund] = await rows(db, Refund, Refund.booking_id == booking.id)
    assert (refund.status, refund.amount_cents) == (RefundStatus.SUCCEEDED, 450)
    assert "refund.requested" in await audit_actions(db, booking.id)
    shown = plain((await client.get(done.headers["location"] + "&lang=en")).text)
    assert "Refund sent." in shown and "€4.50" in shown and "Refund requested" in shown

    # Beyond what is left (13 € − 4,50 €): refused with the bound, nothing sent.
    refused = await client.post(
        f"/staff/bookings/{booking.id}/refunds?lang=en",
        data={"_csrf_token": csrf(client), "amount": "9"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "€8.50" in field_error(refused.text, "amount")
    assert 'value="9"' in refused.text
    assert len(fake_stripe.refunds) == 1
    assert len(await rows(db, Refund, Refund.booking_id == booking.id)) == 1


@pytest.mark.parametrize("typed", ["", "0", "abc"])
async def test_a_refund_needs_an_amount(online, db, fake_stripe, typed):
    client, _ = online
    slot = await paid_slot(db)
    booking, _ = await paid_online(client, db, fake_stripe, slot.id)
    refused = await client.post(
        f"/staff/bookings/{booking.id}/refunds?lang=en",
        data={"_csrf_token": csrf(client), "amount": typed},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert field_error(refused.text, "amount")
    assert fake_stripe.refunds == {}


async def test_stripe_down_leaves_the_refund_pending_and_says_so(online, db, fake_stripe):
    client, _ = online
    slot = await paid_slot(db)
    booking, _ = await paid_online(client, db, fake_stripe, slot.id)
    fake_stripe.fail_next("/v1/refunds", times=1, status=503)
    done = await client.post(
        f"/staff/bookings/{booking.id}/refunds",
        data={"_csrf_token": csrf(client), "amount": "13,00"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].endswith("?done=refund_pending")
    [refund] = await rows(db, Refund, Refund.booking_id == booking.id)
    assert refund.status == RefundStatus.PENDING
    shown = plain((await client.get(done.headers["location"] + "&lang=en")).text)
    assert "Refund on its way" in shown and "sent automatically" in shown
    assert fake_stripe.refunds == {}


async def test_a_payment_recorded_on_the_booking_page(staff, db):
    client, _ = staff
    slot = await paid_slot(db)
    booking = await counter_booking(db, slot.id)
    page = await client.get(f"/staff/bookings/{booking.id}?lang=en")
    assert hidden(page.text, "amount") == "13,00"  # what is left to pay
    assert problems(page.text, "en") == []
    refused = await client.post(
        f"/staff/bookings/{booking.id}/payments?lang=en",
        data={"_csrf_token": csrf(client), "method": "card_terminal", "amount": "13,0,0"},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "amount in euros" in field_error(refused.text, "amount")
    assert 'value="13,0,0"' in refused.text
    done = await client.post(
        f"/staff/bookings/{booking.id}/payments",
        data={"_csrf_token": csrf(client), "method": "card_terminal", "amount": "13.00"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    [payment] = await rows(db, Payment, Payment.booking_id == booking.id)
    assert (payment.method, payment.status, payment.amount_cents) == (
        PaymentMethod.CARD_TERMINAL,
        PaymentStatus.PAID,
        FAMILY_PRICE,
    )
    shown = plain((await client.get(done.headers["location"] + "&lang=en")).text)
    assert "€13.00 · Card terminal" in shown
    assert f'action="/staff/bookings/{booking.id}/payments"' not in shown  # nothing left


# --- the activity's late refund share -------------------------------------------------------


async def test_the_late_refund_share_is_saved_and_checked(staff, db):
    from tests.test_staff_catalogue import NEW_ACTIVITY

    client, _ = staff
    farm = await make_activity(db)
    form = await client.get(f"/staff/catalogue/providers/{farm.provider_id}/activities/new?lang=en")
    assert "Refund after the cut-off (percent)" in form.text
    assert "cancelled after the cut-off" in form.text
    path = f"/staff/catalogue/providers/{farm.provider_id}/activities"
    created = await client.post(
        path,
        data={**NEW_ACTIVITY, "late_refund_percent": "30", "_csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text[:3000]
    async with db.reading() as session:
        activity = await session.scalar(
            select(Activity).where(Activity.name == NEW_ACTIVITY["title_fr"])
        )
    assert activity.late_refund_percent == 30
    page = await client.get(f"/staff/catalogue/activities/{activity.id}")
    assert re.search(r'name="late_refund_percent" value="30"', page.text)

    for typed, message in (
        ("101", "from 0 to 100"),
        ("-5", "whole number"),
        ("½", "whole number"),
    ):
        refused = await client.post(
            f"/staff/catalogue/activities/{activity.id}?lang=en",
            data={**NEW_ACTIVITY, "late_refund_percent": typed, "_csrf_token": csrf(client)},
            follow_redirects=False,
        )
        assert refused.status_code == 422, (typed, refused.status_code)
        assert message in field_error(refused.text, "late_refund_percent"), typed
        assert f'value="{typed}"' in refused.text
    async with db.reading() as session:
        kept = await session.scalar(
            select(Activity.late_refund_percent).where(Activity.id == activity.id)
        )
    assert kept == 30


# --- running holds marked, lapsed ones gone ---------------------------------------------------


async def holds_on(db, slot) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """A running hold (ends in 10 minutes) and a lapsed one (ended 5 minutes ago)."""

    async def hold(name: str, ends_in: timedelta) -> Any:
        request = BookingRequest(
            slot_id=slot.id, adults=3, children=0, name=name, email="h@example.org"
        )
        made_at = clock.now() - timedelta(minutes=HOLD_MINUTES) + ends_in
        receipt = await booking_service.book(
            db, request, POLICY, actor="test", now=made_at, hold_minutes=HOLD_MINUTES
        )
        return receipt.booking

    return await hold("Holding Visitor", timedelta(minutes=10)), await hold(
        "Lapsed Visitor", timedelta(minutes=-5)
    )


def until(booking) -> str:  # type: ignore[no-untyped-def]
    with i18n.use_locale("en"):
        return i18n.clock_time(booking.hold_expires_at)


async def test_the_day_sheet_marks_a_running_hold_and_hides_a_lapsed_one(db):
    tomorrow = clock.today() + timedelta(days=1)
    slot = await paid_slot(db, starts_at=clock.local_datetime(tomorrow, time(15, 0)))
    await counter_booking(db, slot.id)
    running, _lapsed = await holds_on(db, slot)
    secret = await issue_link(db, await _provider_name(db, slot))
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        page = await client.get(f"/farm/{secret}/{tomorrow.isoformat()}?lang=en")
    assert page.status_code == 200
    text = plain(page.text)
    assert "Famille Roux" in text
    assert "Holding Visitor" in text
    assert plain(f"awaiting payment until {until(running)}") in text
    assert "plus 3 places held awaiting payment" in text
    assert "Lapsed Visitor" not in text
    # The confirmed party only is counted as coming.
    assert "3 of 20 places booked" in text


async def test_the_staff_slot_page_and_search_mark_holds(staff, db):
    client, _ = staff
    slot = await paid_slot(db)
    await counter_booking(db, slot.id)
    running, lapsed = await holds_on(db, slot)
    page = plain((await client.get(f"/staff/slots/{slot.id}?lang=en")).text)
    assert "Holding Visitor" in page
    assert plain(f"Awaiting payment until {until(running)}") in page
    assert "3 more places held, awaiting payment" in page
    assert "Lapsed Visitor" not in page
    found = plain((await client.get("/staff/bookings?q=Visitor&lang=en")).text)
    assert plain(f"Awaiting payment until {until(running)}") in found
    assert "Lapsed Visitor" in found and "Expired" in found  # found, but not as a live booking
    booking_page = plain((await client.get(f"/staff/bookings/{lapsed.id}?lang=en")).text)
    assert "Expired" in booking_page and "Awaiting payment until" not in booking_page


# --- who may post -----------------------------------------------------------------------------

NEW_ROUTES = ("payments", "refunds", "payment-link")


async def test_anonymous_users_are_refused_on_the_money_forms(db):
    slot = await paid_slot(db)
    booking = await counter_booking(db, slot.id)
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as client:
        await client.get("/")
        for route in NEW_ROUTES:
            answer = await client.post(
                f"/staff/bookings/{booking.id}/{route}",
                data={
                    "_csrf_token": client.cookies.get("csrftoken", ""),
                    "method": "cash",
                    "amount": "13",
                },
                follow_redirects=False,
            )
            assert answer.status_code in (303, 401, 403), route
            if answer.status_code == 303:
                assert answer.headers["location"].startswith("/staff/login")
    assert await rows(db, Payment, Payment.booking_id == booking.id) == []


async def test_the_money_forms_need_their_csrf_token(online, db, fake_stripe):
    client, _ = online
    slot = await paid_slot(db)
    booking, _ = await paid_online(client, db, fake_stripe, slot.id)
    other = await counter_booking(db, slot.id)
    cases = [
        (booking.id, "refunds", {"amount": "1"}),
        (other.id, "payments", {"method": "cash", "amount": "13"}),
        (other.id, "payment-link", {}),
    ]
    for booking_id, route, data in cases:
        for token in (None, "forged-token"):
            sent = {**data, **({"_csrf_token": token} if token else {})}
            answer = await client.post(
                f"/staff/bookings/{booking_id}/{route}", data=sent, follow_redirects=False
            )
            assert answer.status_code == 403, (route, token)
    assert await rows(db, Refund, Refund.booking_id == booking.id) == []
    assert await rows(db, Payment, Payment.booking_id == other.id) == []
    assert len(fake_stripe.sessions) == 1  # the paid booking's only
    # The new-booking form too.
    _, form = await open_form(client, slot.id)
    del form["_csrf_token"]
    answer = await client.post(
        "/staff/bookings/new",
        data={**form, **FAMILY, "payment": "cash", "amount": "13"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert len(await rows(db, Booking, Booking.slot_id == slot.id)) == 2


async def _provider_name(db, slot) -> str:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(
            select(Provider.name)
            .join(Activity, Activity.provider_id == Provider.id)
            .join(Slot, Slot.activity_id == Activity.id)
            .where(Slot.id == slot.id)
        )
