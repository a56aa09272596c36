"""Issue 12's "Done when", walked as a newcomer would in Chromium at phone size, on each
database, against the real server (``python -m reservations serve``) on the demo data, with the
in-process scheduler on and mail written to a folder as the demo does:

- in each language, the programme shows pictures and the month calendar; a visit under its
  minimum shows its meeting point (a ``geo:`` link) and how many more people it needs; the
  booking form's total follows the party; the booking's email arrives in the mail folder with
  no command typed, and so does the confirmation of its cancellation;
- a clerk planning Saturdays in a sector where they are weak sees each marked, with a better
  day proposed;
- from the at-risk board, the two under-minimum visits of one farm are merged: the clerk
  invites the smaller group, whose visitor moves with the one tap of the link in their email.

Every page is watched for CSP violations and console errors. The accessibility of each page is
``test_accessibility``'s."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reservations.base import clock
from reservations.base.models import Activity, Provider, Slot, SlotStatus, StaffRole
from reservations.base.reads import board
from reservations.base.rules.accounts import add_staff
from reservations.base.seeding.demo import load_demo
from tests.factories import fetch_slot
from tests.live_server import LiveServer, live_server, self_pointing_command
from tests.test_browser_csp import visit, watched
from tests.test_visitors import LOCALES

PASSWORD = "correct horse battery staple"
#: Mail is written by the server's own scheduler turns: a wait for them, not a measure of speed.
MAIL_PATIENCE_SECONDS = 60
#: A sector whose Saturdays the demo's history holds weak (0 of 16 took place).
WEAK_SATURDAYS = "Mont Lozère"
SATURDAY = 5  # the planning form's weekday boxes count from Monday = 0


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def mails(folder: Path, kind: str, to: str) -> list[email.message.EmailMessage]:
    """The messages of the folder whose outbox key starts with ``kind``, sent to ``to``."""
    found = []
    for path in sorted(folder.glob(f"*-{kind}*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if to in str(message["To"]):
            found.append(message)
    return found


async def wait_for_mail(folder: Path, kind: str, to: str, server: LiveServer):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + MAIL_PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if found := mails(folder, kind, to):
            return found[-1]
        await asyncio.sleep(0.25)
    raise AssertionError(f"no {kind} email to {to} in {folder}:\n{server.output()[-3000:]}")


async def bookable_priced_slots(db, exclude: set[int], count: int) -> list[tuple[Slot, Activity]]:  # type: ignore[no-untyped-def]
    """Upcoming open visits with a price and room for a party of 3, a day or more ahead."""
    soon = clock.now() + timedelta(days=1)
    async with db.reading() as session:
        rows = await session.execute(
            select(Slot, Activity)
            .join(Activity, Activity.id == Slot.activity_id)
            .where(
                Slot.status == SlotStatus.SCHEDULED,
                Slot.booking_cutoff_at > soon,
                Slot.booked + 3 <= Slot.capacity,
                Activity.price_adult_cents > 0,
                Slot.id.not_in(exclude),
            )
            .order_by(Slot.starts_at, Slot.id)
        )
        found = [(slot, activity) for slot, activity in rows]
    assert len(found) >= count
    return found[:count]


async def activity_in(db, sector: str) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.scalar(
            select(Activity.id)
            .join(Provider)
            .where(Provider.sector == sector, Activity.archived_at.is_(None))
            .order_by(Activity.id)
            .limit(1)
        )
    assert found is not None
    return found


@pytest.fixture
def demo_site(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The server as ``serve --demo`` runs it: its own scheduler every second, mail to a folder
    with live links, its links pointing at itself."""
    folder = tmp_path / "mail"
    command = self_pointing_command()
    environment = {
        "RESERVATIONS_TICK_SECONDS": "1",
        "RESERVATIONS_MAIL_DIR": str(folder),
        "RESERVATIONS_MAIL_DIR_LIVE_LINKS": "1",
        "RESERVATIONS_SMTP_HOST": "",
    }
    return folder, lambda: live_server(database_url, env=environment, command=command)


async def test_a_newcomer_walks_the_experience_at_phone_size(browser: Any, db, demo_site):  # type: ignore[no-untyped-def]
    await load_demo(db)
    now = clock.now()
    # The demo's pair of at-risk dates of one farm: the board's one proposal to merge (on some
    # weekdays other visits under their minimum are at risk too, alone).
    [merge] = await board.merge_proposals(db, await board.at_risk(db, now=now), now=now)
    first, second = merge.source, merge.target
    chosen = await bookable_priced_slots(db, {first.id, second.id}, len(LOCALES))
    folder, start = demo_site
    with start() as server:
        for lang, (slot, activity) in zip(LOCALES, chosen, strict=True):
            await walk_as_a_visitor(browser, server, folder, lang, first, slot, activity)
        await plan_and_merge_as_a_clerk(browser, server, folder, db, first, second)


