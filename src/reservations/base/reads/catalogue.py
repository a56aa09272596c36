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
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    ActivityKind,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.reads import availability


@dataclass(frozen=True)
class SlotDetail:
    """One slot as its page shows it."""

    id: int
    activity_id: int
    kind: ActivityKind
    activity_name: str
    title: dict[str, str]
    description: dict[str, str]
    accessibility: dict[str, str]
    meeting_point: str | None
    latitude: float | None
    longitude: float | None
    min_age: int | None
    duration_minutes: int
    price_adult_cents: int
    price_child_cents: int
    provider_id: int
    provider: str
    village: str
    sector: str
    provider_phone: str | None
    provider_email: str | None
    languages: list[str]
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int
    min_participants: int
    status: SlotStatus
    booking_cutoff_at: datetime
    decision_at: datetime
    sequence: int
    bookable: bool
    #: Still taking bookings or waiting-list entries (not cancelled, before the cut-off).
    open: bool

    @property
    def remaining(self) -> int:
        return max(self.capacity - self.booked, 0)

    def total_cents(self, adults: int, children: int) -> int:
        """What a party of ``adults`` and ``children`` pays for this visit."""
        return adults * self.price_adult_cents + children * self.price_child_cents

    @property
    def starts_on(self) -> date:
        return clock.local_date(self.starts_at)

    @property
    def decided_day_before(self) -> bool:
        """The go/no-go falls on the day before the visit (the usual rule)."""
        return (self.starts_on - clock.local_date(self.decision_at)).days == 1


async def slot_detail(
    db: Database, slot_id: int, *, published_only: bool = True, now: datetime | None = None
) -> SlotDetail:
    """A slot with its activity and provider, or ``SlotNotFound``. ``published_only=False`` finds
    the slots of archived activities too (a booking made before stays readable)."""
    now = now or clock.now()
    query = (
        select(Slot, Activity, Provider)
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(Slot.id == slot_id)
    )
    if published_only:
        query = query.where(Activity.archived_at.is_(None))
    async with db.reading() as session:
        row = (await session.execute(query)).first()
    if row is None:
        raise SlotNotFound(field="slot_id")
    slot, activity, provider = row
    return SlotDetail(
        id=slot.id,
        activity_id=activity.id,
        kind=activity.kind,
        activity_name=activity.name,
        title=dict(activity.title or {}),
        description=dict(activity.description or {}),
        accessibility=dict(activity.accessibility or {}),
        meeting_point=activity.meeting_point,
        latitude=activity.latitude,
        longitude=activity.longitude,
        min_age=activity.min_age,
        duration_minutes=activity.duration_minutes,
        price_adult_cents=activity.price_adult_cents,
        price_child_cents=activity.price_child_cents,
        provider_id=provider.id,
        provider=provider.name,
        village=provider.village,
        sector=provider.sector,
        provider_phone=provider.phone,
        provider_email=provider.email,
        languages=list(provider.languages or []),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        capacity=slot.capacity,
        booked=slot.booked,
        min_participants=slot.min_participants,
        status=slot.status,
        booking_cutoff_at=slot.booking_cutoff_at,
        decision_at=slot.decision_at,
        sequence=slot.sequence,
        bookable=availability.is_bookable(slot, now),
        open=slot.status in BOOKABLE_STATUSES and now < slot.booking_cutoff_at,
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
