"""The public programme feed (``/calendar.ics``), on each database: no login, read back by
icalendar and by vobject (an independent parser that turns times into instants with the feed's
own VTIMEZONE), its window (a week back, a year ahead), every state of a slot with stable UIDs,
SEQUENCE and STATUS:CANCELLED after a cancellation, the sector and kind filters, the language,
and conditional GET (ETag, Last-Modified, 304 without reading the slots)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import vobject
from icalendar import Calendar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import (
    Activity,
    ActivityKind,
    CancelReason,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.rules import slots
from reservations.notices.ics import slot_uid
from tests.factories import fetch_slot, make_activity, make_slot
from tests.test_visitors import PUBLIC_URL, site_settings, upcoming

FEED = "/calendar.ics"


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    """A client with no session: the feed is public."""
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


def events_by_uid(body: bytes) -> dict[str, object]:
    return {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}


async def set_status(db, slot_id: int, status: SlotStatus) -> None:  # type: ignore[no-untyped-def]
    async with db.writing() as session:
        await session.execute(update(Slot).where(Slot.id == slot_id).values(status=status))


async def test_the_feed_holds_a_week_back_to_a_year_ahead_in_every_state(client, db):
    farm = await make_activity(db, provider_name="Ferme des Bouzèdes")
    last_week = await make_slot(db, activity=farm, starts_at=upcoming(days=-6))
    await set_status(db, last_week.id, SlotStatus.HELD)
    too_old = await make_slot(db, activity=farm, starts_at=upcoming(days=-9))
    scheduled = await make_slot(db, activity=farm, starts_at=upcoming(days=2))
    confirmed = await make_slot(db, activity=farm, starts_at=upcoming(days=3))
    await set_status(db, confirmed.id, SlotStatus.CONFIRMED)
    called_off = await make_slot(db, activity=farm, starts_at=upcoming(days=4))
    await slots.cancel_slot(db, called_off.id, CancelReason.WEATHER, actor="test")
    next_year = await make_slot(db, activity=farm, starts_at=upcoming(days=360))
    too_far = await make_slot(db, activity=farm, starts_at=upcoming(days=370))
    archived = await make_activity(db, provider_name="Ferme fermée")
    gone = await make_slot(db, activity=archived, starts_at=upcoming(days=5))
    async with db.writing() as session:
        await session.execute(
            update(Activity).where(Activity.id == archived.id).values(archived_at=clock.now())
        )

    answer = await client.get(FEED)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    events = events_by_uid(answer.content)
    listed = [last_week, scheduled, confirmed, called_off, next_year]
    assert set(events) == {slot_uid(s.id) for s in listed}
    assert slot_uid(too_old.id) not in events and slot_uid(too_far.id) not in events
    assert slot_uid(gone.id) not in events, "an archived activity is off the programme"
    statuses = {uid: str(e["STATUS"]) for uid, e in events.items()}
    assert statuses == {
        slot_uid(last_week.id): "CONFIRMED",
        slot_uid(scheduled.id): "TENTATIVE",
        slot_uid(confirmed.id): "CONFIRMED",
        slot_uid(called_off.id): "CANCELLED",
        slot_uid(next_year.id): "TENTATIVE",
    }
    title = farm.title["fr"]
    for slot in listed:
        stored = await fetch_slot(db, slot.id)
        vevent = events[slot_uid(slot.id)]
        assert vevent["DTSTART"].dt == stored.starts_at
        assert vevent["DTSTART"].params["TZID"] == "Europe/Paris"
        assert vevent["DTEND"].dt == stored.ends_at
        assert str(vevent["URL"]) == f"{PUBLIC_URL}/visits/{slot.id}"
        assert int(vevent["SEQUENCE"]) == stored.sequence
        expected = f"Annulée : {title}" if slot is called_off else title
        assert str(vevent["SUMMARY"]).replace("\xa0", " ") == expected
    # An independent reader finds the same instants through the feed's own VTIMEZONE.
    read = {e.uid.value: e for e in vobject.readOne(answer.text).vevent_list}
    assert set(read) == set(events)
    for slot in listed:
        stored = await fetch_slot(db, slot.id)
        assert read[slot_uid(slot.id)].dtstart.value.astimezone(UTC) == stored.starts_at
    assert read[slot_uid(called_off.id)].status.value == "CANCELLED"


async def test_a_cancelled_slot_keeps_its_uid_and_raises_its_sequence(client, db):
    farm = await make_activity(db)
    kept = await make_slot(db, activity=farm, starts_at=upcoming(days=5))
    called_off = await make_slot(db, activity=farm, starts_at=upcoming(days=6))
    first = await client.get(FEED)
    again = await client.get(FEED)
    assert first.content == again.content, "the same feed at every fetch until something changes"
    before = events_by_uid(first.content)

    await slots.cancel_slot(db, called_off.id, CancelReason.PROVIDER, actor="test")

    after_response = await client.get(FEED)
    assert after_response.headers["etag"] != first.headers["etag"]
    after = events_by_uid(after_response.content)
    assert set(after) == set(before) == {slot_uid(kept.id), slot_uid(called_off.id)}
    sequence = (await fetch_slot(db, called_off.id)).sequence
    assert sequence == int(before[slot_uid(called_off.id)]["SEQUENCE"]) + 1
    assert int(after[slot_uid(called_off.id)]["SEQUENCE"]) == sequence
    assert str(after[slot_uid(called_off.id)]["STATUS"]) == "CANCELLED"
    assert after[slot_uid(kept.id)]["DTSTAMP"].to_ical() == (
        before[slot_uid(kept.id)]["DTSTAMP"].to_ical()
    )


async def test_sector_and_kind_filters(client, db):
    lozere = await make_activity(db, sector="Mont Lozère", kind=ActivityKind.FARM_VISIT)
    show = await make_activity(db, sector="Mont Lozère", kind=ActivityKind.ANIMATION)
    valley = await make_activity(db, sector="Vallée Française", kind=ActivityKind.FARM_VISIT)
    slot_of = {
        name: await make_slot(db, activity=activity, starts_at=upcoming(days=3 + i))
        for i, (name, activity) in enumerate(
            (("lozere", lozere), ("show", show), ("valley", valley))
        )
    }

    async def uids(**params: str) -> set[str]:
        answer = await client.get(FEED, params=params)
        assert answer.status_code == 200
        return set(events_by_uid(answer.content))

    def expected(*names: str) -> set[str]:
        return {slot_uid(slot_of[name].id) for name in names}

    assert await uids() == expected("lozere", "show", "valley")
    assert await uids(sector="Mont Lozère") == expected("lozere", "show")
    assert await uids(kind="animation") == expected("show")
    assert await uids(sector="Mont Lozère", kind="farm_visit") == expected("lozere")
    assert await uids(sector="Nowhere") == set(), "an unknown sector: an empty calendar"
    assert await uids(kind="bogus") == expected("lozere", "show", "valley")
    named = Calendar.from_ical((await client.get(FEED, params={"sector": "Mont Lozère"})).content)
    assert str(named["X-WR-CALNAME"]) == "Visites de ferme et animations — Mont Lozère"


async def test_titles_follow_the_language_asked_for(client, db):
    farm = await make_activity(db)
    slot = await make_slot(db, activity=farm, starts_at=upcoming(days=2))
    english = await client.get(FEED, params={"lang": "en"})
    german = await client.get(FEED, params={"lang": "de"})
    assert str(events_by_uid(english.content)[slot_uid(slot.id)]["SUMMARY"]) == farm.title["en"]
    # The factory's activity has no German title: the French one stands in.
    assert str(events_by_uid(german.content)[slot_uid(slot.id)]["SUMMARY"]) == farm.title["fr"]
    assert english.headers["etag"] != german.headers["etag"]
    assert "Tourist office:" in english.content.decode()


async def test_a_poll_with_the_etag_gets_304_without_reading_the_slots(client, db):
    farm = await make_activity(db)
    await make_slot(db, activity=farm, starts_at=upcoming(days=2))
    first = await client.get(FEED)
    etag = first.headers["etag"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        unchanged = await client.get(FEED, headers={"If-None-Match": etag})
        reads_for_304 = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert unchanged.headers["cache-control"] == "public, max-age=900"
    assert len(reads_for_304) == 1, reads_for_304  # the one aggregate row
    assert "count(" in reads_for_304[0].lower()
    other = await client.get(FEED, headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.content == first.content

    added = await make_slot(db, activity=farm, starts_at=upcoming(days=9))
    changed = await client.get(FEED, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert slot_uid(added.id) in events_by_uid(changed.content)
    again = await client.get(FEED, headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


async def test_last_modified_and_if_modified_since(client, db):
    farm = await make_activity(db)
    slot = await make_slot(db, activity=farm, starts_at=upcoming(days=2))
    an_hour_ago = clock.now() - timedelta(hours=1)
    async with db.writing() as session:  # everything in the feed last changed an hour ago
        for table in (Slot, Activity, Provider):
            await session.execute(update(table).values(updated_at=an_hour_ago))
    first = await client.get(FEED)
    last_modified = parsedate_to_datetime(first.headers["last-modified"])
    window_opened = clock.local_datetime(clock.today() - timedelta(days=7), time(0))
    assert last_modified == max(an_hour_ago, window_opened).replace(microsecond=0)

    same = await client.get(FEED, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert same.status_code == 304 and same.content == b""
    earlier = format_datetime(last_modified - timedelta(seconds=1), usegmt=True)
    assert (await client.get(FEED, headers={"If-Modified-Since": earlier})).status_code == 200

    changed_at = clock.now()
    await slots.cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test")
    changed = await client.get(FEED, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert changed.status_code == 200
    assert parsedate_to_datetime(changed.headers["last-modified"]) >= changed_at.replace(
        microsecond=0
    )
