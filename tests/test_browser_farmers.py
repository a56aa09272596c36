"""A farmer's morning in real Chromium on a phone-sized window, against a real server process
over the demo data, on each database: the office prints the farm's private link with the CLI,
the farmer opens it, sees this morning's bookings, records that everyone came, calls off
tomorrow's visit (its visitors' emails reach a loopback SMTP server, in their languages), and
subscribes a calendar to the feed, whose cancelled visit is kept as STATUS:CANCELLED.

Expected names and counts come from the demo's own booking list, never from the pages."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from asyncio.subprocess import PIPE, STDOUT
from datetime import timedelta
from typing import Any

import httpx
from icalendar import Calendar
from sqlalchemy import select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.infra.mailer import SmtpTransport, deliver_due
from reservations.base.models import (
    Activity,
    Attendance,
    Booking,
    CancelReason,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.seeding.demo import (
    BOOKINGS,
    FARMER_DAY,
    OFFERS,
    THIS_MORNING,
    TOMORROW,
    load_demo,
)
from tests.live_server import LiveServer
from tests.smtp_server import SmtpServer
from tests.test_browser import phone, plain

FARM = OFFERS[FARMER_DAY].provider
MORNING = [b for b in BOOKINGS if b.offer == FARMER_DAY and b.occurrence == THIS_MORNING]
TOMORROWS = [b for b in BOOKINGS if b.offer == FARMER_DAY and b.occurrence == TOMORROW]
#: How a cancellation's subject starts in each language (the catalogues' translations).
SUBJECT_START = {"de": "Abgesagt", "nl": "Geannuleerd", "fr": "Visite annulée ", "en": "Cancelled"}


async def farm_link(database_url: str, site: LiveServer) -> str:
    """What the office does: ``reservations provider link "FARM"``, in its own process."""
    environment = {
        **os.environ,
        "RESERVATIONS_DATABASE_URL": database_url,
        "RESERVATIONS_PUBLIC_URL": site.base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reservations", "provider", "link", FARM,
        env=environment, stdout=PIPE, stderr=STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert await process.wait() == 0, output.decode()
    return output.decode().strip().splitlines()[-1]


async def farm_slots(db: Database) -> list[Slot]:
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(Slot)
                .join(Activity)
                .join(Provider)
                .where(Provider.name == FARM, Slot.starts_at >= clock.now() - timedelta(hours=4))
                .order_by(Slot.starts_at)
            )
        )


async def test_a_farmers_morning_on_the_phone(
    browser: Any, site: LiveServer, db: Database, smtp: SmtpServer, database_url: str
) -> None:
    await load_demo(db)
    this_morning, tomorrow = (await farm_slots(db))[:2]
    assert tomorrow.starts_on == clock.today() + timedelta(days=1)
    link = await farm_link(database_url, site)
    async with db.reading() as session:
        to_tell = (
            await session.execute(
                select(Booking.email, Booking.locale).where(
                    Booking.slot_id == tomorrow.id, Booking.email.is_not(None)
                )
            )
        ).all()
    assert {b.name for b in TOMORROWS} <= {b.name for b in BOOKINGS}  # the demo's own list
    assert len(to_tell) >= len(TOMORROWS)

    async with phone(browser, "fr-FR") as page:
        # The day of this morning's visit (today, unless the test runs just after midnight).
        day = this_morning.starts_on
        await page.goto(link if day == clock.today() else f"{link}/{day.isoformat()}")
        assert await page.get_attribute("html", "lang") == "fr"
        sheet = plain(await page.locator("main").inner_text())
        for booking in MORNING:
            assert booking.name in sheet
        people = sum(b.adults + b.children for b in MORNING)
        assert f"{people} places réservées sur {this_morning.capacity}" in sheet

        await page.get_by_role("button", name="Tout le monde est venu").click()
        await page.wait_for_url(re.compile(r"\?done=attendance"))
        assert "Présence enregistrée" in plain(await page.get_by_role("status").inner_text())
        assert f"{people} personnes sont venues" in plain(await page.locator("main").inner_text())

        await page.goto(f"{link}/{tomorrow.starts_on.isoformat()}")
        await page.get_by_role("link", name="Annuler cette visite").click()
        await page.get_by_label("Météo").check()
        await page.get_by_label("Un message pour les visiteurs (facultatif)").fill(
            "Orages annoncés sur le mont Lozère."
        )
        await page.get_by_label("Oui, annuler cette visite").check()
        await page.get_by_role("button", name="Annuler la visite et prévenir les visiteurs").click()
        await page.wait_for_url(re.compile(r"\?done=cancelled"))
        assert "La visite est annulée" in plain(await page.get_by_role("status").inner_text())

        webcal = await page.get_by_role("link", name="M’abonner dans mon agenda").get_attribute(
            "href"
        )

    async with db.reading() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Slot.id, Slot.status).where(Slot.id.in_([this_morning.id, tomorrow.id]))
                )
            ).all()
        )
        came = (
            await session.execute(
                select(Attendance.adults, Attendance.children)
                .join(Booking)
                .where(Booking.slot_id == this_morning.id)
            )
        ).all()
        reason = await session.scalar(select(Slot.cancel_reason).where(Slot.id == tomorrow.id))
    assert statuses == {this_morning.id: SlotStatus.HELD, tomorrow.id: SlotStatus.CANCELLED}
    assert sorted(came) == sorted((b.adults, b.children) for b in MORNING)
    assert reason == CancelReason.WEATHER

    # The visitors' emails, each in its language, through the outbox to the SMTP server.
    report = await deliver_due(db, SmtpTransport(smtp.settings()))
    told = [
        m
        for m in smtp.handler.messages()
        if "Orages annoncés" in m.get_body(("plain",)).get_content()
    ]
    assert report.failed == 0
    assert sorted(m["To"].addresses[0].addr_spec for m in told) == sorted(e for e, _ in to_tell)
    subjects = sorted(plain(str(m["Subject"])).split(":")[0] for m in told)
    assert subjects == sorted(SUBJECT_START[locale] for _, locale in to_tell)

    # The calendar subscription: webcal:// for the phone, the same feed over http.
    assert webcal is not None and webcal.startswith("webcal://")
    feed = "http://" + webcal.removeprefix("webcal://")
    async with httpx.AsyncClient(timeout=10.0) as client:
        answer = await client.get(feed)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    events = {str(e["UID"]): e for e in Calendar.from_ical(answer.content).walk("VEVENT")}
    assert str(events[f"slot-{tomorrow.id}@reservations"]["STATUS"]) == "CANCELLED"
    assert f"slot-{this_morning.id}@reservations" in events
