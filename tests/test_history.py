"""Importing a past season from CSV, on each database."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text

from reservations.base.models import (
    Activity,
    ActivityKind,
    Attendance,
    AuditEntry,
    Booking,
    BookingStatus,
    CancelledBy,
    CancelReason,
    Channel,
    Provider,
    Slot,
    SlotStatus,
)
from reservations.base.seeding import history_store
from reservations.base.seeding.history import HistoryImportError, import_history
from tests.factories import make_activity

HEADER = (
    "date,start,end,provider,village,sector,activity,kind,capacity,min_participants,outcome,"
    "booked_adults,booked_children,attended_adults,attended_children"
)
BARTHE = "Chèvrerie du Mas de la Barthe,Saint-Germain-de-Calberte,Vallée Longue et Calbertois"
CONTES = "Les Conteurs du Tarn,Le Pont de Montvert,Mont Lozère"


def csv_file(*rows: str) -> io.StringIO:
    return io.StringIO("\n".join([HEADER, *rows]) + "\n")


async def count(db, model) -> int:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def slots_by_start(db) -> dict[datetime, Slot]:  # type: ignore[no-untyped-def]
    async with db.reading() as session:
        return {s.starts_at: s for s in await session.scalars(select(Slot))}


GOOD = csv_file(
    f"2022-07-12,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,held,3,2,3,1",
    f"2022-07-15,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,"
    "cancelled_under_minimum,1,0,0,0",
    f"2022-08-03,17:00,18:30,{CONTES},Balade contée,animation,30,0,held,0,0,2,1",
    f"2022-08-16,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,"
    "cancelled_weather,0,0,0,0",
).getvalue()


def paris(day: str, hour: int, minute: int = 0) -> datetime:
    """UTC instant of a Paris wall-clock time in summer (UTC+2)."""
    y, m, d = map(int, day.split("-"))
    return datetime(y, m, d, hour - 2, minute, tzinfo=UTC)


async def test_a_good_file_imports_slots_bookings_and_attendance(db):
    summary = await import_history(db, io.StringIO(GOOD), actor="test")

    assert (summary.providers_created, summary.activities_created) == (2, 2)
    assert (summary.slots, summary.held, summary.cancelled, summary.bookings) == (4, 2, 2, 3)
    slots = await slots_by_start(db)
    held = slots[paris("2022-07-12", 10)]
    assert (held.status, held.booked, held.capacity, held.min_participants) == (
        SlotStatus.HELD,
        5,
        15,
        4,
    )
    assert held.ends_at == paris("2022-07-12", 12)
    under = slots[paris("2022-07-15", 10)]
    assert (under.status, under.cancel_reason, under.booked) == (
        SlotStatus.CANCELLED,
        CancelReason.UNDER_MINIMUM,
        0,
    )
    assert under.cancelled_at == under.decision_at == paris("2022-07-14", 18)
    walk_ins = slots[paris("2022-08-03", 17)]
    assert (walk_ins.status, walk_ins.booked) == (SlotStatus.HELD, 3)
    weather = slots[paris("2022-08-16", 10)]
    assert (weather.status, weather.cancel_reason) == (SlotStatus.CANCELLED, CancelReason.WEATHER)

    async with db.reading() as session:
        bookings = {b.slot_id: b for b in await session.scalars(select(Booking))}
        attendance = {a.booking_id: a for a in await session.scalars(select(Attendance))}
        activities = {a.name: a for a in await session.scalars(select(Activity))}
        audit = list(await session.scalars(select(AuditEntry)))
    assert set(bookings) == {held.id, under.id, walk_ins.id}
    assert all(b.channel == Channel.HISTORY and b.email is None for b in bookings.values())
    assert (bookings[held.id].status, bookings[held.id].adults, bookings[held.id].children) == (
        BookingStatus.CONFIRMED,
        3,
        2,
    )
    cancelled = bookings[under.id]
    assert (cancelled.status, cancelled.cancelled_by, cancelled.adults) == (
        BookingStatus.CANCELLED,
        CancelledBy.SLOT,
        1,
    )
    assert (bookings[walk_ins.id].adults, bookings[walk_ins.id].children) == (2, 1)
    # Nobody was ever handed a manage link for a past booking: none is invented.
    assert [b.manage_token_hash for b in bookings.values()] == [None, None, None]
    assert len({b.reference for b in bookings.values()}) == 3
    assert set(attendance) == {bookings[held.id].id, bookings[walk_ins.id].id}
    came = attendance[bookings[held.id].id]
    assert (came.adults, came.children, came.recorded_by) == (3, 1, "test")
    assert activities["Balade contée"].kind == ActivityKind.ANIMATION
    assert activities["Visite de la chèvrerie"].default_capacity == 15
    assert activities["Visite de la chèvrerie"].title == {"fr": "Visite de la chèvrerie"}
    # One entry tells who imported what and when; the rows themselves are the visits.
    [entry] = audit
    assert (entry.action, entry.actor, entry.slot_id) == ("history.imported", "test", None)
    assert entry.data == {
        "source": None,
        "providers_created": 2,
        "activities_created": 2,
        "slots": 4,
        "held": 2,
        "cancelled": 2,
        "bookings": 3,
    }


async def test_an_existing_provider_and_activity_are_reused(db):
    activity = await make_activity(db, provider_name="Ferme existante", sector="Vallée Française")
    summary = await import_history(
        db,
        csv_file(
            f"2022-07-12,10:00,11:30,Ferme existante,Vialas,Mont Lozère,{activity.name},"
            "farm_visit,12,3,held,4,0,4,0",
            "2022-07-13,10:00,11:30,Ferme existante,Vialas,Mont Lozère,Nouvelle visite,"
            "farm_visit,12,3,held,4,0,4,0",
        ),
    )
    assert (summary.providers_created, summary.activities_created) == (0, 1)
    async with db.reading() as session:
        providers = list(await session.scalars(select(Provider)))
        slot_activities = set(await session.scalars(select(Slot.activity_id)))
    assert [(p.name, p.sector) for p in providers] == [("Ferme existante", "Vallée Française")]
    assert activity.id in slot_activities and len(slot_activities) == 2


async def test_a_file_with_bad_rows_imports_nothing_and_names_each_line(db):
    source = csv_file(
        # line 2: good
        f"2022-07-12,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,held,3,2,3,1",
        # lines 3-4: one row, a quoted field on two lines, capacity 0
        '2022-07-13,10:00,12:00,"Ferme du Mas\nde Grizac",Le Pont de Montvert,Mont Lozère,'
        "Brebis,farm_visit,0,4,held,3,2,3,1",
        # line 5: bad date, bad kind, end before start
        f"2022-02-30,14:00,13:00,{BARTHE},Visite de la chèvrerie,visit,15,4,held,3,2,3,1",
        # line 6: good
        f"2022-07-19,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,held,6,0,5,0",
        # line 7: a cancelled visit with attendance
        f"2022-07-22,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,"
        "cancelled_weather,3,2,3,0",
        # line 8: more booked than the capacity, unknown outcome, negative count
        f"2022-07-26,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,"
        "postponed,14,2,-1,0",
        # line 9: too few columns
        "2022-07-29,10:00,12:00",
        # line 10: same visit as line 2
        f"2022-07-12,10:00,12:00,{BARTHE},Visite de la chèvrerie,farm_visit,15,4,held,3,2,3,1",
    )
    with pytest.raises(HistoryImportError) as caught:
        await import_history(db, source)

    problems = caught.value.problems
    assert sorted({line for line, _ in problems}) == [3, 5, 7, 8, 9, 10]
    messages = {line: [m for n, m in problems if n == line] for line, _ in problems}
    assert any("capacity" in m for m in messages[3])
    assert len(messages[5]) == 3
    assert any("2022-02-30" in m for m in messages[5])
    assert any("“visit”" in m for m in messages[5])
    assert any("after the start" in m for m in messages[5])
    assert any("cancelled" in m for m in messages[7])
    assert len(messages[8]) == 3
    assert any("16 people booked" in m for m in messages[8])
    assert "columns" in messages[9][0]
    assert "line 2" in messages[10][0]
    assert "line 5:" in str(caught.value)
    for model in (Provider, Activity, Slot, Booking, AuditEntry):
        assert await count(db, model) == 0


async def test_a_wrong_header_is_refused_on_line_1(db):
    source = io.StringIO("day,start,end,provider\n2022-07-12,10:00,12:00,Ferme\n")
    with pytest.raises(HistoryImportError) as caught:
        await import_history(db, source)
    [(line, message)] = caught.value.problems
    assert line == 1
    assert HEADER in message
    assert await count(db, Slot) == 0


async def test_importing_the_same_file_twice_imports_nothing_the_second_time(db):
    await import_history(db, io.StringIO(GOOD))
    before = [await count(db, model) for model in (Provider, Activity, Slot, Booking, Attendance)]

    with pytest.raises(HistoryImportError) as caught:
        await import_history(db, io.StringIO(GOOD))

    assert [line for line, _ in caught.value.problems] == [2, 3, 4, 5]
    assert all("already imported" in message for _, message in caught.value.problems)
    after = [await count(db, model) for model in (Provider, Activity, Slot, Booking, Attendance)]
    assert after == before


async def test_local_times_are_converted_from_paris(db, tmp_path):
    path = tmp_path / "season.csv"
    text = csv_file(
        f"2022-07-12,10:00,11:30,{BARTHE},Visite,farm_visit,15,4,held,4,0,4,0",
        f"2022-11-08,10:00,11:30,{BARTHE},Visite,farm_visit,15,4,held,4,0,4,0",
        # 00:30 in Paris is still the previous day in UTC.
        f"2022-07-14,00:30,01:30,{BARTHE},Visite,farm_visit,15,4,held,4,0,4,0",
    ).getvalue()
    path.write_text(text, encoding="utf-8-sig")  # a spreadsheet's byte order mark

    await import_history(db, str(path))

    async with db.reading() as session:
        starts = {(s.starts_at, s.starts_on) for s in await session.scalars(select(Slot))}
    assert starts == {
        (datetime(2022, 7, 12, 8, 0, tzinfo=UTC), date(2022, 7, 12)),
        (datetime(2022, 11, 8, 9, 0, tzinfo=UTC), date(2022, 11, 8)),
        (datetime(2022, 7, 13, 22, 30, tzinfo=UTC), date(2022, 7, 14)),
    }


async def test_spreadsheet_quirks_are_tolerated_but_a_skipped_hour_is_not(db):
    quirky = (
        "\ufeff" + HEADER + ",,\n"  # a byte order mark and empty trailing columns
        f"2022-07-12,10:00,11:30,{BARTHE},Visite,farm_visit,15,4,held,4,0,4,0,,\n"
        ",,,,,,,,,,,,,,\n"  # an empty spreadsheet row
        '\n2022-07-13,10:00,11:30,"Ferme ""Le Serre"", Vialas",Vialas,Mont Lozère,Visite,'
        "farm_visit,15,4,held,4,0,4,0\n"
    )
    summary = await import_history(db, io.StringIO(quirky))
    assert (summary.slots, summary.providers_created) == (2, 2)
    async with db.reading() as session:
        names = set(await session.scalars(select(Provider.name)))
    assert 'Ferme "Le Serre", Vialas' in names

    # 02:00-03:00 on the night the clocks go forward lasts no time at all.
    with pytest.raises(HistoryImportError) as caught:
        await import_history(
            db, csv_file(f"2022-03-27,02:00,03:00,{BARTHE},Visite,farm_visit,15,4,held,4,0,4,0")
        )
    [(line, message)] = caught.value.problems
    assert line == 2 and "after the start" in message


async def test_an_import_leaves_the_planner_its_statistics(db):
    """The season report is planned on the imported rows, not blind: the tables an import
    fills are analysed at its end (PostgreSQL: ``reltuples`` counts them, -1 before any
    ANALYZE; SQLite: ``sqlite_stat1`` has the slot table's indexes)."""
    await import_history(db, io.StringIO(GOOD))
    slots = await count(db, Slot)
    async with db.reading_connection() as connection:
        if db.is_sqlite:
            analysed = await connection.scalar(
                text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'slot'")
            )
            assert analysed and analysed > 0
        else:
            estimated = await connection.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'slot'")
            )
            assert estimated == slots == 4


