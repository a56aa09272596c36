"""The waiting list of a full slot: parties of any size wait in line and are offered places as
they free up, by email, with a claim link valid for a limited time.

The rules, chosen to stay simple and fair:

- **Joining.** Only while the slot takes bookings (not cancelled, before its cut-off) and only
  when it cannot take the party: full, fewer places left than the party, or its farm at its
  daily cap (``room.places_left``; otherwise: book them, ``PlacesStillAvailable``). Party, name, email and language follow the booking rules; an
  email is required (that is how offers are sent); one live entry per email and slot.
- **Offers.** Places available for offers = the places left (``room.places_left``, within the
  farm's daily cap) - people of unexpired offers not yet booked. Waiting entries are taken in the order they joined; every
  entry whose party fits in what is still available gets an offer, so a smaller party behind a
  large one that does not fit is served first (the large party keeps its place in line for the
  next places). An offer lasts ``offer_minutes``, never beyond the slot's booking cut-off.
- **An offer reserves nothing in the slot's counter.** Claiming books through ``booking.book``,
  so capacity stays guarded by its one conditional UPDATE. Places on offer can therefore be
  taken meanwhile (a direct booking, another claimant): the claimant is then told so kindly
  (``PlacesTaken``) and goes back to waiting, keeping their place in line.
- **Claiming** needs the offer's link while the offer runs; it books the party (channel web)
  with an idempotency key drawn from the offer, so a double click or a retry never books twice.
  A claim once accepted is carried through even if the offer runs out meanwhile, unless it
  was interrupted (a crash): a claim still unfinished ``CLAIM_GRACE`` after its offer ran out
  is settled by the next run over the list (``tick``, an offer) or the next use of its link:
  recorded if its booking was made, otherwise back to waiting, keeping its place in line.
- **Expired** offers are final for that entry (the person may join again, at the back); their
  places go to the next ones at once.
- **Links.** Each entry has one live secret link (256 bits, only its SHA-256 stored, in
  ``claim_token_hash``): the one given at joining, replaced by a new one at each offer. It
  shows the entry, withdraws it, and claims the offer it came with.
- Every change writes an audit entry with the slot's id. Emails are the caller's: ``notify``
  is awaited inside the transaction that makes the offer (enqueue to the outbox there), and the
  domain renders nothing.

Lock order: waiting entries of one slot (offers), or one entry (claim, withdraw); the slot row
is locked only when joining, and never while an entry is held.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reservations.base import clock
from reservations.base.errors import (
    N_,
    BookingClosed,
    DomainError,
    ErrorKind,
    N_plural,
    NotEnoughPlaces,
    SlotCancelled,
    SlotNotFound,
)
from reservations.base.infra import tokens
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    Booking,
    Channel,
    Slot,
    SlotStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules import audit, booking, room
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest

#: How long an offer runs unless the caller says otherwise (capped at the booking cut-off).
DEFAULT_OFFER_MINUTES = 12 * 60
#: A claim is a booking being made (milliseconds): one still unfinished this long after its
#: offer ran out was interrupted, and is settled.
CLAIM_GRACE = timedelta(minutes=15)

_LIVE = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


# --- Refusals ---------------------------------------------------------------------------------


class EmailRequired(DomainError):
    code = "waitlist_email_required"
    title = N_("Email address missing")
    message = N_("Please give an email address: that is where we tell you when places free up.")


class PlacesStillAvailable(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_places_available"
    title = N_("Places are still available")
    message = N_plural(
        "There is still {remaining} place for this visit: you can book it right away.",
        "There are still {remaining} places for this visit: you can book them right away.",
    )
    counted = "remaining"


class AlreadyOnWaitlist(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_already_joined"
    title = N_("Already on the waiting list")
    message = N_("“{email}” is already on the waiting list for this visit.")


class WaitlistEntryNotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    code = "waitlist_entry_not_found"
    title = N_("Unknown waiting-list link")
    message = N_(
        "No waiting-list entry matches this link. Please check that it was copied in full; "
        "if we have written to you since, use the link in our latest email."
    )


class NoOfferNow(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_no_offer"
    title = N_("No places on offer yet")
    message = N_(
        "No places are on offer to you at the moment. You stay on the waiting list: "
        "we will write to you as soon as places free up."
    )


class PlacesTaken(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_places_taken"
    title = N_("Someone was quicker")
    message = N_(
        "Sorry, someone was quicker: these places have just been taken. "
        "You stay on the waiting list."
    )


class OfferExpired(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_offer_expired"
    title = N_("Offer expired")
    message = N_(
        "This offer ran out at {expired_at} and the places went to the next people in line. "
        "You can join the waiting list again."
    )


class OfferAlreadyClaimed(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_offer_claimed"
    title = N_("Already booked")
    message = N_(
        "These places have already been booked with this link: "
        "your booking confirmation tells you how to manage it."
    )


class LeftWaitlist(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_withdrawn"
    title = N_("You left the waiting list")
    message = N_("You left the waiting list for this visit, so this link no longer offers places.")


class WithdrawAfterClaim(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_claimed_cannot_withdraw"
    title = N_("Already booked")
    message = N_(
        "These places have become a booking. To cancel it, use the link in your booking "
        "confirmation."
    )


class EntryNotWaiting(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_entry_not_waiting"
    title = N_("No longer waiting")
    message = N_(
        "This entry is no longer waiting: it has already been offered places, booked, or left "
        "the list."
    )


class NoPlacesToOffer(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_no_places_to_offer"
    title = N_("Not enough places to offer")
    message = N_plural(
        "Only {available} place can be offered now; this party needs {people}.",
        "Only {available} places can be offered now; this party needs {people}.",
    )
    counted = "available"


class EntryAlreadyBooked(DomainError):
    kind = ErrorKind.CONFLICT
    code = "waitlist_entry_booked"
    title = N_("Already booked")
    message = N_("This entry has become a booking: cancel the booking instead.")


# --- What callers get -------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitlistView:
    """An entry as its holder sees it."""

    id: int
    slot_id: int
    adults: int
    children: int
    name: str
    email: str
    locale: str
    status: WaitlistStatus
    created_at: datetime
    offered_at: datetime | None
    offer_expires_at: datetime | None
    booking_id: int | None

    @property
    def people(self) -> int:
        return self.adults + self.children

    @classmethod
    def of(cls, entry: WaitlistEntry) -> WaitlistView:
        return cls(
            id=entry.id,
            slot_id=entry.slot_id,
            adults=entry.adults,
            children=entry.children,
            name=entry.name,
            email=entry.email,
            locale=entry.locale,
            status=entry.status,
            created_at=entry.created_at,
            offered_at=entry.offered_at,
            offer_expires_at=entry.offer_expires_at,
            booking_id=entry.booking_id,
        )


@dataclass(frozen=True)
class JoinReceipt:
    """Given once at joining: the entry and its secret link token (to see or withdraw it)."""

    entry: WaitlistView
    token: str


@dataclass(frozen=True)
class Offer:
    """Places offered to one entry, with what the offer email needs to say."""

    entry: WaitlistView
    #: The secret of the claim link (only its hash is stored).
    claim_token: str
    expires_at: datetime
    starts_at: datetime
    ends_at: datetime
    activity_title: dict[str, str]
    activity_name: str
    provider: str

    @property
    def dedup_key(self) -> str:
        """One outbox message per offer: a new offer has a new token, hence a new key."""
        return f"waitlist-offer:{self.entry.id}:{tokens.digest(self.claim_token)[:16]}"

    def activity_in(self, locale: str) -> str:
        return (
            self.activity_title.get(locale) or self.activity_title.get("fr") or self.activity_name
        )


@dataclass(frozen=True)
class TickResult:
    expired: int
    offers: list[Offer]


#: Awaited in the transaction that makes an offer: enqueue the email there (``outbox.enqueue``).
#: Raising cancels the offer.
OfferNotify = Callable[[AsyncSession, Offer], Awaitable[None]]
#: Awaited in the transaction that adds an entry to the list.
JoinNotify = Callable[[AsyncSession, JoinReceipt], Awaitable[None]]


# --- Joining ----------------------------------------------------------------------------------


async def join(
    db: Database,
    slot_id: int,
    *,
    adults: int,
    children: int,
    name: str,
    email: str,
    locale: str,
    policy: BookingPolicy,
    now: clock.At = None,
    notify: JoinNotify | None = None,
    actor: str = "visitor",
) -> JoinReceipt:
    """Put a party on a full slot's waiting list, or raise a ``DomainError`` saying why not."""
    read_clock = clock.reader(now)
    email, name = email.strip(), name.strip()
    if not email:
        raise EmailRequired(field="email")
    booking.check_request(
        BookingRequest(slot_id, adults, children, name, email, locale=locale), policy
    )
    token = tokens.new_token()
    async with db.writing() as session:
        locked = await booking.lock_slot(session, slot_id)
        now = read_clock()
        _open_slot(locked, now)
        left = await session.scalar(select(room.places_left()).where(Slot.id == slot_id))
        if (left or 0) >= adults + children:
            raise PlacesStillAvailable(field="adults", remaining=left)
            raise PlacesStillAvailable(field="adults", remaining=left)
        if await _has_live_entry(session, slot_id, email):
            raise AlreadyOnWaitlist(field="email", email=email)
        entry = WaitlistEntry(
            slot_id=slot_id,
            adults=adults,
            children=children,
            name=name,
            email=email,
            locale=locale,
            status=WaitlistStatus.WAITING,
            created_at=now,
            claim_token_hash=tokens.digest(token),
        )
        session.add(entry)
        await session.flush()
        _audit(session, actor, "waitlist.joined", entry, before=None)
        receipt = JoinReceipt(WaitlistView.of(entry), token)
        if notify is not None:
            await notify(session, receipt)
    return receipt