async def walk_as_a_visitor(  # type: ignore[no-untyped-def]
    browser: Any, server: LiveServer, folder: Path, lang: str, at_risk, slot: Slot, activity
) -> None:
    async with watched(browser, lang) as (page, watch):
        # The programme: pictures (a cover per card, loaded once scrolled to) and the calendar.
        await visit(page, watch, server.url(f"/?lang={lang}"))
        assert await page.locator("table.month").first.is_visible()
        cover = page.locator("main picture img").first
        await cover.scroll_into_view_if_needed()
        await page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=await cover.element_handle()
        )
        assert await cover.get_attribute("alt")
        # The visit under its minimum: meeting point, and how many more people it needs.
        await visit(page, watch, server.url(f"/visits/{at_risk.id}?lang={lang}"))
        assert await page.locator('a[href^="geo:"]').count() == 1
        needs = await page.locator(".needs-more").first.inner_text()
        assert str(at_risk.min_participants - at_risk.booked) in needs
        # Booking another visit: the total follows the party, then the email comes by itself.
        await visit(page, watch, server.url(f"/visits/{slot.id}?lang={lang}"))
        await page.fill("#adults", "2")
        await page.fill("#children", "1")
        cents = 2 * activity.price_adult_cents + activity.price_child_cents
        await page.wait_for_function(
            "(wanted) => document.querySelector('#total').textContent.replace(/\\D/g, '') === wanted",
            arg=digits(f"{cents / 100:.2f}"),
        )
        address = f"walk-{lang}@example.org"
        await page.fill("#name", f"Walker {lang}")
        await page.fill("#email", address)
        await page.locator("form[action^='/visits/'] button[type=submit]").click()
        await page.wait_for_url(re.compile(r"/manage/[^/]+/confirmation"))
        confirmed = await wait_for_mail(folder, "booking-confirmed", address, server)
        assert f'lang="{lang}"' in confirmed.get_body(("html",)).get_content()
        # Cancelling from the manage page: confirmed by email too.
        await page.locator("a[href^='/manage/']:not([href$='.ics'])").last.click()
        await page.check("#confirm")
        await page.locator("section.cancel button[type=submit]").click()
        await page.wait_for_load_state("load")
        await wait_for_mail(folder, "booking-cancelled-by-visitor", address, server)
        assert watch.take() == []


async def plan_and_merge_as_a_clerk(  # type: ignore[no-untyped-def]
    browser: Any, server: LiveServer, folder: Path, db, first, second
) -> None:
    account = await add_staff(db, "clerk@office.example", PASSWORD, StaffRole.STAFF, actor="test")
    async with watched(browser, "fr") as (page, watch):
        await visit(page, watch, server.url("/staff/login"))
        await page.fill("#email", account.email)
        await page.fill("#password", PASSWORD)
        await page.locator("form button[type=submit]").click()
        await page.wait_for_url(re.compile(r"/staff/?$"))
        # Planning September's Saturdays next year in a sector where Saturdays are weak.
        await visit(page, watch, server.url("/staff/planning"))
        await page.select_option("#activity_id", str(await activity_in(db, WEAK_SATURDAYS)))
        year = clock.today().year + 1
        await page.fill("#first_day", f"{year}-09-01")
        await page.fill("#last_day", f"{year}-09-30")
        await page.fill("#at", "10:00")
        for box in await page.locator("input[name=weekdays]").all():
            await box.uncheck()
        await page.check(f"#weekday-{SATURDAY}")
        await page.locator("input[name=skip_saturdays]").uncheck()
        await page.locator("button[name=action][value=preview]").click()
        await page.wait_for_load_state("load")
        saturdays = sum(1 for day in range(1, 31) if date(year, 9, day).weekday() == SATURDAY)
        weak = page.locator("li.weak-date")
        assert await weak.count() == saturdays
        assert "Mieux : " in await weak.first.inner_text()
        assert await page.locator("button[name=use_better_days]").count() == 1
        # The board: the two under-minimum visits of one farm, merged with one click.
        await visit(page, watch, server.url("/staff/"))
        proposal = page.locator(f"#merge-{first.id}-{second.id}")
        await proposal.locator("button[type=submit]").click()
        await page.wait_for_load_state("load")
        assert await page.locator("p.notice[role=status]").count() >= 1
        assert watch.take() == []
    # The invited visitor (the demo's Dutch party of 2) moves with one tap of the emailed link.
    invitation = await wait_for_mail(folder, "move-invitation", "@", server)
    link = re.search(
        r"http://[^\s]+/move/[A-Za-z0-9_-]+", invitation.get_body(("plain",)).get_content()
    )
    assert link, "the invitation has a live link"
    async with watched(browser, "nl") as (page, watch):
        await visit(page, watch, link.group(0))
        await page.locator("form[action^='/move/'] button[type=submit]").click()
        await page.wait_for_load_state("load")
        assert await page.locator("h1").inner_text() == "U bent naar de nieuwe datum verplaatst"
        assert watch.take() == []
    assert ((await fetch_slot(db, first.id)).booked, (await fetch_slot(db, second.id)).booked) == (
        0,
        first.booked + second.booked,
    )
    await wait_for_mail(folder, "booking-moved", "@", server)
