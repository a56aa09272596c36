"""The waiting list, on each database: joining, offers in line order, expiry, claims and races."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reservations.base.errors import (
    BookingClosed,
    InvalidEmail,
    InvalidParty,
    MissingName,
    PartyTooLarge,
    SlotCancelled,
    SlotNotFound,
    UnsupportedLocale,
)
from reservations.base.infra import outbox
from reservations.base.infra.db import Database
from reservations.base.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    Channel,
    OutboxMessage,
    Slot,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import waitlist
from reservations.base.rules.booking import BookingPolicy, BookingReceipt, BookingRequest
from reservations.base.rules.slots import cancel_slot
from reservations.base.rules.waitlist import (
    AlreadyOnWaitlist,
    EmailRequired,
    JoinReceipt,
    LeftWaitlist,
    NoOfferNow,
    Offer,
    OfferAlreadyClaimed,
    OfferExpired,
    PlacesStillAvailable,
    PlacesTaken,
    WaitlistEntryNotFound,
    WithdrawAfterClaim,
)
from tests.factories import fetch_slot, make_slot
from tests.outbox_support import as_sent

POLICY = BookingPolicy(secret_key="test-secret", max_party_size=8)
OFFER_MINUTES = 60
_emails = itertools.count(1)


class Recorder:
    """A notifier that remembers the offers it was told about."""

    def __init__(self) -> None:
        self.offers: list[Offer] = []

    async def __call__(self, session: AsyncSession, offer: Offer) -> None:
        self.offers.append(offer)

    @property
    def entry_ids(self) -> list[int]:
        return [offer.entry.id for offer in self.offers]


def start_of(slot: Slot) -> datetime:
    """A fixed 'now', well before the slot's cut-off."""
    return slot.starts_at - timedelta(days=2)


async def book(db: Database, slot: Slot, people: int, now: datetime) -> BookingReceipt:
    request = BookingRequest(
        slot_id=slot.id, adults=people, children=0, name="Direct", email="direct@example.org"
    )
    return await booking_service.book(db, request, POLICY, actor="test", now=now)


async def full_slot(db: Database, *parties: int) -> tuple[Slot, list[BookingReceipt]]:
    """A slot exactly filled by bookings of these sizes."""
    slot = await make_slot(db, capacity=sum(parties))
    receipts = [await book(db, slot, people, start_of(slot)) for people in parties]
    return slot, receipts


async def join(
    db: Database, slot: Slot, adults: int, children: int = 0, *, minute: int = 0, **extra: object
) -> JoinReceipt:
    fields: dict[str, object] = {
        "adults": adults,
        "children": children,
        "name": "Anne Martin",
        "email": f"visitor{next(_emails)}@example.org",
        "locale": "de",
        "policy": POLICY,
        "now": start_of(slot) + timedelta(minutes=minute),
    }
    fields.update(extra)
    return await waitlist.join(db, slot.id, **fields)  # type: ignore[arg-type]


async def free(db: Database, receipt: BookingReceipt, now: datetime) -> None:
    await booking_service.cancel_booking(db, receipt.booking.id, actor="test", now=now)


async def offer(db: Database, slot: Slot, notify: object, now: datetime) -> list[Offer]:
    return await waitlist.offer_freed_places(
        db,
        slot.id,
        notify=notify,  # type: ignore[arg-type]
        now=now,
        offer_minutes=OFFER_MINUTES,
    )


async def expire(db: Database, notify: object, now: datetime) -> int:
    return await waitlist.expire_offers(
        db,
        notify=notify,  # type: ignore[arg-type]
        now=now,
        offer_minutes=OFFER_MINUTES,
    )


async def entry_of(db: Database, entry_id: int) -> WaitlistEntry:
    async with db.reading() as session:
        entry = await session.get(WaitlistEntry, entry_id)
    assert entry is not None
    return entry


