"""The demo data: the shipped seasons agree with the office's published figures, and the demo
programme has something to book, something full and something at risk."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, timedelta
from importlib import resources

import pytest
from sqlalchemy import extract, func, select

from reservations.base import clock
from reservations.base.models import (
    Activity,
    ActivityKind,
    Attendance,
    Booking,
    BookingStatus,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.seeding.demo import (
    FARMER_DAY,
    OFFERS,
    DemoRefused,
    database_is_empty,
    load_demo,
)
from reservations.settings import PROJECT_ROOT

# The tourist office's 2022 report, "Visites de fermes".
PUBLISHED_2022 = {"farmers": 18, "planned": 160, "held": 76, "adults": 326, "children": 200}
PUBLISHED_GROWTH = 0.24  # 2022 participants versus 2021


def season_rows(year: int) -> list[dict[str, str]]:
    path = resources.files("reservations.demo_data").joinpath(f"season_{year}.csv")
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def figures_from_csv(year: int) -> dict[str, int]:
    rows = season_rows(year)
    held = [r for r in rows if r["outcome"] == "held"]
    return {
        "farmers": len({r["provider"] for r in rows}),
        "planned": len(rows),
        "held": len(held),
        "adults": sum(int(r["attended_adults"]) for r in held),
        "children": sum(int(r["attended_children"]) for r in held),
    }


async def figures_from_database(db, year: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    farm_slots = (
        select(Slot.id, Slot.status, Activity.provider_id)
        .join(Activity, Activity.id == Slot.activity_id)
        .where(Activity.kind == ActivityKind.FARM_VISIT, extract("year", Slot.starts_on) == year)
        .subquery()
    )
    async with db.reading() as session:
        planned, farmers = (
            await session.execute(
                select(func.count(), func.count(farm_slots.c.provider_id.distinct()))
            )
        ).one()
        held = await session.scalar(
            select(func.count()).where(farm_slots.c.status == SlotStatus.HELD)
        )
        adults, children = (
            await session.execute(
                select(func.sum(Attendance.adults), func.sum(Attendance.children))
                .join(Booking, Booking.id == Attendance.booking_id)
                .join(farm_slots, farm_slots.c.id == Booking.slot_id)
                .where(farm_slots.c.status == SlotStatus.HELD)
            )
        ).one()
    return {
        "farmers": farmers,
        "planned": planned,
        "held": held,
        "adults": adults,
        "children": children,
    }


def test_the_2022_season_file_matches_the_published_figures():
    assert figures_from_csv(2022) == PUBLISHED_2022


def test_the_2021_season_has_24_percent_fewer_participants_and_fewer_farms():
    before, after = figures_from_csv(2021), figures_from_csv(2022)
    growth = (after["adults"] + after["children"]) / (before["adults"] + before["children"]) - 1
    assert growth == pytest.approx(PUBLISHED_GROWTH, abs=0.01)
    assert before["farmers"] < after["farmers"] and before["planned"] < after["planned"]


@pytest.mark.parametrize("year", [2021, 2022])
def test_season_rows_follow_the_go_no_go_rule_and_capacities(year):
    for row in season_rows(year):
        booked = int(row["booked_adults"]) + int(row["booked_children"])
        attended = int(row["attended_adults"]) + int(row["attended_children"])
        capacity, minimum = int(row["capacity"]), int(row["min_participants"])
        assert booked <= capacity and attended <= capacity and 8 <= capacity <= 25
        assert 3 <= minimum <= 6
        if row["outcome"] == "held":
            assert booked >= minimum, row
        else:
            assert attended == 0, row
        if row["outcome"] == "cancelled_under_minimum":
            assert booked < minimum, row


def test_high_season_saturdays_are_weak_in_2022():
    people: dict[bool, list[int]] = {True: [], False: []}
    for row in season_rows(2022):
        day = date.fromisoformat(row["date"])
        if day.month in (7, 8):
            came = int(row["attended_adults"]) + int(row["attended_children"])
            people[day.weekday() == 5].append(came)
    saturday = sum(people[True]) / len(people[True])
    other_days = sum(people[False]) / len(people[False])
    assert saturday < other_days / 2


def test_the_shipped_files_are_what_the_generator_writes():
    script = PROJECT_ROOT / "bench" / "make_demo_seasons.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_load_demo_imports_the_seasons_with_the_published_figures(db):
    assert await database_is_empty(db)
    summary = await load_demo(db)

    assert not await database_is_empty(db)
    assert await figures_from_database(db, 2022) == PUBLISHED_2022
    assert await figures_from_database(db, 2022) == figures_from_csv(2022)
    assert await figures_from_database(db, 2021) == figures_from_csv(2021)
    assert [s.slots for s in summary.seasons] == [len(season_rows(2021)), len(season_rows(2022))]
    assert await slots_whose_counter_is_wrong(db) == []


async def slots_whose_counter_is_wrong(db) -> list:  # type: ignore[no-untyped-def]
    """Slots whose ``booked`` differs from the people on their confirmed bookings."""
    live = (
        select(Booking.slot_id, func.sum(Booking.adults + Booking.children).label("people"))
        .where(Booking.status == BookingStatus.CONFIRMED)
        .group_by(Booking.slot_id)
        .subquery()
    )
    async with db.reading() as session:
        found = await session.execute(
            select(Slot.id, Slot.booked, live.c.people)
            .outerjoin(live, live.c.slot_id == Slot.id)
            .where(Slot.booked != func.coalesce(live.c.people, 0))
        )
        return list(found.all())


async def test_the_programme_starts_tomorrow_with_full_and_at_risk_slots(db):
    now = clock.now()
    tomorrow = clock.today() + timedelta(days=1)
    summary = await load_demo(db)

    async with db.reading() as session:
        upcoming = list(await session.scalars(select(Slot).where(Slot.starts_on >= tomorrow)))
        activities = list(
            await session.scalars(
                select(Activity).where(Activity.id.in_({s.activity_id for s in upcoming}))
            )
        )
        recent = list(
            await session.scalars(select(Slot).where(Slot.starts_at >= now - timedelta(hours=4)))
        )
        bookings = await session.scalar(
            select(func.count()).where(
                Booking.slot_id.in_([s.id for s in recent]),
                Booking.status == BookingStatus.CONFIRMED,
            )
        )
        farm_activity = await session.scalar(
            select(Activity.id).join(Provider).where(Provider.name == OFFERS[FARMER_DAY].provider)
        )
    assert summary.first_day == tomorrow
    assert len(upcoming) == summary.upcoming_slots
    assert min(s.starts_on for s in upcoming) == tomorrow
    assert max(s.starts_on for s in upcoming) >= tomorrow + timedelta(days=35)
    assert all(s.status == SlotStatus.SCHEDULED for s in upcoming)
    assert any(s.booked == s.capacity for s in upcoming), "no full slot"
    assert any(0 < s.capacity - s.booked <= 2 for s in upcoming), "no nearly full slot"
    assert any(
        now < s.decision_at <= now + timedelta(hours=72) and 0 < s.booked < s.min_participants
        for s in upcoming
    ), "no slot at risk"
    assert bookings == summary.bookings
    # The farmer's day: a visit over within the hour, with bookings to record attendance for,
    # and one tomorrow to call off.
    this_morning = [s for s in recent if s.starts_on < tomorrow]
    assert len(this_morning) == 1
    over = this_morning[0]
    assert over.activity_id == farm_activity and over.status == SlotStatus.CONFIRMED
    assert now - timedelta(hours=1) <= over.ends_at <= now and over.booked > 0
    assert any(
        s.activity_id == farm_activity and s.starts_on == tomorrow and s.booked > 0
        for s in upcoming
    )
    assert {a.kind for a in activities} == set(ActivityKind)
    for activity in activities:
        for texts in (activity.title, activity.description, activity.accessibility):
            assert set(texts) == {"fr", "en", "de", "nl"} and all(texts.values())
        assert activity.meeting_point and activity.latitude and activity.longitude
    assert any(a.price_adult_cents == 0 for a in activities)
    assert any(a.price_adult_cents > 0 for a in activities)


async def test_the_programme_follows_the_given_day_even_in_winter(db):
    summary = await load_demo(db, today=date(2031, 12, 30))
    async with db.reading() as session:
        first = await session.scalar(
            select(func.min(Slot.starts_on)).where(Slot.starts_on > date(2031, 12, 30))
        )
        mornings = await session.scalar(
            select(func.count()).where(Slot.starts_on == date(2031, 12, 30))
        )
    assert summary.first_day == first == date(2031, 12, 31)
    assert mornings == 1  # the farmer's visit of that morning


async def test_load_demo_refuses_a_database_that_holds_data(db):
    await load_demo(db)
    async with db.reading() as session:
        before = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Provider, Slot, Booking)
        ]
    with pytest.raises(DemoRefused):
        await load_demo(db)
    async with db.reading() as session:
        after = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Provider, Slot, Booking)
        ]
    assert after == before
