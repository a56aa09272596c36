"""The demo data: the shipped seasons agree with the office's published figures, and the demo
programme has something to book, something full with a waiting list, two visits of one activity
at risk, and one called off for the weather; ``serve --demo`` makes it again on a later day."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from datetime import date, time, timedelta
from importlib import resources

import pytest
from sqlalchemy import extract, func, select

from reservations import cli
from reservations.base import clock
from reservations.base.infra import db as db_module
from reservations.base.infra.db import Database
from reservations.base.models import (
    Activity,
    ActivityKind,
    Attendance,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelReason,
    OutboxMessage,
    Provider,
    Slot,
    SlotStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from reservations.base.reads import board
from reservations.base.seeding.demo import (
    BOOKINGS,
    FARMER_DAY,
    OFFERS,
    WAITING,
    WEATHER,
    DemoRefused,
    database_is_empty,
    load_demo,
    made_on,
)
from reservations.settings import PROJECT_ROOT, Settings

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
    # One visit called off for the weather, with its bookings; every other one still to decide.
    called_off = [s for s in upcoming if s.status == SlotStatus.CANCELLED]
    assert [(s.cancel_reason, s.booked) for s in called_off] == [(CancelReason.WEATHER, 0)]
    assert list(summary.cancelled) == [called_off[0].id]
    assert all(s.status == SlotStatus.SCHEDULED for s in upcoming if s not in called_off)
    assert any(s.booked == s.capacity for s in upcoming), "no full slot"
    assert any(0 < s.capacity - s.booked <= 2 for s in upcoming), "no nearly full slot"
    assert any(
        now < s.decision_at <= now + timedelta(hours=72) and 0 < s.booked < s.min_participants
        for s in upcoming
    ), "no slot at risk"
    ended = [b for b in BOOKINGS if (b.offer, b.occurrence) == WEATHER]
    assert len(summary.cancelled[called_off[0].id]) == len(ended) == 2
    assert bookings == summary.bookings - len(ended)
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


async def test_the_full_visit_has_a_waiting_list_in_several_languages(db):
    await load_demo(db)
    async with db.reading() as session:
        entries = list(
            await session.scalars(select(WaitlistEntry).order_by(WaitlistEntry.created_at))
        )
        slot = await session.get(Slot, entries[0].slot_id)
        joined = await session.scalar(
            select(func.count()).where(AuditEntry.action == "waitlist.joined")
        )
    assert slot is not None and slot.booked == slot.capacity == 10
    assert slot.status == SlotStatus.SCHEDULED and slot.starts_at > clock.now()
    assert {e.slot_id for e in entries} == {slot.id}
    assert [(e.name, e.locale, e.people) for e in entries] == [
        (w.name, w.locale, w.adults + w.children) for w in WAITING
    ]
    assert len({e.locale for e in entries}) == len(entries) == 3
    assert all(e.status == WaitlistStatus.WAITING for e in entries)
    assert joined == 3  # joined through the rule, each with its audit entry


async def test_two_visits_of_one_activity_are_at_risk_a_day_apart_and_proposed_to_merge(db):
    """The pair the demo sets up, whatever the day: other visits booked under their minimum may
    come within the board's horizon too on some weekdays (the demo's bookings follow the
    programme's days), but only this farm has two dates close enough to merge."""
    now = clock.now()
    await load_demo(db)
    async with db.reading() as session:
        grizac = await session.scalar(
            select(Activity.id).join(Provider).where(Provider.name == OFFERS["grizac"].provider)
        )
    risky = await board.at_risk(db, now=now)
    at_risk = [s for s in risky if s.booked > 0 and s.activity_id == grizac]
    assert len(at_risk) == 2
    first, second = at_risk
    days = clock.local_date(second.starts_at) - clock.local_date(first.starts_at)
    assert days == timedelta(days=1)
    assert [s.booked for s in at_risk] == [2, 3]
    assert all(s.booked < s.min_participants == 5 for s in at_risk)
    assert all(now < s.decision_at <= now + board.HORIZON for s in at_risk)
    # Together they reach the minimum: the board proposes to invite the 2 to the day of the 3.
    [merge] = await board.merge_proposals(db, risky, now=now)
    assert (merge.source.id, merge.target.id, merge.people_after) == (first.id, second.id, 5)


async def load_with_the_cli(settings: Settings, today: date | None = None) -> None:
    """``serve --demo``'s loading, in a thread: it runs its own event loop, as the command."""
    await asyncio.to_thread(cli._load_demo_if_empty, settings, today=today)


async def test_the_visitors_of_the_visit_called_off_are_emailed(db, database_url):
    await load_with_the_cli(Settings(database_url=database_url))
    async with db.reading() as session:
        slot = await session.scalar(
            select(Slot).where(Slot.status == SlotStatus.CANCELLED, Slot.starts_on > clock.today())
        )
        ended = list(await session.scalars(select(Booking).where(Booking.slot_id == slot.id)))
        messages = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.dedup_key.like("slot-cancelled:%"))
            )
        )
    assert slot.cancel_reason == CancelReason.WEATHER
    assert {m.dedup_key for m in messages} == {f"slot-cancelled:{slot.id}:{b.id}" for b in ended}
    assert {m.to_address for m in messages} == {b.email for b in ended}
    # Each in its reader's language: Martine Roche in French, Oliver Clarke in English.
    subjects = {m.to_address: m.subject for m in messages}
    assert subjects["roche@example.org"].startswith("Visite annulée : ")
    assert subjects["clarke@example.org"].startswith("Cancelled: Reinette apples")