def _open_slot(slot: Slot | None, now: datetime) -> Slot:
    """The slot, if it takes bookings now; else the refusal a booking would meet."""
    if slot is None:
        raise SlotNotFound(field="slot_id")
    if slot.status == SlotStatus.CANCELLED:
        raise SlotCancelled(field="slot_id")
    if not room.is_open(slot.status, slot.booking_cutoff_at, now):
        raise BookingClosed(field="slot_id", cutoff=clock.display(slot.booking_cutoff_at))
    return slot


async def _has_live_entry(session: AsyncSession, slot_id: int, email: str) -> bool:
    found = await session.scalar(
        select(WaitlistEntry.id)
        .where(
            WaitlistEntry.slot_id == slot_id,
            WaitlistEntry.status.in_(_LIVE),
            func.lower(WaitlistEntry.email) == email.lower(),
        )
        .limit(1)
    )
    return found is not None


# --- Offers -----------------------------------------------------------------------------------


async def offer_freed_places(
    db: Database,
    slot_id: int,
    *,
    notify: OfferNotify,
    now: clock.At = None,
    offer_minutes: int = DEFAULT_OFFER_MINUTES,
    actor: str = "system",
) -> list[Offer]:
    """Offer what is free on a slot to the waiting entries that fit, in line order.

    ``notices.followups`` calls it after anything that may free places (a cancellation, a smaller
    party, a withdrawn offer); ``tick`` calls it for every slot too. Running it again offers nothing twice.
    """
    read_clock = clock.reader(now)
    async with db.writing() as session:
        slot = await _slot_with_titles(session, slot_id)
        now = read_clock()
        if slot is None or not _takes_offers(slot, now):
            return []
        await _expire_stale(session, now, actor, slot_id=slot_id)
        waiting = await _lock_waiting(session, slot_id)
        if not waiting:
            return []
        available = await _available_for_offers(session, slot_id, now)
        expires_at = min(now + timedelta(minutes=offer_minutes), slot.booking_cutoff_at)
        offers: list[Offer] = []
        for entry in waiting:
            if entry.people > available:
                continue  # keeps its place in line; smaller parties behind may fit
            available -= entry.people
            offer = await _offer(session, entry, slot, now, expires_at, actor)
            await notify(session, offer)
            offers.append(offer)
    return offers