async def people_booked(db: Database, slot_id: int) -> int:
    """People on confirmed bookings, summed from the bookings themselves."""
    async with db.reading() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(Booking.adults + Booking.children), 0)).where(
                Booking.slot_id == slot_id, Booking.status == BookingStatus.CONFIRMED
            )
        )
    return int(total or 0)


async def actions(db: Database, slot_id: int, prefix: str = "waitlist.") -> list[str]:
    async with db.reading() as session:
        return list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.slot_id == slot_id, AuditEntry.action.startswith(prefix))
                .order_by(AuditEntry.id)
            )
        )


# --- Joining ----------------------------------------------------------------------------------


async def test_join_is_refused_while_the_party_can_book(db):
    slot = await make_slot(db, capacity=4)
    now = start_of(slot)
    await book(db, slot, 2, now)
    with pytest.raises(PlacesStillAvailable) as refused:
        await join(db, slot, 1, 1)
    assert refused.value.params["remaining"] == 2
    receipt = await join(db, slot, 2, 1)  # 3 people, 2 places: may wait
    assert receipt.entry.status == WaitlistStatus.WAITING
    assert (receipt.entry.adults, receipt.entry.children) == (2, 1)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"adults": 0}, InvalidParty),
        ({"adults": 9}, PartyTooLarge),
        ({"name": "  "}, MissingName),
        ({"email": " "}, EmailRequired),
        ({"email": "anne-at-example"}, InvalidEmail),
        ({"locale": "xx"}, UnsupportedLocale),
    ],
)
async def test_join_follows_the_party_and_contact_rules(db, changes, error):
    slot, _ = await full_slot(db, 2)
    with pytest.raises(error):
        await join(db, slot, **{"adults": 1, **changes})
    async with db.reading() as session:
        assert await session.scalar(select(func.count(WaitlistEntry.id))) == 0


async def test_join_needs_an_open_slot(db):
    slot, _ = await full_slot(db, 2)
    with pytest.raises(SlotNotFound):
        await waitlist.join(
            db,
            slot.id + 1000,
            adults=1,
            children=0,
            name="Anne",
            email="anne@example.org",
            locale="fr",
            policy=POLICY,
            now=start_of(slot),
        )
    with pytest.raises(BookingClosed):
        await join(db, slot, 1, now=slot.booking_cutoff_at)
    await cancel_slot(db, slot.id, CancelReason.PROVIDER, actor="test", now=start_of(slot))
    with pytest.raises(SlotCancelled):
        await join(db, slot, 1)


async def test_one_live_entry_per_email_and_slot(db):
    slot, _ = await full_slot(db, 2)
    first = await join(db, slot, 1, email="Anne@Example.org")
    with pytest.raises(AlreadyOnWaitlist):
        await join(db, slot, 2, email="anne@example.org")
    await waitlist.withdraw(db, first.token)
    again = await join(db, slot, 2, email="anne@example.org")
    assert again.entry.status == WaitlistStatus.WAITING


async def test_join_keeps_only_the_hash_of_the_link_and_is_audited(db):
    slot, _ = await full_slot(db, 2)
    receipt = await join(db, slot, 1, 1, minute=5)
    stored = await entry_of(db, receipt.entry.id)
    assert stored.claim_token_hash == hashlib.sha256(receipt.token.encode()).hexdigest()
    row = {c.key: getattr(stored, c.key) for c in WaitlistEntry.__table__.columns}
    assert receipt.token not in repr(row)
    assert len(receipt.token) >= 43
    assert stored.created_at == start_of(slot) + timedelta(minutes=5)
    assert (await waitlist.find(db, receipt.token)).id == receipt.entry.id
    assert await actions(db, slot.id) == ["waitlist.joined"]


# --- Offers -----------------------------------------------------------------------------------


