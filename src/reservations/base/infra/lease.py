"""A lease in the database: one holder at a time for a named job, until the lease ends or its
holder gives it back. Taking it is one conditional statement, so two processes asking at once
cannot both get it, on either database."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite

from reservations.base.infra.db import Database
from reservations.base.models import SchedulerLease

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


async def take(db: Database, name: str, holder: str, now: datetime, length: timedelta) -> bool:
    """True if ``holder`` holds the lease ``name`` until ``now + length`` (it was free, over, or
    already its own: a holder renews it)."""
    until = now + length
    async with db.writing() as session:
        insert = _INSERTS[session.get_bind().dialect.name](SchedulerLease)
        created = await session.execute(
            insert.values(name=name, holder=holder, expires_at=until)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(SchedulerLease.name)
        )
        if created.first() is not None:
            return True
        taken = await session.execute(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == name,
                (SchedulerLease.expires_at <= now) | (SchedulerLease.holder == holder),
            )
            .values(holder=holder, expires_at=until)
            .returning(SchedulerLease.name)
        )
        return taken.first() is not None


async def give_back(db: Database, name: str, holder: str) -> None:
    """End the lease now if ``holder`` holds it (a server stopping): another may take it."""
    async with db.writing() as session:
        await session.execute(
            delete(SchedulerLease).where(
                SchedulerLease.name == name, SchedulerLease.holder == holder
            )
        )