async def offer_entry(
    db: Database,
    slot_id: int,
    entry_id: int,
    *,
    notify: OfferNotify,
    now: clock.At = None,
    offer_minutes: int = DEFAULT_OFFER_MINUTES,
    actor: str,
) -> Offer:
    """Staff offer places to one waiting entry now, ahead of its turn in line if they choose,
    provided its whole party fits in the places free for offers (the same count as
    ``offer_freed_places``, under the same locks)."""
    read_clock = clock.reader(now)
    async with db.writing() as session:
        found = await _slot_with_titles(session, slot_id)
        now = read_clock()
        slot = _open_slot(found, now)
        await _expire_stale(session, now, actor, slot_id=slot_id)
        waiting = await _lock_waiting(session, slot_id)
        entry = next((e for e in waiting if e.id == entry_id), None)
        if entry is None:
            raise await _not_waiting(session, slot_id, entry_id)
        available = await _available_for_offers(session, slot_id, now)
        if entry.people > available:
            raise NoPlacesToOffer(available=available, people=entry.people)
        expires_at = min(now + timedelta(minutes=offer_minutes), slot.booking_cutoff_at)
        offer = await _offer(session, entry, slot, now, expires_at, actor)
        await notify(session, offer)
    return offer


async def _not_waiting(session: AsyncSession, slot_id: int, entry_id: int) -> DomainError:
    found = await session.scalar(
        select(WaitlistEntry.id).where(
            WaitlistEntry.id == entry_id, WaitlistEntry.slot_id == slot_id
        )
    )
    return EntryNotWaiting() if found is not None else WaitlistEntryNotFound()


