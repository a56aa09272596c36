"""A visitor books a paid farm visit in real Chromium on a phone-sized window, against a real
server process configured with the fake Stripe on loopback, on each database: the visit page
says it is paid online; "Book" holds the places and the browser lands on the checkout (the
page's ``form-action`` lets the booking's redirect go there); "Pay" completes the session, the
fake sends the signed event to the server's webhook and the browser back to the return page,
which says the booking is confirmed; the manage page (linked from there) shows it paid; the
visitor cancels before the cut-off while Stripe does not answer and sees the refund on its way,
then, once ``reservations tick`` has sent it again (its next attempt made due), refunded; the confirmation email went out
once paid.

Expected texts are the catalogue's (English), figures from the data the test creates."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import BookingStatus, Refund
from reservations.base.rules import booking as booking_service
from tests.factories import fetch_slot
from tests.fake_stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, FakeStripe
from tests.live_server import LiveServer, live_server, self_pointing_command, server_environment
from tests.payment_support import ADULT_CENTS, CHILD_CENTS, priced_slot
from tests.smtp_server import SmtpServer
from tests.test_browser import phone, plain, small_targets

SCREENSHOT = "/tmp/browser-paid-return.png"
CAPACITY = 10
TOTAL = "€13.00"  # 2 adults at 5 €, 1 child at 3 €


def stripe_environment(fake: FakeStripe, smtp: SmtpServer) -> dict[str, str]:
    return {
        **smtp.environment(),
        "RESERVATIONS_STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "RESERVATIONS_STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "RESERVATIONS_STRIPE_API_BASE": fake.base_url,
    }


@pytest.fixture
def paid_site(database_url: str, smtp: SmtpServer, fake_stripe: FakeStripe) -> Iterator[LiveServer]:
    """``reservations serve`` with Stripe configured (the fake), its links pointing at itself;
    the fake delivers its events to the server's webhook."""
    command = self_pointing_command()
    env = stripe_environment(fake_stripe, smtp)
    with live_server(database_url, env=env, command=command) as server:
        fake_stripe.webhook_url = server.url("/payments/stripe/webhook")
        yield server


def run_tick(database_url: str, site: LiveServer, fake: FakeStripe, smtp: SmtpServer) -> str:
    """``reservations tick`` as cron runs it, with the same Stripe settings as the site."""
    extra = {**stripe_environment(fake, smtp), "RESERVATIONS_PUBLIC_URL": site.base_url}
    done = subprocess.run(
        [sys.executable, "-m", "reservations", "tick"],
        env=server_environment(database_url, extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def main_text(page: Any) -> str:
    return plain(await page.locator("main").inner_text())


async def test_a_paid_visit_booked_paid_confirmed_cancelled_and_refunded(
    browser: Any,
    paid_site: LiveServer,
    db: Database,
    smtp: SmtpServer,
    fake_stripe: FakeStripe,
    database_url: str,
) -> None:
    slot = await priced_slot(db, capacity=CAPACITY)
    async with phone(browser, "en-GB") as page:
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text))
        await page.goto(paid_site.url(f"/visits/{slot.id}"))
        assert await page.get_attribute("html", "lang") == "en"
        facts = plain(await page.locator(".facts").inner_text())
        assert "Adults €5.00, children €3.00" in facts
        assert "Paid online by card when you book" in facts
        assert await small_targets(page) == []  # every touch target 44px at least

        await page.locator("#adults").fill("2")
        await page.locator("#children").fill("1")
        await page.locator("#name").fill("Erika Mustermann")
        await page.locator("#email").fill("erika@example.org")
        await page.get_by_role("button", name="Book", exact=True).click()

        # On the checkout's page (another origin: the CSP's form-action let the redirect go).
        await page.wait_for_url(re.compile(re.escape(fake_stripe.base_url) + r"/pay/cs_"))
        amount = (2 * ADULT_CENTS + CHILD_CENTS) / 100
        assert await page.locator("h1").inner_text() == f"Pay {amount:.2f} EUR"
        [booking_row] = [s for s in fake_stripe.sessions.values()]
        slot_now = await fetch_slot(db, slot.id)
        assert (slot_now.booked, slot_now.held) == (0, 3)
        assert smtp.handler.envelopes == []

        await page.locator("#pay").click()
        await page.wait_for_url(re.compile(r"/payments/return/[^/?]+\?session_id=cs_"))
        assert await page.locator("h1").inner_text() == "Payment received"
        text = await main_text(page)
        assert "your payment is received and your booking is confirmed" in text
        assert booking_row["client_reference_id"] in text
        await page.screenshot(path=SCREENSHOT, full_page=True)
        assert await small_targets(page) == []
        [(event, status)] = fake_stripe.delivered
        assert (event["type"], status) == ("checkout.session.completed", 200)
        slot_now = await fetch_slot(db, slot.id)
        assert (slot_now.booked, slot_now.held) == (3, 0)

        await page.get_by_role("link", name="See or manage my booking").click()
        await page.wait_for_url(re.compile(r"/manage/[^/?]+$"))
        token = page.url.rsplit("/", 1)[1]
        booking = await booking_service.find_by_token(db, token)
        assert booking.status == BookingStatus.CONFIRMED
        assert booking.reference == booking_row["client_reference_id"]
        assert f"Paid {TOTAL}, by card, online" in (await main_text(page)).replace("\n", " ")
        assert await small_targets(page) == []

        # Stripe does not answer the refund the cancellation sends: it waits for ``tick``.
        fake_stripe.fail_next("/v1/refunds", times=1, status=503)
        await page.get_by_label("Yes, I cancel this booking").check()
        await page.get_by_role("button", name="Cancel my booking").click()
        await page.wait_for_url(re.compile(r"\?done=cancelled$"))
        text = (await main_text(page)).replace("\n", " ").replace("\t", " ")
        assert "This booking is cancelled." in text
        assert re.search(rf"Refund on its way\s+{re.escape(TOTAL)}", text), text
        assert (await fetch_slot(db, slot.id)).booked == 0

        # Later, when the refund's next attempt is due, ``tick`` sends it again.
        async with db.writing() as session:
            await session.execute(
                update(Refund)
                .where(Refund.booking_id == booking.id)
                .values(next_attempt_at=clock.now() - timedelta(seconds=1))
            )
        output = run_tick(database_url, paid_site, fake_stripe, smtp)
        assert "payments: 1 refunds sent" in output, output
        await page.reload()
        text = (await main_text(page)).replace("\n", " ").replace("\t", " ")
        assert re.search(rf"Refunded\s+{re.escape(TOTAL)}", text), text
        assert "Refund on its way" not in text
        assert not [m for m in blocked if "Content Security Policy" in m], blocked

    assert [refund["amount"] for refund in fake_stripe.refunds.values()] == [
        2 * ADULT_CENTS + CHILD_CENTS
    ]
    # The confirmation went out once paid (tick delivered it), addressed to the visitor.
    subjects = [str(message["Subject"]) for message in smtp.handler.messages()]
    assert any(subject.startswith("Booking confirmed") for subject in subjects), subjects