async def test_four_freed_places_go_to_the_party_of_four_first_in_line(db):
    slot, (four, _two) = await full_slot(db, 4, 2)
    now = start_of(slot)
    first = await join(db, slot, 2, 2, minute=1)
    second = await join(db, slot, 2, minute=2)
    await free(db, four, now)
    recorder = Recorder()
    offers = await offer(db, slot, recorder, now + timedelta(minutes=10))
    assert [o.entry.id for o in offers] == recorder.entry_ids == [first.entry.id]
    assert (await entry_of(db, second.entry.id)).status == WaitlistStatus.WAITING


async def test_a_smaller_party_is_served_when_the_first_in_line_does_not_fit(db):
    slot, (four, two) = await full_slot(db, 4, 2)
    now = start_of(slot)
    party_of_four = await join(db, slot, 4, minute=1)
    party_of_two = await join(db, slot, 1, 1, minute=2)
    another_two = await join(db, slot, 2, minute=3)
    recorder = Recorder()

    await free(db, two, now)  # 2 free: the four cannot fit, the first two can
    await offer(db, slot, recorder, now)
    assert recorder.entry_ids == [party_of_two.entry.id]

    await free(db, four, now)  # 4 more free: the four is served before the later two
    await offer(db, slot, recorder, now)
    assert recorder.entry_ids == [party_of_two.entry.id, party_of_four.entry.id]
    assert (await entry_of(db, another_two.entry.id)).status == WaitlistStatus.WAITING
    # The offered places are not offered twice.
    assert await offer(db, slot, recorder, now) == []
    assert len(recorder.offers) == 2


async def test_an_offer_has_a_new_link_and_runs_until_its_expiry_or_the_cutoff(db):
    slot, (receipt,) = await full_slot(db, 2)
    joined = await join(db, slot, 2)
    await free(db, receipt, start_of(slot))
    late = slot.booking_cutoff_at - timedelta(minutes=30)
    (made,) = await offer(db, slot, Recorder(), late)
    assert made.expires_at == slot.booking_cutoff_at  # 60 minutes would run past the cut-off
    assert made.claim_token != joined.token
    stored = await entry_of(db, joined.entry.id)
    assert stored.status == WaitlistStatus.OFFERED
    assert stored.offered_at == late
    assert stored.offer_expires_at == slot.booking_cutoff_at
    assert stored.claim_token_hash == hashlib.sha256(made.claim_token.encode()).hexdigest()
    assert made.starts_at == slot.starts_at
    assert made.activity_in("en").startswith("Visit ")
    with pytest.raises(WaitlistEntryNotFound):
        await waitlist.find(db, joined.token)  # the joining link was replaced


async def test_no_offers_on_a_closed_or_cancelled_slot(db):
    slot, (receipt,) = await full_slot(db, 2)
    await join(db, slot, 1)
    await free(db, receipt, start_of(slot))
    recorder = Recorder()
    assert await offer(db, slot, recorder, slot.booking_cutoff_at) == []
    await cancel_slot(db, slot.id, CancelReason.WEATHER, actor="test", now=start_of(slot))
    assert await offer(db, slot, recorder, start_of(slot)) == []
    assert recorder.offers == []


async def test_a_failing_notification_cancels_the_offer(db):
    slot, (receipt,) = await full_slot(db, 2)
    joined = await join(db, slot, 2)
    await free(db, receipt, start_of(slot))

    async def broken(session: AsyncSession, offer: Offer) -> None:
        raise RuntimeError("template missing")

    with pytest.raises(RuntimeError):
        await offer(db, slot, broken, start_of(slot))
    assert (await entry_of(db, joined.entry.id)).status == WaitlistStatus.WAITING
    assert await actions(db, slot.id) == ["waitlist.joined"]


