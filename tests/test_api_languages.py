"""The API's problems are written in the asker's language (``Accept-Language``), as the pages
are; ``code`` and ``field`` stay the same in every language, for programs. A name that is too
long is said to be too long."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from reservations.settings import Settings

UNKNOWN_VISIT = {
    None: ("Unknown visit", "There is no visit with this number."),
    "de-DE,de;q=0.9": ("Unbekannter Besuch", "Es gibt keinen Besuch mit dieser Nummer."),
    "nl-BE": ("Onbekend bezoek", None),
    "fr-CH, fr;q=0.9, en;q=0.8": ("Visite inconnue", None),
    "es, it": ("Unknown visit", None),  # none of ours: English
}


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=db.url, secret_key="test", booking_rate_limit=0)
    async with AsyncTestClient(app=create_app(settings, database=db)) as test_client:
        yield test_client


def booking(**fields: object) -> dict[str, object]:
    return {
        "slot_id": 99999,
        "adults": 1,
        "children": 0,
        "name": "Anna",
        "email": "a@b.de",
    } | fields


@pytest.mark.parametrize("accept", list(UNKNOWN_VISIT))
async def test_a_refusal_in_the_askers_language(client, accept):
    headers = {"Accept-Language": accept} if accept else {}
    answer = await client.post("/api/v1/bookings", json=booking(), headers=headers)
    assert answer.status_code == 404
    problem = answer.json()
    title, detail = UNKNOWN_VISIT[accept]
    assert problem["title"] == title
    if detail:
        assert problem["detail"] == detail
    assert (problem["code"], problem["field"]) == ("slot_not_found", "slot_id")
    assert answer.headers["content-language"] == {"d": "de", "n": "nl", "f": "fr"}.get(
        (accept or "e")[0], "en"
    )


async def test_a_name_too_long_is_said_to_be_too_long(client):
    long_name = booking(name="x" * 201)
    english = (await client.post("/api/v1/bookings", json=long_name)).json()
    assert english["errors"] == [
        {"field": "name", "expected": "at most 200 characters: this is too long"}
    ]
    german = await client.post(
        "/api/v1/bookings", json=long_name, headers={"Accept-Language": "de"}
    )
    assert german.status_code == 422
    assert german.json()["title"] == "Ungültige Anfrage"
    assert "höchstens 200 Zeichen: das ist zu lang" in german.json()["detail"]
    assert german.json()["errors"][0]["field"] == "name"
