"""The at-risk board, the back office's first page: the slots whose go/no-go falls in the next
hours while they are under their minimum (the office's main lever on visits called off for lack
of people: promote them, call the farmer, merge groups early), the pairs of them worth merging
(``consolidation.mergeable``), and the visits of today and tomorrow with their head counts.
Reads only; one SELECT each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select

from reservations.base import clock
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    Booking,
    BookingStatus,
    MoveInvitation,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.reads import slot_facts
from reservations.base.reads.slot_facts import SlotFacts
from reservations.base.rules.consolidation import mergeable

#: How far ahead the board looks for go/no-go decisions.
HORIZON = timedelta(hours=72)


@dataclass(frozen=True)
class BoardSlot(SlotFacts):
    """A slot on the board, with the farmer's phone: the office calls them."""

    provider_phone: str | None

    @property
    def slot_id(self) -> int:
        """The board's rows are named by their slot."""
        return self.id


async def at_risk(
    db: Database, *, now: datetime | None = None, horizon: timedelta = HORIZON
) -> list[BoardSlot]:
    """Undecided slots whose decision time is between now and ``now + horizon`` and that have
    fewer people than their minimum, the soonest decision first."""
    now = now or clock.now()
    query = (
        select(*slot_facts.COLUMNS, Provider.phone.label("provider_phone"))
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(
            Slot.status == SlotStatus.SCHEDULED,
            Slot.decision_at >= now,
            Slot.decision_at <= now + horizon,
            Slot.booked < Slot.min_participants,
        )
        .order_by(Slot.decision_at, Slot.starts_at, Slot.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [BoardSlot.from_row(row, now) for row in rows]


@dataclass(frozen=True)
class MergeProposal:
    """Invite the people of ``source`` to ``target``: together they reach its minimum."""

    source: BoardSlot
    target: BoardSlot
    #: Invitations already sent from ``source`` to ``target``, and those accepted.
    invited: int
    accepted: int

    @property
    def people_after(self) -> int:
        return self.source.booked + self.target.booked


async def merge_proposals(
    db: Database, slots: Sequence[BoardSlot], *, now: datetime | None = None
) -> list[MergeProposal]:
    """Pairs of the board's slots worth merging, each slot in one pair at most: the smaller
    group is invited to the larger (the earlier visit on a tie), the pairs reaching the most
    people first. One SELECT for the invitations already sent."""
    now = now or clock.now()
    pairs = [
        (source, target)
        for source in slots
        for target in slots
        if mergeable(source, target, now)
        and (source.booked, target.starts_at) < (target.booked, source.starts_at)
    ]
    pairs.sort(key=lambda pair: (-(pair[0].booked + pair[1].booked), pair[1].starts_at))
    chosen: list[tuple[BoardSlot, BoardSlot]] = []
    used: set[int] = set()
    for source, target in pairs:
        if source.id not in used and target.id not in used:
            chosen.append((source, target))
            used |= {source.id, target.id}
    sent = await _invitations_sent(db, [source.id for source, _ in chosen])
    return [
        MergeProposal(source, target, *sent.get((source.id, target.id), (0, 0)))
        for source, target in chosen
    ]


async def _invitations_sent(
    db: Database, source_ids: list[int]
) -> dict[tuple[int, int], tuple[int, int]]:
    if not source_ids:
        return {}
    query = (
        select(
            MoveInvitation.source_slot_id,
            MoveInvitation.target_slot_id,
            func.count(),
            func.count(MoveInvitation.accepted_at),
        )
        .where(MoveInvitation.source_slot_id.in_(source_ids))
        .group_by(MoveInvitation.source_slot_id, MoveInvitation.target_slot_id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return {(row[0], row[1]): (int(row[2]), int(row[3])) for row in rows}


@dataclass(frozen=True)
class DayVisit(BoardSlot):
    """A visit of today or tomorrow with the head count of its live bookings."""

    adults: int
    children: int
    bookings: int

    @property
    def people(self) -> int:
        return self.adults + self.children


async def visits_between(
    db: Database, first_day: date, last_day: date, *, now: datetime | None = None
) -> list[DayVisit]:
    """Every slot starting on a local day from ``first_day`` to ``last_day``, cancelled ones
    included (someone may still turn up), with the adults and children of its live bookings:
    one SELECT with a GROUP BY."""
    live = and_(Booking.slot_id == Slot.id, Booking.status == BookingStatus.CONFIRMED)
    adults = func.coalesce(func.sum(Booking.adults), 0)
    children = func.coalesce(func.sum(Booking.children), 0)
    bookings = func.count(Booking.id)
    query = (
        select(
            *slot_facts.COLUMNS,
            Provider.phone.label("provider_phone"),
            adults.label("adults"),
            children.label("children"),
            bookings.label("bookings"),
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .outerjoin(Booking, live)
        .where(Slot.starts_on >= first_day, Slot.starts_on <= last_day)
        .group_by(Slot.id, Activity.id, Provider.id)
        .order_by(Slot.starts_at, Slot.id)
    )
    async with db.reading_connection() as connection:
        rows = (await connection.execute(query)).all()
    return [
        DayVisit.from_row(
            row,
            now or clock.now(),
            adults=int(row.adults),
            children=int(row.children),
            bookings=int(row.bookings),
        )
        for row in rows
    ]