async def _slot_with_titles(session: AsyncSession, slot_id: int) -> Slot | None:
    return await session.scalar(
        select(Slot)
        .where(Slot.id == slot_id)
        .options(joinedload(Slot.activity).joinedload(Activity.provider))
    )


def _takes_offers(slot: Slot, now: datetime) -> bool:
    return room.is_open(slot.status, slot.booking_cutoff_at, now)


async def _lock_waiting(session: AsyncSession, slot_id: int) -> list[WaitlistEntry]:
    """The slot's waiting entries in line order, locked: concurrent offer runs take turns."""
    return list(
        await session.scalars(
            select(WaitlistEntry)
            .where(WaitlistEntry.slot_id == slot_id, WaitlistEntry.status == WaitlistStatus.WAITING)
            .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
            .with_for_update()
        )
    )


async def _available_for_offers(session: AsyncSession, slot_id: int, now: datetime) -> int:
    """Free places not already on offer, in one statement (one snapshot: a claim turning into a
    booking meanwhile is counted twice at worst, never missed)."""
    on_offer = (
        select(func.coalesce(func.sum(WaitlistEntry.adults + WaitlistEntry.children), 0))
        .where(
            WaitlistEntry.slot_id == slot_id,
            WaitlistEntry.status.in_((WaitlistStatus.OFFERED, WaitlistStatus.CLAIMED)),
            WaitlistEntry.booking_id.is_(None),
            WaitlistEntry.offer_expires_at > now,
        )
        .scalar_subquery()
    )
    available = await session.scalar(
        select(room.places_left() - on_offer).where(Slot.id == slot_id)
    )
    return max(available or 0, 0)


async def _offer(
    session: AsyncSession,
    entry: WaitlistEntry,
    slot: Slot,
    now: datetime,
    expires_at: datetime,
    actor: str,
) -> Offer:
    token = tokens.new_token()
    entry.status = WaitlistStatus.OFFERED
    entry.offered_at, entry.offer_expires_at = now, expires_at
    entry.claim_token_hash = tokens.digest(token)
    await session.flush()
    _audit(session, actor, "waitlist.offered", entry, before=WaitlistStatus.WAITING)
    return Offer(
        entry=WaitlistView.of(entry),
        claim_token=token,
        expires_at=expires_at,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        activity_title=slot.activity.title,
        activity_name=slot.activity.name,
        provider=slot.activity.provider.name,
    )


# --- Claiming ---------------------------------------------------------------------------------


async def claim(
    db: Database,
    claim_token: str,
    policy: BookingPolicy,
    *,
    now: clock.At = None,
    actor: str = "visitor",
) -> BookingReceipt:
    """Book the places offered with this link, or raise a ``DomainError`` saying why not. The
    offer's end is checked against the time read under the entry's lock, the slot's cut-off
    when the booking takes its places."""
    read_clock = clock.reader(now)
    token_hash = tokens.digest(claim_token)
    entry = await _start_claim(db, token_hash, read_clock, actor)
    request = BookingRequest(
        slot_id=entry.slot_id,
        adults=entry.adults,
        children=entry.children,
        name=entry.name,
        email=entry.email,
        locale=entry.locale,
        channel=Channel.WEB,
    )
    # Drawn from the offer: a second attempt with the same link gets the first booking back.
    key = _claim_key(token_hash)
    try:
        receipt = await _book(db, request, policy, key, actor, read_clock)
    except DomainError as refusal:
        await _requeue(db, entry.id, read_clock(), actor, refusal)
        if isinstance(refusal, NotEnoughPlaces):
            raise PlacesTaken(field="adults") from refusal
        raise
    await _finish_claim(db, entry.id, receipt.booking.id, actor)
    return receipt


