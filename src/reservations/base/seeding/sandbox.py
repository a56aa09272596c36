"""The resellers' sandbox: the demo data, with room for an integration's many test bookings.

A test key books here, never on the real places. Conformance tools reserve the same slot many
times over with a dozen people each: every coming visit of the sandbox has ``CAPACITY`` places
and no farm has a daily cap.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import Provider, Slot
from reservations.base.seeding.demo import load_demo

CAPACITY = 1000


async def fill_sandbox(db: Database, *, today: date | None = None) -> None:
    """The demo into an empty database, then room for everyone."""
    await load_demo(db, today=today)
    async with db.writing() as session:
        await session.execute(
            update(Slot).where(Slot.starts_at > clock.now()).values(capacity=CAPACITY)
        )
        await session.execute(update(Provider).values(daily_cap=None))
