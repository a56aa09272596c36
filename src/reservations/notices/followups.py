"""What follows a change, in one place: each function is named after a change the site or the
office made, and runs everything that change leads to, so that no handler has to remember it.

- ``booking_cancelled``: by the office, the visitor is told (with the other open dates; their
  own cancellation is shown on their page); either way, the places it gave back are offered to
  the slot's waiting list.
- ``party_changed``: a smaller party gives places back, offered to the waiting list.
- ``booking_moved``: the visitor is told the new date (``notices.move``), then the places left
  on the slot it came from are offered to that slot's waiting list.
- ``capacity_changed``: the places each larger capacity adds are offered to the waiting list.
- ``left_waiting_list``: the places an offer held (withdrawn, or removed by staff) go to the
  next ones in line.
- ``slot_cancelled``: every visitor booked on it is told why and which other dates are open
  (no offers: a cancelled slot takes none).
- ``catch_up``, run by ``reservations tick``: the visitors of cancelled slots not told yet are
  told, then offers that ran out end and free places are offered on every open slot.

The person the change happened to is told first, then the waiting list is served
(``offer_freed_places``, the step most changes share: each offer is emailed in the transaction
that makes it). ``environment`` is the app's Jinja environment when called from a request.

Follow-ups run once the change has committed, each in its own transaction (the domain wrote the
change's audit entries in the change's own): the change stands whatever happens next, so a
follow-up never fails its caller; a failure is logged. ``tick`` is the safety net: it finds in
the database itself what a failure or a crash left undone (visitors of a cancelled slot with no
``slot-cancelled`` message, free places with people waiting), and the outbox's dedup keys and
the waiting list's locks make doing a follow-up twice harmless. An office cancellation's or a
move's email that could not be queued is only logged (``tick`` does not look for those).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from jinja2 import Environment
from sqlalchemy import select

from reservations.base.infra.db import Database
from reservations.base.infra.stripe_gateway import gateway_for
from reservations.base.models import Booking
from reservations.base.rules import refunds, waitlist
from reservations.base.rules.booking import BookingView
from reservations.base.rules.moves import Move
from reservations.base.rules.season import Edited
from reservations.base.rules.waitlist import Offer, TickResult
from reservations.notices import cancellation_emails, emails
from reservations.notices import move as move_notice
from reservations.notices.waitlist_emails import offer_notifier
from reservations.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def booking_cancelled(
    db: Database,
    settings: Settings,
    booking_id: int,
    *,
    by_office: bool,
    environment: Environment | None = None,
) -> None:
    """A booking was cancelled, by its visitor or by the office (``by_office``)."""
    slot_id = await _logged(
        _slot_of(db, booking_id), None, "could not read the slot of booking %s", booking_id
    )
    if slot_id is None:
        return
    await _logged(
        cancellation_emails.notify_booking_cancelled(
            db, slot_id, booking_id, settings, by_office=by_office, environment=environment
        ),
        0,
        "could not queue the cancellation email of booking %s",
        booking_id,
    )
    await send_refunds(db, settings)
    await offer_freed_places(db, slot_id, settings, environment=environment)


async def party_changed(
    db: Database,
    settings: Settings,
    before: BookingView,
    after: BookingView,
    *,
    environment: Environment | None = None,
) -> None:
    """A visitor changed the size of their party (``before`` and ``after`` the change)."""
    if after.people < before.people:
        await offer_freed_places(db, after.slot_id, settings, environment=environment)


async def reseller_booking_changed(
    db: Database, settings: Settings, slot_id: int, *, environment: Environment | None = None
) -> None:
    """A reseller cancelled, resized or moved its booking: places may be free on ``slot_id``
    (the reseller tells its own customer)."""
    await offer_freed_places(db, slot_id, settings, environment=environment)


async def booking_moved(
    db: Database, settings: Settings, move: Move, *, environment: Environment | None = None
) -> bool:
    """The office moved a booking to another slot; True when the visitor is emailed."""
    told = await move_notice.queue_booking_moved(
        db, environment or emails.default_environment(), move, settings
    )
    await offer_freed_places(db, move.source_slot_id, settings, environment=environment)
    return told


async def capacity_changed(
    db: Database, settings: Settings, edited: Edited, *, environment: Environment | None = None
) -> int:
    """The office changed the capacity (or minimum) of slots; how many offers were made."""
    offered = 0
    for slot_id in edited.grown:
        offered += len(await offer_freed_places(db, slot_id, settings, environment=environment))
    return offered


async def left_waiting_list(
    db: Database, settings: Settings, slot_id: int, *, environment: Environment | None = None
) -> None:
    """Someone left the waiting list of ``slot_id`` (withdrew, or was removed by staff)."""
    await offer_freed_places(db, slot_id, settings, environment=environment)


async def slot_cancelled(
    db: Database,
    settings: Settings,
    slot_id: int,
    booking_ids: Sequence[int],
    *,
    environment: Environment | None = None,
) -> int:
    """A slot was cancelled (farmer, office) with the bookings ``booking_ids``; how many
    visitors were emailed now."""
    await send_refunds(db, settings)
    return await _logged(
        cancellation_emails.notify_slot_cancelled(
            db, slot_id, booking_ids, settings, environment=environment
        ),
        0,
        "could not queue the cancellation emails of slot %s",
        slot_id,
    )


async def catch_up(db: Database, settings: Settings) -> TickResult:
    """For ``reservations tick``: whatever the changes' own follow-ups missed. Unlike them, a
    failure here is the command's (it fails, and the next run tries again)."""
    untold = await cancellation_emails.untold_cancellations(db)
    for slot_id, booking_ids in untold.items():
        await cancellation_emails.notify_slot_cancelled(db, slot_id, booking_ids, settings)
    return await waitlist.tick(
        db, notify=offer_notifier(settings), offer_minutes=settings.waitlist_offer_minutes
    )


async def offer_freed_places(
    db: Database, slot_id: int, settings: Settings, *, environment: Environment | None = None
) -> list[Offer]:
    """What every change that frees places shares: offer them to the slot's waiting list, each
    offer emailed in its transaction. Never fails its caller."""
    return await _logged(
        waitlist.offer_freed_places(
            db,
            slot_id,
            notify=offer_notifier(settings, environment),
            offer_minutes=settings.waitlist_offer_minutes,
        ),
        [],
        "could not offer the freed places of slot %s",
        slot_id,
    )


async def send_refunds(db: Database, settings: Settings) -> int:
    """Send the refunds a cancellation just gave (when Stripe is configured) rather than at
    the next ``tick``; those Stripe does not take now stay pending for ``tick``. Never fails
    its caller."""
    gateway = gateway_for(settings)
    if gateway is None:
        return 0
    return await _logged(refunds.settle(db, gateway), 0, "could not send the refunds now")


async def _slot_of(db: Database, booking_id: int) -> int | None:
    async with db.reading() as session:
        return await session.scalar(select(Booking.slot_id).where(Booking.id == booking_id))


async def _logged(step: Awaitable[T], failed: T, message: str, *args: object) -> T:
    """``step``'s result, or ``failed`` with the error logged: the change has committed."""
    try:
        return await step
    except Exception:
        logger.exception(message, *args)
        return failed
