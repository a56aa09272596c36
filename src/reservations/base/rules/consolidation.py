"""Consolidation: two visits of one activity, both short of their minimum, become one that
takes place. The office invites the visitors of one (the source) to move to the other (the
target); each accepts with one tap of the link in their email, which moves their booking with
the same guarantee as any move (``moves.move_booking``: the target's places, under its lock).
Nobody is moved without saying yes: who does not answer keeps their booking, and the source's
go/no-go decides as usual.

An invitation is a ``MoveInvitation`` row per booking, its link's secret stored hashed. It
runs until the source's decision (or the target's cut-off, if sooner). The report counts the
visits these moves saved (``reads.reports``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base import clock
from reservations.base.errors import N_, DomainError, ErrorKind, N_plural, SlotNotFound
from reservations.base.infra import tokens
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
from reservations.base.rules import audit, room
from reservations.base.rules.booking import lock_slot
from reservations.base.rules.moves import Move, MoveToSameSlot, move_booking

# --- What can be refused ---------------------------------------------------------------------


class NotSameActivity(DomainError):
    code = "merge_not_same_activity"
    title = N_("Not the same visit")
    message = N_("Only two dates of the same activity can be merged.")


class NotMergeable(DomainError):
    kind = ErrorKind.CONFLICT
    code = "merge_not_possible"
    title = N_("These visits cannot be merged")
    message = N_(
        "Both visits must still be waiting for their decision, short of their minimum, and "
        "open for bookings."
    )


class TargetTooSmall(DomainError):
    kind = ErrorKind.CONFLICT
    code = "merge_target_too_small"
    title = N_("Not enough places")
    message = N_plural(
        "The visit to move to has {remaining} place left for the {people} people to move.",
        "The visit to move to has {remaining} places left for the {people} people to move.",
    )
    counted = "remaining"


class NobodyToInvite(DomainError):
    kind = ErrorKind.CONFLICT
    code = "merge_nobody_to_invite"
    title = N_("Nobody to invite")
    message = N_(
        "Every booking of this visit with an email address has already been invited, or it "
        "has none."
    )


class InvitationNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "move_invitation_not_found"
    title = N_("Unknown invitation")
    message = N_("No invitation matches this link. Please check that it was copied in full.")


class InvitationExpired(DomainError):
    kind = ErrorKind.CONFLICT
    code = "move_invitation_expired"
    title = N_("This invitation has ended")
    message = N_(
        "The invitation to move ended at {expires}. Your booking is unchanged; the office can "
        "still help you by phone."
    )


class InvitationOutdated(DomainError):
    kind = ErrorKind.CONFLICT
    code = "move_invitation_outdated"
    title = N_("Your booking has changed")
    message = N_(
        "Your booking is no longer the one this invitation was for (it was cancelled or "
        "moved). Nothing was changed."
    )


# --- Inviting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    """What the invitation email says: the party, both dates, the link's secret."""

    id: int
    booking_id: int
    reference: str
    name: str
    email: str
    locale: str
    adults: int
    children: int
    source_slot_id: int
    target_slot_id: int
    source_starts_at: datetime
    target_starts_at: datetime
    expires_at: datetime
    token: str

    @property
    def dedup_key(self) -> str:
        return f"move-invitation:{self.id}"


#: Queues the invitation's email inside the transaction that makes it.
InvitationNotify = Callable[[AsyncSession, Invitation], Awaitable[None]]


@dataclass(frozen=True)
class Invited:
    """What the office is told: who was invited, and the bookings to call (no email)."""

    source_slot_id: int
    target_slot_id: int
    invited: int
    people: int
    to_call: tuple[str, ...]


