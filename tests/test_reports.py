"""The season report, on each database: figures checked against a dataset built through the
domain services, with the expected figures worked out here from the dataset's own description."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Date, event, literal, select, update

from reservations.base.clock import OFFICE_TZ
from reservations.base.models import (
    ActivityKind,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    Slot,
)
from reservations.base.reads.reports import (
    month_of,
    report_as_csv,
    report_as_table,
    season_report,
    weekday_of,
)
from reservations.base.rules import booking as booking_service
from reservations.base.rules import slots as slot_service
from reservations.base.rules.booking import BookingPolicy, BookingRequest
from reservations.base.rules.slots import Presence
from tests.factories import make_activity, make_slot

POLICY = BookingPolicy(secret_key="test-secret", max_party_size=15)
BOOKED_AT = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)  # before every cut-off below
DECIDED_AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # after every go/no-go time below
DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FARM, ANIMATION = ActivityKind.FARM_VISIT, ActivityKind.ANIMATION
WEB, COUNTER, PHONE, RESELLER = Channel.WEB, Channel.COUNTER, Channel.PHONE, Channel.RESELLER

#: key: (provider name, sector, kind)
PROVIDERS = {
    "bouzedes": ("Ferme des Bouzèdes", "Mont Lozère", FARM),
    "mas": ("Chèvrerie du Mas", "Cévennes", FARM),
    "pont": ("Animations du Pont", "Mont Lozère", ANIMATION),
}


class B(NamedTuple):
    """A booking. end: None (kept), "visitor"/"staff" (cancelled by them), or a status it was
    moved to ("pending_payment", "expired"). came: the people recorded present, None for
    everyone booked; on a booking cancelled by the visitor or the staff, it means the booking was
    cancelled after its attendance was recorded (a correction), so it still does not count."""

    adults: int
    children: int
    channel: Channel
    end: str | None = None
    came: tuple[int, int] | None = None

    @property
    def cancelled_after_attendance(self) -> bool:
        return self.end in ("visitor", "staff") and self.came is not None


class S(NamedTuple):
    """A slot, starting at a local (Paris) wall-clock time. fate: "held", "confirmed" (go, not
    held yet), "under_minimum" (left to the go/no-go decision) or a CancelReason value; a
    cancelled slot whose bookings have ``came`` had its attendance recorded before it was
    cancelled (a mistake put right): none of it counts as participants."""

    provider: str
    local_start: datetime
    capacity: int
    minimum: int
    fate: str
    bookings: list[B]

    @property
    def cancelled_by_office(self) -> bool:
        return self.fate in set(CancelReason) - {CancelReason.UNDER_MINIMUM}


SLOTS = [
    # Season 2025, the previous one.
    S(
        "bouzedes",
        datetime(2025, 7, 15, 10, 0),
        12,
        0,
        "held",
        [
            B(2, 1, WEB),
            B(3, 0, PHONE, came=(2, 0)),
        ],
    ),
    S("mas", datetime(2025, 8, 2, 14, 30), 10, 4, "under_minimum", [B(1, 0, WEB)]),
    S("pont", datetime(2025, 12, 31, 23, 30), 30, 0, "held", [B(4, 2, COUNTER)]),
    # Season 2026. 00:30 in Paris on Thursday 1 January is Wednesday 31 December 2025 in UTC.
    S(
        "pont",
        datetime(2026, 1, 1, 0, 30),
        30,
        0,
        "held",
        [
            B(2, 2, WEB),
            B(1, 0, PHONE, "visitor"),
        ],
    ),
    S(
        "bouzedes",
        datetime(2026, 4, 6, 10, 0),
        12,
        2,
        "held",
        [
            B(2, 0, WEB),
            B(2, 3, RESELLER, came=(1, 2)),
            B(1, 0, WEB, "staff"),
            B(2, 1, PHONE, "staff", came=(2, 1)),
        ],
    ),
    # 00:15 in Paris on Monday 15 June is Sunday 14 June in UTC.
    S(
        "pont",
        datetime(2026, 6, 15, 0, 15),
        30,
        0,
        "held",
        [
            B(3, 3, COUNTER, came=(3, 1)),
            B(2, 0, WEB, "expired"),
        ],
    ),
    S(
        "mas",
        datetime(2026, 7, 14, 10, 0),
        10,
        3,
        "under_minimum",
        [
            B(1, 1, WEB),
            B(1, 0, PHONE, "visitor"),
        ],
    ),
    S(
        "mas",
        datetime(2026, 7, 21, 10, 0),
        10,
        3,
        "held",
        [
            B(2, 2, PHONE, came=(0, 0)),
            B(1, 0, WEB, "pending_payment"),
        ],
    ),
    # 00:30 in Paris on 1 August is still July in UTC.
    S("pont", datetime(2026, 8, 1, 0, 30), 30, 0, "weather", [B(5, 5, COUNTER)]),
    S(
        "bouzedes",
        datetime(2026, 8, 12, 10, 0),
        12,
        0,
        "provider",
        [
            B(4, 0, WEB),
            B(1, 0, WEB, "visitor"),
        ],
    ),
    S("mas", datetime(2026, 9, 6, 15, 0), 10, 0, "staff", []),
    S("mas", datetime(2026, 9, 8, 15, 0), 10, 0, "illness", [B(2, 2, WEB)]),
    S("pont", datetime(2026, 7, 26, 10, 0), 30, 0, "fire_risk", [B(3, 0, PHONE)]),
    S("bouzedes", datetime(2026, 10, 10, 10, 0), 12, 0, "confirmed", [B(2, 0, WEB)]),
    S(
        "mas",
        datetime(2026, 11, 4, 14, 0),
        10,
        0,
        "other",
        [
            B(1, 1, RESELLER, "staff"),
            B(2, 0, PHONE),
        ],
    ),
    S("pont", datetime(2026, 12, 31, 23, 30), 30, 0, "held", [B(3, 1, WEB)]),
    # 00:30 in Paris on 1 January 2027 is 31 December 2026 in UTC: not in season 2026.
    S("pont", datetime(2027, 1, 1, 0, 30), 30, 0, "held", [B(6, 0, WEB)]),
]


# --- Building the dataset through the domain services ----------------------------------------


def utc(local: datetime) -> datetime:
    return local.replace(tzinfo=OFFICE_TZ).astimezone(UTC)


async def make_activities(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        key: await make_activity(db, provider_name=name, sector=sector, kind=kind)
        for key, (name, sector, kind) in PROVIDERS.items()
    }


Planned = list[tuple[S, int, list[int]]]  # the slot, its id, the ids of its bookings


async def build(  # type: ignore[no-untyped-def]
    db, slots: list[S], activities: dict[str, Any] | None = None
) -> None:
    """Plan, book, cancel, decide and record attendance as the office would."""
    activities = activities or await make_activities(db)
    planned: Planned = []
    for s in slots:
        slot = await make_slot(
            db,
            activity=activities[s.provider],
            starts_at=utc(s.local_start),
            capacity=s.capacity,
            min_participants=s.minimum,
        )
        planned.append((s, slot.id, [await book(db, slot.id, b) for b in s.bookings]))
    for s, slot_id, _booking_ids in planned:
        if s.cancelled_by_office:
            await slot_service.cancel_slot(
                db, slot_id, CancelReason(s.fate), actor="test", now=utc(s.local_start)
            )
    decisions = await slot_service.decide_due_slots(db, now=DECIDED_AT)
    assert decisions.cancelled == [i for s, i, _ in planned if s.fate == "under_minimum"]
    for s, slot_id, booking_ids in planned:
        if s.fate == "held":
            await record_attendance(db, s, slot_id, booking_ids)


async def record_attendance(  # type: ignore[no-untyped-def]
    db, s: S, slot_id: int, booking_ids: list[int]
) -> None:
    """Record who came, then cancel the bookings cancelled after that."""
    bookings = list(zip(booking_ids, s.bookings, strict=True))
    present = {i: Presence(*b.came) for i, b in bookings if b.came}
    after = utc(s.local_start) + timedelta(hours=3)
    await slot_service.record_attendance(db, slot_id, present, actor="test", now=after)
    for booking_id, b in bookings:
        if b.cancelled_after_attendance:
            await booking_service.cancel_booking(
                db, booking_id, actor="test", cancelled_by=CancelledBy(b.end), now=after
            )


async def book(db, slot_id: int, b: B) -> int:  # type: ignore[no-untyped-def]
    request = BookingRequest(
        slot_id=slot_id,
        adults=b.adults,
        children=b.children,
        name="Anne Martin",
        email="anne@example.org",
        channel=b.channel,
    )
    receipt = await booking_service.book(db, request, POLICY, actor="test", now=BOOKED_AT)
    booking_id = receipt.booking.id
    later = BOOKED_AT + timedelta(days=1)
    if b.end in ("visitor", "staff") and not b.cancelled_after_attendance:
        await booking_service.cancel_booking(
            db, booking_id, actor="test", cancelled_by=CancelledBy(b.end), now=later
        )
    elif b.end in ("pending_payment", "expired"):
        await move_to_status(db, booking_id, slot_id, BookingStatus(b.end), b.adults + b.children)
    return booking_id


async def move_to_status(  # type: ignore[no-untyped-def]
    db, booking_id: int, slot_id: int, status: BookingStatus, people: int
) -> None:
    """Stands in for the payment flow (not written yet): an unpaid or expired booking holds no
    place."""
    async with db.writing() as session:
        await session.execute(update(Booking).where(Booking.id == booking_id).values(status=status))
        await session.execute(
            update(Slot).where(Slot.id == slot_id).values(booked=Slot.booked - people)
        )


# --- The expected figures, in plain Python from the dataset ----------------------------------


def counts_as_demand(b: B) -> bool:
    """Kept bookings: confirmed, or ended by their slot's cancellation."""
    return b.end is None