def season_rows(days: int) -> list[str]:
    """A visit a day from 2022-06-01, held or cancelled in turn, with its own counts."""
    rows = []
    for number in range(days):
        day = date(2022, 6, 1).toordinal() + number
        outcome = ("held", "cancelled_under_minimum", "cancelled_weather")[number % 3]
        booked = (number % 5, number % 3)
        attended = booked if outcome == "held" else (0, 0)
        rows.append(
            f"{date.fromordinal(day)},10:00,12:00,{BARTHE},Visite,farm_visit,15,4,{outcome},"
            f"{booked[0]},{booked[1]},{attended[0]},{attended[1]}"
        )
    return rows


async def test_a_bad_last_line_of_a_file_of_many_batches_leaves_the_database_unchanged(
    db, monkeypatch
):
    monkeypatch.setattr(history_store, "BATCH_ROWS", 7)  # the file spans several batches
    rows = season_rows(40)
    bad = rows + [rows[0], rows[1].replace(",15,4,", ",15,x,")]  # lines 42 and 43
    with pytest.raises(HistoryImportError) as caught:
        await import_history(db, csv_file(*bad))
    assert [line for line, _ in caught.value.problems] == [42, 43]
    assert "is already on line 2" in caught.value.problems[0][1]
    for model in (Provider, Activity, Slot, Booking, Attendance, AuditEntry):
        assert await count(db, model) == 0

    summary = await import_history(db, csv_file(*rows))
    assert (summary.slots, summary.held, summary.cancelled) == (40, 14, 26)
    assert await count(db, Slot) == 40