async def test_each_offer_writes_exactly_one_outbox_message(db):
    slot, (receipt,) = await full_slot(db, 3)
    now = start_of(slot)
    one = await join(db, slot, 1, minute=1)
    two = await join(db, slot, 2, minute=2)
    later = await join(db, slot, 1, minute=3)

    async def enqueue(session: AsyncSession, offer: Offer) -> None:
        await outbox.enqueue(
            session,
            dedup_key=offer.dedup_key,
            to=offer.entry.email,
            subject=f"Places for {offer.activity_in(offer.entry.locale)}",
            text=f"Claim them: https://example.org/waitlist/{offer.claim_token}",
            secret_key=POLICY.secret_key,
        )

    async def messages() -> list[OutboxMessage]:
        async with db.reading() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    await free(db, receipt, now)
    first_run = await offer(db, slot, enqueue, now)
    assert await offer(db, slot, enqueue, now) == []  # nothing new: no new message
    sent = await messages()
    assert [m.to_address for m in sent] == [one.entry.email, two.entry.email]
    assert [m.dedup_key for m in sent] == [o.dedup_key for o in first_run]
    assert all(
        o.claim_token in as_sent(m, POLICY.secret_key).text
        and o.claim_token not in m.text_body  # sealed at rest
        for o, m in zip(first_run, sent, strict=True)
    )

    expired = await expire(db, enqueue, now + timedelta(minutes=OFFER_MINUTES))
    assert expired == 2
    sent = await messages()
    assert [m.to_address for m in sent] == [one.entry.email, two.entry.email, later.entry.email]
    assert len({m.dedup_key for m in sent}) == 3


# --- Expiry -----------------------------------------------------------------------------------


async def test_an_expired_offer_passes_its_places_to_the_next_in_line(db):
    slot, (receipt,) = await full_slot(db, 2)
    now = start_of(slot)
    first = await join(db, slot, 2, minute=1)
    second = await join(db, slot, 1, 1, minute=2)
    await free(db, receipt, now)
    recorder = Recorder()
    (first_offer,) = await offer(db, slot, recorder, now)

    just_before = now + timedelta(minutes=OFFER_MINUTES - 1)
    assert await expire(db, recorder, just_before) == 0
    assert recorder.entry_ids == [first.entry.id]

    at_expiry = now + timedelta(minutes=OFFER_MINUTES)
    assert await expire(db, recorder, at_expiry) == 1
    assert recorder.entry_ids == [first.entry.id, second.entry.id]
    assert recorder.offers[1].expires_at == at_expiry + timedelta(minutes=OFFER_MINUTES)
    assert (await entry_of(db, first.entry.id)).status == WaitlistStatus.EXPIRED
    with pytest.raises(OfferExpired):
        await waitlist.claim(db, first_offer.claim_token, POLICY, now=at_expiry)
    assert (await fetch_slot(db, slot.id)).booked == 0
    assert await actions(db, slot.id, "waitlist.expired") == ["waitlist.expired"]


async def test_an_offer_cannot_be_claimed_at_its_expiry_even_before_tick(db):
    slot, (receipt,) = await full_slot(db, 2)
    await join(db, slot, 2)
    await free(db, receipt, start_of(slot))
    (made,) = await offer(db, slot, Recorder(), start_of(slot))
    with pytest.raises(OfferExpired):
        await waitlist.claim(db, made.claim_token, POLICY, now=made.expires_at)
    assert await people_booked(db, slot.id) == 0


async def test_tick_offers_places_freed_without_a_call_and_expires_offers(db):
    slot, (receipt,) = await full_slot(db, 2)
    now = start_of(slot)
    joined = await join(db, slot, 2)
    await free(db, receipt, now)  # nobody called offer_freed_places
    recorder = Recorder()
    result = await waitlist.tick(db, notify=recorder, now=now, offer_minutes=OFFER_MINUTES)
    assert (result.expired, [o.entry.id for o in result.offers]) == (0, [joined.entry.id])
    again = await waitlist.tick(db, notify=recorder, now=now, offer_minutes=OFFER_MINUTES)
    assert (again.expired, again.offers) == (0, [])
    later = now + timedelta(minutes=OFFER_MINUTES)
    ended = await waitlist.tick(db, notify=recorder, now=later, offer_minutes=OFFER_MINUTES)
    assert (ended.expired, ended.offers) == (1, [])
    assert len(recorder.offers) == 1


