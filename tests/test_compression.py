"""The pages read most (the programme, the embed, the kiosk) go out gzipped to a client that
takes it; pages carrying a form's secret token are never compressed (BREACH); on each
database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from tests.factories import make_slot
from tests.test_visitors import site_settings

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(site_settings(db), database=db)) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/", "/embed", "/kiosk", "/?lang=de"])
async def test_the_pages_read_most_are_gzipped_and_the_same_once_unpacked(client, db, path):
    for _ in range(3):  # a programme of more than the 500 bytes worth packing
        await make_slot(db)
    packed = await client.get(path, headers=GZIP)
    plain = await client.get(path, headers=PLAIN)
    assert packed.status_code == plain.status_code == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert int(packed.headers["content-length"]) < len(plain.content)
    assert packed.text == plain.text  # httpx unpacks it
    vary = {part.strip() for part in packed.headers["vary"].split(",")}
    assert {"Accept-Encoding", "Accept-Language"} <= vary


async def test_a_page_with_a_form_secret_is_never_compressed(client, db):
    slot = await make_slot(db)
    page = await client.get(f"/visits/{slot.id}", headers=GZIP)
    assert page.status_code == 200 and "_csrf_token" in page.text
    assert "content-encoding" not in page.headers