async def invite_to_merge(
    db: Database,
    source_id: int,
    target_id: int,
    *,
    actor: str,
    notify: InvitationNotify,
    now: clock.At = None,
) -> Invited:
    """Invite every confirmed booking of ``source_id`` (with an email, not invited yet) to
    move to ``target_id``; or refuse, saying why, with nothing written. Both slots' rows are
    locked first (in id order, as a move locks them): two clerks clicking at once invite each
    booking once, the second finding the first's invitations."""
    read_clock = clock.reader(now)
    async with db.writing() as session:
        for slot_id in sorted({source_id, target_id}):
            await lock_slot(session, slot_id)
        now_ = read_clock()
        source, target = await _mergeable_pair(session, source_id, target_id, now_)
        bookings = await _live_bookings(session, source_id)
        people = sum(b.adults + b.children for b in bookings)
        if people > target.remaining:
            raise TargetTooSmall(field="target", remaining=target.remaining, people=people)
        already = set(
            await session.scalars(
                select(MoveInvitation.booking_id).where(
                    MoveInvitation.source_slot_id == source_id,
                    MoveInvitation.target_slot_id == target_id,
                )
            )
        )
        to_invite = [b for b in bookings if b.email and b.id not in already]
        if not to_invite:
            raise NobodyToInvite(field="target")
        expires_at = min(source.decision_at, target.booking_cutoff_at)
        for booking in to_invite:
            await notify(
                session, await _invite(session, booking, source, target, expires_at, actor)
            )
        _audit(session, actor, source, target, to_invite)
    return Invited(
        source_slot_id=source_id,
        target_slot_id=target_id,
        invited=len(to_invite),
        people=sum(b.adults + b.children for b in to_invite),
        to_call=tuple(b.reference for b in bookings if not b.email),
    )


class MergeCandidate(Protocol):
    """What ``mergeable`` looks at: the facts of a slot as read (``reads.slot_facts``)."""

    id: int
    activity_id: int
    status: SlotStatus
    booked: int
    min_participants: int
    open: bool
    decision_at: datetime

    @property
    def remaining(self) -> int: ...

    @property
    def missing(self) -> int: ...


def mergeable(source: MergeCandidate, target: MergeCandidate, now: datetime) -> bool:
    """The pair worth merging, as read: one activity, both undecided and short of their
    minimum, the target open with room for the source's people, and together enough for the
    target's minimum. The at-risk board proposes these pairs."""
    return (
        _may_merge(source, target, now)
        and 0 < source.booked <= target.remaining
        and source.booked + target.booked >= target.min_participants
    )


def _may_merge(source: MergeCandidate, target: MergeCandidate, now: datetime) -> bool:
    return (
        source.id != target.id
        and source.activity_id == target.activity_id
        and all(
            s.status == SlotStatus.SCHEDULED and now < s.decision_at and s.missing > 0
            for s in (source, target)
        )
        and target.open
    )


@dataclass(frozen=True)
class _SlotNow:
    """A slot as the invitation reads it (the rules do not import the read models)."""

    id: int
    activity_id: int
    status: SlotStatus
    booked: int
    min_participants: int
    open: bool
    starts_at: datetime
    decision_at: datetime
    booking_cutoff_at: datetime
    places_left: int

    @property
    def remaining(self) -> int:
        return max(self.places_left, 0)

    @property
    def missing(self) -> int:
        return max(self.min_participants - self.booked, 0)


async def _mergeable_pair(
    session: AsyncSession, source_id: int, target_id: int, now: datetime
) -> tuple[_SlotNow, _SlotNow]:
    query = (
        select(
            Slot.id,
            Slot.activity_id,
            Slot.status,
            Slot.booked,
            Slot.min_participants,
            Slot.starts_at,
            Slot.decision_at,
            Slot.booking_cutoff_at,
            room.places_left(now).label("places_left"),
        )
        .join(Activity, Slot.activity_id == Activity.id)
        .join(Provider, Activity.provider_id == Provider.id)
        .where(Slot.id.in_([source_id, target_id]))
    )
    rows = {}
    for row in await session.execute(query):
        status = SlotStatus(row.status)
        open_ = room.is_open(status, row.booking_cutoff_at, now)
        rows[row.id] = _SlotNow(**{**row._asdict(), "status": status, "open": open_})
    if source_id not in rows or target_id not in rows:
        raise SlotNotFound(field="target")
    source, target = rows[source_id], rows[target_id]
    if source_id == target_id:
        raise NotMergeable(field="target")
    if source.activity_id != target.activity_id:
        raise NotSameActivity(field="target")
    if not _may_merge(source, target, now):
        raise NotMergeable(field="target")
    return source, target


async def _live_bookings(session: AsyncSession, slot_id: int) -> Sequence[Booking]:
    return (
        await session.scalars(
            select(Booking)
            .where(Booking.slot_id == slot_id, Booking.status == BookingStatus.CONFIRMED)
            .order_by(Booking.id)
        )
    ).all()