# --- Claiming ---------------------------------------------------------------------------------


async def test_claiming_books_the_party_once(db):
    slot, (receipt,) = await full_slot(db, 3)
    now = start_of(slot)
    joined = await join(db, slot, 2, 1, name="Jan de Vries", email="jan@example.nl", locale="nl")
    await free(db, receipt, now)
    (made,) = await offer(db, slot, Recorder(), now)

    claimed = await waitlist.claim(db, made.claim_token, POLICY, now=now + timedelta(minutes=5))
    booked = claimed.booking
    assert (booked.adults, booked.children, booked.name, booked.email, booked.locale) == (
        2,
        1,
        "Jan de Vries",
        "jan@example.nl",
        "nl",
    )
    assert booked.status == BookingStatus.CONFIRMED and booked.channel == Channel.WEB
    assert (await booking_service.find_by_token(db, claimed.manage_token)).id == booked.id
    assert (await fetch_slot(db, slot.id)).booked == 3 == await people_booked(db, slot.id)
    stored = await entry_of(db, joined.entry.id)
    assert (stored.status, stored.booking_id) == (WaitlistStatus.CLAIMED, booked.id)

    with pytest.raises(OfferAlreadyClaimed):
        await waitlist.claim(db, made.claim_token, POLICY, now=now + timedelta(minutes=6))
    with pytest.raises(WithdrawAfterClaim):
        await waitlist.withdraw(db, made.claim_token)
    assert (await fetch_slot(db, slot.id)).booked == 3 == await people_booked(db, slot.id)
    assert await actions(db, slot.id) == [
        "waitlist.joined",
        "waitlist.offered",
        "waitlist.claiming",
        "waitlist.claimed",
    ]


async def test_places_taken_before_the_claim_send_the_claimant_back_in_line(db):
    slot, (receipt,) = await full_slot(db, 2)
    now = start_of(slot)
    joined = await join(db, slot, 2, minute=1)
    await free(db, receipt, now)
    (made,) = await offer(db, slot, Recorder(), now)
    await book(db, slot, 1, now + timedelta(minutes=1))  # a direct booking takes one place

    with pytest.raises(PlacesTaken) as refused:
        await waitlist.claim(db, made.claim_token, POLICY, now=now + timedelta(minutes=2))
    assert "someone was quicker" in refused.value.text
    stored = await entry_of(db, joined.entry.id)
    assert (stored.status, stored.offer_expires_at, stored.booking_id) == (
        WaitlistStatus.WAITING,
        None,
        None,
    )
    assert stored.created_at == now + timedelta(minutes=1)
    assert (await fetch_slot(db, slot.id)).booked == 1 == await people_booked(db, slot.id)
    with pytest.raises(NoOfferNow):  # the same link, again: no offer now
        await waitlist.claim(db, made.claim_token, POLICY, now=now + timedelta(minutes=3))
    assert (await actions(db, slot.id))[-1] == "waitlist.claim_refused"


