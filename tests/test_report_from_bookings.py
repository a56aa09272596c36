"""The season report against the same figures computed here, in plain Python, straight from
the slots, bookings, attendance and invitations of a varied random season (written to the
database as they are, so every combination occurs: every status, channel, who cancelled and
when, share links, moves accepted before and after the decision), on each database."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reservations.base.models import (
    ActivityKind,
    Attendance,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    MoveInvitation,
    SlotStatus,
)
from reservations.base.reads.reports import OUTCOMES, season_report
from reservations.base.rules.planning import new_slot
from tests.factories import make_activity
from tests.test_reports import approx_floats

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FARMS = [("Ferme Alpha", "Mont Lozère"), ("Mas Beta", "Cévennes"), ("Gamma", "Cévennes")]
_numbers = itertools.count(1)


@dataclass
class Slot:
    id: int
    provider: str
    sector: str
    kind: ActivityKind
    starts_on: Any
    decision_at: datetime
    status: SlotStatus
    reason: CancelReason | None
    capacity: int
    minimum: int
    bookings: list[Any] = field(default_factory=list)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def demand(b: Any) -> bool:
    return b.status == BookingStatus.CONFIRMED or (
        b.status == BookingStatus.CANCELLED and b.cancelled_by == CancelledBy.SLOT
    )


def came(b: Any, present: dict[int, tuple[int, int]]) -> tuple[int, int]:
    return present.get(b.id, (0, 0)) if demand(b) else (0, 0)


def metrics(slots: list[Slot], present: dict[int, tuple[int, int]]) -> dict[str, Any]:
    held = [s for s in slots if s.status == SlotStatus.HELD]
    booked = sum(b.adults + b.children for s in slots for b in s.bookings if demand(b))
    booked_held = sum(b.adults + b.children for s in held for b in s.bookings if demand(b))
    adults = sum(came(b, present)[0] for s in held for b in s.bookings)
    children = sum(came(b, present)[1] for s in held for b in s.bookings)
    offered = sum(s.capacity for s in slots)
    cancelled = {
        r.value: sum(1 for s in slots if s.status == SlotStatus.CANCELLED and s.reason == r)
        for r in CancelReason
    }
    return {
        "slots_planned": len(slots),
        "slots_held": len(held),
        "held_rate": _rate(len(held), len(slots)),
        "slots_cancelled": cancelled,
        "seats_offered": offered,
        "seats_booked": booked,
        "fill_rate": _rate(booked, offered),
        "participants": {"adults": adults, "children": children, "total": adults + children},
        "attendance_rate": _rate(adults + children, booked_held),
    }


def outcome(s: Slot, moves: list[MoveInvitation]) -> str:
    def on_it(b: Any) -> bool:
        return (
            b.status in (BookingStatus.CONFIRMED, BookingStatus.CANCELLED)
            and b.created_at <= s.decision_at
            and (
                b.cancelled_at is None
                or b.cancelled_at > s.decision_at
                or b.cancelled_by == CancelledBy.SLOT
            )
        )

    def moved_in(b: Any) -> bool:
        return any(
            m.booking_id == b.id
            and m.target_slot_id == s.id
            and m.accepted_at is not None
            and m.accepted_at <= s.decision_at
            for m in moves
        )

    on = [b for b in s.bookings if on_it(b)]
    total = sum(b.adults + b.children for b in on)
    moved = sum(b.adults + b.children for b in on if moved_in(b))
    shared = sum(b.adults + b.children for b in on if b.via_share_link)
    ahead = s.status in (SlotStatus.CONFIRMED, SlotStatus.HELD)
    too_few = s.status == SlotStatus.CANCELLED and s.reason == CancelReason.UNDER_MINIMUM
    if ahead and moved > 0 and total - moved < s.minimum:
        return "saved_by_consolidation"
    if ahead and shared > 0 and total - shared < s.minimum:
        return "saved_by_share"
    if ahead:
        return "reached_minimum"
    merged = any(m.source_slot_id == s.id and m.accepted_at is not None for m in moves)
    if too_few and merged:
        return "merged"
    if too_few:
        return "too_few_people"
    return "cancelled_other" if s.status == SlotStatus.CANCELLED else "undecided"


def effects(slots: list[Slot], moves: list[MoveInvitation]) -> dict[str, Any]:
    counted = defaultdict(int, {o: 0 for o in OUTCOMES})
    for s in slots:
        counted[outcome(s, moves)] += 1
    ahead = sum(counted[o] for o in ("reached_minimum", "saved_by_consolidation", "saved_by_share"))
    decided = ahead + counted["too_few_people"] + counted["merged"]
    saved = counted["saved_by_consolidation"] + counted["saved_by_share"]
    return {
        "by_outcome": dict(counted),
        "went_ahead": ahead,
        "decided_by_bookings": decided,
        "held_rate_when_decided": _rate(ahead, decided),
        "visits_saved": saved,
        "held_rate_without_saved": _rate(ahead - saved, decided),
    }


def channels(slots: list[Slot], present: dict[int, tuple[int, int]]) -> dict[str, Any]:
    found = {}
    for channel in Channel:
        ours = [(s, b) for s in slots for b in s.bookings if demand(b) and b.channel == channel]
        if not ours:
            continue
        on_held = [(s, b) for s, b in ours if s.status == SlotStatus.HELD]
        adults = sum(came(b, present)[0] for _, b in on_held)
        children = sum(came(b, present)[1] for _, b in on_held)
        found[channel.value] = {
            "seats_booked": sum(b.adults + b.children for _, b in ours),
            "participants": {"adults": adults, "children": children, "total": adults + children},
            "attendance_rate": _rate(
                adults + children, sum(b.adults + b.children for _, b in on_held)
            ),
        }
    return found


def expected(year: int, kind: ActivityKind | None, every: list[Slot], moves, present) -> Any:  # type: ignore[no-untyped-def]
    def season(y: int) -> list[Slot]:
        return [s for s in every if s.starts_on.year == y and kind in (None, s.kind)]

    this, last = season(year), season(year - 1)

    def grouped(key: Any, order: Any = str) -> dict[str, Any]:
        groups = defaultdict(list)
        for s in this:
            groups[key(s)].append(s)
        return {
            (WEEKDAYS[k - 1] if order is int else k): metrics(groups[k], present)
            for k in sorted(groups, key=order)
        }

    report = {"season": year, "kind": kind.value if kind else None}
    report |= metrics(this, present) | {"effects": effects(this, moves)}
    previous = None
    if last:
        previous = {"season": year - 1, **metrics(last, present), "effects": effects(last, moves)}
    before = previous["participants"]["total"] if previous else None
    now = report["participants"]["total"]
    report["participants_change"] = (now - before) / before if before else None
    report["previous_season"] = previous
    report["by_provider"] = grouped(lambda s: s.provider)
    report["by_weekday"] = grouped(lambda s: s.starts_on.isoweekday(), int)
    report["by_month"] = grouped(lambda s: s.starts_on.strftime("%Y-%m"))
    report["by_sector"] = grouped(lambda s: s.sector)
    report["by_channel"] = channels(this, present)
    return report


async def random_seasons(db, rng: random.Random):  # type: ignore[no-untyped-def]
    activities = [
        await make_activity(db, provider_name=name, sector=sector, kind=kind)
        for (name, sector), kind in zip(
            FARMS, [ActivityKind.FARM_VISIT, ActivityKind.ANIMATION, ActivityKind.FARM_VISIT]
        )
    ]
    slots: list[Slot] = []
    async with db.writing() as session:
        for number in range(70):
            activity = rng.choice(activities)
            starts_at = (
                datetime(2025, 1, 1, 8, tzinfo=UTC)
                + timedelta(days=rng.randrange(729), hours=rng.choice([0, 5, 15, 16]))
                + timedelta(minutes=number)
            )
            row = new_slot(activity, starts_at, capacity=rng.randint(4, 20))
            row.min_participants = rng.randint(0, 8)
            row.decision_at = starts_at - timedelta(days=1)
            row.status = rng.choice(list(SlotStatus))
            if row.status == SlotStatus.CANCELLED:
                row.cancel_reason = rng.choice(
                    list(CancelReason) * 2 + [CancelReason.UNDER_MINIMUM] * 4
                )
                row.cancelled_at = row.decision_at
            session.add(row)
            await session.flush()
            farm = FARMS[activities.index(activity)]
            slots.append(
                Slot(
                    row.id,
                    farm[0],
                    farm[1],
                    activity.kind,
                    row.starts_on,
                    row.decision_at,
                    row.status,
                    row.cancel_reason,
                    row.capacity,
                    row.min_participants,
                )
            )
        present: dict[int, tuple[int, int]] = {}
        for slot in slots:
            for _ in range(rng.randint(0, 5)):
                status = rng.choice(list(BookingStatus) + [BookingStatus.CONFIRMED] * 3)
                cancelled_by = (
                    rng.choice(list(CancelledBy)) if status == BookingStatus.CANCELLED else None
                )
                created = slot.decision_at + timedelta(hours=rng.choice([-100, -3, 2]))
                cancelled_at = None
                if cancelled_by is not None:
                    cancelled_at = slot.decision_at + timedelta(hours=rng.choice([-2, 0, 5]))
                n = next(_numbers)
                booking = Booking(
                    reference=f"R{n:08d}",
                    slot_id=slot.id,
                    adults=rng.randint(0, 4) or 1,
                    children=rng.randint(0, 3),
                    name="Visitor",
                    channel=rng.choice(list(Channel)),
                    status=status,
                    manage_token_hash=f"{n:064d}",
                    created_at=created,
                    cancelled_at=cancelled_at,
                    cancelled_by=cancelled_by,
                    via_share_link=rng.random() < 0.3,
                )
                session.add(booking)
                await session.flush()
                slot.bookings.append(booking)
                if rng.random() < 0.6:
                    adults, children = (
                        rng.randint(0, booking.adults),
                        rng.randint(0, booking.children),
                    )
                    session.add(
                        Attendance(
                            booking_id=booking.id,
                            adults=adults,
                            children=children,
                            recorded_by="test",
                        )
                    )
                    present[booking.id] = (adults, children)
        moves = []
        for slot in slots:
            for booking in slot.bookings:
                if rng.random() < 0.25:
                    source = rng.choice([s for s in slots if s.id != slot.id])
                    accepted = rng.choice(
                        [
                            None,
                            slot.decision_at - timedelta(hours=5),
                            slot.decision_at + timedelta(hours=1),
                        ]
                    )
                    n = next(_numbers)
                    move = MoveInvitation(
                        booking_id=booking.id,
                        source_slot_id=source.id,
                        target_slot_id=slot.id,
                        token_hash=f"{n:064d}",
                        created_by="test",
                        created_at=booking.created_at,
                        expires_at=booking.created_at + timedelta(days=2),
                        accepted_at=accepted,
                    )
                    session.add(move)
                    moves.append(move)
    return slots, moves, present


async def test_the_report_equals_the_figures_computed_from_the_rows(db):
    slots, moves, present = await random_seasons(db, random.Random(20261204))
    outcomes = {outcome(s, moves) for s in slots}
    assert outcomes == set(OUTCOMES), "the season is not varied enough"  # guards the dataset

    for year, kind in [(2026, None), (2025, None), (2027, None), (2026, ActivityKind.ANIMATION)]:
        report = await season_report(db, year, kind=kind)
        assert report == approx_floats(expected(year, kind, slots, moves, present)), (year, kind)
        assert list(report["by_channel"]) == list(
            expected(year, kind, slots, moves, present)["by_channel"]
        )