async def test_each_slot_counts_the_people_of_its_confirmed_booking(db, monkeypatch):
    """``Slot.booked`` is what its confirmed bookings hold (the invariant the booking rules
    keep), and every booking and attendance is the one its line tells."""
    monkeypatch.setattr(history_store, "BATCH_ROWS", 4)
    rows = season_rows(30)
    await import_history(db, csv_file(*rows))
    async with db.reading() as session:
        slots = list(await session.scalars(select(Slot).order_by(Slot.starts_at)))
        bookings = {b.slot_id: b for b in await session.scalars(select(Booking))}
        attendance = {a.booking_id: a for a in await session.scalars(select(Attendance))}
    assert len(slots) == 30
    for number, slot in enumerate(slots):
        booked = (number % 5, number % 3)
        held = number % 3 == 0
        booking = bookings.get(slot.id)
        confirmed = booking.adults + booking.children if booking and held else 0
        assert slot.booked == confirmed == (sum(booked) if held else 0)
        assert (booking is None) == (sum(booked) == 0)
        if booking:
            assert (booking.adults, booking.children) == booked
            assert booking.status == (BookingStatus.CONFIRMED if held else BookingStatus.CANCELLED)
            assert booking.manage_token_hash is None
            assert booking.reference == f"HIST-{slot.id}"
            came = attendance.get(booking.id)
            assert (came.adults, came.children) == booked if held else came is None


async def test_a_visit_already_stored_and_repeated_in_the_file_is_named_on_both_lines(db):
    await import_history(db, io.StringIO(GOOD))
    row = GOOD.splitlines()[1]
    with pytest.raises(HistoryImportError) as caught:
        await import_history(db, csv_file(row, row))
    assert [(line, message.split(" is ")[-1]) for line, message in caught.value.problems] == [
        (2, "already imported"),
        (3, "already imported"),
        (3, "already on line 2"),
    ]