async def test_two_claimants_for_one_place_one_wins_the_other_keeps_its_turn(db):
    slot, (one, two) = await full_slot(db, 1, 2)
    now = start_of(slot)
    first = await join(db, slot, 1, minute=1)
    second = await join(db, slot, 1, minute=2)
    await free(db, two, now)
    offers = await offer(db, slot, Recorder(), now)
    assert [o.entry.id for o in offers] == [first.entry.id, second.entry.id]
    await book(db, slot, 1, now + timedelta(minutes=1))  # one of the two offered places goes

    claim_at = now + timedelta(minutes=2)
    results = await asyncio.gather(
        *(waitlist.claim(db, o.claim_token, POLICY, now=claim_at) for o in offers),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, BookingReceipt)]
    losers = [r for r in results if isinstance(r, PlacesTaken)]
    assert (len(winners), len(losers)) == (1, 1), results
    slot_now = await fetch_slot(db, slot.id)
    assert slot_now.booked == slot_now.capacity == 3 == await people_booked(db, slot.id)
    loser = offers[results.index(losers[0])]
    winner = offers[results.index(winners[0])]
    assert (await entry_of(db, loser.entry.id)).status == WaitlistStatus.WAITING
    assert (await entry_of(db, winner.entry.id)).booking_id == winners[0].booking.id

    # Back in line, ahead of a later party: the next freed place is theirs.
    behind = await join(db, slot, 1, minute=30)
    await free(db, one, now + timedelta(minutes=40))
    recorder = Recorder()
    await offer(db, slot, recorder, now + timedelta(minutes=40))
    assert recorder.entry_ids == [loser.entry.id]
    with pytest.raises(WaitlistEntryNotFound):  # the earlier offer's link was replaced
        await waitlist.claim(db, loser.claim_token, POLICY, now=now + timedelta(minutes=41))
    await waitlist.claim(
        db, recorder.offers[0].claim_token, POLICY, now=now + timedelta(minutes=41)
    )
    assert (await fetch_slot(db, slot.id)).booked == 3 == await people_booked(db, slot.id)
    assert (await entry_of(db, behind.entry.id)).status == WaitlistStatus.WAITING


async def test_one_link_claimed_twice_at_once_books_once(db):
    slot, (receipt, spare) = await full_slot(db, 2, 2)
    now = start_of(slot)
    joined = await join(db, slot, 2)
    await free(db, receipt, now)
    (made,) = await offer(db, slot, Recorder(), now)
    await free(db, spare, now)  # room enough for the party twice over: only one may book
    results = await asyncio.gather(
        *(waitlist.claim(db, made.claim_token, POLICY, now=now) for _ in range(3)),
        return_exceptions=True,
    )
    receipts = [r for r in results if isinstance(r, BookingReceipt)]
    assert receipts, results
    assert all(isinstance(r, BookingReceipt | OfferAlreadyClaimed) for r in results), results
    assert len({r.booking.id for r in receipts}) == 1
    assert (await fetch_slot(db, slot.id)).booked == 2 == await people_booked(db, slot.id)
    stored = await entry_of(db, joined.entry.id)
    assert (stored.status, stored.booking_id) == (WaitlistStatus.CLAIMED, receipts[0].booking.id)
    assert (await actions(db, slot.id, "waitlist.claimed")) == ["waitlist.claimed"]


# --- Withdrawing and unknown links --------------------------------------------------------------


async def test_withdrawing_leaves_the_list(db):
    slot, _ = await full_slot(db, 2)
    joined = await join(db, slot, 1)
    left = await waitlist.withdraw(db, joined.token)
    assert left.status == WaitlistStatus.WITHDRAWN
    assert (await waitlist.withdraw(db, joined.token)).status == WaitlistStatus.WITHDRAWN
    assert await actions(db, slot.id) == ["waitlist.joined", "waitlist.withdrawn"]
    with pytest.raises(LeftWaitlist):
        await waitlist.claim(db, joined.token, POLICY, now=start_of(slot))


async def test_a_withdrawn_offer_frees_its_places_for_the_next(db):
    slot, (receipt,) = await full_slot(db, 2)
    now = start_of(slot)
    first = await join(db, slot, 2, minute=1)
    second = await join(db, slot, 2, minute=2)
    await free(db, receipt, now)
    recorder = Recorder()
    (made,) = await offer(db, slot, recorder, now)
    await waitlist.withdraw(db, made.claim_token)
    await offer(db, slot, recorder, now + timedelta(minutes=1))
    assert recorder.entry_ids == [first.entry.id, second.entry.id]


