"""The demo's programme and a visit page in real Chromium at phone size, against a real server
process, on each database: the pictures below the fold wait to be scrolled to (lazy loading),
every picture loads once it is (``naturalWidth`` > 0) in the modern format, the visit page's
cover loads at once, and not one CSP violation or console error."""

from __future__ import annotations

from typing import Any

from reservations.base.infra.db import Database
from reservations.base.seeding.demo import load_demo
from tests.live_server import LiveServer
from tests.test_browser_csp import visit, watched

LOADED = "image => image.complete && image.naturalWidth > 0"


async def test_the_programme_on_a_phone_loads_its_pictures_lazily_without_violations(
    browser: Any, site: LiveServer, db: Database
) -> None:
    await load_demo(db)
    async with watched(browser, "nl-NL") as (page, watch):
        await visit(page, watch, site.url("/"))
        images = page.locator("li.slot picture img")
        count = await images.count()
        assert count > 20
        assert await images.evaluate_all(
            "all => all.every(image => image.loading === 'lazy' && image.width > 0)"
        )
        # The last cards are screens away: nothing fetched for them yet.
        assert not await images.nth(count - 1).evaluate(LOADED)
        alts = await images.evaluate_all("all => all.map(image => image.alt)")
        assert all(alts) and any(alt.startswith("Tekening: ") for alt in alts)  # in Dutch

        for index in range(count):
            image = images.nth(index)
            await image.scroll_into_view_if_needed()
            await page.wait_for_function(LOADED, arg=await image.element_handle())
        sources = await images.evaluate_all("all => all.map(image => image.currentSrc)")
        assert all(source.endswith(".webp") for source in sources), sources[:3]
        assert watch.take() == []

        first = await page.locator("li.slot h3 a").first.get_attribute("href")
        assert first is not None
        await visit(page, watch, site.url(first))
        cover = page.locator("picture.cover-picture img")
        await page.wait_for_function(LOADED, arg=await cover.element_handle())
        assert await cover.get_attribute("loading") is None  # at the top: not lazy
        width = await cover.evaluate("image => image.getBoundingClientRect().width")
        assert 300 < width <= 390  # the phone's width, less the margins
        assert watch.take() == []
