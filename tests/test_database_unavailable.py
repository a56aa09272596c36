"""When PostgreSQL refuses a connection ("too many connections") or none of the pool's is free in
time, a visitor gets a "try again in a moment" page in their language and an API client a 503
problem with Retry-After: never a 500, and nothing is written."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from reservations.app import create_app
from reservations.base.infra.db import Database
from reservations.base.models import Booking, Slot
from tests.conftest import POSTGRES_URL, _pg_admin
from tests.factories import make_slot
from tests.test_visitors import site_settings

#: A role PostgreSQL lets open no connection at all: it answers 53300 "too many connections".
NO_CONNECTIONS_ROLE = "reservations_no_connections"
BUSY = {"fr": "Le site est très chargé", "en": "The site is very busy"}


def postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("a server's connection limits: SQLite opens files, it has none to refuse")


async def refusing_database(database_url: str) -> Database:
    assert POSTGRES_URL
    await _pg_admin(
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{NO_CONNECTIONS_ROLE}')"
        f" THEN CREATE ROLE {NO_CONNECTIONS_ROLE} LOGIN CONNECTION LIMIT 0; END IF; END$$"
    )
    url = make_url(database_url).set(username=NO_CONNECTIONS_ROLE, password=None)
    return Database(url.render_as_string(hide_password=False), null_pool=True)


async def bookings(db: Database) -> int:
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Booking)) or 0)


async def assert_busy_answers(app_db: Database, db: Database, slot_id: int) -> None:
    app = create_app(site_settings(db), database=app_db)
    async with AsyncTestClient(app=app) as client:
        for lang, title in BUSY.items():
            page = await client.get(f"/?lang={lang}")
            assert page.status_code == 503
            assert title in page.text
            assert "Traceback" not in page.text
        api = await client.get("/api/v1/availability")
        assert api.status_code == 503
        assert api.headers["content-type"].startswith("application/problem+json")
        assert api.headers["retry-after"] == "5"
        assert api.json()["status"] == 503
        booked = await client.post(
            "/api/v1/bookings",
            json={"slot_id": slot_id, "adults": 1, "name": "Anne", "email": "anne@example.org"},
        )
        assert booked.status_code == 503
    assert await bookings(db) == 0


async def test_a_refused_connection_is_a_503_not_a_500(db, database_url, backend):
    postgres_only(backend)
    slot = await make_slot(db)
    refusing = await refusing_database(database_url)
    try:
        await assert_busy_answers(refusing, db, slot.id)
    finally:
        await refusing.dispose()


async def test_no_free_connection_in_time_is_a_503(db, database_url, backend):
    """A pool of one, held by someone else: the request waits its timeout, then 503."""
    postgres_only(backend)
    slot = await make_slot(db)
    tiny = Database(database_url, pool_size=1, max_overflow=0, pool_timeout_seconds=0.2)
    try:
        async with tiny.reading_connection():  # the only connection, held
            await assert_busy_answers(tiny, db, slot.id)
    finally:
        await tiny.dispose()


async def test_a_booking_on_a_dropped_connection_is_a_503_and_the_next_one_books(
    db, database_url, backend
):
    """The booking's statement goes straight through asyncpg (``DriverStatement``): a pooled
    connection the server dropped answers 503, is thrown away, and the retry books."""
    postgres_only(backend)
    slot = await make_slot(db, capacity=5)
    app_db = Database(database_url, pool_size=1, max_overflow=0)
    app = create_app(site_settings(db), database=app_db)
    party = {"slot_id": slot.id, "adults": 2, "name": "Anne", "email": "anne@example.org"}
    try:
        async with AsyncTestClient(app=app) as client:
            assert (await client.post("/api/v1/bookings", json=party)).status_code == 201
            # PostgreSQL ends the pool's one connection, idle between requests (the test's own
            # database handle keeps none open).
            await _pg_admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                f"'{make_url(database_url).database}' AND pid <> pg_backend_pid()"
            )
            dropped = await client.post("/api/v1/bookings", json=party)
            assert dropped.status_code == 503, dropped.text
            assert dropped.headers["content-type"].startswith("application/problem+json")
            assert (await client.post("/api/v1/bookings", json=party)).status_code == 201
    finally:
        await app_db.dispose()
    assert await bookings(db) == 2
    async with db.reading() as session:
        booked = await session.scalar(select(Slot.booked).where(Slot.id == slot.id))
    assert booked == 4