def _claim_key(token_hash: str) -> str:
    """The idempotency key of the booking a claim makes, drawn from its offer's link."""
    return f"waitlist-claim:{token_hash}"


async def _start_claim(
    db: Database, token_hash: str, read_clock: clock.Clock, actor: str
) -> WaitlistView:
    """Turn the running offer into a claim (once), or explain why this link cannot claim."""
    async with db.writing() as session:
        entry = await _entry_by_hash(session, token_hash, lock=True)
        if entry is None:
            raise WaitlistEntryNotFound(field="token")
        now = read_clock()
        if _abandoned(entry, now):
            # Interrupted long ago: settled (and kept), then explained like any other state.
            await _settle_claim(session, entry, "system")
            settled = _why_no_claim(entry)
        elif entry.status == WaitlistStatus.OFFERED and entry.offer_expires_at is not None:
            if now >= entry.offer_expires_at:
                raise OfferExpired(expired_at=clock.display(entry.offer_expires_at))
            entry.status = WaitlistStatus.CLAIMED
            await session.flush()
            _audit(session, actor, "waitlist.claiming", entry, before=WaitlistStatus.OFFERED)
            return WaitlistView.of(entry)
        elif entry.status == WaitlistStatus.CLAIMED and entry.booking_id is None:
            return WaitlistView.of(entry)  # an interrupted or concurrent claim: carry it through
        else:
            raise _why_no_claim(entry)
    raise settled


def _why_no_claim(entry: WaitlistEntry) -> DomainError:
    if entry.status == WaitlistStatus.CLAIMED:
        return OfferAlreadyClaimed()
    if entry.status == WaitlistStatus.WITHDRAWN:
        return LeftWaitlist()
    if entry.status == WaitlistStatus.EXPIRED and entry.offer_expires_at is not None:
        return OfferExpired(expired_at=clock.display(entry.offer_expires_at))
    return NoOfferNow()


async def _book(
    db: Database,
    request: BookingRequest,
    policy: BookingPolicy,
    key: str,
    actor: str,
    now: clock.Clock,
) -> BookingReceipt:
    try:
        return await booking.book(db, request, policy, actor=actor, idempotency_key=key, now=now)
    except NotEnoughPlaces:
        # A concurrent claim with the same link may have taken these very places: asking
        # again answers with its booking (same key), or refuses again.
        return await booking.book(db, request, policy, actor=actor, idempotency_key=key, now=now)


async def _requeue(
    db: Database, entry_id: int, now: datetime, actor: str, refusal: DomainError
) -> None:
    """A refused claim goes back to waiting, keeping its place in line (its ``created_at``)."""
    async with db.writing() as session:
        entry = await session.get(WaitlistEntry, entry_id, with_for_update=True)
        assert entry is not None
        if entry.status != WaitlistStatus.CLAIMED or entry.booking_id is not None:
            raise OfferAlreadyClaimed() from refusal  # a concurrent claim of this link booked
        entry.status = WaitlistStatus.WAITING
        entry.offered_at = entry.offer_expires_at = None
        await session.flush()
        _audit(
            session,
            actor,
            "waitlist.claim_refused",
            entry,
            before=WaitlistStatus.CLAIMED,
            refusal=refusal.code,
        )


async def _finish_claim(db: Database, entry_id: int, booking_id: int, actor: str) -> None:
    async with db.writing() as session:
        entry = await session.get(WaitlistEntry, entry_id, with_for_update=True)
        assert entry is not None
        if entry.booking_id is not None:
            return  # a concurrent claim of this link recorded it
        before = entry.status
        entry.status, entry.booking_id = WaitlistStatus.CLAIMED, booking_id
        await session.flush()
        _audit(session, actor, "waitlist.claimed", entry, before=before, booking_id=booking_id)


