"""The public reads kept per worker are never stale, on each database: a booking made through
one server process is seen by the very next read of another (places left and ETag), a repeated
read with the ETag gets 304, a catalogue edit changes the answer, a farm's daily cap reaches a
filtered answer, and an answer is kept no later than the clock's next change of it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import time, timedelta

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import Activity, ActivityKind, Provider, Slot
from reservations.base.reads import freshness
from reservations.base.rules import activities, pictures, provider_links
from reservations.base.rules.planning import new_slot
from tests.factories import make_slot
from tests.live_server import LiveServer, live_server
from tests.test_visitors import site_settings


def booking(slot_id: int, adults: int, number: int = 1) -> dict[str, object]:
    return {
        "slot_id": slot_id,
        "adults": adults,
        "name": f"Visiteur {number}",
        "email": f"visiteur{number}@example.org",
    }


def window(slot: Slot) -> str:
    day = clock.local_date(slot.starts_at).isoformat()
    return f"/api/v1/availability?from={day}&to={day}&lang=en"


def listed(answer: httpx.Response, slot_id: int) -> dict[str, object]:
    assert answer.status_code == 200, answer.text
    return next(item for item in answer.json() if item["id"] == slot_id)


@pytest.fixture
def two_servers(database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    with live_server(database_url) as first, live_server(database_url) as second:
        yield first, second
        output = first.output() + second.output()
    assert "Traceback" not in output, output


async def test_a_booking_on_one_worker_is_seen_by_the_next_read_of_another(db, two_servers) -> None:
    slot = await make_slot(db, capacity=20)
    reader, booker = two_servers
    with httpx.Client(base_url=reader.base_url) as a, httpx.Client(base_url=booker.base_url) as b:
        first = a.get(window(slot))
        assert listed(first, slot.id)["remaining"] == 20
        tag = first.headers["etag"]
        assert "no-cache" in first.headers["cache-control"]
        again = a.get(window(slot), headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == tag
        page = a.get("/?lang=en")  # the programme, kept by the reader's worker
        assert "20 places left" in page.text

        assert b.post("/api/v1/bookings", json=booking(slot.id, 3)).status_code == 201

        after = a.get(window(slot), headers={"If-None-Match": tag})
        assert after.status_code == 200
        assert listed(after, slot.id)["remaining"] == 17
        assert after.headers["etag"] != tag
        assert "17 places left" in a.get("/?lang=en").text
        assert a.get(
            window(slot), headers={"If-None-Match": after.headers["etag"]}
        ).status_code == (304)

        async with db.reading() as session:
            activity = await session.get(Activity, slot.activity_id)
            assert activity is not None
            fields = activities.fields_of_activity(activity)
        retitled = {**fields.title, "en": "Goats at dawn"}
        changed = activities.ActivityFields(**{**fields.__dict__, "title": retitled})
        assert await activities.update_activity(db, slot.activity_id, changed, actor="staff")

        edited = a.get(window(slot), headers={"If-None-Match": after.headers["etag"]})
        assert edited.status_code == 200
        assert listed(edited, slot.id)["activity"] == "Goats at dawn"
        assert "Goats at dawn" in a.get("/?lang=en").text
        assert "Goats at dawn" in a.get("/embed?lang=en").text


@pytest.fixture
async def client(db):
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


async def test_a_farms_daily_cap_reaches_an_answer_filtered_to_its_other_slots(db, client):
    """Places left on a capped farm's slot depend on its other slots that day: a booking on a
    slot the filter leaves out still changes the filtered answer."""
    # At 10:00 local, so that the farm's other slot (two hours later) is the same day whatever
    # the hour the test runs at.
    ten = clock.local_datetime(clock.today() + timedelta(days=3), time(10))
    animation = await make_slot(db, kind=ActivityKind.ANIMATION, capacity=20, starts_at=ten)
    async with db.writing() as session:
        provider_id = (await session.get(Activity, animation.activity_id)).provider_id  # type: ignore[union-attr]
        await session.execute(
            update(Provider).where(Provider.id == provider_id).values(daily_cap=10)
        )
        visit = Activity(
            provider_id=provider_id,
            kind=ActivityKind.FARM_VISIT,
            name="Traite",
            title={"fr": "Traite"},
            description={},
            accessibility={},
        )
        session.add(visit)
        await session.flush()
        other = new_slot(visit, animation.starts_at + timedelta(hours=2), capacity=20)
        session.add(other)
    filtered = window(animation) + "&kind=animation"
    first = await client.get(filtered)
    assert [item["remaining"] for item in first.json()] == [10]
    assert (await client.post("/api/v1/bookings", json=booking(other.id, 4))).status_code == 201
    answer = await client.get(filtered, headers={"If-None-Match": first.headers["etag"]})
    assert answer.status_code == 200
    assert [item["remaining"] for item in answer.json()] == [6]


async def test_a_core_update_of_a_provider_moves_the_fingerprint(db):
    """``updated_at`` is raised by Core ``update()`` statements too (here: a farm's link)."""
    slot = await make_slot(db)
    day, now = clock.local_date(slot.starts_at), clock.now()
    before = await freshness.read(db, day, day, now)
    async with db.reading() as session:
        activity = await session.get(Activity, slot.activity_id)
        provider = await session.get(Provider, activity.provider_id)  # type: ignore[union-attr]
    await provider_links.issue_link(db, provider.name, actor="staff")  # type: ignore[union-attr]
    assert (await freshness.read(db, day, day, now)).tag != before.tag


async def test_an_answer_is_kept_until_the_first_change_by_the_clock(db):
    """A slot's cut-off, its start and its holds' end change what it says with no write: the
    fingerprint names the first of them after the reading, and a kept answer expires then."""
    slot = await make_slot(db)
    hold_end = slot.booking_cutoff_at - timedelta(minutes=30)
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.id == slot.id).values(holds_expire_at=hold_end)
        )
    day = clock.local_date(slot.starts_at)
    instants = [
        (await freshness.read(db, day, day, at)).changes_at
        for at in (hold_end - timedelta(seconds=1), hold_end, slot.booking_cutoff_at)
    ]
    assert instants == [hold_end, slot.booking_cutoff_at, slot.starts_at]
    assert (await freshness.read(db, day, day, slot.starts_at)).changes_at is None

    kept: freshness.AnswerCache[str] = freshness.AnswerCache(size=2)
    kept.put("key", "answer", slot.booking_cutoff_at)
    assert kept.get("key", slot.booking_cutoff_at - timedelta(microseconds=1)) == "answer"
    assert kept.get("key", slot.booking_cutoff_at) is None


