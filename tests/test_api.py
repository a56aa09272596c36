"""The JSON API end to end in-process (Litestar's test client), on each database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient

from reservations.app import create_app
from reservations.base import clock
from reservations.base.models import ActivityKind
from reservations.settings import Settings
from tests.factories import fetch_slot, make_slot

PROBLEM = "application/problem+json"


@pytest.fixture
async def client(db) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(
        database_url=db.url, secret_key="test", max_party_size=10, booking_rate_limit=0
    )
    async with AsyncTestClient(app=create_app(settings, database=db)) as test_client:
        yield test_client


def booking_body(slot: int, **changes: object) -> dict[str, object]:
    return {
        "slot_id": slot,
        "adults": 2,
        "children": 1,
        "name": "Jan de Vries",
        "email": "jan@example.nl",
        "locale": "nl",
        **changes,
    }


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


async def test_book_read_cancel(client, db):
    slot = await make_slot(db, capacity=5)
    created = await client.post("/api/v1/bookings", json=booking_body(slot.id))
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["status"] == "confirmed" and booking["adults"] == 2 and booking["children"] == 1
    assert len(booking["reference"]) == 9 and booking["manage_token"]
    token = booking["manage_token"]

    read = (await client.get(f"/api/v1/bookings/{token}")).json()
    assert read["reference"] == booking["reference"] and "manage_token" not in read
    assert read["slot"]["id"] == slot.id

    availability = (await client.get("/api/v1/availability")).json()
    (listed,) = [s for s in availability if s["id"] == slot.id]
    assert listed["remaining"] == 2 and listed["bookable"] is True

    cancelled = await client.delete(f"/api/v1/bookings/{token}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await client.get(f"/api/v1/bookings/{token}")).json()["status"] == "cancelled"
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert_problem(await client.delete(f"/api/v1/bookings/{token}"), 409, "already_cancelled")


async def test_full_slot_is_a_409_saying_what_remains(client, db):
    slot = await make_slot(db, capacity=4)
    assert (await client.post("/api/v1/bookings", json=booking_body(slot.id))).status_code == 201
    body = assert_problem(
        await client.post("/api/v1/bookings", json=booking_body(slot.id, adults=2, children=0)),
        409,
        "not_enough_places",
    )
    assert body["remaining"] == 1 and "Only 1 place" in body["detail"]
    assert (
        await client.post("/api/v1/bookings", json=booking_body(slot.id, adults=1, children=0))
    ).status_code == 201
    full = assert_problem(
        await client.post("/api/v1/bookings", json=booking_body(slot.id, adults=1, children=0)),
        409,
        "not_enough_places",
    )
    assert full["remaining"] == 0 and "full" in full["detail"]


async def test_idempotency_key_replays_the_first_answer(client, db):
    slot = await make_slot(db, capacity=10)
    headers = {"Idempotency-Key": "3f0c6a8e-retry"}
    first = await client.post("/api/v1/bookings", json=booking_body(slot.id), headers=headers)
    again = await client.post("/api/v1/bookings", json=booking_body(slot.id), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert (await fetch_slot(db, slot.id)).booked == 3
    other = await client.post(
        "/api/v1/bookings", json=booking_body(slot.id, adults=1), headers=headers
    )
    assert_problem(other, 409, "idempotency_key_reused")


async def test_availability_times_are_paris_and_filters_apply(client, db):
    starts = clock.local_datetime(clock.today() + timedelta(days=5), clock.time(10, 0))
    farm = await make_slot(db, starts_at=starts, sector="Vallée Française")
    animation = await make_slot(db, starts_at=starts, kind=ActivityKind.ANIMATION)
    listed = (await client.get("/api/v1/availability")).json()
    assert {s["id"] for s in listed} == {farm.id, animation.id}
    assert all(s["starts_at"].endswith(("+01:00", "+02:00")) for s in listed)
    assert all("T10:00:00" in s["starts_at"] for s in listed)
    only_sector = (
        await client.get("/api/v1/availability", params={"sector": "Vallée Française"})
    ).json()
    assert [s["id"] for s in only_sector] == [farm.id]
    only_kind = (await client.get("/api/v1/availability", params={"kind": "animation"})).json()
    assert [s["id"] for s in only_kind] == [animation.id]
    by_provider = (
        await client.get("/api/v1/availability", params={"provider": only_sector[0]["provider"]})
    ).json()
    assert [s["id"] for s in by_provider] == [farm.id]
    day = (starts + timedelta(days=1)).date().isoformat()
    assert (await client.get("/api/v1/availability", params={"from": day})).json() == []


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"adults": -1}, 422, "invalid_request"),
        ({"adults": 0, "children": 0}, 422, "invalid_party"),
        ({"adults": 9, "children": 2}, 422, "party_too_large"),
        ({"adults": "two"}, 422, "invalid_request"),
        ({"adults": None}, 422, "invalid_request"),
        ({"email": "not-an-email"}, 422, "invalid_request"),
        ({"email": "a,victim@evil.example"}, 422, "invalid_request"),
        ({"email": "jan\x00@example.nl"}, 422, "invalid_request"),
        ({"email": 42}, 422, "invalid_request"),
        ({"name": "   "}, 422, "invalid_request"),
        ({"name": "Jan\x00"}, 422, "invalid_request"),
        ({"phone": "06\x0012345678"}, 422, "invalid_request"),
        ({"phone": "²²²²²²"}, 422, "invalid_request"),
        ({"name": "x" * 201}, 422, "invalid_request"),
        ({"locale": "xx"}, 422, "invalid_request"),
        ({"unexpected": 1}, 422, "invalid_request"),
        ({"slot_id": 99999}, 404, "slot_not_found"),
        ({"slot_id": "abc"}, 422, "invalid_request"),
        ({"slot_id": 2147483648}, 422, "invalid_request"),
        ({"slot_id": 10**30}, 422, "invalid_request"),
        ({"adults": 2147483648}, 422, "invalid_request"),
        ({"children": 1.5}, 422, "invalid_request"),
        ({"adults": True}, 422, "invalid_request"),
    ],
)
async def test_bad_booking_input_is_a_clear_4xx_problem(client, db, changes, status, code):
    slot = await make_slot(db)
    assert_problem(
        await client.post("/api/v1/bookings", json=booking_body(slot.id, **changes)), status, code
    )
    assert (await fetch_slot(db, slot.id)).booked == 0


async def test_missing_fields_and_malformed_bodies(client, db):
    body = assert_problem(
        await client.post("/api/v1/bookings", json={"adults": 1}), 422, "invalid_request"
    )
    assert body["errors"][0]["field"] in {"slot_id", "name", "email"}
    assert body["errors"][0]["field"] in body["detail"]
    unknown = await client.post("/api/v1/bookings", json={"zz": 1})
    assert "zz" in assert_problem(unknown, 422, "invalid_request")["detail"]
    assert_problem(
        await client.post(
            "/api/v1/bookings", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
        "malformed_request",
    )
    assert_problem(await client.post("/api/v1/bookings", json=[1, 2]), 422, "invalid_request")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"from": "2026-13-01"}, 422, "invalid_request"),
        ({"to": "soon"}, 422, "invalid_request"),
        ({"from": "tomorrow"}, 422, "invalid_request"),
        ({"from": "2026-08-01", "to": "2026-07-01"}, 422, "invalid_period"),
        ({"from": "2026-01-01", "to": "2028-01-01"}, 422, "invalid_period"),
        ({"kind": "rodeo"}, 422, "invalid_request"),
        ({"from": "9999-12-31"}, 422, "invalid_request"),
        ({"to": "9999-12-31"}, 422, "invalid_request"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, 422, "invalid_request"),
        ({"sector": "a\x00b"}, 422, "invalid_request"),
        ({"provider": "Ferme\x00"}, 422, "invalid_request"),
        ({"provider": "x" * 201}, 422, "invalid_request"),
    ],
)
async def test_bad_availability_queries(client, params, status, code):
    assert_problem(await client.get("/api/v1/availability", params=params), status, code)


async def test_unknown_token_route_and_method(client):
    assert_problem(await client.get("/api/v1/bookings/not-a-token"), 404, "booking_not_found")
    assert_problem(await client.delete("/api/v1/bookings/not-a-token"), 404, "booking_not_found")
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "http_404")
    assert_problem(await client.put("/api/v1/bookings"), 405, "http_405")


async def test_openapi_schema_lists_the_api(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert {"/api/v1/availability", "/api/v1/bookings", "/api/v1/bookings/{manage_token}"} <= set(
        schema["paths"]
    )


async def test_booking_is_rate_limited_per_client(db):
    slot = await make_slot(db, capacity=20)
    settings = Settings(database_url=db.url, secret_key="test", booking_rate_limit=2)
    async with AsyncTestClient(app=create_app(settings, database=db)) as limited:
        answers = [
            await limited.post("/api/v1/bookings", json=booking_body(slot.id, adults=1, children=0))
            for _ in range(3)
        ]
        # Reading is not limited.
        assert (await limited.get("/api/v1/availability")).status_code == 200
    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_problem(answers[2], 429, "http_429")
    assert (await fetch_slot(db, slot.id)).booked == 2


@pytest.mark.parametrize(
    "params",
    [
        {"provider": "\u00b9"},  # a superscript digit: isdigit() is true, int() refuses it
        {"provider": "2147483648"},  # beyond PostgreSQL's integer
        {"provider": "18446744073709551616"},  # beyond SQLite's integer
        {"provider": "9" * 200},  # the longest filter, far beyond any integer
        {"provider": "\u0661\u0662"},  # Arabic-Indic digits: a name, not a number
    ],
)
async def test_provider_filters_that_are_no_id_match_nothing(client, db, params):
    await make_slot(db)
    answer = await client.get("/api/v1/availability", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json() == []


async def test_provider_id_filter_still_finds_its_slots(client, db):
    slot = await make_slot(db)
    listed = (await client.get("/api/v1/availability")).json()
    (provider_id,) = {s["provider_id"] for s in listed}
    by_id = await client.get("/api/v1/availability", params={"provider": f" {provider_id} "})
    assert [s["id"] for s in by_id.json()] == [slot.id]


@pytest.mark.parametrize(
    "body",
    [
        b'{"slot_id": 1, "adults": 1, "name": "\xff", "email": "a@b.fr"}',
        b"\xed\xa0\x80",
        b'{"slot_id": 1, "adults": 1e400, "name": "a", "email": "a@b.fr"}',
    ],
)
async def test_unreadable_bodies_are_a_400_problem(client, body):
    answer = await client.post(
        "/api/v1/bookings", content=body, headers={"content-type": "application/json"}
    )
    assert "could not be read" in assert_problem(answer, 400, "malformed_request")["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:1/refused",  # nothing listens there
        "sqlite+aiosqlite:////nonexistent-directory/reservations.sqlite3",  # cannot be opened
    ],
)
async def test_an_unreachable_database_is_a_503_problem(url):
    from reservations.base.infra.db import Database

    database = Database(url, null_pool=True)
    settings = Settings(database_url=url, secret_key="test", booking_rate_limit=0)
    try:
        async with AsyncTestClient(app=create_app(settings, database=database)) as unreachable:
            listed = await unreachable.get("/api/v1/availability")
            booked = await unreachable.post("/api/v1/bookings", json=booking_body(1))
    finally:
        await database.dispose()
    for answer in (listed, booked):
        body = assert_problem(answer, 503, "unavailable")
        assert answer.headers["retry-after"] == "5" and "try again" in body["detail"]


@pytest.mark.postgres
async def test_too_many_connections_is_a_503_problem(backend, database_url):
    """PostgreSQL refusing a connection (SQLSTATE 53300, as with ``max_connections`` reached):
    a role allowed no connection at all gives the same refusal."""
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    from sqlalchemy.engine import make_url

    from reservations.base.infra.db import Database
    from tests.conftest import _pg_admin

    role = "api_no_connection"
    await _pg_admin(f"DROP ROLE IF EXISTS {role}")
    await _pg_admin(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    database = Database(url, null_pool=True)
    settings = Settings(database_url=url, secret_key="test", booking_rate_limit=0)
    try:
        async with AsyncTestClient(app=create_app(settings, database=database)) as refused:
            answer = await refused.get("/api/v1/availability")
    finally:
        await database.dispose()
        await _pg_admin(f"DROP ROLE IF EXISTS {role}")
    assert_problem(answer, 503, "unavailable")


async def test_openapi_documents_problems_limits_and_the_idempotency_key(client):
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/availability", "get"): {"200", "422", "503"},
        ("/api/v1/bookings", "post"): {"201", "400", "404", "409", "413", "422", "429", "503"},
        ("/api/v1/bookings/{manage_token}", "get"): {"200", "404", "503"},
        ("/api/v1/bookings/{manage_token}", "delete"): {"200", "404", "409", "429", "503"},
    }
    for (path, method), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert set(responses) == statuses, (path, method)
        for status in statuses - {"200", "201"}:
            (media_type,) = responses[status]["content"]
            assert media_type == PROBLEM
    booking_in = schema["components"]["schemas"]["BookingIn"]
    assert booking_in["additionalProperties"] is False
    assert booking_in["properties"]["slot_id"]["maximum"] == 2**31 - 1
    assert booking_in["properties"]["email"]["pattern"]
    assert "control" in booking_in["properties"]["name"]["description"]
    # The party rule: one branch per number of adults, 0 to max_party_size (10 here).
    branches = booking_in["anyOf"]
    assert [b["properties"]["adults"]["const"] for b in branches] == list(range(11))
    assert branches[0]["properties"]["children"]["minimum"] == 1
    assert all(
        b["properties"]["adults"]["const"] + b["properties"]["children"]["maximum"] == 10
        for b in branches
    )
    (key,) = paths["/api/v1/bookings"]["post"]["parameters"]
    assert key["name"] == "Idempotency-Key" and key["in"] == "header"
    assert "from` must not be after `to`" in paths["/api/v1/availability"]["get"]["description"]