async def _invite(
    session: AsyncSession,
    booking: Booking,
    source: _SlotNow,
    target: _SlotNow,
    expires_at: datetime,
    actor: str,
) -> Invitation:
    token = tokens.new_token()
    row = MoveInvitation(
        booking_id=booking.id,
        source_slot_id=source.id,
        target_slot_id=target.id,
        token_hash=tokens.digest(token),
        created_by=actor,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    assert booking.email is not None  # only bookings with an address are invited
    return Invitation(
        id=row.id,
        booking_id=booking.id,
        reference=booking.reference,
        name=booking.name,
        email=booking.email,
        locale=booking.locale,
        adults=booking.adults,
        children=booking.children,
        source_slot_id=source.id,
        target_slot_id=target.id,
        source_starts_at=source.starts_at,
        target_starts_at=target.starts_at,
        expires_at=expires_at,
        token=token,
    )


def _audit(
    session: AsyncSession,
    actor: str,
    source: _SlotNow,
    target: _SlotNow,
    invited: Sequence[Booking],
) -> None:
    """One entry on each slot, naming the other and the bookings invited (no personal data)."""
    data = {
        "bookings": [b.reference for b in invited],
        "people": sum(b.adults + b.children for b in invited),
    }
    audit.record(
        session,
        actor,
        "slot.merge_invited_out",
        slot_id=source.id,
        target_slot_id=target.id,
        **data,
    )
    audit.record(
        session, actor, "slot.merge_invited_in", slot_id=target.id, source_slot_id=source.id, **data
    )


# --- The visitor's answer --------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationView:
    """The invitation as its page shows it."""

    booking_id: int
    reference: str
    adults: int
    children: int
    locale: str
    source_slot_id: int
    target_slot_id: int
    expires_at: datetime
    accepted_at: datetime | None
    #: The booking is still confirmed on the visit it was invited from.
    still_valid: bool

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


async def find(db: Database, token: str) -> InvitationView:
    async with db.reading() as session:
        row = (
            await session.execute(
                select(MoveInvitation, Booking)
                .join(Booking, Booking.id == MoveInvitation.booking_id)
                .where(MoveInvitation.token_hash == tokens.digest(token))
            )
        ).first()
    if row is None:
        raise InvitationNotFound(field="token")
    invitation, booking = row
    return InvitationView(
        booking_id=booking.id,
        reference=booking.reference,
        adults=booking.adults,
        children=booking.children,
        locale=booking.locale,
        source_slot_id=invitation.source_slot_id,
        target_slot_id=invitation.target_slot_id,
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        still_valid=booking.status == BookingStatus.CONFIRMED
        and booking.slot_id == invitation.source_slot_id,
    )


async def accept(db: Database, token: str, *, now: clock.At = None) -> Move:
    """Move the invited booking to the invitation's target, and mark the invitation accepted,
    in one transaction; or refuse (ended, booking changed, no room left) with nothing moved.
    Two taps at once move it once: the second finds the booking gone from the source."""
    invitation = await find(db, token)
    if invitation.accepted_at is not None or not invitation.still_valid:
        raise InvitationOutdated(field="token")
    if invitation.expired(clock.reader(now)()):  # said first, before the target's own refusals
        raise InvitationExpired(field="token", expires=invitation.expires_at)
    token_hash = tokens.digest(token)

    async def mark_accepted(session: AsyncSession, move: Move) -> None:
        if move.source_slot_id != invitation.source_slot_id:
            raise InvitationOutdated(field="token")  # moved elsewhere since it was read
        if move.moved_at >= invitation.expires_at:
            raise InvitationExpired(field="token", expires=invitation.expires_at)
        accepted = await session.execute(
            update(MoveInvitation)
            .where(MoveInvitation.token_hash == token_hash, MoveInvitation.accepted_at.is_(None))
            .values(accepted_at=move.moved_at)
            .returning(MoveInvitation.id)
            .execution_options(synchronize_session=False)
        )
        invitation_id = accepted.scalar()
        if invitation_id is None:
            raise InvitationOutdated(field="token")
        for slot_id in (move.source_slot_id, move.target_slot_id):
            audit.record(
                session,
                "visitor",
                "move_invitation.accepted",
                slot_id=slot_id,
                booking_id=move.booking_id,
                invitation_id=invitation_id,
            )

    try:
        return await move_booking(
            db,
            invitation.booking_id,
            invitation.target_slot_id,
            actor="visitor",
            now=now,
            also=mark_accepted,
        )
    except MoveToSameSlot:  # on the target already: another tap, or the office, moved it
        raise InvitationOutdated(field="token") from None
