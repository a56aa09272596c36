"""The morning email to providers, on each database, delivered through a real SMTP server on
loopback: nothing before the hour, then one day sheet per provider with visitors and an address
(names, phones, notes and totals as booked), in the provider's language, once however often or
concurrently ``tick`` runs."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from babel.dates import format_date
from sqlalchemy import select

from reservations.base import clock
from reservations.base.infra.mailer import deliver_due, transport_for
from reservations.base.models import Activity, CancelReason, OutboxMessage, Provider, Slot
from reservations.base.rules import booking as booking_service
from reservations.base.rules import slots
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.notices.morning import queue_morning_emails
from reservations.settings import Settings
from tests.factories import make_activity, make_slot
from tests.smtp_server import smtp_server

POLICY = BookingPolicy(secret_key="test", max_party_size=15)
HOUR = 7


@dataclass(frozen=True)
class Party:
    name: str
    adults: int
    children: int
    phone: str | None = None
    notes: str | None = None
    locale: str = "fr"


@dataclass
class Farm:
    name: str
    email: str | None
    activity: Activity
    parties: list[Party] = field(default_factory=list)

    @property
    def adults(self) -> int:
        return sum(p.adults for p in self.parties)

    @property
    def children(self) -> int:
        return sum(p.children for p in self.parties)


async def make_farm(  # type: ignore[no-untyped-def]
    db, name: str, *, languages: list[str] | None = None, email: bool = True
) -> Farm:
    activity = await make_activity(db, provider_name=name, capacity=15)
    async with db.writing() as session:
        provider = await session.get(Provider, activity.provider_id)
        if languages:
            provider.languages = languages
        if not email:
            provider.email = None
        address = provider.email
    return Farm(name, address, activity)


async def book(db, slot: Slot, party: Party, *, now: datetime | None = None) -> None:  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot.id,
        adults=party.adults,
        children=party.children,
        name=party.name,
        email=f"{party.name.split()[0].lower()}@example.org",
        phone=party.phone,
        notes=party.notes,
        locale=party.locale,
    )
    await booking_service.book(db, request, POLICY, actor="test", now=now)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return clock.local_datetime(day, time(hour, minute))


@dataclass
class Day:
    day: date
    chevrerie: Farm  # two visits that day (and one the next day)
    hof: Farm  # German-speaking
    quiet: Farm  # a visit nobody booked
    no_address: Farm  # visitors, but no email address
    called_off: Farm  # its only visit that day was cancelled with its bookings

    @property
    def served(self) -> list[Farm]:
        return [self.chevrerie, self.hof]


async def a_busy_day(db, day: date, *, booked_at: datetime | None = None) -> Day:  # type: ignore[no-untyped-def]
    """Five farms on ``day``; bookings made at ``booked_at`` (default: now)."""
    chevrerie = await make_farm(db, "Chèvrerie du Mas")
    hof = await make_farm(db, "Hof Sonnenschein", languages=["de", "fr"])
    quiet = await make_farm(db, "Ferme tranquille")
    no_address = await make_farm(db, "Ferme sans adresse", email=False)
    called_off = await make_farm(db, "Ferme annulée")

    morning = await make_slot(db, activity=chevrerie.activity, starts_at=at(day, 10), capacity=15)
    afternoon = await make_slot(db, activity=chevrerie.activity, starts_at=at(day, 15))
    tomorrow = await make_slot(
        db, activity=chevrerie.activity, starts_at=at(day + timedelta(days=1), 10)
    )
    for slot, party in [
        (morning, Party("Anne Martin", 2, 1, "+33 6 12 34 56 78", "Poussette & chien", "en")),
        (morning, Party("Jonas Weber", 3, 1, None, None, "de")),
        (afternoon, Party("Piet Smit", 1, 0, "+31 6 1234 5678", None, "nl")),
    ]:
        await book(db, slot, party, now=booked_at)
        chevrerie.parties.append(party)
    await book(db, tomorrow, Party("Tom Lendemain", 2, 0), now=booked_at)

    hof_slot = await make_slot(db, activity=hof.activity, starts_at=at(day, 11))
    for party in [Party("Claire Dubois", 1, 1), Party("Marc Petit", 1, 0, notes="Allergie")]:
        await book(db, hof_slot, party, now=booked_at)
        hof.parties.append(party)

    await make_slot(db, activity=quiet.activity, starts_at=at(day, 9))
    silent = await make_slot(db, activity=no_address.activity, starts_at=at(day, 9))
    await book(db, silent, Party("Sans Adresse", 2, 0), now=booked_at)
    off = await make_slot(db, activity=called_off.activity, starts_at=at(day, 9))
    await book(db, off, Party("Annulé Pourtant", 2, 0), now=booked_at)
    await slots.cancel_slot(
        db, off.id, CancelReason.WEATHER, actor="test", now=booked_at or clock.now()
    )
    return Day(day, chevrerie, hof, quiet, no_address, called_off)


async def day_sheet_rows(db) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        found = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedup_key.startswith("provider-day:"))
            .order_by(OutboxMessage.to_address)
        )
        return list(found)


def plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return plain(text.get_content()), plain(html.get_content())


async def test_nothing_before_the_hour_then_one_day_sheet_per_provider_with_visitors(db):
    day = clock.today() + timedelta(days=3)
    busy = await a_busy_day(db, day)
    settings = Settings(morning_email_hour=HOUR, public_url="http://visites.example")

    assert await queue_morning_emails(db, settings, now=at(day, HOUR - 1, 59)) == 0
    assert await queue_morning_emails(db, settings, now=at(day - timedelta(days=1), 23)) == 0
    assert await day_sheet_rows(db) == []

    assert await queue_morning_emails(db, settings, now=at(day, HOUR)) == 2
    assert await queue_morning_emails(db, settings, now=at(day, HOUR, 5)) == 0
    assert await queue_morning_emails(db, settings, now=at(day, 21)) == 0
    rows = await day_sheet_rows(db)
    assert sorted(r.to_address for r in rows) == sorted(f.email for f in busy.served)
    assert sorted(r.dedup_key for r in rows) == sorted(
        f"provider-day:{f.activity.provider_id}:{day.isoformat()}" for f in busy.served
    )

    with smtp_server() as server:
        report = await deliver_due(db, transport_for(server.settings()))
        again = await deliver_due(db, transport_for(server.settings()))
        messages = server.handler.messages()
    assert (report.sent, again.sent) == (2, 0)
    by_address = {m["To"]: m for m in messages}
    assert sorted(by_address) == sorted(f.email for f in busy.served)

    # In French for the Chèvrerie: every booking of that day, with totals the test adds up.
    chevrerie = busy.chevrerie
    message = by_address[chevrerie.email]
    people = chevrerie.adults + chevrerie.children
    assert plain(message["Subject"]).startswith("Vos visiteurs du ")
    assert plain(message["Subject"]).endswith(f" : {people} personnes")
    text, html = parts(message)
    assert format_date(day, "full", locale="fr") in text
    assert "Bonjour Chèvrerie du Mas," in text
    for party in chevrerie.parties:
        assert party.name in text and party.name in html
        line = next(li for li in text.splitlines() if li.startswith(f"- {party.name}"))
        assert f"Adultes : {party.adults}" in line and f"Enfants : {party.children}" in line
        if party.phone:
            assert party.phone in line
    assert "Langue : anglais" in text and "Langue : néerlandais" in text
    assert "Poussette & chien" in text and "Poussette &amp; chien" in html
    morning_people = sum(p.adults + p.children for p in chevrerie.parties[:2])
    assert f"{morning_people} places réservées sur 15, minimum 0." in text
    assert (
        f"Au total : Adultes : {chevrerie.adults} · Enfants : {chevrerie.children} · "
        f"Personnes : {people}"
    ) in text
    assert "Tom Lendemain" not in text, "the next day's visitors are not in today's sheet"
    assert "/farm/" not in text and "/farm/" not in html, "only the hash of the link is kept"
    assert "lien personnel" in text
    assert text.index("10:00") < text.index("15:00")

    # In German for the Hof, its provider's first language.
    hof = busy.hof
    message = by_address[hof.email]
    hof_people = hof.adults + hof.children
    assert plain(message["Subject"]).endswith(f": {hof_people} Personen")
    text, _ = parts(message)
    assert format_date(day, "full", locale="de") in text
    assert (
        f"Insgesamt: Erwachsene: {hof.adults} · Kinder: {hof.children} · Personen: {hof_people}"
    ) in text
    assert "Hinweise: Allergie" in text
    for name in ("Sans Adresse", "Annulé Pourtant", "Anne Martin"):
        assert name not in text


async def test_two_runs_at_once_queue_one_day_sheet_each(db):
    day = clock.today() + timedelta(days=2)
    busy = await a_busy_day(db, day)
    settings = Settings(morning_email_hour=HOUR)
    queued = await asyncio.gather(
        *(queue_morning_emails(db, settings, now=at(day, HOUR, 1)) for _ in range(3))
    )
    assert sum(queued) == 2
    rows = await day_sheet_rows(db)
    assert sorted(r.to_address for r in rows) == sorted(f.email for f in busy.served)


async def run_tick(database_url: str, smtp_environment: dict[str, str]) -> str:
    environment = dict(
        os.environ,
        RESERVATIONS_DATABASE_URL=database_url,
        RESERVATIONS_MORNING_EMAIL_HOUR="0",
        **smtp_environment,
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "reservations"),
        "tick",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def day_sheets_queued(output: str) -> int:
    found = re.search(r"^day sheets: (\d+) ", output, re.MULTILINE)
    assert found, output
    return int(found.group(1))


async def test_reservations_tick_sends_each_day_sheet_once_even_run_concurrently(db, database_url):
    today = clock.today()
    busy = await a_busy_day(db, today, booked_at=at(today, 0) - timedelta(days=2))
    # The visits are still to come when the real tick runs (it reads the clock), an hour from
    # now and later; decided already, so that tick leaves them as they are.
    soon = clock.now().replace(microsecond=0) + timedelta(hours=1)
    if clock.local_date(soon + timedelta(minutes=30)) != today:
        pytest.skip("too close to midnight: no visit can still come today")
    async with db.writing() as session:
        todays = list(await session.scalars(select(Slot).where(Slot.starts_on == today)))
        for number, slot in enumerate(sorted(todays, key=lambda s: s.id)):
            slot.starts_at = soon + timedelta(minutes=number)
            slot.ends_at = slot.starts_at + timedelta(minutes=90)
            slot.decision_at = at(today, 0)
    with smtp_server() as server:
        outputs = await asyncio.gather(
            run_tick(database_url, server.environment()),
            run_tick(database_url, server.environment()),
        )
        later = await run_tick(database_url, server.environment())
        messages = server.handler.messages()
    assert sum(day_sheets_queued(o) for o in outputs) == 2, outputs
    assert day_sheets_queued(later) == 0
    day_sheets = [m for m in messages if m["To"] in {f.email for f in busy.served}]
    assert sorted(m["To"] for m in day_sheets) == sorted(f.email for f in busy.served)
    assert len(await day_sheet_rows(db)) == 2


def test_the_hour_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESERVATIONS_MORNING_EMAIL_HOUR", raising=False)
    assert Settings.from_env().morning_email_hour == 7
    monkeypatch.setenv("RESERVATIONS_MORNING_EMAIL_HOUR", "6")
    assert Settings.from_env().morning_email_hour == 6
    for wrong in ("24", "-1", "seven"):
        monkeypatch.setenv("RESERVATIONS_MORNING_EMAIL_HOUR", wrong)
        with pytest.raises(SystemExit):
            Settings.from_env()


async def test_no_day_sheet_once_the_days_visits_have_all_started(db):
    """A tick that runs first in the afternoon, after the last visit began, sends nothing: the
    sheet would come too late to help."""
    day = clock.today() + timedelta(days=5)
    await a_busy_day(db, day, booked_at=at(day, 0) - timedelta(days=2))
    settings = Settings(database_url=db.url, morning_email_hour=HOUR)
    assert await queue_morning_emails(db, settings, now=at(day, 15, 1)) == 0
    assert await queue_morning_emails(db, settings, now=at(day, 14, 59)) == 1  # the 15:00 visit
