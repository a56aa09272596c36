"""Finding a date on the programme: shortcuts (this week, this weekend, next week), a month
calendar of the days with visits (with places, or full), filters by a language the farmer
speaks and free visits only; the filters stand open on a wide screen and fold on a phone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, time, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import Activity, Provider
from reservations.visitors.programme import shortcuts
from tests.factories import make_activity, make_slot
from tests.live_server import LiveServer
from tests.test_browser import PHONE, TIMEOUT_MS
from tests.test_visitors import book_directly, site_settings


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


def test_the_shortcuts_on_a_wednesday_and_on_a_sunday():
    wednesday, sunday = date(2026, 12, 2), date(2026, 12, 6)
    assert [(s.name, s.first_day, s.last_day) for s in shortcuts(wednesday)] == [
        ("this_week", date(2026, 12, 2), date(2026, 12, 6)),
        ("this_weekend", date(2026, 12, 5), date(2026, 12, 6)),
        ("next_week", date(2026, 12, 7), date(2026, 12, 13)),
    ]
    assert [(s.first_day, s.last_day) for s in shortcuts(sunday)] == [
        (date(2026, 12, 6), date(2026, 12, 6)),
        (date(2026, 12, 6), date(2026, 12, 6)),
        (date(2026, 12, 7), date(2026, 12, 13)),
    ]


async def _visit(db, day: date, *, languages: list[str], price: int, capacity: int = 6):  # type: ignore[no-untyped-def]
    activity = await make_activity(db, capacity=capacity)
    async with db.writing() as session:
        await session.execute(
            update(Activity)
            .where(Activity.id == activity.id)
            .values(price_adult_cents=price, price_child_cents=price)
        )
        await session.execute(
            update(Provider).where(Provider.id == activity.provider_id).values(languages=languages)
        )
    starts = clock.local_datetime(day, time(10, 0))
    return activity, await make_slot(db, activity=activity, starts_at=starts, capacity=capacity)


def listed(html: str) -> set[str]:
    return set(re.findall(r'<a href="/visits/(\d+)">', html))


async def test_language_and_free_filters_and_the_month_calendar(db, client):
    base = clock.today() + timedelta(days=3)
    _, german = await _visit(db, base, languages=["fr", "de"], price=500)
    _, free = await _visit(db, base + timedelta(days=1), languages=["fr"], price=0)
    _, full = await _visit(db, base + timedelta(days=2), languages=["fr"], price=0, capacity=3)
    await book_directly(db, full.id)  # 3 people: full
    window = {"from": base.isoformat(), "to": (base + timedelta(days=5)).isoformat()}

    everything = (await client.get("/", params={**window, "lang": "en"})).text
    assert listed(everything) == {str(german.id), str(free.id), str(full.id)}
    spoken = (await client.get("/", params={**window, "spoken": "de", "lang": "en"})).text
    assert listed(spoken) == {str(german.id)}
    gratis = (await client.get("/", params={**window, "free": "1", "lang": "en"})).text
    assert listed(gratis) == {str(free.id), str(full.id)}
    assert 'id="free" name="free" value="1" checked' in gratis

    def cell(day: date) -> str:
        found = re.search(
            rf'<a class="day-(\w+)" href="[^"]*from={day.isoformat()}&amp;to={day.isoformat()}',
            everything,
        )
        return found.group(1) if found else "none"

    assert cell(base) == "places" and cell(base + timedelta(days=1)) == "places"
    assert cell(base + timedelta(days=2)) == "full"
    assert cell(base + timedelta(days=3)) == "none"  # no visit that day: no link
    # A shortcut keeps the other filters.
    assert re.search(r'href="/\?from=[\d-]+&amp;to=[\d-]+&amp;spoken=de"', spoken)


@pytest.mark.parametrize(
    ("viewport", "shown"), [({"width": 1280, "height": 900}, True), (PHONE, False)]
)
async def test_filters_stand_open_on_a_wide_screen(browser: Any, site: LiveServer, viewport, shown):
    context = await browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto(site.url("/?lang=en"))
        assert await page.is_visible("#sector") is shown
    finally:
        await context.close()