# --- Expiry and the periodic run --------------------------------------------------------------


async def expire_offers(
    db: Database,
    *,
    notify: OfferNotify,
    now: datetime | None = None,
    offer_minutes: int = DEFAULT_OFFER_MINUTES,
    actor: str = "system",
) -> int:
    """End the offers that ran out and offer their places to the next ones; returns how many
    offers ended."""
    now = now or clock.now()
    async with db.writing() as session:
        slot_ids = await _expire_stale(session, now, actor)
    for slot_id in sorted(set(slot_ids)):
        await offer_freed_places(
            db, slot_id, notify=notify, now=now, offer_minutes=offer_minutes, actor=actor
        )
    return len(slot_ids)


async def tick(
    db: Database,
    *,
    notify: OfferNotify,
    now: datetime | None = None,
    offer_minutes: int = DEFAULT_OFFER_MINUTES,
    actor: str = "system",
) -> TickResult:
    """For ``reservations tick``: end the offers that ran out, then offer free places on every
    open slot with people waiting (also catches places freed where nobody called
    ``offer_freed_places``)."""
    now = now or clock.now()
    async with db.writing() as session:
        expired = len(await _expire_stale(session, now, actor))
    async with db.reading() as session:
        slot_ids = list(
            await session.scalars(
                select(WaitlistEntry.slot_id)
                .distinct()
                .join(Slot, Slot.id == WaitlistEntry.slot_id)
                .where(
                    WaitlistEntry.status == WaitlistStatus.WAITING,
                    room.open_for_booking(now),
                    room.has_places(1),
                )
                .order_by(WaitlistEntry.slot_id)
            )
        )
    offers: list[Offer] = []
    for slot_id in slot_ids:
        offers += await offer_freed_places(
            db, slot_id, notify=notify, now=now, offer_minutes=offer_minutes, actor=actor
        )
    return TickResult(expired=expired, offers=offers)


async def _expire_stale(
    session: AsyncSession, now: datetime, actor: str, *, slot_id: int | None = None
) -> list[int]:
    """Mark the offers that ran out as expired, and settle the claims that never completed;
    returns the slot id of each offer expired or claim returned to waiting."""
    settled = await _settle_abandoned_claims(session, now, actor, slot_id=slot_id)
    statement = (
        update(WaitlistEntry)
        .where(
            WaitlistEntry.status == WaitlistStatus.OFFERED,
            WaitlistEntry.offer_expires_at <= now,
        )
        .values(status=WaitlistStatus.EXPIRED)
        .returning(WaitlistEntry.id, WaitlistEntry.slot_id, WaitlistEntry.offer_expires_at)
        .execution_options(synchronize_session=False)
    )
    if slot_id is not None:
        statement = statement.where(WaitlistEntry.slot_id == slot_id)
    rows = (await session.execute(statement)).all()
    for row in rows:
        audit.record(
            session,
            actor,
            "waitlist.expired",
            slot_id=row.slot_id,
            entry_id=row.id,
            before={"status": WaitlistStatus.OFFERED.value},
            after={"status": WaitlistStatus.EXPIRED.value},
            offer_expires_at=row.offer_expires_at.isoformat(),
        )
    return [row.slot_id for row in rows] + settled


def _abandoned(entry: WaitlistEntry, now: datetime) -> bool:
    """A claim that never completed: claimed, no booking recorded, its offer long over."""
    return (
        entry.status == WaitlistStatus.CLAIMED
        and entry.booking_id is None
        and entry.offer_expires_at is not None
        and entry.offer_expires_at + CLAIM_GRACE <= now
    )