async def test_unknown_links_and_links_without_an_offer(db):
    slot, _ = await full_slot(db, 2)
    joined = await join(db, slot, 1)
    for attempt in (
        waitlist.claim(db, "not-a-token", POLICY, now=start_of(slot)),
        waitlist.withdraw(db, "not-a-token"),
        waitlist.find(db, "not-a-token"),
    ):
        with pytest.raises(WaitlistEntryNotFound):
            await attempt
    with pytest.raises(NoOfferNow):
        await waitlist.claim(db, joined.token, POLICY, now=start_of(slot))
    assert (await entry_of(db, joined.entry.id)).status == WaitlistStatus.WAITING


async def crash_mid_claim(db: Database, entry_id: int) -> None:
    """What a crash between starting a claim and recording its booking leaves: the entry
    claimed, no booking recorded on it."""
    async with db.writing() as session:
        await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == entry_id)
            .values(status=WaitlistStatus.CLAIMED, booking_id=None)
        )


async def test_a_claim_interrupted_before_booking_goes_back_to_waiting(db):
    slot, (receipt,) = await full_slot(db, 3)
    now = start_of(slot)
    joined = await join(db, slot, 3)
    await free(db, receipt, now)
    (made,) = await offer(db, slot, Recorder(), now)
    await crash_mid_claim(db, joined.entry.id)
    recorder = Recorder()
    ended = made.expires_at
    # Within the grace after the offer's end the claim may still be under way: left alone.
    await waitlist.tick(db, notify=recorder, now=ended, offer_minutes=OFFER_MINUTES)
    assert (await entry_of(db, joined.entry.id)).status == WaitlistStatus.CLAIMED
    later = ended + waitlist.CLAIM_GRACE
    result = await waitlist.tick(db, notify=recorder, now=later, offer_minutes=OFFER_MINUTES)
    # Back in line, and offered again at once: the places are still free.
    assert [o.entry.id for o in result.offers] == [joined.entry.id]
    assert (await entry_of(db, joined.entry.id)).status == WaitlistStatus.OFFERED
    assert "waitlist.claim_abandoned" in await actions(db, slot.id)
    with pytest.raises(WaitlistEntryNotFound):  # the new offer came with a new link
        await waitlist.claim(db, made.claim_token, POLICY, now=later)
    assert (await fetch_slot(db, slot.id)).booked == 0 == await people_booked(db, slot.id)
    booked = await waitlist.claim(db, result.offers[0].claim_token, POLICY, now=later)
    assert (await fetch_slot(db, slot.id)).booked == 3 == booked.booking.people


async def test_a_claim_interrupted_after_booking_is_recorded(db):
    slot, (receipt,) = await full_slot(db, 3)
    now = start_of(slot)
    joined = await join(db, slot, 2)
    await free(db, receipt, now)
    (made,) = await offer(db, slot, Recorder(), now)
    claimed = await waitlist.claim(db, made.claim_token, POLICY, now=now)
    await crash_mid_claim(db, joined.entry.id)
    later = made.expires_at + waitlist.CLAIM_GRACE
    result = await waitlist.tick(db, notify=Recorder(), now=later, offer_minutes=OFFER_MINUTES)
    assert result.offers == []
    stored = await entry_of(db, joined.entry.id)
    assert (stored.status, stored.booking_id) == (WaitlistStatus.CLAIMED, claimed.booking.id)
    assert (await fetch_slot(db, slot.id)).booked == 2 == await people_booked(db, slot.id)


async def test_the_link_of_an_interrupted_claim_settles_it(db):
    slot, (receipt,) = await full_slot(db, 3)
    now = start_of(slot)
    joined = await join(db, slot, 2)
    await free(db, receipt, now)
    (made,) = await offer(db, slot, Recorder(), now)
    await crash_mid_claim(db, joined.entry.id)
    later = made.expires_at + waitlist.CLAIM_GRACE
    with pytest.raises(NoOfferNow):
        await waitlist.claim(db, made.claim_token, POLICY, now=later)
    assert (await entry_of(db, joined.entry.id)).status == WaitlistStatus.WAITING
    assert (await fetch_slot(db, slot.id)).booked == 0
