"""The database handle and column types: proof that the SQLite recipe is in effect, that
datetimes are stored in UTC, and that the database itself refuses impossible counters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from reservations.base import clock
from reservations.base.infra.db import SQLITE_BUSY_TIMEOUT_MS, Database
from reservations.base.models import Provider, Slot, UTCDateTime
from tests.factories import make_slot

WRITER_WAIT = 0.5  # seconds a blocked writer is watched before the first one commits


def sqlite_only(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite recipe only")


async def add_provider(db: Database, name: str, created_at: datetime | None = None) -> int:
    async with db.writing() as session:
        provider = Provider(name=name, village="Pont-de-Montvert", sector="Mont Lozère")
        if created_at is not None:
            provider.created_at = created_at
        session.add(provider)
        await session.flush()
        return provider.id


def impatient(url: str) -> Database:
    """A second handle on the same file whose connections give up on a lock after 200 ms."""
    other = Database(url, null_pool=True)

    @event.listens_for(other.engine.sync_engine, "connect")
    def _short_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=200")

    return other


# --- the SQLite recipe -----------------------------------------------------------------------


async def test_a_writing_transaction_that_only_read_blocks_other_writers(db):
    """BEGIN IMMEDIATE: the write lock is taken when the transaction begins, not at its first
    write, so a read-then-write never interleaves with another writer."""
    sqlite_only(db)
    async with db.writing() as first:
        assert await first.scalar(select(Provider.id).limit(1)) is None  # a read, nothing more
        second = asyncio.create_task(add_provider(db, "Ferme du second"))
        await asyncio.sleep(WRITER_WAIT)
        assert not second.done(), "a second writer began while the first held the database"
        first.add(Provider(name="Ferme du premier", village="Vialas", sector="Mont Lozère"))
    await asyncio.wait_for(second, timeout=10)
    async with db.reading() as session:
        names = list(await session.scalars(select(Provider.name).order_by(Provider.id)))
    assert names == ["Ferme du premier", "Ferme du second"]


async def test_a_blocked_writer_gives_up_after_its_busy_timeout(db):
    sqlite_only(db)
    other = impatient(db.url)
    try:
        async with db.writing() as first:
            await first.execute(select(Provider.id))
            with pytest.raises(OperationalError, match="locked"):
                async with other.writing() as second:
                    await second.execute(select(Provider.id))  # only reads, still refused
            # Readers are not blocked by the writer (WAL).
            async with other.reading() as reader:
                assert await reader.scalar(select(Provider.id)) is None
        async with other.writing() as second:  # the first committed: it may begin now
            second.add(Provider(name="Ferme d'après", village="Vialas", sector="Mont Lozère"))
    finally:
        await other.dispose()


async def test_a_reading_transaction_does_not_take_the_write_lock(db):
    sqlite_only(db)
    other = impatient(db.url)
    try:
        async with db.reading() as reader:
            await reader.execute(select(Provider.id))
            await add_provider(other, "Ferme pendant la lecture")
    finally:
        await other.dispose()


async def test_every_sqlite_connection_has_the_pragmas(db):
    sqlite_only(db)
    for opened in (db.reading, db.writing, db.reading):
        async with opened() as session:
            pragmas = {
                name: (await session.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout", "synchronous")
            }
            raw = await (await session.connection()).get_raw_connection()
            # The driver emits no BEGIN of its own: the recipe's BEGIN (IMMEDIATE) is the only one.
            assert raw.driver_connection.isolation_level is None
        assert pragmas == {
            "foreign_keys": 1,
            "journal_mode": "wal",
            "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
            "synchronous": 1,  # NORMAL
        }


async def test_foreign_keys_are_enforced(db):
    async with db.writing() as session:
        before = await session.scalar(select(Slot.id).limit(1))
    assert before is None
    with pytest.raises(IntegrityError):
        async with db.writing() as session:
            await session.execute(
                text(
                    "INSERT INTO booking (reference, slot_id, adults, children, name, locale, "
                    "channel, status, manage_token_hash, created_at) VALUES ('AAAA-BBBB', 424242, "
                    "1, 0, 'X', 'fr', 'web', 'confirmed', 'h', :at)"
                ),
                {"at": datetime(2026, 7, 1, 12, 0) if db.is_sqlite else clock.now()},
            )


async def test_postgres_transactions_are_read_committed(db):
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    for opened in (db.reading, db.writing):
        async with opened() as session:
            level = await session.scalar(text("SHOW transaction_isolation"))
        assert level == "read committed"


# --- UTCDateTime -------------------------------------------------------------------------


async def test_a_naive_datetime_is_refused(db):
    with pytest.raises(StatementError) as refused:
        await add_provider(db, "Ferme naïve", created_at=datetime(2026, 7, 12, 10, 0))
    assert isinstance(refused.value.orig, ValueError)
    assert "naive" in str(refused.value.orig)
    async with db.reading() as session:
        assert await session.scalar(select(Provider.id)) is None


def test_the_type_refuses_naive_datetimes_before_any_dialect():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 7, 12, 10, 0), None)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 7, 12, 10, 0, 0, 123456, tzinfo=clock.OFFICE_TZ),  # summer, UTC+2
        datetime(2026, 1, 12, 10, 0, tzinfo=clock.OFFICE_TZ),  # winter, UTC+1
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=clock.OFFICE_TZ),  # the repeated hour
        datetime(2026, 3, 1, 23, 45, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        datetime(2026, 5, 5, 5, 5, 5, tzinfo=UTC),
    ],
)
async def test_aware_datetimes_come_back_as_the_same_instant_in_utc(db, instant):
    provider_id = await add_provider(db, "Ferme du temps", created_at=instant)
    async with db.reading() as session:
        stored = await session.scalar(select(Provider.created_at).where(Provider.id == provider_id))
        raw = (await session.execute(text("SELECT created_at FROM provider"))).scalar()
    # (Compared in UTC: Python never finds a time in the repeated hour equal to another zone's.)
    assert stored == instant.astimezone(UTC)
    assert stored.tzinfo is UTC
    if db.is_sqlite:
        # Stored as the UTC wall clock, so text order is time order in SQL.
        assert str(raw).startswith(instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
    else:
        assert raw.astimezone(UTC) == instant.astimezone(UTC)


async def test_comparisons_in_sql_use_the_instant(db):
    """A Paris-time bound compares to stored UTC values as the same instant."""
    at = datetime(2026, 7, 12, 8, 0, tzinfo=UTC)
    provider_id = await add_provider(db, "Ferme comparée", created_at=at)
    just_after_in_paris = (at + timedelta(seconds=1)).astimezone(clock.OFFICE_TZ)
    just_before_in_paris = (at - timedelta(seconds=1)).astimezone(clock.OFFICE_TZ)
    async with db.reading() as session:
        before = await session.scalar(
            select(Provider.id).where(Provider.created_at < just_after_in_paris)
        )
        after = await session.scalar(
            select(Provider.id).where(Provider.created_at < just_before_in_paris)
        )
    assert (before, after) == (provider_id, None)


# --- constraints the database enforces by itself --------------------------------------------


@pytest.mark.parametrize(
    "assignment",
    ["booked = capacity + 1", "booked = -1", "capacity = booked - 1", "status = 'postponed'"],
)
async def test_the_database_refuses_an_impossible_slot(db, assignment):
    slot = await make_slot(db, capacity=5)
    async with db.writing() as session:
        await session.execute(text("UPDATE slot SET booked = 5 WHERE id = :id"), {"id": slot.id})
    with pytest.raises(IntegrityError):
        async with db.writing() as session:
            await session.execute(
                text(f"UPDATE slot SET {assignment} WHERE id = :id"), {"id": slot.id}
            )
    async with db.reading() as session:
        row = (
            await session.execute(
                text("SELECT booked, capacity, status FROM slot WHERE id = :id"), {"id": slot.id}
            )
        ).one()
    assert tuple(row) == (5, 5, "scheduled")
