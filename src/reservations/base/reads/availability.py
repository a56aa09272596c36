"""What is on, and how many places are left: the read side used by the API, the website and
resellers. One SELECT over slot ⋈ activity ⋈ provider; no ORM objects, no per-slot queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from reservations.base import clock
from reservations.base.errors import InvalidPeriod
from reservations.base.infra.db import Database
from reservations.base.models import BOOKABLE_STATUSES, Activity, ActivityKind, Provider, Slot
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts

MAX_PERIOD_DAYS = 366


@dataclass(frozen=True)
class SlotView(SlotFacts):
    """A slot on the programme, read in one language."""

    kind: ActivityKind
    sector: str
    price_adult_cents: int
    price_child_cents: int
    #: The language ``activity`` is in.
    locale: str

    @property
    def activity(self) -> str:
        return self.title_in(self.locale)


@dataclass(frozen=True)
class SlotFilter:
    sector: str | None = None
    kind: ActivityKind | None = None
    #: A provider's id (a number already read at the edge), or its exact name (text): the
    #: edge decides which (``web.inputs.id_or_name``), so no text is ever turned into a number
    #: here.
    provider: int | str | None = None
    #: One activity's slots only (a reseller's product).
    activity: int | None = None


def check_period(first_day: date, last_day: date) -> None:
    """``InvalidPeriod`` unless ``first_day..last_day`` is a period ``list_slots`` reads."""
    if last_day < first_day or (last_day - first_day).days >= MAX_PERIOD_DAYS:
        raise InvalidPeriod(field="to", maximum=MAX_PERIOD_DAYS)


async def list_slots(
    db: Database,
    first_day: date,
    last_day: date,
    slot_filter: SlotFilter = SlotFilter(),
    *,
    locale: str = "fr",
    now: datetime | None = None,
) -> list[SlotView]:
    """Slots starting on local days ``first_day`` to ``last_day`` (inclusive), in start order."""
    check_period(first_day, last_day)
    now = now or clock.now()
    query = _slot_views(now).where(
        Slot.starts_on >= first_day,
        Slot.starts_on <= last_day,
        Activity.archived_at.is_(None),
    )
    if slot_filter.activity is not None:
        query = query.where(Slot.activity_id == slot_filter.activity)
    if slot_filter.sector:
        query = query.where(Provider.sector == slot_filter.sector)
    if slot_filter.kind:
        query = query.where(Activity.kind == slot_filter.kind)
    if isinstance(slot_filter.provider, int):
        query = query.where(Provider.id == slot_filter.provider)
    elif slot_filter.provider:
        query = query.where(Provider.name == slot_filter.provider)
    return await _views(db, query, locale, now)


async def slots_by_id(
    db: Database, slot_ids: list[int], *, locale: str = "fr", now: datetime | None = None
) -> dict[int, SlotView]:
    """The slots of these ids (archived activities' too: a booking's slot is still its own)."""
    if not slot_ids:
        return {}
    now = now or clock.now()
    query = _slot_views(now).where(Slot.id.in_(sorted(set(slot_ids))))
    views = await _views(db, query, locale, now)
    return {view.id: view for view in views}


async def slots_starting(
    db: Database,
    activity_id: int,
    starts: list[datetime],
    *,
    locale: str = "fr",
    now: datetime | None = None,
) -> list[SlotView]:
    """The activity's slots starting at these instants (an activity has one slot a start)."""
    if not starts:
        return []
    now = now or clock.now()
    query = _slot_views(now).where(
        Slot.activity_id == activity_id,
        Slot.starts_at.in_(sorted(set(starts))),
        Activity.archived_at.is_(None),
    )
    return await _views(db, query, locale, now)


def _slot_views(now: datetime) -> Any:
    """The SELECT of ``SlotView``, its holds judged at ``now``: the instant its bookable and
    open are judged at too, so that the answer changes only at the instants
    ``freshness`` foresees."""
    return (
        select(
            *slot_facts.columns(now),
            Activity.kind,
            Activity.price_adult_cents,
            Activity.price_child_cents,
            Provider.sector,
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .order_by(Slot.starts_at, Slot.id)
    )


async def _views(db: Database, query: Any, locale: str, now: datetime) -> list[SlotView]:
    async with db.reading_statements() as connection:
        rows = (await connection.execute(query)).all()
    return [SlotView.from_row(row, now, locale=locale) for row in rows]


def on_programme(view: SlotView, now: datetime) -> bool:
    """Listed publicly (programme, embed): not started, neither held nor cancelled. A
    cancelled slot's visitors are told by email with other dates; its page stays readable."""
    return view.starts_at > now and view.status in BOOKABLE_STATUSES
