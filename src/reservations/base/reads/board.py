"""The at-risk board, the back office's first page: the slots whose go/no-go falls in the next
hours while they are under their minimum (the office's main lever on visits called off for lack
of people: promote them, call the farmer, merge groups early), the pairs of them worth merging
(``consolidation.mergeable``), and the visits of today and tomorrow with their head counts.
Reads only; one SELECT each (two for the pairs: the invitations sent, the bookings to invite)."""

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
    invited: int = 0
    accepted: int = 0
    #: Bookings of ``source`` with an email address not invited to ``target`` yet.
    to_invite: int = 0

    @property
    def people_after(self) -> int:
        return self.source.booked + self.target.booked


async def merge_proposals(
    db: Database, slots: Sequence[BoardSlot], *, now: datetime | None = None
) -> list[MergeProposal]:
    """Pairs of the board's slots worth merging, each slot in one pair at most: the smaller
    group is invited to the larger (the earlier visit on a tie), the pairs reaching the most
    people first. Two SELECTs for the invitations sent and the bookings still to invite."""
    now = now or clock.now()
    pairs = [
        (source, target)
        for source in slots
        for target in slots
        if mergeable(source, target, now)
        and (source.booked, target.starts_at) < (target.booked, source.starts_at)
    ]
    pairs.sort(key=lambda pair: (-(pair[0].booked + pair[1].booked), pair[1].starts_at))
    chosen: dict[int, BoardSlot] = {}  # source id: target
    used: set[int] = set()
    sources: dict[int, BoardSlot] = {}
    for source, target in pairs:
        if source.id not in used and target.id not in used:
            chosen[source.id], sources[source.id] = target, source
            used |= {source.id, target.id}
    counts = await _invitation_counts(db, {s: t.id for s, t in chosen.items()})
    return [
        MergeProposal(sources[source_id], target, **counts[source_id])
        for source_id, target in chosen.items()
    ]


async def _invitation_counts(db: Database, targets: dict[int, int]) -> dict[int, dict[str, int]]:
    """For each source slot (its target given): invitations sent to that target, accepted, and
    its bookings with an email not invited to it yet."""
    counts = {source: {"invited": 0, "accepted": 0, "to_invite": 0} for source in targets}
    if not targets:
        return counts
    sent = select(
        MoveInvitation.booking_id,
        MoveInvitation.source_slot_id,
        MoveInvitation.target_slot_id,
        MoveInvitation.accepted_at,
    ).where(MoveInvitation.source_slot_id.in_(list(targets)))
    reachable = select(Booking.id, Booking.slot_id).where(
        Booking.slot_id.in_(list(targets)),
        Booking.status == BookingStatus.CONFIRMED,
        Booking.email.is_not(None),
    )
    async with db.reading_connection() as connection:
        invitations = (await connection.execute(sent)).all()
        bookings = (await connection.execute(reachable)).all()
    invited = set()
    for booking_id, source, target, accepted_at in invitations:
        if targets[source] == target:
            invited.add(booking_id)
            counts[source]["invited"] += 1
            counts[source]["accepted"] += accepted_at is not None
    for booking_id, source in bookings:
        counts[source]["to_invite"] += booking_id not in invited
    return counts


async def moved_away(db: Database, slot_ids: Sequence[int]) -> dict[int, int]:
    """How many bookings of each slot moved to another date by accepting an invitation: the
    board says so beside a slot its visitors left (one SELECT)."""
    if not slot_ids:
        return {}
    query = (
        select(MoveInvitation.source_slot_id, func.count())
        .where(
            MoveInvitation.source_slot_id.in_(list(slot_ids)),
            MoveInvitation.accepted_at.is_not(None),
        )
        .group_by(MoveInvitation.source_slot_id)
    )
    async with db.reading_connection() as connection:
        return {row[0]: int(row[1]) for row in await connection.execute(query)}


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