def came(b: B) -> tuple[int, int]:
    return b.came if b.came is not None else (b.adults, b.children)


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def expected_booking_figures(pairs: list[tuple[S, B]]) -> dict[str, Any]:
    """Demand and attendance of (slot, booking) pairs, the bookings all counting as demand."""
    booked = sum(b.adults + b.children for _, b in pairs)
    held = [(s, b) for s, b in pairs if s.fate == "held"]
    adults = sum(came(b)[0] for _, b in held)
    children = sum(came(b)[1] for _, b in held)
    return {
        "seats_booked": booked,
        "participants": {"adults": adults, "children": children, "total": adults + children},
        "attendance_rate": rate(adults + children, sum(b.adults + b.children for _, b in held)),
    }


def expected_metrics(slots: list[S]) -> dict[str, Any]:
    planned, held = len(slots), sum(s.fate == "held" for s in slots)
    offered = sum(s.capacity for s in slots)
    figures = expected_booking_figures(
        [(s, b) for s in slots for b in s.bookings if counts_as_demand(b)]
    )
    return {
        "slots_planned": planned,
        "slots_held": held,
        "held_rate": rate(held, planned),
        "slots_cancelled": {r.value: sum(s.fate == r.value for s in slots) for r in CancelReason},
        "seats_offered": offered,
        "seats_booked": figures["seats_booked"],
        "fill_rate": rate(figures["seats_booked"], offered),
        "participants": figures["participants"],
        "attendance_rate": figures["attendance_rate"],
    }


