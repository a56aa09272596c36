"""The provider's private calendar feed (``/farm/{secret}/calendar.ics``), on each database: read
back by icalendar and by vobject (an independent parser that turns times into instants with the
feed's own VTIMEZONE), scoped to its farm, stable UIDs, SEQUENCE and STATUS after a
cancellation, head counts, language, and conditional GET (ETag, Last-Modified, 304)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import vobject
from icalendar import Calendar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, select, update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import Activity, Booking, CancelReason, Provider, Slot
from reservations.base.rules import activities, slots
from reservations.base.rules import booking as booking_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.provider_links import issue_link
from reservations.notices.ics import slot_uid
from tests.factories import fetch_slot, make_activity, make_slot
from tests.test_visitors import MAX_PARTY, PUBLIC_URL, site_settings, upcoming

POLICY = BookingPolicy(secret_key="test", max_party_size=MAX_PARTY)


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


@dataclass
class Farm:
    name: str
    secret: str
    activity: Activity

    @property
    def feed(self) -> str:
        return f"/farm/{self.secret}/calendar.ics"


async def make_farm(db, name: str, languages: list[str] | None = None) -> Farm:  # type: ignore[no-untyped-def]
    activity = await make_activity(db, provider_name=name, capacity=15)
    if languages:
        async with db.writing() as session:
            await session.execute(
                update(Provider)
                .where(Provider.id == activity.provider_id)
                .values(languages=languages)
            )
    return Farm(name, await issue_link(db, name), activity)


async def book(  # type: ignore[no-untyped-def]
    db, slot_id: int, name: str, adults: int, children: int = 0, **fields: object
) -> int:
    request = BookingRequest(
        slot_id=slot_id,
        adults=adults,
        children=children,
        name=name,
        email=f"{name.split()[0].lower()}@example.org",
        **fields,  # type: ignore[arg-type]
    )
    return (await booking_service.book(db, request, POLICY, actor="test")).booking.id


def events_by_uid(body: bytes) -> dict[str, object]:
    return {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}


def unfolded(body: bytes) -> str:
    return body.decode().replace("\r\n ", "").replace("\\,", ",").replace("\\n", "\n")


def french_summary(title: str, adults: int, children: int) -> str:
    return f"{title} — {adults + children} pers. ({adults} ad., {children} enf.)"


async def test_the_feed_holds_the_farms_slots_with_head_counts_and_bookings(client, db):
    farm = await make_farm(db, "Chèvrerie du Mas")
    other = await make_farm(db, "Ferme d'à côté")
    summer = await make_slot(
        db, activity=farm.activity, starts_at=upcoming(days=3), capacity=15, min_participants=4
    )
    winter = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=183), capacity=8)
    elsewhere = await make_slot(db, activity=other.activity, starts_at=upcoming(days=3))
    too_old = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=-70))
    too_far = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=400))
    parties = [
        ("Anne Martin", 2, 1, "+33 6 12 34 56 78", "Végétariens", "en"),
        ("Jonas Weber", 3, 1, None, None, "de"),
    ]
    for name, adults, children, phone, notes, locale in parties:
        await book(db, summer.id, name, adults, children, phone=phone, notes=notes, locale=locale)
    await book(db, elsewhere.id, "Pieter Smit", 2)
    gone = await book(db, summer.id, "Gone Away", 1)
    await booking_service.cancel_booking(db, gone, actor="test")

    response = await client.get(farm.feed)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, max-age=300"
    assert response.headers["etag"].startswith('"')
    assert parsedate_to_datetime(response.headers["last-modified"]).tzinfo is not None
    body = response.content
    parsed = Calendar.from_ical(body)
    assert str(parsed["X-WR-CALNAME"]).endswith("Chèvrerie du Mas")
    assert parsed.refresh_interval == timedelta(hours=1)
    [timezone] = parsed.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Europe/Paris"
    events = events_by_uid(body)
    assert set(events) == {slot_uid(summer.id), slot_uid(winter.id)}
    for excluded in (elsewhere, too_old, too_far):
        assert slot_uid(excluded.id) not in body.decode()
    assert "Pieter" not in unfolded(body)

    title = farm.activity.title["fr"]
    adults = sum(p[1] for p in parties)
    children = sum(p[2] for p in parties)
    first = events[slot_uid(summer.id)]
    assert str(first["SUMMARY"]) == french_summary(title, adults, children)
    assert str(events[slot_uid(winter.id)]["SUMMARY"]) == f"{title} — aucune réservation"
    description = str(first["DESCRIPTION"])
    assert f"{adults + children} places réservées sur 15, minimum 4." in description
    assert "Anne Martin" in description and "+33 6 12 34 56 78" in description
    assert "Végétariens" in description and "anglais" in description
    assert "Jonas Weber" in description and "allemand" in description
    assert "Gone Away" not in description
    assert f"{PUBLIC_URL}/farm/{farm.secret}/{summer.starts_on.isoformat()}" in description
    assert str(first["URL"]) == f"{PUBLIC_URL}/farm/{farm.secret}/{summer.starts_on.isoformat()}"
    assert str(first["STATUS"]) == "TENTATIVE" and int(first["SEQUENCE"]) == 0
    stored = await fetch_slot(db, summer.id)
    assert first.decoded("DTSTAMP") == stored.updated_at.replace(microsecond=0)
    for slot in (summer, winter):
        event_ = events[slot_uid(slot.id)]
        assert event_.decoded("DTSTART") == slot.starts_at
        assert event_.decoded("DTEND") == slot.ends_at
        assert event_["DTSTART"].params["TZID"] == "Europe/Paris"

    # A second, independent reader: vobject, with the feed's own VTIMEZONE (dateutil's tzical).
    calendar = vobject.readOne(body.decode("utf-8"))
    read = {e.uid.value: e for e in calendar.vevent_list}
    assert set(read) == {slot_uid(summer.id), slot_uid(winter.id)}
    offsets = set()
    for slot in (summer, winter):
        vevent = read[slot_uid(slot.id)]
        start = vevent.dtstart.value
        assert type(start.tzinfo).__module__.startswith("dateutil"), start.tzinfo
        assert start.astimezone(UTC) == slot.starts_at
        assert vevent.dtend.value.astimezone(UTC) == slot.ends_at
        offsets.add(start.utcoffset())
        assert start.utcoffset() == slot.starts_at.astimezone(clock.OFFICE_TZ).utcoffset()
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}, "summer and winter time"
    assert read[slot_uid(summer.id)].summary.value == french_summary(title, adults, children)
    assert "Jonas Weber" in read[slot_uid(summer.id)].description.value
    assert read[slot_uid(summer.id)].status.value == "TENTATIVE"
    assert calendar.contents["x-wr-calname"][0].value.endswith("Chèvrerie du Mas")

    # The other farm's feed has its own slot only.
    theirs = events_by_uid((await client.get(other.feed)).content)
    assert set(theirs) == {slot_uid(elsewhere.id)}
    assert str(theirs[slot_uid(elsewhere.id)]["SUMMARY"]).endswith("2 pers. (2 ad., 0 enf.)")


async def test_uids_stay_and_a_cancelled_slot_raises_its_sequence(client, db):
    farm = await make_farm(db, "Ferme des Aires")
    kept = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=5))
    called_off = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=6))
    await book(db, called_off.id, "Anne Martin", 2)
    first = await client.get(farm.feed)
    again = await client.get(farm.feed)
    assert first.content == again.content, "the same feed at every fetch until something changes"
    assert first.headers["etag"] == again.headers["etag"]
    before = events_by_uid(first.content)
    assert str(before[slot_uid(called_off.id)]["STATUS"]) == "TENTATIVE"

    await slots.cancel_slot(db, called_off.id, CancelReason.WEATHER, actor="test")

    after_response = await client.get(farm.feed)
    assert after_response.headers["etag"] != first.headers["etag"]
    after = events_by_uid(after_response.content)
    assert set(after) == set(before) == {slot_uid(kept.id), slot_uid(called_off.id)}
    cancelled = after[slot_uid(called_off.id)]
    sequence = (await fetch_slot(db, called_off.id)).sequence
    assert sequence == int(before[slot_uid(called_off.id)]["SEQUENCE"]) + 1
    assert int(cancelled["SEQUENCE"]) == sequence
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert "Anne Martin" in str(cancelled["DESCRIPTION"]), "who had booked, told by email"
    assert int(after[slot_uid(kept.id)]["SEQUENCE"]) == 0
    assert after[slot_uid(kept.id)]["DTSTAMP"].to_ical() == (
        before[slot_uid(kept.id)]["DTSTAMP"].to_ical()
    )
    [read] = [
        e
        for e in vobject.readOne(after_response.text).vevent_list
        if e.uid.value == slot_uid(called_off.id)
    ]
    assert (read.status.value, int(read.sequence.value)) == ("CANCELLED", sequence)


async def test_the_language_is_asked_for_or_the_providers_first(client, db):
    farm = await make_farm(db, "Hof Sonnenschein", languages=["de", "fr"])
    slot = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=4))
    await book(db, slot.id, "Anne Martin", 1, 1)
    german = await client.get(farm.feed)
    english = await client.get(farm.feed, params={"lang": "en"})
    title_de = farm.activity.title.get("de") or farm.activity.title["fr"]
    [event_de] = Calendar.from_ical(german.content).walk("VEVENT")
    assert str(event_de["SUMMARY"]) == f"{title_de} — 2 Pers. (1 Erw., 1 Ki.)"
    [event_en] = Calendar.from_ical(english.content).walk("VEVENT")
    assert str(event_en["SUMMARY"]) == f"{farm.activity.title['en']} — 2 people (1 ad., 1 ch.)"
    assert german.headers["etag"] != english.headers["etag"]


async def test_a_poll_with_the_etag_gets_304_until_a_booking(client, db):
    farm = await make_farm(db, "Mas de la Barque")
    slot = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=2))
    await book(db, slot.id, "Anne Martin", 2)
    first = await client.get(farm.feed)
    etag = first.headers["etag"]

    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        unchanged = await client.get(farm.feed, headers={"If-None-Match": etag})
        reads_for_304 = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        statements.clear()
        await client.get(farm.feed)
        reads_for_200 = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert unchanged.headers["cache-control"] == "private, max-age=300"
    # The link's provider, then the one aggregate: no slot or booking rows read.
    assert len(reads_for_304) == 2, reads_for_304
    assert "FROM booking" not in reads_for_304[0]
    assert len(reads_for_200) > len(reads_for_304)

    for header in (f'W/{etag}, "other"', f'"other", {etag}', "*"):
        assert (await client.get(farm.feed, headers={"If-None-Match": header})).status_code == 304
    other = await client.get(farm.feed, headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.content == first.content

    await book(db, slot.id, "Jonas Weber", 1, 2)
    changed = await client.get(farm.feed, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    [vevent] = Calendar.from_ical(changed.content).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == french_summary(farm.activity.title["fr"], 3, 2)
    again = await client.get(farm.feed, headers={"If-None-Match": changed.headers["etag"]})
    assert again.status_code == 304


async def test_an_activity_renamed_moves_the_etag(client, db):
    farm = await make_farm(db, "Mas du Pré")
    await make_slot(db, activity=farm.activity, starts_at=upcoming(days=2))
    first = await client.get(farm.feed)
    fields = activities.fields_of_activity(farm.activity)
    renamed = replace(fields, title={**fields.title, "fr": "Traite des chèvres"})
    assert await activities.update_activity(db, farm.activity.id, renamed, actor="test")

    changed = await client.get(farm.feed, headers={"If-None-Match": first.headers["etag"]})

    assert changed.status_code == 200
    [vevent] = Calendar.from_ical(changed.content).walk("VEVENT")
    assert str(vevent["SUMMARY"]).startswith("Traite des chèvres")


async def test_last_modified_and_if_modified_since(client, db):
    farm = await make_farm(db, "Ferme du Pont")
    slot = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=2))
    an_hour_ago = clock.now() - timedelta(hours=1)
    await booking_service.book(
        db,
        BookingRequest(slot_id=slot.id, adults=2, children=0, name="Anne", email="a@example.org"),
        POLICY,
        actor="test",
        now=an_hour_ago,
    )
    async with db.writing() as session:  # everything in the feed last changed an hour ago
        for table in (Slot, Activity):
            await session.execute(update(table).values(updated_at=an_hour_ago))
    first = await client.get(farm.feed)
    last_modified = parsedate_to_datetime(first.headers["last-modified"])
    midnight = clock.local_datetime(clock.today(), datetime.min.time())
    assert last_modified == max(an_hour_ago, midnight).replace(microsecond=0)

    same = await client.get(
        farm.feed, headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert same.status_code == 304 and same.content == b""
    later = format_datetime(last_modified + timedelta(minutes=5), usegmt=True)
    assert (await client.get(farm.feed, headers={"If-Modified-Since": later})).status_code == 304
    earlier = format_datetime(last_modified - timedelta(seconds=1), usegmt=True)
    assert (await client.get(farm.feed, headers={"If-Modified-Since": earlier})).status_code == 200
    garbage = await client.get(farm.feed, headers={"If-Modified-Since": "yesterday-ish"})
    assert garbage.status_code == 200
    # If-None-Match decides when both are sent (RFC 9110, 13.2.2).
    both = await client.get(
        farm.feed,
        headers={"If-None-Match": '"other"', "If-Modified-Since": first.headers["last-modified"]},
    )
    assert both.status_code == 200

    booked_at = clock.now()
    await book(db, slot.id, "Jonas Weber", 1)
    changed = await client.get(
        farm.feed, headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    assert changed.status_code == 200
    assert parsedate_to_datetime(changed.headers["last-modified"]) >= booked_at.replace(
        microsecond=0
    )


async def test_head_answers_like_get_without_a_body(client, db):
    farm = await make_farm(db, "Ferme de la Croix")
    await make_slot(db, activity=farm.activity, starts_at=upcoming(days=2))
    got = await client.get(farm.feed)
    head = await client.head(farm.feed)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"]


async def test_unknown_or_rotated_links_get_404(client, db):
    farm = await make_farm(db, "Ferme du Ranc")
    await make_slot(db, activity=farm.activity, starts_at=upcoming(days=2))
    assert (await client.get(farm.feed)).status_code == 200
    new_secret = await issue_link(db, farm.name, rotate=True)
    rotated = await client.get(farm.feed)
    assert rotated.status_code == 404
    assert "BEGIN:VCALENDAR" not in rotated.text
    assert (await client.get(f"/farm/{new_secret}/calendar.ics")).status_code == 200
    assert (await client.get("/farm/not-a-secret/calendar.ics")).status_code == 404
    etag = (await client.get(f"/farm/{new_secret}/calendar.ics")).headers["etag"]
    stale = await client.get(farm.feed, headers={"If-None-Match": etag})
    assert stale.status_code == 404, "no 304 for a link that no longer works"


async def test_a_party_changed_in_place_shows(client, db):
    """Same number of people, other split: the head count follows the booking row."""
    farm = await make_farm(db, "Ferme des Combes")
    slot = await make_slot(db, activity=farm.activity, starts_at=upcoming(days=3))
    request = BookingRequest(
        slot_id=slot.id, adults=2, children=2, name="Anne Martin", email="anne@example.org"
    )
    receipt = await booking_service.book(db, request, POLICY, actor="test")
    first = await client.get(farm.feed)
    await booking_service.change_party(db, receipt.manage_token, 3, 1, POLICY)
    second = await client.get(farm.feed, headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200
    async with db.reading() as session:
        party = (await session.execute(select(Booking.adults, Booking.children))).one()
    assert tuple(party) == (3, 1)
    [vevent] = Calendar.from_ical(second.content).walk("VEVENT")
    assert str(vevent["SUMMARY"]) == french_summary(farm.activity.title["fr"], 3, 1)
