"""What the visitors' site shows of the programme: a slot with all it says about its activity and
provider, the providers on the programme, and the facts a programme entry needs beyond
``availability.list_slots``. Reads only; one SELECT each, no per-slot queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from reservations.base import clock
from reservations.base.errors import SlotNotFound
from reservations.base.infra.db import Database
from reservations.base.models import Activity, ActivityKind, Provider, Slot
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts
from reservations.base.rules import prices


@dataclass(frozen=True)
class SlotDetail(SlotFacts):
    """One slot as its page shows it."""

    kind: ActivityKind
    description: dict[str, str]
    accessibility: dict[str, str]
    directions: dict[str, str]
    meeting_point: str | None
    latitude: float | None
    longitude: float | None
    min_age: int | None
    duration_minutes: int
    price_adult_cents: int
    price_child_cents: int
    sector: str
    provider_phone: str | None
    provider_email: str | None
    languages: list[str]
    sequence: int

    def total_cents(self, adults: int, children: int) -> int:
        """What a party of ``adults`` and ``children`` pays for this visit."""
        return self.price_of(adults, children).total_cents

    def price_of(self, adults: int, children: int) -> prices.Price:
        return prices.price_of(
            adults,
            children,
            adult_cents=self.price_adult_cents,
            child_cents=self.price_child_cents,
        )

    @property
    def decided_day_before(self) -> bool:
        """The go/no-go falls on the day before the visit (the usual rule)."""
        return (self.starts_on - clock.local_date(self.decision_at)).days == 1


async def slot_detail(
    db: Database, slot_id: int, *, published_only: bool = True, now: datetime | None = None
) -> SlotDetail:
    """A slot with its activity and provider, or ``SlotNotFound``. ``published_only=False`` finds
    the slots of archived activities too (a booking made before stays readable)."""
    query = (
        select(
            *slot_facts.COLUMNS,
            Activity.kind,
            Activity.description,
            Activity.accessibility,
            Activity.directions,
            Activity.meeting_point,
            Activity.latitude,
            Activity.longitude,
            Activity.min_age,
            Activity.duration_minutes,
            Activity.price_adult_cents,
            Activity.price_child_cents,
            Provider.sector,
            Provider.phone.label("provider_phone"),
            Provider.email.label("provider_email"),
            Provider.languages,
            Slot.sequence,
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(Slot.id == slot_id)
    )
    if published_only:
        query = query.where(Activity.archived_at.is_(None))
    async with db.reading_connection() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        raise SlotNotFound(field="slot_id")
    return SlotDetail.from_row(
        row,
        now or clock.now(),
        description=dict(row.description or {}),
        accessibility=dict(row.accessibility or {}),
        directions=dict(row.directions or {}),
        languages=list(row.languages or []),
    )


@dataclass(frozen=True)
class ProviderChoice:
    id: int
    name: str


async def providers_on_programme(
    db: Database, first_day: date, last_day: date
) -> list[ProviderChoice]:
    """Providers with a slot between the two local days, by name (for the programme filter)."""
    query = (
        select(Provider.id, Provider.name)
        .join(Activity, Activity.provider_id == Provider.id)
        .join(Slot, Slot.activity_id == Activity.id)
        .where(
            Slot.starts_on >= first_day,
            Slot.starts_on <= last_day,
            Activity.archived_at.is_(None),
        )
        .distinct()
        .order_by(Provider.name)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [ProviderChoice(id=row.id, name=row.name) for row in rows]


async def minimum_ages(db: Database, activity_ids: Iterable[int]) -> dict[int, int | None]:
    """Each activity's minimum age (None: any age), for the programme's "children" filter."""
    ids = sorted(set(activity_ids))
    if not ids:
        return {}
    query = select(Activity.id, Activity.min_age).where(Activity.id.in_(ids))
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return {row.id: row.min_age for row in rows}


async def spoken_languages(db: Database, activity_ids: Iterable[int]) -> dict[int, list[str]]:
    """The languages each activity's farmer speaks, for the programme's "language" filter."""
    ids = sorted(set(activity_ids))
    if not ids:
        return {}
    query = (
        select(Activity.id, Provider.languages)
        .join(Provider, Provider.id == Activity.provider_id)
        .where(Activity.id.in_(ids))
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return {row.id: list(row.languages or []) for row in rows}