async def _settle_abandoned_claims(
    session: AsyncSession, now: datetime, actor: str, *, slot_id: int | None = None
) -> list[int]:
    """Settle the claims interrupted by a crash (``_abandoned``); the slot id of each one that
    went back to waiting."""
    statement = (
        select(WaitlistEntry)
        .where(
            WaitlistEntry.status == WaitlistStatus.CLAIMED,
            WaitlistEntry.booking_id.is_(None),
            WaitlistEntry.offer_expires_at <= now - CLAIM_GRACE,
        )
        .order_by(WaitlistEntry.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if slot_id is not None:
        statement = statement.where(WaitlistEntry.slot_id == slot_id)
    requeued = []
    for entry in await session.scalars(statement):
        if not await _settle_claim(session, entry, actor):
            requeued.append(entry.slot_id)
    return requeued


async def _settle_claim(session: AsyncSession, entry: WaitlistEntry, actor: str) -> bool:
    """An interrupted claim (its entry locked): recorded if its booking was made (True),
    otherwise back to waiting, keeping its place in line (False)."""
    assert entry.claim_token_hash is not None  # an entry that was offered has a link
    key_hash = tokens.digest(_claim_key(entry.claim_token_hash))
    booking_id = await session.scalar(
        select(Booking.id).where(Booking.idempotency_key_hash == key_hash)
    )
    if booking_id is not None:
        entry.booking_id = booking_id
        await session.flush()
        _audit(
            session,
            actor,
            "waitlist.claimed",
            entry,
            before=WaitlistStatus.CLAIMED,
            booking_id=booking_id,
        )
        return True
    entry.status = WaitlistStatus.WAITING
    entry.offered_at = entry.offer_expires_at = None
    await session.flush()
    _audit(session, actor, "waitlist.claim_abandoned", entry, before=WaitlistStatus.CLAIMED)
    return False


# --- The entry's link: seeing and withdrawing -------------------------------------------------


async def find(db: Database, token: str) -> WaitlistView:
    """The entry a waiting-list link points to (to show it before claiming or withdrawing)."""
    async with db.reading() as session:
        entry = await _entry_by_hash(session, tokens.digest(token))
    if entry is None:
        raise WaitlistEntryNotFound(field="token")
    return WaitlistView.of(entry)


async def withdraw(db: Database, token: str, *, actor: str = "visitor") -> WaitlistView:
    """Leave the waiting list, at any time (withdrawing twice is harmless). A withdrawn offer
    frees its places for others (``notices.followups.left_waiting_list`` offers them)."""
    async with db.writing() as session:
        entry = await _entry_by_hash(session, tokens.digest(token), lock=True)
        if entry is None:
            raise WaitlistEntryNotFound(field="token")
        if entry.status == WaitlistStatus.CLAIMED:
            raise WithdrawAfterClaim()
        if entry.status in _LIVE:
            before = entry.status
            entry.status = WaitlistStatus.WITHDRAWN
            await session.flush()
            _audit(session, actor, "waitlist.withdrawn", entry, before=before)
        return WaitlistView.of(entry)


async def remove_entry(db: Database, slot_id: int, entry_id: int, *, actor: str) -> WaitlistView:
    """Staff take an entry off the list (the person called, or booked another way). Removing
    twice is harmless. A removed offer frees its places (``notices.followups.left_waiting_list``
    offers them)."""
    async with db.writing() as session:
        entry = await session.scalar(
            select(WaitlistEntry)
            .where(WaitlistEntry.id == entry_id, WaitlistEntry.slot_id == slot_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if entry is None:
            raise WaitlistEntryNotFound()
        if entry.status == WaitlistStatus.CLAIMED:
            raise EntryAlreadyBooked()
        if entry.status in _LIVE:
            before = entry.status
            entry.status = WaitlistStatus.WITHDRAWN
            await session.flush()
            _audit(session, actor, "waitlist.removed", entry, before=before)
        return WaitlistView.of(entry)


async def _entry_by_hash(
    session: AsyncSession, token_hash: str, *, lock: bool = False
) -> WaitlistEntry | None:
    statement = select(WaitlistEntry).where(WaitlistEntry.claim_token_hash == token_hash)
    if lock:
        statement = statement.with_for_update()
    return await session.scalar(statement.execution_options(populate_existing=True))


def _audit(
    session: AsyncSession,
    actor: str,
    action: str,
    entry: WaitlistEntry,
    *,
    before: WaitlistStatus | None,
    booking_id: int | None = None,
    **data: object,
) -> None:
    audit.record(
        session,
        actor,
        action,
        slot_id=entry.slot_id,
        booking_id=booking_id,
        entry_id=entry.id,
        before=None if before is None else {"status": before.value},
        after={"status": entry.status.value, "adults": entry.adults, "children": entry.children},
        **data,
    )
