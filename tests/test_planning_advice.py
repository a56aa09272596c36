"""The season planning listens to the advice: a proposed date in a weak weekday × sector cell
is marked with its held rate, and the nearest better day (at most three days away, earlier
first) that the plan does not hold already is proposed instead."""

from __future__ import annotations

from datetime import date, time

from reservations.base import clock
from reservations.base.reads.advice import Advice, Cell, advise_dates

SECTOR = "Mont Lozère"


def cell(weekday: int, held: int, planned: int = 10, *, weak: bool = False) -> Cell:
    return Cell(weekday, SECTOR, planned, held, planned * 10, held * 10, weak=weak)


ADVICE = Advice(
    season=2027,
    kind=None,
    history_seasons=[2025, 2026],
    slots_planned=60,
    slots_held=40,
    seats_offered=600,
    seats_booked=400,
    cells={
        (4, SECTOR): cell(4, 5),  # Thursday 50 %
        (5, SECTOR): cell(5, 8),  # Friday 80 %
        (6, SECTOR): cell(6, 2, weak=True),  # Saturday 20 %: weak
        (7, SECTOR): cell(7, 9),  # Sunday 90 %
        (1, SECTOR): cell(1, 1, planned=3),  # Monday: too little history
    },
    sectors=[SECTOR],
)


def at_ten(day: date):  # type: ignore[no-untyped-def]
    return clock.local_datetime(day, time(10, 0))


def test_a_weak_saturday_is_marked_with_the_nearest_better_day():
    saturday, friday, sunday = date(2027, 7, 10), date(2027, 7, 9), date(2027, 7, 11)
    [judged] = advise_dates(ADVICE, SECTOR, [at_ten(saturday)])
    assert judged.weak is not None and judged.weak.held_rate == 0.2
    assert (judged.better_day, judged.better.held_rate) == (friday, 0.8)  # earlier first
    # Friday already planned: Sunday is proposed; a Friday is never marked.
    judged = advise_dates(ADVICE, SECTOR, [at_ten(friday), at_ten(saturday)])
    assert judged[0].weak is None
    assert judged[1].better_day == sunday


def test_no_better_day_within_three_days_and_other_sectors():
    lone = Advice(**{**ADVICE.__dict__, "cells": {(6, SECTOR): cell(6, 2, weak=True)}})
    [judged] = advise_dates(lone, SECTOR, [at_ten(date(2027, 7, 10))])
    assert judged.weak is not None and judged.better_day is None
    [elsewhere] = advise_dates(ADVICE, "Causses", [at_ten(date(2027, 7, 10))])
    assert elsewhere.weak is None


async def test_the_preview_page_marks_weak_saturdays(staff, db):
    """On the advice tests' history (Saturdays in Mont Lozère: weak, Thursdays strong),
    planning September Saturdays there marks each one and proposes the Thursday before."""
    from tests.factories import make_activity
    from tests.test_advice import ML, SEASON, load
    from tests.test_staff_planning import plan_form, post, readable

    client, _ = staff
    await load(db)
    activity = await make_activity(db, sector=ML)
    form = plan_form(
        activity.id,
        first_day=f"{SEASON}-09-01",
        last_day=f"{SEASON}-09-30",
        weekdays=["5"],  # Saturday (Monday is 0)
        skip_saturdays="",
    )
    page = readable(await post(client, "/staff/planning?lang=en", form))
    assert page.count("Weak day in this sector") == 4  # the 4 Saturdays of September 2030
    # Saturday 7 September: held 1 of 4 (25 %); two days before, Thursdays held 4 of 4.
    assert "Weak day in this sector: 25.0% of its 4 past slots took place." in page
    assert "Better: Thursday, September 5, 2030 (100.0% took place)." in page


async def test_the_better_days_are_accepted_in_one_step(staff, db):
    """ "Use the better days proposed" previews the plan with each weak Saturday moved to its
    Thursday; "create" then creates those Thursdays."""
    import html
    import re

    from sqlalchemy import select

    from reservations.base.models import Slot
    from tests.factories import make_activity
    from tests.test_advice import ML, SEASON, load
    from tests.test_staff_planning import fingerprint_of, plan_form, post, readable

    client, _ = staff
    await load(db)
    activity = await make_activity(db, sector=ML)
    form = plan_form(
        activity.id,
        first_day=f"{SEASON}-09-01",
        last_day=f"{SEASON}-09-30",
        weekdays=["5"],
        skip_saturdays="",
    )
    first = await post(client, "/staff/planning?lang=en", form)
    found = re.search(r'name="use_better_days" value="([^"]+)"', first.text)
    suggestions = html.unescape(found.group(1))
    assert suggestions == ",".join(
        f"{SEASON}-09-{s:02d}>{SEASON}-09-{s - 2:02d}" for s in (7, 14, 21, 28)
    )
    moved = await post(client, "/staff/planning?lang=en", {**form, "use_better_days": suggestions})
    page = readable(moved)
    assert "Weak day in this sector" not in page
    assert page.count("Thursday, September") == 4 and "Saturday, September" not in page
    created = await post(
        client,
        "/staff/planning?lang=en",
        {**form, "moved": suggestions, "action": "create", "previewed": fingerprint_of(moved)},
    )
    assert created.status_code == 303, readable(created)[:500]
    async with db.reading() as session:
        days = sorted(
            s.starts_at.astimezone(clock.OFFICE_TZ).date()
            for s in await session.scalars(select(Slot).where(Slot.activity_id == activity.id))
        )
    assert days == [date(SEASON, 9, d) for d in (5, 12, 19, 26)]