def test_the_cache_keeps_the_most_recently_used_answers_only():
    kept: freshness.AnswerCache[int] = freshness.AnswerCache(size=2)
    now = clock.now()
    kept.put("a", 1, None)
    kept.put("b", 2, None)
    assert kept.get("a", now) == 1  # "b" is now the least recently used
    kept.put("c", 3, None)
    assert (kept.get("a", now), kept.get("b", now), kept.get("c", now)) == (1, None, 3)
    off: freshness.AnswerCache[int] = freshness.AnswerCache(size=0)
    off.put("a", 1, None)
    assert off.get("a", now) is None


def test_an_answer_built_after_a_write_replaces_the_one_before():
    """In season the fingerprint moves with every booking: the same question asked again keeps
    one answer, not one per booking (the worker's memory would grow until the cache is full)."""
    kept: freshness.AnswerCache[str] = freshness.AnswerCache(size=100)
    now = clock.now()
    versions = [freshness.Fingerprint(tag=str(n), changes_at=None) for n in range(3)]
    for number, version in enumerate(versions):
        kept.put(("programme", "fr", version), f"page {number}", None)
        kept.put(("programme", "de", version), f"Seite {number}", None)
    assert kept.get(("programme", "fr", versions[2]), now) == "page 2"
    assert kept.get(("programme", "de", versions[2]), now) == "Seite 2"
    assert kept.get(("programme", "fr", versions[0]), now) is None
    assert kept.get(("programme", "fr", versions[1]), now) is None
    assert len(kept._entries) == 2


async def test_requests_missing_one_answer_together_build_it_once():
    """A booking changes the fingerprint of every answer over its days: the reads arriving
    while the new answer is built wait for that build instead of each building it."""
    kept: freshness.AnswerCache[str] = freshness.AnswerCache(size=4)
    now, builds, release = clock.now(), [], asyncio.Event()

    async def build() -> str:
        builds.append(now)
        await release.wait()
        return "answer"

    waiting = [asyncio.create_task(kept.kept("key", now, None, build)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["answer"] * 5
    assert len(builds) == 1
    assert kept.get("key", now) == "answer"

    async def failing() -> str:
        await asyncio.sleep(0)
        raise RuntimeError("the database went away")

    tried = [asyncio.create_task(kept.kept("other", now, None, failing)) for _ in range(3)]
    outcomes = await asyncio.gather(*tried, return_exceptions=True)
    assert [str(outcome) for outcome in outcomes] == ["the database went away"] * 3
    assert kept.get("other", now) is None  # nothing kept: the next read builds again


async def test_kept_pages_show_nothing_of_another_request(db, client):
    """The programme is kept for everyone asking the same: the language links are the page's
    own normalised query, never what one visitor typed into the address."""
    await make_slot(db)
    typed = await client.get("/?lang=en&sector=<b>x</b>&utm=someone")
    assert typed.status_code == 200
    assert "someone" not in typed.text and "&lt;b&gt;" not in typed.text
    plain = await client.get("/?lang=en")
    assert plain.text == typed.text
    assert 'href="/?lang=de"' in plain.text


async def test_every_picture_write_moves_the_fingerprint_of_its_activitys_days(db):
    """A picture has no ``updated_at``: adding, describing, moving and removing one stamps its
    activity, so the pages showing it are built again."""
    from tests.test_pictures import photo

    slot = await make_slot(db)
    owner = pictures.Owner(activity_id=slot.activity_id)
    day, now = clock.local_date(slot.starts_at), clock.now()

    async def tag() -> str:
        return (await freshness.read(db, day, day, now)).tag

    tags = [await tag()]
    first = await pictures.add_picture(db, owner, photo(), {"fr": "Chèvres"}, actor="staff")
    tags.append(await tag())
    await pictures.add_picture(db, owner, photo(colour=(10, 90, 200)), {}, actor="staff")
    tags.append(await tag())
    assert await pictures.describe(db, owner, first, {"fr": "Des chèvres"}, actor="staff")
    tags.append(await tag())
    assert await pictures.move(db, owner, first, "down", actor="staff")
    tags.append(await tag())
    await pictures.remove(db, owner, first, actor="staff")
    tags.append(await tag())
    assert len(set(tags)) == len(tags)


async def test_a_write_stamped_before_the_latest_still_moves_the_fingerprint(db):
    """Two workers' clocks may stamp a later write with an earlier time: the fingerprint sums
    the stamps, it does not only take the latest."""
    older, newer = await make_slot(db), await make_slot(db)
    day, now = clock.local_date(older.starts_at), clock.now()
    assert clock.local_date(newer.starts_at) == day
    before = await freshness.read(db, day, day, now)
    stamp = older.updated_at - timedelta(seconds=5)
    async with db.writing() as session:
        await session.execute(update(Slot).where(Slot.id == older.id).values(updated_at=stamp))
    assert (await freshness.read(db, day, day, now)).tag != before.tag
