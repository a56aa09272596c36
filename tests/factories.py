"""Small builders of providers, activities and slots for tests, written straight to the database."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import Activity, ActivityKind, Provider, Slot
from reservations.base.rules.planning import new_slot

_numbers = itertools.count(1)


async def make_activity(
    db: Database,
    *,
    provider_name: str | None = None,
    sector: str = "Mont Lozère",
    kind: ActivityKind = ActivityKind.FARM_VISIT,
    capacity: int = 20,
    min_participants: int = 0,
    cutoff_minutes: int = 120,
) -> Activity:
    number = next(_numbers)
    async with db.writing() as session:
        provider = Provider(
            name=provider_name or f"Ferme {number}",
            village="Vialas",
            sector=sector,
            email=f"ferme{number}@example.org",
            languages=["fr"],
        )
        session.add(provider)
        await session.flush()
        activity = Activity(
            provider_id=provider.id,
            kind=kind,
            name=f"Visite {number}",
            title={"fr": f"Visite {number}", "en": f"Visit {number}"},
            description={"fr": "Une visite."},
            accessibility={},
            default_capacity=capacity,
            default_min_participants=min_participants,
            cutoff_minutes=cutoff_minutes,
        )
        session.add(activity)
    return activity


async def make_slot(
    db: Database,
    *,
    activity: Activity | None = None,
    starts_at: datetime | None = None,
    capacity: int = 20,
    min_participants: int = 0,
    **activity_options: object,
) -> Slot:
    if activity is None:
        activity = await make_activity(
            db,
            capacity=capacity,
            min_participants=min_participants,
            **activity_options,  # type: ignore[arg-type]
        )
    starts_at = starts_at or clock.now().replace(microsecond=0) + timedelta(days=3)
    async with db.writing() as session:
        slot = new_slot(activity, starts_at, capacity=capacity, min_participants=min_participants)
        session.add(slot)
    return slot


async def fetch_slot(db: Database, slot_id: int) -> Slot:
    async with db.reading() as session:
        slot = await session.get(Slot, slot_id)
    assert slot is not None
    return slot