def grouped(slots: list[S], key: Callable[[S], Any], name: Callable[[Any], str] = str) -> dict:
    keys = sorted({key(s) for s in slots})
    return {name(k): expected_metrics([s for s in slots if key(s) == k]) for k in keys}


def by_channel(slots: list[S]) -> dict[str, Any]:
    pairs = [(s, b) for s in slots for b in s.bookings if counts_as_demand(b)]
    channels = [c.value for c in Channel if any(b.channel == c for _, b in pairs)]  # enum order
    return {
        c: expected_booking_figures([(s, b) for s, b in pairs if b.channel.value == c])
        for c in channels
    }


def in_season(year: int, kind: ActivityKind | None) -> list[S]:
    return [
        s for s in SLOTS if s.local_start.year == year and kind in (None, PROVIDERS[s.provider][2])
    ]


def expected_effects(slots: list[S]) -> dict[str, Any]:
    """The decision outcomes of a dataset without levers (no share link, no invitation to
    move): a visit confirmed or held reached its minimum by itself."""
    ahead = sum(s.fate in ("held", "confirmed") for s in slots)
    too_few = sum(s.fate == "under_minimum" for s in slots)
    other = sum(s.fate in set(CancelReason) - {CancelReason.UNDER_MINIMUM} for s in slots)
    return {
        "by_outcome": {
            "reached_minimum": ahead,
            "saved_by_consolidation": 0,
            "saved_by_share": 0,
            "merged": 0,
            "too_few_people": too_few,
            "cancelled_other": other,
            "undecided": len(slots) - ahead - too_few - other,
        },
        "went_ahead": ahead,
        "decided_by_bookings": ahead + too_few,
        "held_rate_when_decided": rate(ahead, ahead + too_few),
        "visits_saved": 0,
        "held_rate_without_saved": rate(ahead, ahead + too_few),
    }


