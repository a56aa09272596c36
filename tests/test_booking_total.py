"""The booking form of a priced visit shows the party's total: the server writes it for the
party the page is sent with (a form sent back keeps its party and its total), and in Chromium
the page updates it as the party changes. The goat farm visit costs 8 € an adult, 4 € a child."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from tests.live_server import LiveServer
from tests.test_browser import PHONE, TIMEOUT_MS, goat_farm_visit
from tests.test_visitors import form_token, site_settings


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


def shown_total(html: str) -> str:
    found = re.search(r'<output id="total"[^>]*>([^<]*)</output>', html)
    assert found, "no total on the page"
    return found.group(1).replace("\xa0", " ").replace("\u202f", " ").strip()


async def test_the_server_writes_the_total_of_the_party_sent(db, client):
    slot = await goat_farm_visit(db)
    page = f"/visits/{slot.id}"
    token = await form_token(client, page)
    fields = {"adults": "3", "children": "2", "name": "Ada", "email": "", "_csrf_token": token}
    refused = await client.post(page, params={"lang": "fr"}, data=fields)
    assert refused.status_code == 422
    assert shown_total(refused.text) == "32,00 €"  # 3 × 8 + 2 × 4
    english = await client.post(page, params={"lang": "en"}, data={**fields, "children": "0"})
    assert shown_total(english.text) == "€24.00"


async def test_the_page_updates_the_total_as_the_party_changes(browser: Any, site: LiveServer, db):  # type: ignore[no-untyped-def]
    slot = await goat_farm_visit(db)
    context = await browser.new_context(viewport=PHONE, is_mobile=True, locale="fr-FR")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await page.goto(site.url(f"/visits/{slot.id}?lang=fr"))
        await page.fill("#adults", "3")
        await page.fill("#children", "2")
        text = (await page.text_content("#total") or "").replace("\xa0", " ").replace("\u202f", " ")
        assert text == "32,00 €"
        await page.fill("#children", "")
        text = (await page.text_content("#total") or "").replace("\xa0", " ").replace("\u202f", " ")
        assert text == "24,00 €"
    finally:
        await context.close()
