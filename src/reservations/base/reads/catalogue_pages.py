"""What the catalogue pages of the back office show: the providers with their activities, one
provider with its days off, one activity, and the activities to choose from when planning.
Reads only; one SELECT (or two) each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    BOOKABLE_STATUSES,
    Activity,
    ActivityKind,
    Provider,
    ProviderDayOff,
    Slot,
)
from reservations.base.reads import pictures
from reservations.base.reads.pictures import PictureView
from reservations.base.rules.activities import ActivityFields, ActivityNotFound, fields_of_activity
from reservations.base.rules.providers import (
    NoSuchProvider,
    ProviderFields,
    fields_of_provider,
    load_provider,
)


@dataclass(frozen=True)
class ActivityLine:
    id: int
    provider_id: int
    kind: ActivityKind
    name: str
    default_capacity: int
    archived_at: datetime | None


@dataclass(frozen=True)
class ProviderLine:
    id: int
    name: str
    village: str
    sector: str
    email: str | None
    phone: str | None
    languages: list[str]
    daily_cap: int | None
    activities: list[ActivityLine]


def _activity_line(activity: Activity) -> ActivityLine:
    return ActivityLine(
        id=activity.id,
        provider_id=activity.provider_id,
        kind=activity.kind,
        name=activity.name,
        default_capacity=activity.default_capacity,
        archived_at=activity.archived_at,
    )


def _provider_line(provider: Provider, activities: list[ActivityLine]) -> ProviderLine:
    return ProviderLine(
        id=provider.id,
        name=provider.name,
        village=provider.village,
        sector=provider.sector,
        email=provider.email,
        phone=provider.phone,
        languages=list(provider.languages or []),
        daily_cap=provider.daily_cap,
        activities=activities,
    )


async def overview(db: Database) -> list[ProviderLine]:
    """Every provider with its activities, archived ones included (two SELECTs)."""
    async with db.reading() as session:
        providers = list(await session.scalars(select(Provider).order_by(Provider.name)))
        activities = await session.scalars(
            select(Activity).order_by(Activity.archived_at.is_not(None), Activity.name)
        )
        by_provider: dict[int, list[ActivityLine]] = {}
        for activity in activities:
            by_provider.setdefault(activity.provider_id, []).append(_activity_line(activity))
    return [_provider_line(p, by_provider.get(p.id, [])) for p in providers]


@dataclass(frozen=True)
class DayOff:
    id: int
    day: date
    note: str | None
    #: Live slots of the provider planned that day (to cancel by hand if need be).
    planned: int


@dataclass(frozen=True)
class ProviderPage:
    provider: ProviderLine
    fields: ProviderFields
    days_off: list[DayOff]
    #: The farm's portrait (the first) and its other pictures.
    pictures: list[PictureView] = field(default_factory=list)


async def provider_page(
    db: Database, provider_id: int, *, today: date | None = None
) -> ProviderPage:
    """A provider, its activities, its days off from ``today`` on with the live slots still
    planned on each, and its pictures (four SELECTs)."""
    today = today or clock.today()
    planned = (
        select(func.count(Slot.id))
        .join(Activity, Slot.activity_id == Activity.id)
        .where(
            Activity.provider_id == ProviderDayOff.provider_id,
            Slot.starts_on == ProviderDayOff.day,
            Slot.status.in_(BOOKABLE_STATUSES),
        )
        .correlate(ProviderDayOff)
        .scalar_subquery()
    )
    async with db.reading() as session:
        provider = await load_provider(session, provider_id)
        activities = await session.scalars(
            select(Activity)
            .where(Activity.provider_id == provider_id)
            .order_by(Activity.archived_at.is_not(None), Activity.name)
        )
        lines = [_activity_line(a) for a in activities]
        days = await session.execute(
            select(ProviderDayOff.id, ProviderDayOff.day, ProviderDayOff.note, planned)
            .where(ProviderDayOff.provider_id == provider_id, ProviderDayOff.day >= today)
            .order_by(ProviderDayOff.day)
        )
        days_off = [DayOff(i, d, n, int(p or 0)) for i, d, n, p in days]
    return ProviderPage(
        _provider_line(provider, lines),
        fields_of_provider(provider),
        days_off,
        await pictures.of_owner(db, provider_id=provider_id),
    )


@dataclass(frozen=True)
class ActivityPage:
    id: int
    provider_id: int
    provider: str
    fields: ActivityFields
    archived_at: datetime | None
    #: The cover (the first) and the other pictures.
    pictures: list[PictureView] = field(default_factory=list)


async def activity_page(db: Database, activity_id: int) -> ActivityPage:
    async with db.reading() as session:
        row = (
            await session.execute(
                select(Activity, Provider.name)
                .join(Provider, Activity.provider_id == Provider.id)
                .where(Activity.id == activity_id)
            )
        ).first()
    if row is None:
        raise ActivityNotFound()
    activity, provider = row
    return ActivityPage(
        activity.id,
        activity.provider_id,
        provider,
        fields_of_activity(activity),
        activity.archived_at,
        await pictures.of_owner(db, activity_id=activity_id),
    )


async def provider_name(db: Database, provider_id: int) -> str:
    async with db.reading() as session:
        name = await session.scalar(select(Provider.name).where(Provider.id == provider_id))
    if name is None:
        raise NoSuchProvider()
    return name


@dataclass(frozen=True)
class ActivityChoice:
    id: int
    name: str
    provider_id: int
    provider: str


async def activity_choices(db: Database) -> list[ActivityChoice]:
    """Activities that can be planned (not archived), by provider then name."""
    async with db.reading() as session:
        rows = await session.execute(
            select(Activity.id, Activity.name, Provider.id, Provider.name)
            .join(Provider, Activity.provider_id == Provider.id)
            .where(Activity.archived_at.is_(None))
            .order_by(Provider.name, Activity.name)
        )
        return [ActivityChoice(*row) for row in rows]