async def test_serve_demo_keeps_a_demo_made_today(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    settings = Settings()  # the demo's own file, reservations.sqlite3 here
    db_module.upgrade(settings.database_url)
    await load_with_the_cli(settings)
    first = (tmp_path / "reservations.sqlite3").stat().st_mtime_ns
    capsys.readouterr()
    await load_with_the_cli(settings)
    assert capsys.readouterr().out == ""
    database = Database(settings.database_url)
    try:
        assert await made_on(database) == clock.today()
    finally:
        await database.dispose()
    assert (tmp_path / "reservations.sqlite3").stat().st_mtime_ns >= first


async def test_serve_demo_makes_a_demo_of_an_earlier_day_again_for_today(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    today = clock.today()
    earlier = today - timedelta(days=9)
    settings = Settings()  # the demo's own file, reservations.sqlite3 here
    db_module.upgrade(settings.database_url)
    await load_with_the_cli(settings, today=earlier)
    capsys.readouterr()

    await load_with_the_cli(settings, today=today)

    out = capsys.readouterr().out
    assert f"The demo data were made on {earlier}; making them again for today ({today})" in out
    noon = clock.local_datetime(today, time(12, 0))
    database = Database(settings.database_url)
    try:
        assert await made_on(database) == today
        async with database.reading() as session:
            first_day = await session.scalar(
                select(func.min(Slot.starts_on)).where(Slot.starts_on > today)
            )
            past_decisions = await session.scalar(
                select(func.count()).where(
                    Slot.status == SlotStatus.SCHEDULED, Slot.decision_at < noon
                )
            )
            before_today = await session.scalar(
                select(func.count()).where(Slot.starts_on < today, Slot.starts_on > earlier)
            )
            providers = await session.scalar(select(func.count()).select_from(Provider))
    finally:
        await database.dispose()
    assert first_day == today + timedelta(days=1)
    assert past_decisions == 0
    assert before_today == 0, "the old programme is gone"
    assert providers == len({o.provider for o in OFFERS.values()}) + other_providers()
    # The old database is set aside, not deleted: the default file may hold more than the demo.
    kept = tmp_path / f"reservations.sqlite3.made-{earlier.isoformat()}"
    assert kept.exists() and f"kept as {kept.resolve()}" in out


def other_providers() -> int:
    """The farms of the past seasons that offer nothing in the programme."""
    names = {r["provider"] for year in (2021, 2022) for r in season_rows(year)}
    return len(names - {o.provider for o in OFFERS.values()})


async def test_serve_demo_leaves_a_database_chosen_by_its_owner_as_it_is(db, database_url, capsys):
    earlier = clock.today() - timedelta(days=9)
    settings = Settings(database_url=database_url)
    await load_with_the_cli(settings, today=earlier)
    async with db.reading() as session:
        before = await session.scalar(select(func.count()).select_from(Slot))
    capsys.readouterr()

    await load_with_the_cli(settings)

    out = capsys.readouterr().out
    assert f"The demo data were made on {earlier}" in out and "left as it is" in out
    async with db.reading() as session:
        after = await session.scalar(select(func.count()).select_from(Slot))
    assert after == before and await made_on(db) == earlier


def test_serve_demo_writes_its_mail_with_live_links_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("RESERVATIONS_MAIL_DIR_LIVE_LINKS", raising=False)
    monkeypatch.delenv("RESERVATIONS_SMTP_HOST", raising=False)
    assert cli._demo_mail_with_live_links(Settings.from_env()).mail_dir_live_links
    # Said otherwise in the environment, or mail going to a real server: left as it is.
    monkeypatch.setenv("RESERVATIONS_MAIL_DIR_LIVE_LINKS", "0")
    assert not cli._demo_mail_with_live_links(Settings.from_env()).mail_dir_live_links
    monkeypatch.delenv("RESERVATIONS_MAIL_DIR_LIVE_LINKS")
    monkeypatch.setenv("RESERVATIONS_SMTP_HOST", "smtp.example.org")
    assert not cli._demo_mail_with_live_links(Settings.from_env()).mail_dir_live_links
    # A database its owner chose: its visitors' links are never written in clear.
    monkeypatch.delenv("RESERVATIONS_SMTP_HOST")
    monkeypatch.setenv("RESERVATIONS_DATABASE_URL", "postgresql+asyncpg://office@db/reservations")
    assert not cli._demo_mail_with_live_links(Settings.from_env()).mail_dir_live_links
    assert "RESERVATIONS_MAIL_DIR_LIVE_LINKS" not in os.environ


async def test_every_demo_activity_says_how_to_get_there_in_each_language(db):
    await load_demo(db)
    async with db.reading() as session:
        found = list(
            await session.scalars(
                select(Activity)
                .join(Provider)
                .where(Provider.name.in_([o.provider for o in OFFERS.values()]))
            )
        )
    assert len(found) == len(OFFERS)
    for activity in found:
        assert set(activity.directions) == {"fr", "en", "de", "nl"}
        assert "shuttle" in activity.directions["en"] and "parking" in activity.directions["en"]