def expected_report(year: int, kind: ActivityKind | None = None) -> dict[str, Any]:
    slots, last = in_season(year, kind), in_season(year - 1, kind)
    totals = {**expected_metrics(slots), "effects": expected_effects(slots)}
    previous = (
        {"season": year - 1, **expected_metrics(last), "effects": expected_effects(last)}
        if last
        else None
    )
    before = previous["participants"]["total"] if previous else 0
    return {
        "season": year,
        "kind": kind.value if kind else None,
        **totals,
        "participants_change": rate(totals["participants"]["total"] - before, before),
        "previous_season": previous,
        "by_provider": grouped(slots, lambda s: PROVIDERS[s.provider][0]),
        "by_weekday": grouped(slots, lambda s: s.local_start.weekday(), lambda d: DAY_NAMES[d]),
        "by_month": grouped(slots, lambda s: f"{s.local_start:%Y-%m}"),
        "by_sector": grouped(slots, lambda s: PROVIDERS[s.provider][1]),
        "by_channel": by_channel(slots),
    }


def approx_floats(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value)
    if isinstance(value, dict):
        return {k: approx_floats(v) for k, v in value.items()}
    return value


def numbers_in(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers_in(item)
    elif not isinstance(value, str | type(None)):
        yield value


# --- Tests -----------------------------------------------------------------------------------


@pytest.fixture
async def dataset(db):  # type: ignore[no-untyped-def]
    await build(db, SLOTS)
    return db


def test_the_dataset_is_what_the_test_needs():
    """Guards the dataset itself, so the report tests below cannot pass vacuously."""
    season = in_season(2026, None)
    assert {s.fate for s in season} >= {"held", "confirmed", *(r.value for r in CancelReason)}
    assert {b.end for s in season for b in s.bookings} >= {
        None,
        "visitor",
        "staff",
        "expired",
        "pending_payment",
    }
    assert any(b.cancelled_after_attendance for s in season for b in s.bookings)
    assert len({s.local_start.weekday() for s in season}) >= 5
    assert utc(datetime(2026, 1, 1, 0, 30)).date().isoformat() == "2025-12-31"
    assert utc(datetime(2026, 6, 15, 0, 15)).weekday() == 6  # Sunday in UTC, Monday in Paris


async def test_season_report_matches_the_dataset(dataset):
    report = await season_report(dataset, 2026)
    expected = expected_report(2026)

    assert report == approx_floats(expected)
    assert list(report) == list(expected)
    for name in ("by_provider", "by_weekday", "by_month", "by_sector", "by_channel"):
        assert list(report[name]) == list(expected[name]), name
    assert list(report["by_weekday"]) == [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "saturday",
        "sunday",
    ]
    assert list(report["by_month"])[0] == "2026-01" and list(report["by_month"])[-1] == "2026-12"
    assert report["participants_change"] is not None and report["previous_season"] is not None
    assert all(type(n) in (int, float) for n in numbers_in(report))
    assert json.loads(json.dumps(report)) == report

    # The neighbours: 2025 has no season before it; 2027 holds only the slot of New Year's night.
    first = await season_report(dataset, 2025)
    assert first == approx_floats(expected_report(2025))
    assert first["previous_season"] is None and first["participants_change"] is None
    last = await season_report(dataset, 2027)
    assert last == approx_floats(expected_report(2027))
    assert last["slots_planned"] == 1 and last["by_month"].keys() == {"2027-01"}


async def test_kind_filter(dataset):
    for kind in (ANIMATION, FARM):
        report = await season_report(dataset, 2026, kind=kind)
        assert report == approx_floats(expected_report(2026, kind))
        assert report["kind"] == kind.value
        assert 0 < report["slots_planned"] < len(in_season(2026, None))


async def test_weekday_and_month_of_a_date(db):
    """ISO weekdays (Monday 1 .. Sunday 7) and 'YYYY-MM' months, the same on each database."""
    days = [date(2026, 5, 31) + timedelta(days=n) for n in range(8)]  # Sunday to Sunday
    async with db.reading() as session:
        weekdays = [await session.scalar(select(weekday_of(literal(d, Date)))) for d in days]
        months = [await session.scalar(select(month_of(literal(d, Date)))) for d in days]
    assert weekdays == [7, 1, 2, 3, 4, 5, 6, 7]
    assert all(type(w) is int for w in weekdays)
    assert months == ["2026-05"] + ["2026-06"] * 7


async def test_an_empty_season_gives_zeros_and_no_rates(dataset):
    report = await season_report(dataset, 2031)
    assert report["slots_planned"] == report["slots_held"] == report["seats_offered"] == 0
    assert report["seats_booked"] == 0
    assert report["slots_cancelled"] == {r.value: 0 for r in CancelReason}
    assert report["participants"] == {"adults": 0, "children": 0, "total": 0}
    assert report["held_rate"] is report["fill_rate"] is report["attendance_rate"] is None
    assert report["previous_season"] is None and report["participants_change"] is None
    assert all(report[name] == {} for name in report if name.startswith("by_"))
    assert report == expected_report(2031)


def statements_counter(db):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    return seen


def more_slots(first: int, count: int) -> list[S]:
    """Slots of 2030 spread over providers, months and weekdays, held or not, with bookings."""
    providers = list(PROVIDERS)
    return [
        S(
            providers[i % 3],
            datetime(2030, 1 + i % 12, 1 + i, 10, 0),
            10,
            0,
            "held" if i % 2 else "confirmed",
            [B(1 + i % 3, i % 2, list(Channel)[i % 4])],
        )
        for i in range(first, first + count)
    ]


async def test_the_report_is_aggregated_by_the_database(db):
    """The number of statements does not grow with the number of slots."""
    activities = await make_activities(db)
    await build(db, more_slots(0, 4), activities)
    seen = statements_counter(db)
    small = await season_report(db, 2030)
    statements_small = len(seen)
    await build(db, more_slots(4, 4), activities)
    seen.clear()
    large = await season_report(db, 2030)

    assert (small["slots_planned"], large["slots_planned"]) == (4, 8)
    assert len(large["by_month"]) > len(small["by_month"])
    assert len(seen) == statements_small
    assert statements_small <= 10


async def test_csv_has_one_row_per_group(dataset):
    report = await season_report(dataset, 2026)
    expected = expected_report(2026)
    rows = list(csv.DictReader(io.StringIO(report_as_csv(report))))

    scopes = [("season", "2026"), ("previous_season", "2025")]
    for name, scope in [
        ("by_provider", "provider"),
        ("by_weekday", "weekday"),
        ("by_month", "month"),
        ("by_sector", "sector"),
        ("by_channel", "channel"),
    ]:
        scopes += [(scope, key) for key in expected[name]]
    assert [(row["scope"], row["key"]) for row in rows] == scopes

    season = rows[0]
    assert int(season["slots_planned"]) == expected["slots_planned"]
    assert int(season["cancelled_weather"]) == expected["slots_cancelled"]["weather"]
    assert int(season["participants_total"]) == expected["participants"]["total"]
    assert float(season["fill_rate"]) == pytest.approx(expected["fill_rate"])
    monday = next(row for row in rows if row["key"] == "monday")
    assert int(monday["seats_booked"]) == expected["by_weekday"]["monday"]["seats_booked"]
    web = next(row for row in rows if (row["scope"], row["key"]) == ("channel", "web"))
    assert int(web["participants_total"]) == expected["by_channel"]["web"]["participants"]["total"]
    assert web["slots_planned"] == "" and web["fill_rate"] == ""


async def test_csv_of_an_empty_season_leaves_rates_empty(db):
    rows = list(csv.DictReader(io.StringIO(report_as_csv(await season_report(db, 2031)))))
    assert len(rows) == 1
    assert rows[0]["slots_planned"] == "0" and rows[0]["held_rate"] == ""


async def test_table_leads_with_the_headline(dataset):
    report = await season_report(dataset, 2026)
    e = expected_report(2026)
    table = report_as_table(report)
    people = e["participants"]
    held_pct = f"{100 * e['slots_held'] / e['slots_planned']:.1f}%"
    headline = (
        f"Slots planned {e['slots_planned']} · held {e['slots_held']} ({held_pct}) "
        f"· participants {people['total']} ({people['adults']} adults, "
        f"{people['children']} children)"
    )
    assert table.splitlines()[2] == headline
    assert f"weather {e['slots_cancelled']['weather']}" in table
    assert f"offered {e['seats_offered']} · booked {e['seats_booked']}" in table
    assert "Previous season 2025" in table
    for name in e["by_provider"]:
        assert name in table

    section = table.split("By provider\n")[1].split("\n\n")[0].splitlines()
    assert len(section) == 1 + len(e["by_provider"])
    assert len({len(line) for line in section}) == 1  # aligned columns
    bouzedes = next(line for line in section if "Bouzèdes" in line).split()
    metrics = e["by_provider"]["Ferme des Bouzèdes"]
    assert bouzedes[-1] == str(metrics["participants"]["total"])
    assert bouzedes[-4] == str(metrics["seats_offered"])


async def test_table_of_an_empty_season_says_so(db):
    table = report_as_table(await season_report(db, 2031))
    assert "Slots planned 0 · held 0 (n/a)" in table
    assert "Previous season 2030: no slots" in table
